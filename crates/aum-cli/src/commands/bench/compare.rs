//! `aum bench compare`: the AuM paper's efficiency study on CPU — Audio Mamba against AST (16/16
//! strides, as in the paper) at growing token counts, forward time and the memory the forward
//! pass adds, both models in the same run; a table and a PNG plot.

use std::path::PathBuf;

use anyhow::{Context, Result};
use aum_model::{AstConfig, AumConfig, ModelConfig};
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
    /// Draw time and memory against tokens into this PNG.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Internal: measure one model (aum or ast) at one size and token count in this process and
    /// print `seconds extra_mib`. The study runs every point in a fresh process, because memory
    /// freed by one run stays resident and would hide the next run's allocations.
    #[arg(long, hide = true)]
    pub single: Option<String>,
}

/// One point of the study: a size at a token count, (seconds, MiB) for each model.
pub struct Point {
    pub size: String,
    pub tokens: usize,
    pub aum: (f64, f64),
    pub ast: (f64, f64),
}

pub fn run(args: &BenchCompareArgs) -> Result<()> {
    if let Some(model) = &args.single {
        let (size, tokens) = (&args.size[0], args.tokens[0]);
        let (secs, mib) = measure_here(model, size, tokens, args.iters)?;
        println!("{secs} {mib}");
        return Ok(());
    }
    let threads = rayon::current_num_threads();
    println!(
        "AuM vs AST forward, batch 1, f32, {threads} threads, random weights, median of {} run(s)",
        args.iters
    );
    println!("memory = peak RSS during the forward pass minus RSS before it (weights and input excluded), one process per point");
    println!("| size | tokens | frames | AuM time (s) | AST time (s) | AST / AuM time | AuM memory (MiB) | AST memory (MiB) |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut points = Vec::new();
    for size in &args.size {
        for &tokens in &args.tokens {
            let aum = in_child("aum", size, tokens, args.iters)?;
            let ast = in_child("ast", size, tokens, args.iters)?;
            println!(
                "| {size} | {tokens} | {} | {:.3} | {:.3} | {:.2}x | {:.0} | {:.0} |",
                2 * tokens,
                aum.0,
                ast.0,
                ast.0 / aum.0,
                aum.1,
                ast.1
            );
            points.push(Point {
                size: size.clone(),
                tokens,
                aum,
                ast,
            });
        }
    }
    if let Some(png) = &args.plot {
        plot::comparison(&points).save_png(png)?;
        println!("plot: {}", png.display());
    }
    Ok(())
}

/// Runs one measurement in a fresh `aum` process.
fn in_child(model: &str, size: &str, tokens: usize, iters: usize) -> Result<(f64, f64)> {
    let exe = std::env::current_exe().context("locating the aum executable")?;
    let out = std::process::Command::new(exe)
        .args(["bench", "compare", "--single", model, "--size", size])
        .args([
            "--tokens",
            &tokens.to_string(),
            "--iters",
            &iters.to_string(),
        ])
        .output()
        .context("running a measurement process")?;
    if !out.status.success() {
        anyhow::bail!(
            "{model} {size} at {tokens} tokens failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut it = text.split_whitespace().map(str::parse::<f64>);
    match (it.next(), it.next()) {
        (Some(Ok(s)), Some(Ok(m))) => Ok((s, m)),
        _ => anyhow::bail!("unexpected measurement output `{text}`"),
    }
}

/// Builds the model with random weights and measures it at `tokens` patch tokens (2 x tokens
/// frames): median seconds, and the memory the forward adds (MiB).
fn measure_here(model: &str, size: &str, tokens: usize, iters: usize) -> Result<(f64, f64)> {
    let x = Tensor::randn(0f32, 1.0, (1, 2 * tokens, 128), &Device::Cpu)?;
    let unknown = || format!("unknown size `{size}`");
    let config = match model {
        "aum" => ModelConfig::Aum(AumConfig::preset(size).with_context(unknown)?),
        "ast" => ModelConfig::Ast(AstConfig::preset(size).with_context(unknown)?),
        other => anyhow::bail!("unknown model `{other}` (aum or ast)"),
    };
    let net = aum_model::random_untracked(&Device::Cpu, |vb| config.build(vb))?;
    // Each run starts from released memory with the peak reset, so it measures what the
    // forward adds; that bookkeeping stays outside the timed call.
    let mut times = Vec::new();
    let mut extra: f64 = 0.0;
    for _ in 0..iters.max(1) {
        memory::release_freed_memory();
        memory::reset_peak();
        let before = memory::rss_mib()?;
        let (out, secs) = timing::once(&Device::Cpu, || Ok(net.forward_t(&x, false)?))?;
        times.push(secs);
        drop(out);
        extra = extra.max(memory::peak_rss_mib()? - before);
    }
    Ok((timing::Runs(times).median(), extra))
}
