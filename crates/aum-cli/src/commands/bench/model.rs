//! `aum bench model`: Audio Mamba forward time and peak memory per model size and clip length
//! (batch 1, random weights), and where the time goes.

use crate::timing;
use anyhow::{bail, Context, Result};
use aum_kernels::Dense;
use aum_model::{AumConfig, AumModel, Precision, Variant};
use aum_scan::{selective_scan, selective_scan_bidirectional, Direction, ScanInputs, ScanOptions};
use candle_core::{Device, Module, ModuleT, Tensor};

use crate::memory;

/// PyTorch's official AuM on CPU on these machines, 2 threads (seconds, from the issue that
/// set the targets): (size, frames, seconds).
const PYTORCH_SECONDS: [(&str, usize, f64); 4] = [
    ("tiny", 1024, 1.12),
    ("small", 1024, 1.65),
    ("base", 1024, 4.43),
    ("base", 8192, 36.2),
];

#[derive(clap::Args, Debug)]
pub struct BenchModelArgs {
    /// Model sizes, comma-separated: tiny, small, base.
    #[arg(long, value_delimiter = ',', default_values_t = ["tiny".to_string(), "small".into(), "base".into()])]
    pub size: Vec<String>,
    /// Clip lengths in frames (10 ms each), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1024])]
    pub frames: Vec<usize>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed runs per measurement (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Also split the time of the first length into GEMMs, scan and the rest.
    #[arg(long)]
    pub breakdown: bool,
    /// Time the model on CUDA GPU 0 instead (builds with the `cuda` feature).
    #[arg(long)]
    pub cuda: bool,
    /// With --cuda: batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1])]
    pub batch: Vec<usize>,
    /// Precisions, comma-separated: f32, bf16 (each model is built afresh in each).
    #[arg(long, value_delimiter = ',', default_values_t = [Precision::F32])]
    pub precision: Vec<Precision>,
    /// Print one JSON array of rows (model, size, frames, tokens, precision, time_s,
    /// peak_rss_mib, peak_reset, weights_mib) instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BenchModelArgs) -> Result<()> {
    if args.cuda {
        let precisions = &args.precision;
        return super::gpu::model(
            &args.size,
            &args.frames,
            &args.batch,
            precisions,
            args.iters,
        );
    }
    let pool = super::thread_pool(args.threads)?;
    if !args.json {
        println!(
            "Audio Mamba forward, batch 1, {} threads ({}), median of {} runs",
            pool.current_num_threads(),
            aum_kernels::Isa::detect().name(),
            args.iters
        );
        println!(
            "{:6} {:>9} {:>7} {:>7} {:>10} {:>12} {:>16} {:>14}",
            "size",
            "precision",
            "frames",
            "tokens",
            "time (s)",
            "us/token",
            "peak RSS (MiB)",
            "vs PyTorch"
        );
    }
    let mut rows = Vec::new();
    pool.install(|| -> Result<()> {
        for size in &args.size {
            let cfg = AumConfig::preset(size)
                .with_context(|| format!("unknown size `{size}` (tiny, small, base)"))?;
            for &precision in &args.precision {
                memory::release_freed_memory();
                let before = memory::rss_mib()?;
                let model = aum_model::random_untracked(&Device::Cpu, |vb| {
                    Ok(AumModel::new(cfg.clone(), vb)?)
                })?
                .with_precision(precision)?;
                memory::release_freed_memory();
                let weights_mib = memory::rss_mib()? - before;
                for &frames in &args.frames {
                    let row = measure(&model, (size, weights_mib), frames, args.iters)?;
                    if !args.json {
                        print_row(&row);
                    }
                    rows.push(row);
                }
                if args.breakdown && !args.json {
                    breakdown(&model, args.frames[0], args.iters)?;
                }
            }
        }
        Ok(())
    })?;
    if args.json {
        println!("{}", serde_json::to_string(&rows)?);
    }
    Ok(())
}

/// One measurement: a model at one clip length, as `--json` prints it.
#[derive(serde::Serialize)]
pub struct Row {
    pub model: &'static str,
    pub size: String,
    pub frames: usize,
    pub tokens: usize,
    pub precision: &'static str,
    pub time_s: f64,
    pub peak_rss_mib: f64,
    /// Whether the peak covers the forward pass alone (false: the whole process).
    pub peak_reset: bool,
    /// What the loaded model holds resident (RSS after loading minus before), MiB.
    pub weights_mib: f64,
}

fn print_row(row: &Row) {
    let pytorch = PYTORCH_SECONDS
        .iter()
        .find(|(s, f, _)| *s == row.size && *f == row.frames && row.precision == "f32")
        .map_or("-".to_string(), |(_, _, p)| {
            format!("{:.1}x faster", p / row.time_s)
        });
    println!(
        "{:6} {:>9} {:7} {:7} {:10.3} {:12.0} {:13.0}{} {:14.0} {pytorch:>14}",
        row.size,
        row.precision,
        row.frames,
        row.tokens,
        row.time_s,
        row.time_s * 1e6 / row.tokens as f64,
        row.peak_rss_mib,
        if row.peak_reset { "   " } else { " (*)" },
        row.weights_mib,
    );
}

/// The forward at `frames`, for a model of `size` holding `weights_mib`.
fn measure(
    model: &AumModel,
    (size, weights_mib): (&str, f64),
    frames: usize,
    iters: usize,
) -> Result<Row> {
    let cfg = model.config();
    let (fp, tp) = cfg.grid_for(frames);
    let tokens = fp * tp + 1;
    if fp * tp == 0 {
        bail!("{frames} frames hold no patch");
    }
    let x = Tensor::randn(0f32, 1.0, (1, frames, cfg.num_mel_bins), &Device::Cpu)?;
    // Pages that earlier sizes and the weights' originals freed would otherwise stay counted.
    memory::release_freed_memory();
    let reset = memory::reset_peak();
    let secs = timing::runs(&Device::Cpu, iters, || Ok(model.forward_t(&x, false)?))?.median();
    Ok(Row {
        model: "aum",
        size: size.to_string(),
        frames,
        tokens,
        precision: model.precision().name(),
        time_s: secs,
        peak_rss_mib: memory::peak_rss_mib()?,
        peak_reset: reset,
        weights_mib,
    })
}

/// Times the model's matrix products and scans alone, with the shapes of a forward pass.
fn breakdown(model: &AumModel, frames: usize, iters: usize) -> Result<()> {
    let cfg = model.config();
    let (fp, tp) = cfg.grid_for(frames);
    let l = fp * tp + 1;
    let (d, di, r, n) = (cfg.embed_dim, cfg.d_inner(), cfg.dt_rank, cfg.d_state);
    let dev = Device::Cpu;
    let x = Tensor::randn(0f32, 1.0, (1, frames, cfg.num_mel_bins), &dev)?;
    let total = timing::runs(&Device::Cpu, iters, || Ok(model.forward_t(&x, false)?))?.median();
    let rnd = |shape: (usize, usize)| Tensor::randn(0f32, 0.1, shape, &dev);
    // The model's layers: untracked weights, kept transposed (aum_kernels::Dense).
    let dense = |out: usize, inp: usize| {
        Dense::new(rnd((out, inp))?, None)?.with_precision(model.precision())
    };
    let (h, u, lowrank) = (rnd((l, d))?, rnd((l, di))?, rnd((l, r))?);
    let (in_x, in_z, out_proj) = (dense(di, d)?, dense(di, d)?, dense(d, di)?);
    let (x_proj, dt_proj) = (dense(r + 2 * n, di)?, dense(di, r)?);
    // Per layer: in_proj, out_proj, and x_proj + dt_proj once per branch (v2 has two).
    let branches = if cfg.variant == Variant::V2 { 2 } else { 1 };
    let gemm = timing::runs(&Device::Cpu, iters, || {
        for _ in 0..cfg.depth {
            drop(in_x.forward(&h)?);
            drop(in_z.forward(&h)?);
            drop(out_proj.forward(&u)?);
            for _ in 0..branches {
                drop(x_proj.forward(&u)?);
                drop(dt_proj.forward(&lowrank)?);
            }
        }
        Ok(())
    })?
    .median();
    let seq = Tensor::randn(0f32, 1.0, (1, l, di), &dev)?;
    let bc = Tensor::randn(0f32, 1.0, (1, l, n), &dev)?;
    let a = Tensor::randn(0f32, 1.0, (di, n), &dev)?.abs()?.neg()?;
    let inputs = ScanInputs::new(&seq, &seq, &a, &bc, &bc).with_z(&seq);
    let opts = |direction| ScanOptions {
        direction,
        precision: model.precision(),
        ..Default::default()
    };
    // As the mixer runs them: v1's two directions share their inputs and run fused.
    let scan = timing::runs(&Device::Cpu, iters, || {
        for _ in 0..cfg.depth {
            match cfg.variant {
                Variant::V1 => drop(selective_scan_bidirectional(
                    &inputs,
                    &a,
                    &opts(Direction::Forward),
                )?),
                Variant::V2 => {
                    for direction in [Direction::Forward, Direction::Reverse] {
                        drop(selective_scan(&inputs, &opts(direction))?);
                    }
                }
                Variant::None => drop(selective_scan(&inputs, &opts(Direction::Forward))?),
            }
        }
        Ok(())
    })?
    .median();
    let pct = |t: f64| 100.0 * t / total;
    println!(
        "  where the time goes at {frames} frames: total {total:.3} s = GEMMs {gemm:.3} s ({:.0}%) + scans {scan:.3} s ({:.0}%) + rest {:.3} s ({:.0}%: conv, SiLU, norms, slicing, copies)",
        pct(gemm),
        pct(scan),
        total - gemm - scan,
        pct(total - gemm - scan)
    );
    Ok(())
}
