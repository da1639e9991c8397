//! `aum bench scan`: the fused selective scan against the reference backend and the tensor-op
//! step loop of candle-transformers' Mamba, all timed in the same run.
//!
//! Batch 1, d_state 16, Mamba-like values. Times are the minimum over `--iters` runs and are
//! reported as ns per (token x channel x state); the comparisons are ratios of time per token.
//! The reference and the step loop are linear in L, so they run on a shorter sequence
//! (at most 1024 and 256 tokens) and are compared per token.

use crate::timing;
use anyhow::{Context, Result};
use aum_scan::{
    baseline, checkpoint_len, scan_backward, scan_backward_from_checkpoints, scan_forward,
    scan_forward_with_checkpoints, Backend, ScanData, ScanDims, ScanInputs, ScanOptions,
};
use candle_core::{Device, Tensor, Var};

use crate::memory;

/// States per channel, as in every Mamba checkpoint.
const D_STATE: usize = 16;
/// The longest sequence the reference backend is timed on.
const REFERENCE_MAX_LEN: usize = 1024;
/// The longest sequence the tensor-op step loop is timed on.
const STEP_LOOP_MAX_LEN: usize = 256;
/// The configuration whose peak memory is reported.
const RSS_CONFIG: (usize, usize) = (1536, 4096);

#[derive(clap::Args, Debug)]
pub struct BenchScanArgs {
    /// Channel counts (d_inner), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [384, 768, 1536])]
    pub d_inner: Vec<usize>,
    /// Sequence lengths, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [512, 1024, 4096])]
    pub len: Vec<usize>,
    /// Worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Timed runs per measurement; the fastest is reported.
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Smoke-test size: d_inner 384, L 512, 2 runs, no peak-memory measurement.
    #[arg(long)]
    pub quick: bool,
    /// Time fwd+bwd as a plain forward and the backward that first runs the recurrence again
    /// to find its chunks' starting states, instead of the training path (the forward keeps
    /// them, the backward starts from them).
    #[arg(long)]
    pub recompute: bool,
    /// Cross-check and time the CUDA kernels on GPU 0 instead (builds with the `cuda` feature).
    #[arg(long)]
    pub cuda: bool,
    /// With --cuda: batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [1])]
    pub batch: Vec<usize>,
    /// With --cuda: the dtype of u, delta, z, B and C (f32, f16 or bf16).
    #[arg(long, default_value = "f32")]
    pub dtype: String,
    /// With --cuda: the card's peak memory bandwidth in GB/s, to report the share achieved.
    #[arg(long)]
    pub peak_gbs: Option<f64>,
}

pub fn run(args: &BenchScanArgs) -> Result<()> {
    if args.cuda {
        let dtype = match args.dtype.as_str() {
            "f32" => candle_core::DType::F32,
            "f16" => candle_core::DType::F16,
            "bf16" => candle_core::DType::BF16,
            other => anyhow::bail!("unknown dtype `{other}` (f32, f16 or bf16)"),
        };
        return super::gpu::scan(
            &args.d_inner,
            &args.len,
            &args.batch,
            dtype,
            args.iters.max(1),
            args.peak_gbs,
        );
    }
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = args.threads {
        builder = builder.num_threads(n);
    }
    let pool = builder.build().context("building the thread pool")?;
    pool.install(|| bench(args, pool.current_num_threads()))
}

fn bench(args: &BenchScanArgs, threads: usize) -> Result<()> {
    let (d_list, len_list, iters) = if args.quick {
        (vec![384], vec![512], 2)
    } else {
        (args.d_inner.clone(), args.len.clone(), args.iters.max(1))
    };
    println!(
        "selective scan: batch 1, d_state {D_STATE}, {threads} threads, kernel {}, min of {iters} runs",
        aum_scan::cpu_kernel_isa()
    );
    println!("ns/elt = ns per (token x channel x state); ratios = time per token of the other / fused cpu");
    println!("fused fwd and fwd+bwd runs alternate, so that their ratio sees the same host load");
    println!(
        "fwd+bwd: {}",
        if args.recompute {
            "forward, then a backward that re-runs the recurrence for its checkpoints"
        } else {
            "forward keeping checkpoints, backward from them (the training path)"
        }
    );
    println!(
        "reference timed on L <= {REFERENCE_MAX_LEN}, step loop on L <= {STEP_LOOP_MAX_LEN}\n"
    );

    if !args.quick && d_list.contains(&RSS_CONFIG.0) && len_list.contains(&RSS_CONFIG.1) {
        peak_memory(RSS_CONFIG.0, RSS_CONFIG.1, args.recompute)?;
    }

    println!(
        "{:>7} {:>5} | {:>9} {:>9} {:>7} | {:>8} {:>8} | {:>8} {:>8}",
        "d_inner", "L", "fwd", "fwd+bwd", "f+b/fwd", "ref fwd", "ref f+b", "step fwd", "step f+b"
    );
    println!(
        "{:>7} {:>5} | {:>9} {:>9} {:>7} | {:>8} {:>8} | {:>8} {:>8}",
        "", "", "ns/elt", "ns/elt", "", "x", "x", "x", "x"
    );
    for &d_inner in &d_list {
        for &len in &len_list {
            let row = measure(d_inner, len, iters, args.recompute)?;
            println!(
                "{:>7} {:>5} | {:>9.3} {:>9.3} {:>7.2} | {:>8.1} {:>8.1} | {:>8.1} {:>8.1}",
                d_inner,
                len,
                row.fwd_ns,
                row.fwd_bwd_ns,
                row.fwd_bwd_ns / row.fwd_ns,
                row.ref_fwd_ns / row.fwd_ns,
                row.ref_fwd_bwd_ns / row.fwd_bwd_ns,
                row.step_fwd_ns / row.fwd_ns,
                row.step_fwd_bwd_ns / row.fwd_bwd_ns,
            );
        }
    }
    Ok(())
}

/// ns per element of each variant for one configuration.
struct Row {
    fwd_ns: f64,
    fwd_bwd_ns: f64,
    ref_fwd_ns: f64,
    ref_fwd_bwd_ns: f64,
    step_fwd_ns: f64,
    step_fwd_bwd_ns: f64,
}

fn measure(d_inner: usize, len: usize, iters: usize, recompute: bool) -> Result<Row> {
    let full = Problem::new(d_inner, len, 1);
    let ref_len = len.min(REFERENCE_MAX_LEN);
    let short = Problem::new(d_inner, ref_len, 1);
    let step_len = len.min(STEP_LOOP_MAX_LEN);
    let step = Problem::new(d_inner, step_len, 1);
    let cpu = ScanOptions::default();
    let reference = ScanOptions {
        backend: Backend::Reference,
        ..ScanOptions::default()
    };
    let ns = |secs: f64, l: usize| secs * 1e9 / (l * d_inner * D_STATE) as f64;
    let (fwd, fwd_bwd) = timing::alternating(
        &Device::Cpu,
        iters,
        || full.forward(&cpu),
        || full.forward_backward(&cpu, recompute),
    )?;
    let ref_iters = iters.min(2);
    let ref_fwd = timing::runs(&Device::Cpu, ref_iters, || short.forward(&reference))?.best();
    let ref_fwd_bwd = timing::runs(&Device::Cpu, ref_iters, || {
        short.forward_backward(&reference, recompute)
    })?
    .best();
    let step_fwd = timing::runs(&Device::Cpu, ref_iters, || step.step_loop(false))?.best();
    let step_fwd_bwd = timing::runs(&Device::Cpu, ref_iters, || step.step_loop(true))?.best();
    Ok(Row {
        fwd_ns: ns(fwd.best(), len),
        fwd_bwd_ns: ns(fwd_bwd.best(), len),
        ref_fwd_ns: ns(ref_fwd, ref_len),
        ref_fwd_bwd_ns: ns(ref_fwd_bwd, ref_len),
        step_fwd_ns: ns(step_fwd, step_len),
        step_fwd_bwd_ns: ns(step_fwd_bwd, step_len),
    })
}

/// Peak resident memory of one forward+backward at (d_inner, len), reset before the inputs are
/// allocated (Linux `clear_refs`), next to the bytes of the inputs and outputs themselves.
fn peak_memory(d_inner: usize, len: usize, recompute: bool) -> Result<()> {
    let reset = memory::reset_peak();
    let before = memory::rss_mib()?;
    let p = Problem::new(d_inner, len, 1);
    let opts = ScanOptions::default();
    p.forward_backward(&opts, recompute)?;
    let peak = memory::peak_rss_mib()?;
    // u, delta, z, y, grad_y, du, ddelta, dz: L x d each; B, C, dB, dC: L x N each.
    let io_bytes = 4 * (8 * len * d_inner + 4 * len * D_STATE);
    let kept = match recompute {
        true => 0,
        false => 4 * checkpoint_len(&p.data.dims, &opts),
    };
    let mib = |bytes: usize| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "peak RSS, fused forward+backward at d_inner {d_inner}, L {len}: {:.1} MiB{} \
         (RSS before allocating inputs {:.1} MiB; inputs + outputs + gradients {:.1} MiB; \
         checkpoints kept from forward to backward {:.1} MiB)\n",
        peak,
        if reset {
            ""
        } else {
            " (process-wide: clear_refs unavailable)"
        },
        before,
        mib(io_bytes),
        mib(kept),
    );
    Ok(())
}

/// Random inputs with Mamba-like statistics, in the crate's token-major layout, and a gradient
/// for the outputs.
struct Problem {
    data: ScanData,
    grad_y: Vec<f32>,
}

impl Problem {
    fn new(d_inner: usize, len: usize, seed: u64) -> Self {
        let dims = ScanDims {
            batch: 1,
            len,
            d_inner,
            d_state: D_STATE,
            groups: 1,
        };
        let mut rng = aum_data::Rng::new(seed);
        let seq = dims.seq_elems();
        let mut vec = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
            (0..n)
                .map(|_| lo + (hi - lo) * rng.uniform() as f32)
                .collect()
        };
        Self {
            data: ScanData {
                u: vec(seq, -1.0, 1.0),
                delta: vec(seq, -1.0, 1.0),
                // S4D-real initialisation: A[d, n] = -(n + 1).
                a: (0..d_inner * D_STATE)
                    .map(|i| -((i % D_STATE) as f32 + 1.0))
                    .collect(),
                b: vec(dims.bc_elems(), -1.0, 1.0),
                c: vec(dims.bc_elems(), -1.0, 1.0),
                d: Some(vec(d_inner, 0.5, 1.5)),
                z: Some(vec(seq, -2.0, 2.0)),
                // dt = softplus(delta + bias) mostly in 0.001 .. 0.1, as in trained models.
                delta_bias: Some(vec(d_inner, -6.0, -3.0)),
                h0: None,
                dims,
            },
            grad_y: vec(seq, -1.0, 1.0),
        }
    }

    fn forward(&self, opts: &ScanOptions) -> Result<()> {
        scan_forward(&self.data.slices(), opts)?;
        Ok(())
    }

    /// A training step's scan: the forward keeping its checkpoints, then the backward from
    /// them (as the autograd op runs); with `recompute`, a plain forward and the backward
    /// that finds the checkpoints itself.
    fn forward_backward(&self, opts: &ScanOptions, recompute: bool) -> Result<()> {
        let x = self.data.slices();
        if recompute {
            scan_forward(&x, opts)?;
            scan_backward(&x, &self.grad_y, None, opts)?;
            return Ok(());
        }
        let (_, checkpoints) = scan_forward_with_checkpoints(&x, opts)?;
        scan_backward_from_checkpoints(&x, &checkpoints, &self.grad_y, None, opts)?;
        Ok(())
    }

    /// The candle tensor-op loop; with `backward`, on variables and followed by
    /// `loss.backward()`.
    fn step_loop(&self, backward: bool) -> Result<()> {
        let s = self.data.dims;
        let dev = Device::Cpu;
        let seq = (1, s.len, s.d_inner);
        let bc = (1, s.len, s.d_state);
        // With `backward`, the inputs are variables so that autograd records the loop.
        let mk = |v: &[f32], shape: &[usize]| -> Result<Tensor> {
            let t = Tensor::from_slice(v, shape, &dev)?;
            Ok(if backward {
                Var::from_tensor(&t)?.as_tensor().clone()
            } else {
                t
            })
        };
        let x = self.data.slices();
        let optional = |v: Option<&[f32]>, shape: &[usize]| v.map(|v| mk(v, shape)).transpose();
        let u = mk(x.u, &[seq.0, seq.1, seq.2])?;
        let delta = mk(x.delta, &[seq.0, seq.1, seq.2])?;
        let a = mk(x.a, &[s.d_inner, s.d_state])?;
        let b = mk(x.b, &[bc.0, bc.1, bc.2])?;
        let c = mk(x.c, &[bc.0, bc.1, bc.2])?;
        let d = optional(x.d, &[s.d_inner])?;
        let z = optional(x.z, &[seq.0, seq.1, seq.2])?;
        let bias = optional(x.delta_bias, &[s.d_inner])?;
        let mut inputs = ScanInputs::new(&u, &delta, &a, &b, &c);
        (inputs.d, inputs.z, inputs.delta_bias) = (d.as_ref(), z.as_ref(), bias.as_ref());
        let out = baseline::step_loop(&inputs, true)?;
        if backward {
            let grad_y = Tensor::from_slice(&self.grad_y, seq, &dev)?;
            (out.y * grad_y)?.sum_all()?.backward()?;
        }
        Ok(())
    }
}
