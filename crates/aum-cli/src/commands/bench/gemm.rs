//! `aum bench gemm`: the linear layers' products in f32 (the `gemm` crate) and in bf16 (AMX,
//! AVX512-BF16 or f32 multiply-adds, as `AUM_ISA` allows), on the models' shapes, alternated in
//! one run.

use anyhow::{bail, Context, Result};
use aum_kernels::{Dense, Isa, Precision};
use candle_core::{Device, Module, Tensor};

use crate::timing;

#[derive(clap::Args, Debug)]
pub struct BenchGemmArgs {
    /// Shapes MxKxN (rows x depth x outputs), comma-separated. The default: AuM-Base's in_proj
    /// half, out_proj and x_proj at 513 tokens, AST-Base's qkv, fc1 and fc2 at 514, and fc1 at
    /// 4097 rows.
    #[arg(long, value_delimiter = ',', default_values_t = [
        "513x768x1536".to_string(), "513x1536x768".into(), "513x1536x80".into(),
        "514x768x768".into(), "514x768x3072".into(), "514x3072x768".into(), "4097x768x3072".into(),
    ])]
    pub shapes: Vec<String>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed runs per shape and precision (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Print one JSON array of rows instead of the table.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &BenchGemmArgs) -> Result<()> {
    let pool = super::thread_pool(args.threads)?;
    let threads = pool.current_num_threads();
    if !args.json {
        println!(
            "x · Wᵀ, f32 (gemm crate) against bf16 ({}), {threads} threads, median of {} runs",
            Isa::detect().name(),
            args.iters
        );
        println!(
            "| shape MxKxN | f32 (ms) | f32 GFLOP/s | bf16 (ms) | bf16 GFLOP/s | bf16 speed-up |"
        );
        println!("|---|---|---|---|---|---|");
    }
    let mut rows = Vec::new();
    pool.install(|| -> Result<()> {
        for shape in &args.shapes {
            let (m, k, n) = parse(shape)?;
            let dev = Device::Cpu;
            let x = Tensor::randn(0f32, 1.0, (m, k), &dev)?;
            let w = Tensor::randn(0f32, 0.05, (n, k), &dev)?;
            let f32_layer = Dense::new(w, None)?;
            let bf16_layer = f32_layer.clone().with_precision(Precision::Bf16)?;
            let (f, b) = timing::alternating(
                &dev,
                args.iters,
                || {
                    f32_layer.forward(&x)?;
                    Ok(())
                },
                || {
                    bf16_layer.forward(&x)?;
                    Ok(())
                },
            )?;
            let (f, b) = (f.median(), b.median());
            let gflop = 2.0 * (m * k * n) as f64 / 1e9;
            if !args.json {
                println!(
                    "| {shape} | {:.2} | {:.0} | {:.2} | {:.0} | {:.1}x |",
                    f * 1e3,
                    gflop / f,
                    b * 1e3,
                    gflop / b,
                    f / b
                );
            }
            rows.push(serde_json::json!({
                "m": m, "k": k, "n": n, "threads": threads, "isa": Isa::detect().name(),
                "f32_s": f, "bf16_s": b, "f32_gflops": gflop / f, "bf16_gflops": gflop / b,
            }));
        }
        Ok(())
    })?;
    if args.json {
        println!("{}", serde_json::Value::Array(rows));
    }
    Ok(())
}

fn parse(shape: &str) -> Result<(usize, usize, usize)> {
    let dims: Vec<usize> = shape
        .split('x')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("shape `{shape}`: expected MxKxN, e.g. 513x768x1536"))?;
    match dims[..] {
        [m, k, n] if m > 0 && k > 0 && n > 0 => Ok((m, k, n)),
        _ => bail!("shape `{shape}`: expected three positive sizes MxKxN"),
    }
}
