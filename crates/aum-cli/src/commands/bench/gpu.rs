//! The `--cuda` halves of `aum bench scan` and `aum bench model`: the scan kernels and the
//! whole model on CUDA device 0.
//!
//! The scan bench first cross-checks the CUDA op against the CPU backend on small random
//! problems that the fixtures do not cover (f16 and bf16 inputs, the reverse direction, groups,
//! h0, the gradient of last_state), then times it. GPU work is asynchronous, so every timing
//! ends with a device synchronisation.

use crate::timing;
use anyhow::{bail, Context, Result};
use aum_model::{AumConfig, AumModel, Precision};
use aum_scan::{selective_scan, Backend, Direction, ScanInputs, ScanOptions};
use candle_core::{DType, Device, ModuleT, Tensor, Var};

/// States per channel, as in every Mamba checkpoint.
const D_STATE: usize = 16;

fn cuda_device() -> Result<Device> {
    Device::new_cuda(0)
        .context("opening CUDA device 0 (needs a GPU and a build with --features cuda)")
}

/// One scan problem's tensors, as variables so that autograd records the op.
struct Problem {
    u: Var,
    delta: Var,
    a: Var,
    b: Var,
    c: Var,
    d: Var,
    z: Var,
    bias: Var,
    h0: Option<Tensor>,
}

impl Problem {
    /// Mamba-like random values (S4D-real A, small step sizes) in `dtype` on `dev`.
    fn random(
        dev: &Device,
        dtype: DType,
        (batch, len, d_inner, groups): (usize, usize, usize, usize),
        with_h0: bool,
    ) -> Result<Self> {
        let seq = (batch, len, d_inner);
        let bc = (batch, len, groups, D_STATE);
        let var = |t: Tensor| -> Result<Var> { Ok(Var::from_tensor(&t)?) };
        let uniform = |lo: f32, hi: f32, shape: &[usize], dtype| -> Result<Var> {
            var(Tensor::rand(lo, hi, shape, dev)?.to_dtype(dtype)?)
        };
        let a = Tensor::arange(1f32, (D_STATE + 1) as f32, dev)?
            .neg()?
            .unsqueeze(0)?
            .repeat((d_inner, 1))?;
        let h0 = with_h0
            .then(|| Tensor::rand(-1f32, 1.0, (batch, d_inner, D_STATE), dev))
            .transpose()?;
        Ok(Self {
            u: uniform(-1.0, 1.0, &[seq.0, seq.1, seq.2], dtype)?,
            delta: uniform(-1.0, 1.0, &[seq.0, seq.1, seq.2], dtype)?,
            a: var(a)?,
            b: uniform(-1.0, 1.0, &[bc.0, bc.1, bc.2, bc.3], dtype)?,
            c: uniform(-1.0, 1.0, &[bc.0, bc.1, bc.2, bc.3], dtype)?,
            d: uniform(0.5, 1.5, &[d_inner], DType::F32)?,
            z: uniform(-2.0, 2.0, &[seq.0, seq.1, seq.2], dtype)?,
            bias: uniform(-6.0, -3.0, &[d_inner], DType::F32)?,
            h0,
        })
    }

    /// The same values on `dev`, as f32 (what the CPU backend computes on).
    fn to_f32_on(&self, dev: &Device) -> Result<Self> {
        let v = |x: &Var| -> Result<Var> {
            Ok(Var::from_tensor(&x.to_dtype(DType::F32)?.to_device(dev)?)?)
        };
        Ok(Self {
            u: v(&self.u)?,
            delta: v(&self.delta)?,
            a: v(&self.a)?,
            b: v(&self.b)?,
            c: v(&self.c)?,
            d: v(&self.d)?,
            z: v(&self.z)?,
            bias: v(&self.bias)?,
            h0: self.h0.as_ref().map(|h| h.to_device(dev)).transpose()?,
        })
    }

    fn inputs(&self) -> ScanInputs<'_> {
        let mut x = ScanInputs::new(&self.u, &self.delta, &self.a, &self.b, &self.c)
            .with_d(&self.d)
            .with_z(&self.z)
            .with_delta_bias(&self.bias);
        x.h0 = self.h0.as_ref();
        x
    }

    fn vars(&self) -> [(&'static str, &Var); 8] {
        [
            ("grad_u", &self.u),
            ("grad_delta", &self.delta),
            ("grad_A", &self.a),
            ("grad_B", &self.b),
            ("grad_C", &self.c),
            ("grad_D", &self.d),
            ("grad_z", &self.z),
            ("grad_bias", &self.bias),
        ]
    }
}

/// Runs the op and autograd on `sum(y * gy) + sum(last_state * gl)`; returns every output
/// and gradient by name, in f32 on the CPU.
fn outputs(
    p: &Problem,
    opts: &ScanOptions,
    gy: &Tensor,
    gl: &Tensor,
) -> Result<Vec<(&'static str, Tensor)>> {
    let dev = p.u.device();
    let out = selective_scan(&p.inputs(), opts)?;
    let y = out.y.to_dtype(DType::F32)?;
    let loss = ((&y * gy.to_device(dev)?)?.sum_all()?
        + (&out.last_state * gl.to_device(dev)?)?.sum_all()?)?;
    let store = loss.backward()?;
    let host =
        |t: &Tensor| -> Result<Tensor> { Ok(t.to_dtype(DType::F32)?.to_device(&Device::Cpu)?) };
    let mut all = vec![("y", host(&y)?), ("last_state", host(&out.last_state)?)];
    for (name, var) in p.vars() {
        let g = store
            .get(var)
            .with_context(|| format!("no gradient for {name}"))?;
        all.push((name, host(g)?));
    }
    Ok(all)
}

/// Max |got - want|, max relative difference, and whether every element is within
/// `rtol·|want| + atol·max(1, max|want|)` (the absolute floor scales with the tensor, so that
/// sums over many terms in a different order are judged fairly).
fn compare(got: &Tensor, want: &Tensor, rtol: f32, atol: f32) -> Result<(f32, f32, bool)> {
    let got = got.flatten_all()?.to_vec1::<f32>()?;
    let want = want.flatten_all()?.to_vec1::<f32>()?;
    if got.len() != want.len() {
        bail!("sizes differ: {} and {}", got.len(), want.len());
    }
    let scale = want.iter().fold(1f32, |m, w| m.max(w.abs()));
    let (mut max_abs, mut max_rel, mut ok) = (0f32, 0f32, true);
    for (g, w) in got.iter().zip(&want) {
        let diff = (g - w).abs();
        max_abs = max_abs.max(diff);
        max_rel = max_rel.max(diff / w.abs().max(1e-6));
        ok &= diff <= rtol * w.abs() + atol * scale;
    }
    Ok((max_abs, max_rel, ok))
}

/// The CUDA op against the CPU backend on the same (rounded) inputs: every dtype, both
/// directions, one and two groups, with and without h0. Fails if any tensor is out of
/// tolerance: in f32, 1e-4 relative plus 1e-5 of the tensor's largest value (ten times that
/// floor for the gradients that are sums); 1e-2 and 1e-3 with f16 or bf16 inputs.
fn cross_check(dev: &Device) -> Result<()> {
    let sizes = (2, 700, 48, 1);
    println!("cross-check against the cpu backend: batch 2, L 700 (3 chunks, ragged), d_inner 48, d_state 16");
    println!(
        "{:5} {:8} {:6} {:3} | {:>10} {:>10} | worst tensor",
        "dtype", "dir", "groups", "h0", "max abs", "max rel"
    );
    let mut failures = 0;
    for dtype in [DType::F32, DType::F16, DType::BF16] {
        let (rtol, atol) = if dtype == DType::F32 {
            (1e-4, 1e-5)
        } else {
            (1e-2, 1e-3)
        };
        for direction in [Direction::Forward, Direction::Reverse] {
            for (groups, with_h0) in [(1, false), (2, true)] {
                let gpu =
                    Problem::random(dev, dtype, (sizes.0, sizes.1, sizes.2, groups), with_h0)?;
                let cpu = gpu.to_f32_on(&Device::Cpu)?;
                let gy = Tensor::rand(-1f32, 1.0, (sizes.0, sizes.1, sizes.2), &Device::Cpu)?
                    .to_dtype(dtype)?
                    .to_dtype(DType::F32)?;
                let gl = Tensor::rand(-1f32, 1.0, (sizes.0, sizes.2, D_STATE), &Device::Cpu)?;
                let opts = |backend| ScanOptions {
                    direction,
                    backend,
                    ..ScanOptions::default()
                };
                let got = outputs(&gpu, &opts(Backend::Cuda), &gy, &gl)?;
                let want = outputs(&cpu, &opts(Backend::Cpu), &gy, &gl)?;
                let (mut worst, mut all_ok) = (("", 0f32, 0f32), true);
                for ((name, g), (_, w)) in got.iter().zip(&want) {
                    // A, D and the bias sum over every token (1400 here), B and C over a
                    // group's channels, in an order the GPU's atomics leave open.
                    let summed = matches!(
                        *name,
                        "grad_A" | "grad_D" | "grad_bias" | "grad_B" | "grad_C"
                    );
                    let atol = if summed { 10.0 * atol } else { atol };
                    let (abs, rel, ok) = compare(g, w, rtol, atol)?;
                    if !ok {
                        println!("  FAIL {name}: max abs {abs:.3e}, max rel {rel:.3e}");
                    }
                    all_ok &= ok;
                    if abs > worst.1 {
                        worst = (name, abs, rel);
                    }
                }
                failures += usize::from(!all_ok);
                println!(
                    "{:5} {:8} {:6} {:3} | {:>10.3e} {:>10.3e} | {} {}",
                    format!("{dtype:?}").to_lowercase(),
                    format!("{direction:?}").to_lowercase(),
                    groups,
                    if with_h0 { "yes" } else { "no" },
                    worst.1,
                    worst.2,
                    worst.0,
                    if all_ok { "PASS" } else { "FAIL" }
                );
            }
        }
    }
    if failures > 0 {
        bail!("{failures} cross-check case(s) out of tolerance");
    }
    println!("cross-check: PASS\n");
    Ok(())
}

/// Bytes one forward must move at least: u, delta, z, B and C read in their dtype; y
/// (f32), last_state and the per-chunk states written.
fn forward_bytes(batch: usize, len: usize, d_inner: usize, dtype: DType) -> f64 {
    let es = dtype.size_in_bytes() as f64;
    let tokens = (batch * len) as f64;
    let reads = tokens * (3.0 * d_inner as f64 + 2.0 * D_STATE as f64) * es;
    let chunks = len.div_ceil(256) as f64;
    let writes =
        tokens * d_inner as f64 * 4.0 + (batch * d_inner * D_STATE) as f64 * 4.0 * (1.0 + chunks);
    reads + writes
}

/// `aum bench scan --cuda`.
pub fn scan(
    d_list: &[usize],
    len_list: &[usize],
    batch_list: &[usize],
    dtype: DType,
    iters: usize,
    peak_gbs: Option<f64>,
) -> Result<()> {
    let dev = cuda_device()?;
    // The timings still run after a failed cross-check (and the failure is returned at the
    // end), so that one GPU session yields both answers.
    let checked = cross_check(&dev);
    if let Err(e) = &checked {
        println!("cross-check: FAIL ({e})\n");
    }
    println!("selective scan on CUDA: d_state {D_STATE}, {dtype:?} inputs, all of D, z, delta_bias, min of {iters} runs");
    println!("op = selective_scan (packs its inputs with copies, then the kernel); pack = those copies alone;");
    println!("kernel = op - pack; GB/s = bytes the kernel must move / kernel time; f+b = op + autograd backward\n");
    println!(
        "{:>5} {:>7} {:>6} | {:>9} {:>9} {:>9} | {:>8} {:>7} | {:>9}",
        "batch", "d_inner", "L", "op ms", "pack ms", "kernel ms", "GB/s", "% peak", "f+b ms"
    );
    for &batch in batch_list {
        for &d_inner in d_list {
            for &len in len_list {
                let p = Problem::random(&dev, dtype, (batch, len, d_inner, 1), false)?;
                let opts = ScanOptions {
                    backend: Backend::Cuda,
                    ..ScanOptions::default()
                };
                let op = timing::runs(&dev, iters, || Ok(selective_scan(&p.inputs(), &opts)?))?
                    .best()
                    * 1e3;
                let pack = timing::runs(&dev, iters, || {
                    drop(Tensor::cat(
                        &[p.u.as_tensor(), p.delta.as_tensor(), p.z.as_tensor()],
                        0,
                    )?);
                    drop(Tensor::cat(&[p.b.as_tensor(), p.c.as_tensor()], 0)?);
                    drop(Tensor::cat(
                        &[
                            p.a.flatten_all()?,
                            p.d.as_tensor().clone(),
                            p.bias.as_tensor().clone(),
                        ],
                        0,
                    )?);
                    Ok(())
                })?
                .best()
                    * 1e3;
                let gy = Tensor::rand(-1f32, 1.0, (batch, len, d_inner), &dev)?.to_dtype(dtype)?;
                let fb = timing::runs(&dev, iters, || {
                    let out = selective_scan(&p.inputs(), &opts)?;
                    drop((out.y * &gy)?.sum_all()?.backward()?);
                    Ok(())
                })?
                .best()
                    * 1e3;
                let kernel = (op - pack).max(1e-3);
                let gbs = forward_bytes(batch, len, d_inner, dtype) / (kernel * 1e-3) / 1e9;
                let pct = peak_gbs.map_or("-".to_string(), |peak| {
                    format!("{:.0}%", 100.0 * gbs / peak)
                });
                println!(
                    "{batch:>5} {d_inner:>7} {len:>6} | {op:>9.3} {pack:>9.3} {kernel:>9.3} | {gbs:>8.0} {pct:>7} | {fb:>9.3}"
                );
            }
        }
    }
    checked
}

/// `aum bench model --cuda`: forward (inference) time with random weights, per batch size.
pub fn model(
    sizes: &[String],
    frames_list: &[usize],
    batch_list: &[usize],
    precisions: &[Precision],
    iters: usize,
) -> Result<()> {
    let dev = cuda_device()?;
    println!("Audio Mamba forward on CUDA, random untracked weights, min of {iters} runs");
    println!(
        "{:6} {:>9} {:>7} {:>6} {:>7} | {:>10} {:>12}",
        "size", "precision", "frames", "batch", "tokens", "ms", "ms per clip"
    );
    for (size, &precision) in sizes
        .iter()
        .flat_map(|s| precisions.iter().map(move |p| (s, p)))
    {
        let cfg = AumConfig::preset(size)
            .with_context(|| format!("unknown size `{size}` (tiny, small, base)"))?;
        // Untracked: a recorded graph would keep every activation alive.
        let model = aum_model::random_untracked(&dev, |vb| Ok(AumModel::new(cfg.clone(), vb)?))?
            .with_precision(precision)?;
        for &frames in frames_list {
            let (fp, tp) = cfg.grid_for(frames);
            if fp * tp == 0 {
                bail!("{frames} frames hold no patch");
            }
            for &batch in batch_list {
                let x = Tensor::randn(0f32, 1.0, (batch, frames, cfg.num_mel_bins), &dev)?;
                let ms =
                    timing::runs(&dev, iters, || Ok(model.forward_t(&x, false)?))?.best() * 1e3;
                println!(
                    "{size:6} {precision:>9} {frames:>7} {batch:>6} {:>7} | {ms:>10.2} {:>12.2}",
                    fp * tp + 1,
                    ms / batch as f64
                );
            }
        }
    }
    Ok(())
}
