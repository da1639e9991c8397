//! `aum bench compare`: the AuM paper's efficiency study on CPU — Audio Mamba against AST (16/16
//! strides, as in the paper) at growing token counts, forward time and the memory the forward
//! pass adds, both models in the same run; a table and a PNG plot.

use std::path::PathBuf;

use anyhow::{Context, Result};
use aum_model::{AstConfig, AumConfig, ModelConfig, Precision};
use candle_core::{Device, ModuleT, Tensor};

use crate::memory;
use crate::plot;
use crate::timing;

#[derive(clap::Args, Debug)]
pub struct BenchCompareArgs {
    /// Model sizes: tiny, small, base (AuM D 192/384/768 against AST of the same width).
    #[arg(long, value_delimiter = ',', default_values_t = ["base".to_string()])]
    pub size: Vec<String>,
    /// Patch-token counts (the clip has 2 x tokens frames: 8 bands x frames / 16).
    #[arg(long, value_delimiter = ',', default_values_t = [256, 512, 1024, 2048, 4096, 8192])]
    pub tokens: Vec<usize>,
    /// Timed runs per point (the median is reported).
    #[arg(long, default_value_t = 1)]
    pub iters: usize,
    /// Precisions, comma-separated: f32, bf16 (each point is measured in each).
    #[arg(long, value_delimiter = ',', default_values_t = [Precision::F32])]
    pub precision: Vec<Precision>,
    /// Print one JSON array of rows (model, size, frames, tokens, precision, time_s,
    /// peak_rss_mib, extra_mib) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Draw time and memory against tokens into this PNG (one chart per precision: the
    /// file name gets `-bf16` before its extension for bf16 when both are measured).
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Internal: measure one model (aum or ast) at one size and token count in this process and
    /// print `seconds extra_mib`. The study runs every point in a fresh process, because memory
    /// freed by one run stays resident and would hide the next run's allocations.
    #[arg(long, hide = true)]
    pub single: Option<String>,
}

/// One model at one point of the study.
#[derive(Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Measured {
    /// Median seconds of a forward pass.
    pub time_s: f64,
    /// Peak resident memory during the pass, weights included (MiB).
    pub peak_rss_mib: f64,
    /// What the pass adds to the memory held before it (MiB).
    pub extra_mib: f64,
}

/// One point of the study: a size at a token count in one precision, both models.
pub struct Point {
    pub size: String,
    pub tokens: usize,
    pub precision: Precision,
    pub aum: Measured,
    pub ast: Measured,
}

pub fn run(args: &BenchCompareArgs) -> Result<()> {
    if let Some(model) = &args.single {
        let (size, tokens) = (&args.size[0], args.tokens[0]);
        let m = measure_here(model, size, tokens, args.precision[0], args.iters)?;
        println!("{}", serde_json::to_string(&m)?);
        return Ok(());
    }
    if !args.json {
        let threads = rayon::current_num_threads();
        println!(
            "AuM vs AST forward, batch 1, {threads} threads ({}), random weights, median of {} run(s)",
            aum_kernels::Isa::detect().name(),
            args.iters
        );
        println!("memory = peak RSS during the forward pass minus RSS before it (weights and input excluded), one process per point");
        println!("| size | precision | tokens | frames | AuM time (s) | AST time (s) | AST / AuM time | AuM memory (MiB) | AST memory (MiB) |");
        println!("|---|---|---|---|---|---|---|---|---|");
    }
    let mut points = Vec::new();
    for size in &args.size {
        for &precision in &args.precision {
            for &tokens in &args.tokens {
                let aum = in_child("aum", size, tokens, precision, args.iters)?;
                let ast = in_child("ast", size, tokens, precision, args.iters)?;
                if !args.json {
                    println!(
                        "| {size} | {precision} | {tokens} | {} | {:.3} | {:.3} | {:.2}x | {:.0} | {:.0} |",
                        2 * tokens,
                        aum.time_s,
                        ast.time_s,
                        ast.time_s / aum.time_s,
                        aum.extra_mib,
                        ast.extra_mib
                    );
                }
                points.push(Point {
                    size: size.clone(),
                    tokens,
                    precision,
                    aum,
                    ast,
                });
            }
        }
    }
    if args.json {
        let rows: Vec<_> = points
            .iter()
            .flat_map(|p| {
                [("aum", p.aum, p.tokens + 1), ("ast", p.ast, p.tokens + 2)].map(
                    |(model, m, tokens)| {
                        serde_json::json!({
                            "model": model, "size": p.size, "frames": 2 * p.tokens,
                            "tokens": tokens, "precision": p.precision.name(),
                            "time_s": m.time_s, "peak_rss_mib": m.peak_rss_mib,
                            "extra_mib": m.extra_mib,
                        })
                    },
                )
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
    }
    if let Some(png) = &args.plot {
        for &precision in &args.precision {
            let these: Vec<&Point> = points.iter().filter(|p| p.precision == precision).collect();
            let path = match (args.precision.len(), precision) {
                (1, _) | (_, Precision::F32) => png.clone(),
                _ => png.with_file_name(format!(
                    "{}-{precision}.{}",
                    png.file_stem().unwrap_or_default().to_string_lossy(),
                    png.extension().unwrap_or_default().to_string_lossy()
                )),
            };
            plot::comparison(&these, precision).save_png(&path)?;
            if !args.json {
                println!("plot: {}", path.display());
            }
        }
    }
    Ok(())
}

/// Runs one measurement in a fresh `aum` process.
fn in_child(
    model: &str,
    size: &str,
    tokens: usize,
    precision: Precision,
    iters: usize,
) -> Result<Measured> {
    let exe = std::env::current_exe().context("locating the aum executable")?;
    let out = std::process::Command::new(exe)
        .args(["bench", "compare", "--single", model, "--size", size])
        .args([
            "--tokens",
            &tokens.to_string(),
            "--iters",
            &iters.to_string(),
        ])
        .args(["--precision", precision.name()])
        .output()
        .context("running a measurement process")?;
    if !out.status.success() {
        anyhow::bail!(
            "{model} {size} at {tokens} tokens in {precision} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).with_context(|| format!("unexpected measurement output `{text}`"))
}

/// Builds the model with random weights in `precision` and measures it at `tokens` patch
/// tokens (2 x tokens frames).
fn measure_here(
    model: &str,
    size: &str,
    tokens: usize,
    precision: Precision,
    iters: usize,
) -> Result<Measured> {
    let x = Tensor::randn(0f32, 1.0, (1, 2 * tokens, 128), &Device::Cpu)?;
    let unknown = || format!("unknown size `{size}`");
    let config = match model {
        "aum" => ModelConfig::Aum(AumConfig::preset(size).with_context(unknown)?),
        "ast" => ModelConfig::Ast(AstConfig::preset(size).with_context(unknown)?),
        other => anyhow::bail!("unknown model `{other}` (aum or ast)"),
    };
    let net = aum_model::random_untracked(&Device::Cpu, |vb| config.build(vb))?
        .with_precision(precision)?;
    // Each run starts from released memory with the peak reset, so it measures what the
    // forward adds; that bookkeeping stays outside the timed call.
    let mut times = Vec::new();
    let (mut extra, mut peak): (f64, f64) = (0.0, 0.0);
    for _ in 0..iters.max(1) {
        memory::release_freed_memory();
        memory::reset_peak();
        let before = memory::rss_mib()?;
        let (out, secs) = timing::once(&Device::Cpu, || Ok(net.forward_t(&x, false)?))?;
        times.push(secs);
        drop(out);
        let high = memory::peak_rss_mib()?;
        extra = extra.max(high - before);
        peak = peak.max(high);
    }
    Ok(Measured {
        time_s: timing::Runs(times).median(),
        peak_rss_mib: peak,
        extra_mib: extra,
    })
}
