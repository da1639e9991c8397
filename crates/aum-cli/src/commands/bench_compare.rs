//! `aum bench compare`: the AuM paper's efficiency study on CPU — Audio Mamba against AST (16/16
//! strides, as in the paper) at growing token counts, forward time and the memory the forward
//! pass adds, both models in the same run; a table and a PNG plot.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use aum_ast::{AstConfig, AstModel};
use aum_model::{AumConfig, AumModel};
use candle_core::ModuleT;
use candle_core::{Device, Tensor};

use crate::memory;
use crate::plot::{Canvas, BLACK, WHITE};

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

struct Point {
    size: String,
    tokens: usize,
    aum: (f64, f64),
    ast: (f64, f64),
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
        plot(&points).save_png(png)?;
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
    let forward: Box<dyn Fn() -> Result<Tensor>> = match model {
        "aum" => {
            let cfg = AumConfig::preset(size).with_context(|| format!("unknown size `{size}`"))?;
            let m = aum_model::random_untracked(|vb| AumModel::new(cfg.clone(), vb))?;
            Box::new(move || Ok(m.forward_t(&x, false)?))
        }
        "ast" => {
            let cfg = AstConfig::preset(size).with_context(|| format!("unknown size `{size}`"))?;
            let m = aum_model::random_untracked(|vb| AstModel::new(cfg.clone(), vb))?;
            Box::new(move || Ok(m.forward_t(&x, false)?))
        }
        other => anyhow::bail!("unknown model `{other}` (aum or ast)"),
    };
    let mut times = Vec::new();
    let mut extra: f64 = 0.0;
    for _ in 0..iters.max(1) {
        memory::release_freed_memory();
        memory::reset_peak();
        let before = memory::rss_mib()?;
        let t = Instant::now();
        let out = forward()?;
        times.push(t.elapsed().as_secs_f64());
        drop(out);
        extra = extra.max(memory::peak_rss_mib()? - before);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[times.len() / 2], extra))
}

/// Two panels, time and memory against tokens (log2 axis), AuM solid and AST dashed per size.
fn plot(points: &[Point]) -> Canvas {
    const COLOURS: [[u8; 3]; 3] = [[31, 119, 180], [214, 39, 40], [44, 160, 44]];
    let (pw, ph, left, top, gap) = (420i64, 300i64, 70i64, 50i64, 110i64);
    let mut c = Canvas::new(
        (2 * (left + pw) + gap) as usize,
        (top + ph + 80) as usize,
        WHITE,
    );
    c.text(
        left,
        14,
        "AuM (solid) vs AST (dashed) on CPU, batch 1",
        2,
        BLACK,
    );
    let sizes: Vec<&str> = points.iter().fold(Vec::new(), |mut v, p| {
        if !v.contains(&p.size.as_str()) {
            v.push(p.size.as_str());
        }
        v
    });
    let (tmin, tmax) = points.iter().fold((f64::MAX, 0f64), |(a, b), p| {
        (a.min(p.tokens as f64), b.max(p.tokens as f64))
    });
    for (panel, title) in [(0, "time (s)"), (1, "memory (MiB)")] {
        let x0 = left + panel * (left + pw + gap - 30);
        let value = |p: &Point, ast: bool| {
            let m = if ast { p.ast } else { p.aum };
            if panel == 0 {
                m.0
            } else {
                m.1
            }
        };
        let vmax = points
            .iter()
            .flat_map(|p| [value(p, false), value(p, true)])
            .fold(0f64, f64::max)
            .max(1e-9);
        c.line((x0, top), (x0, top + ph), BLACK);
        c.line((x0, top + ph), (x0 + pw, top + ph), BLACK);
        c.text(x0, top - 14, title, 1, BLACK);
        for k in 0..=4 {
            let y = top + ph - k * ph / 4;
            c.line((x0 - 4, y), (x0, y), BLACK);
            let label = format!("{:.1}", vmax * k as f64 / 4.0);
            c.text(
                x0 - 8 - Canvas::text_width(&label, 1),
                y - 3,
                &label,
                1,
                BLACK,
            );
        }
        let span = (tmax / tmin).log2().max(1.0);
        let xof = |t: usize| x0 + (((t as f64 / tmin).log2() / span) * pw as f64) as i64;
        let yof = |v: f64| top + ph - ((v / vmax) * ph as f64) as i64;
        let mut t = tmin as usize;
        while t as f64 <= tmax {
            c.line((xof(t), top + ph), (xof(t), top + ph + 4), BLACK);
            let label = t.to_string();
            c.text(
                xof(t) - Canvas::text_width(&label, 1) / 2,
                top + ph + 8,
                &label,
                1,
                BLACK,
            );
            t *= 2;
        }
        c.text(x0 + pw / 2 - 20, top + ph + 24, "tokens", 1, BLACK);
        for (si, size) in sizes.iter().enumerate() {
            let colour = COLOURS[si % COLOURS.len()];
            for ast in [false, true] {
                let pts: Vec<(i64, i64)> = points
                    .iter()
                    .filter(|p| p.size == *size)
                    .map(|p| (xof(p.tokens), yof(value(p, ast))))
                    .collect();
                for w in pts.windows(2) {
                    draw_segment(&mut c, w[0], w[1], colour, ast);
                }
                for p in &pts {
                    c.fill_rect(p.0 - 2, p.1 - 2, 5, 5, colour);
                }
            }
            c.fill_rect(left + 10, top + ph + 44 + si as i64 * 12, 10, 6, colour);
            c.text(left + 26, top + ph + 43 + si as i64 * 12, size, 1, BLACK);
        }
    }
    c
}

/// A solid or dashed line segment.
fn draw_segment(c: &mut Canvas, a: (i64, i64), b: (i64, i64), colour: [u8; 3], dashed: bool) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs())).max(1);
    for s in 0..=steps {
        if dashed && (s / 6) % 2 == 1 {
            continue;
        }
        let x = a.0 + (b.0 - a.0) * s / steps;
        let y = a.1 + (b.1 - a.1) * s / steps;
        c.fill_rect(x, y, 2, 2, colour);
    }
}
