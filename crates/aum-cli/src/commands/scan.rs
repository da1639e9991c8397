//! `aum scan`: run the selective scan on tensors from a safetensors file.
//!
//! The input is named and laid out like the scan fixtures, i.e. upstream's channel-major
//! layout: `u`, `delta`, `z` (batch, d_inner, L); `B`, `C` (batch, d_state, L) or
//! (batch, groups, d_state, L); `A` (d_inner, d_state); optional `D`, `delta_bias` (d_inner),
//! `z`, `h0` (batch, d_inner, d_state) and `grad_out` (like u). The output holds `out` and
//! `last_state` in the same layout, plus `grad_u` .. `grad_delta_bias` when `grad_out` is given.
//! When the input also holds expected results under those names (as every fixture does), each
//! is compared with the fixtures' tolerance and the command fails if any differs: that makes it
//! a checker for any backend against any fixture.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use aum_scan::{
    scan_backward_from_checkpoints, scan_forward, scan_forward_with_checkpoints, selective_scan,
    Backend, Direction, ScanData, ScanDims, ScanGrads, ScanInputs, ScanOptions, ScanResult,
};
use candle_core::{DType, Device, Tensor, Var};

use crate::timing;

/// Relative tolerance of the check against expected tensors (with [`ATOL`]).
const RTOL: f32 = 1e-4;
/// Absolute floor of the check: |got - want| <= RTOL·|want| + ATOL.
const ATOL: f32 = 1e-5;

#[derive(clap::ValueEnum, Clone, Copy, Debug)]
pub enum BackendArg {
    /// Plain loops: the oracle.
    Reference,
    /// The fused, vectorised CPU kernel.
    Cpu,
    /// The CUDA kernels on device 0, through the candle op and autograd (builds with the
    /// `cuda` feature).
    Cuda,
}

impl From<BackendArg> for Backend {
    fn from(b: BackendArg) -> Self {
        match b {
            BackendArg::Reference => Backend::Reference,
            BackendArg::Cpu => Backend::Cpu,
            BackendArg::Cuda => Backend::Cuda,
        }
    }
}

#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// Input tensors (safetensors), named and laid out as the scan fixtures.
    #[arg(long)]
    pub input: PathBuf,
    /// Where to write out, last_state and the gradients (safetensors).
    #[arg(long)]
    pub output: PathBuf,
    /// Which implementation runs.
    #[arg(long, value_enum, default_value_t = BackendArg::Cpu)]
    pub backend: BackendArg,
    /// Use delta + delta_bias as the step size directly (the fixtures apply softplus).
    #[arg(long)]
    pub no_softplus: bool,
    /// Scan from the last token to the first.
    #[arg(long)]
    pub reverse: bool,
}

pub fn run(args: &ScanArgs) -> Result<()> {
    let tensors = candle_core::safetensors::load(&args.input, &Device::Cpu)
        .with_context(|| format!("reading {}", args.input.display()))?;
    let input = Input::from_tensors(&tensors)?;
    let opts = ScanOptions {
        softplus: !args.no_softplus,
        direction: if args.reverse {
            Direction::Reverse
        } else {
            Direction::Forward
        },
        backend: args.backend.into(),
        ..Default::default()
    };
    let dims = input.data.dims;
    println!(
        "{}: batch {}, d_inner {}, L {}, d_state {}, groups {}; backend {}",
        args.input.display(),
        dims.batch,
        dims.d_inner,
        dims.len,
        dims.d_state,
        dims.groups,
        opts.backend.name()
    );

    let (fwd, grads) = match opts.backend {
        Backend::Cuda => run_cuda(&input, &opts)?,
        _ => run_host(&input, &opts)?,
    };
    let mut out = HashMap::new();
    out.insert("out".to_string(), input.seq_to_upstream(fwd.y)?);
    let state_shape = (dims.batch, dims.d_inner, dims.d_state);
    out.insert(
        "last_state".to_string(),
        Tensor::from_vec(fwd.last_state, state_shape, &Device::Cpu)?,
    );
    if let Some(g) = grads {
        out.insert("grad_u".into(), input.seq_to_upstream(g.u)?);
        out.insert("grad_delta".into(), input.seq_to_upstream(g.delta)?);
        let a_shape = (dims.d_inner, dims.d_state);
        out.insert(
            "grad_A".into(),
            Tensor::from_vec(g.a, a_shape, &Device::Cpu)?,
        );
        out.insert("grad_B".into(), input.bc_to_upstream(g.b)?);
        out.insert("grad_C".into(), input.bc_to_upstream(g.c)?);
        if let Some(v) = g.z {
            out.insert("grad_z".into(), input.seq_to_upstream(v)?);
        }
        if let Some(v) = g.d {
            out.insert(
                "grad_D".into(),
                Tensor::from_vec(v, dims.d_inner, &Device::Cpu)?,
            );
        }
        if let Some(v) = g.delta_bias {
            let t = Tensor::from_vec(v, dims.d_inner, &Device::Cpu)?;
            out.insert("grad_delta_bias".into(), t);
        }
    }
    aum_io::save_safetensors(&args.output, &out, Default::default())?;
    println!("wrote {}", args.output.display());
    check_against_expected(&out, &tensors)
}

/// Runs the scan on the slices in host memory (reference or cpu backend); with `grad_out`, as
/// training does: the forward keeps its checkpoints and the backward starts from them.
fn run_host(input: &Input, opts: &ScanOptions) -> Result<(ScanResult, Option<ScanGrads>)> {
    let x = input.data.slices();
    let cpu = Device::Cpu;
    let Some(grad_out) = &input.grad_out else {
        let (fwd, secs) = timing::once(&cpu, || Ok(scan_forward(&x, opts)?))?;
        println!("forward: {:.3} ms", secs * 1e3);
        return Ok((fwd, None));
    };
    let ((fwd, checkpoints), secs) =
        timing::once(&cpu, || Ok(scan_forward_with_checkpoints(&x, opts)?))?;
    println!("forward: {:.3} ms", secs * 1e3);
    let (grads, secs) = timing::once(&cpu, || {
        Ok(scan_backward_from_checkpoints(
            &x,
            &checkpoints,
            grad_out,
            None,
            opts,
        )?)
    })?;
    println!("backward: {:.3} ms", secs * 1e3);
    Ok((fwd, Some(grads)))
}

/// Runs the scan on CUDA device 0: the candle op on variables, then autograd on
/// `sum(y * grad_out)` for the gradients (so `last_state` gets none, as in [`run_host`]).
fn run_cuda(input: &Input, opts: &ScanOptions) -> Result<(ScanResult, Option<ScanGrads>)> {
    let dev = Device::new_cuda(0)
        .context("opening CUDA device 0 (needs a GPU and a build with --features cuda)")?;
    let s = input.data.dims;
    let seq = [s.batch, s.len, s.d_inner];
    let var = |v: &[f32], shape: &[usize]| -> Result<Var> {
        Ok(Var::from_tensor(&Tensor::from_slice(v, shape, &dev)?)?)
    };
    let opt_var =
        |v: &Option<Vec<f32>>, shape: &[usize]| v.as_deref().map(|v| var(v, shape)).transpose();
    let u = var(&input.data.u, &seq)?;
    let delta = var(&input.data.delta, &seq)?;
    let a = var(&input.data.a, &[s.d_inner, s.d_state])?;
    let bc_shape = [s.batch, s.len, s.groups, s.d_state];
    let b = var(&input.data.b, &bc_shape)?;
    let c = var(&input.data.c, &bc_shape)?;
    let d = opt_var(&input.data.d, &[s.d_inner])?;
    let z = opt_var(&input.data.z, &seq)?;
    let bias = opt_var(&input.data.delta_bias, &[s.d_inner])?;
    let h0 = input
        .data
        .h0
        .as_deref()
        .map(|v| Tensor::from_slice(v, (s.batch, s.d_inner, s.d_state), &dev))
        .transpose()?;
    let mut inputs = ScanInputs::new(&u, &delta, &a, &b, &c);
    inputs.d = d.as_deref();
    inputs.z = z.as_deref();
    inputs.delta_bias = bias.as_deref();
    inputs.h0 = h0.as_ref();
    let ((out, fwd), secs) = timing::once(&dev, || {
        let out = selective_scan(&inputs, opts)?;
        let fwd = ScanResult {
            y: out.y.flatten_all()?.to_vec1()?,
            last_state: out.last_state.flatten_all()?.to_vec1()?,
        };
        Ok((out, fwd))
    })?;
    println!(
        "forward (first call: loads the kernels; includes the copy back): {:.3} ms",
        secs * 1e3
    );
    let Some(grad_out) = &input.grad_out else {
        return Ok((fwd, None));
    };
    let (grads, secs) = timing::once(&dev, || {
        let loss = (out.y * Tensor::from_slice(grad_out, &seq[..], &dev)?)?.sum_all()?;
        let store = loss.backward()?;
        let grad = |v: &Var| -> Result<Vec<f32>> {
            let g = store.get(v).context("the scan returned no gradient")?;
            Ok(g.flatten_all()?.to_vec1()?)
        };
        let opt_grad = |v: &Option<Var>| v.as_ref().map(grad).transpose();
        Ok(ScanGrads {
            u: grad(&u)?,
            delta: grad(&delta)?,
            a: grad(&a)?,
            b: grad(&b)?,
            c: grad(&c)?,
            d: opt_grad(&d)?,
            z: opt_grad(&z)?,
            delta_bias: opt_grad(&bias)?,
        })
    })?;
    println!(
        "backward (autograd; includes the copies back): {:.3} ms",
        secs * 1e3
    );
    Ok((fwd, Some(grads)))
}

/// Compares every output that the input file also holds; fails if any is out of tolerance.
fn check_against_expected(
    out: &HashMap<String, Tensor>,
    expected: &HashMap<String, Tensor>,
) -> Result<()> {
    let mut names: Vec<&String> = out.keys().filter(|k| expected.contains_key(*k)).collect();
    if names.is_empty() {
        return Ok(());
    }
    names.sort();
    println!(
        "\n{:<16} {:>12} {:>12}  check |diff| <= {RTOL:e}·|want| + {ATOL:e}",
        "tensor", "max abs", "max rel"
    );
    let mut failed = Vec::new();
    for name in names {
        let got = flat(&out[name])?;
        let want = flat(&expected[name])?;
        if got.len() != want.len() {
            println!("{name:<16} size {} but expected {}", got.len(), want.len());
            failed.push(name.as_str());
            continue;
        }
        let (mut max_abs, mut max_rel, mut ok) = (0.0f32, 0.0f32, true);
        for (g, w) in got.iter().zip(&want) {
            let diff = (g - w).abs();
            max_abs = max_abs.max(diff);
            max_rel = max_rel.max(diff / w.abs().max(f32::MIN_POSITIVE));
            ok &= diff <= RTOL * w.abs() + ATOL;
        }
        let verdict = if ok { "ok" } else { "FAIL" };
        println!("{name:<16} {max_abs:>12.3e} {max_rel:>12.3e}  {verdict}");
        if !ok {
            failed.push(name.as_str());
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("out of tolerance: {}", failed.join(", "))
    }
}

fn flat(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?)
}

/// The input tensors converted to the scan's token-major layout.
struct Input {
    data: ScanData,
    /// Whether B and C came with an explicit groups axis.
    grouped_bc: bool,
    grad_out: Option<Vec<f32>>,
}

impl Input {
    fn from_tensors(t: &HashMap<String, Tensor>) -> Result<Self> {
        let get = |name: &str| {
            t.get(name)
                .with_context(|| format!("the input has no tensor `{name}`"))
        };
        let u = get("u")?;
        let (batch, d_inner, len) = u
            .dims3()
            .with_context(|| format!("`u` must be (batch, d_inner, L), got {:?}", u.dims()))?;
        let a = get("A")?;
        let (_, d_state) = a
            .dims2()
            .with_context(|| format!("`A` must be (d_inner, d_state), got {:?}", a.dims()))?;
        let b = get("B")?;
        let (groups, grouped_bc) = match *b.dims() {
            [_, _, _] => (1, false),
            [_, g, _, _] => (g, true),
            _ => bail!(
                "`B` must be (batch, d_state, L) or (batch, groups, d_state, L), got {:?}",
                b.dims()
            ),
        };
        // The scan validates every shape against these dims and names the culprit.
        let dims = ScanDims {
            batch,
            len,
            d_inner,
            d_state,
            groups,
        };
        let seq = |x: &Tensor| -> Result<Vec<f32>> { flat(&x.transpose(1, 2)?.contiguous()?) };
        let bc = |x: &Tensor| -> Result<Vec<f32>> {
            let x = if grouped_bc {
                x.permute((0, 3, 1, 2))?
            } else {
                x.transpose(1, 2)?
            };
            flat(&x.contiguous()?)
        };
        let seq_opt = |name: &str| t.get(name).map(seq).transpose();
        let flat_opt = |name: &str| t.get(name).map(flat).transpose();
        Ok(Self {
            data: ScanData {
                dims,
                u: seq(u)?,
                delta: seq(get("delta")?)?,
                a: flat(a)?,
                b: bc(b)?,
                c: bc(get("C")?)?,
                d: flat_opt("D")?,
                z: seq_opt("z")?,
                delta_bias: flat_opt("delta_bias")?,
                h0: flat_opt("h0")?,
            },
            grouped_bc,
            grad_out: seq_opt("grad_out")?,
        })
    }

    /// (batch, L, d_inner) data -> a (batch, d_inner, L) tensor.
    fn seq_to_upstream(&self, v: Vec<f32>) -> Result<Tensor> {
        let s = self.data.dims;
        let t = Tensor::from_vec(v, (s.batch, s.len, s.d_inner), &Device::Cpu)?;
        Ok(t.transpose(1, 2)?.contiguous()?)
    }

    /// (batch, L, groups, d_state) data -> B's or C's input layout.
    fn bc_to_upstream(&self, v: Vec<f32>) -> Result<Tensor> {
        let s = self.data.dims;
        let t = Tensor::from_vec(v, (s.batch, s.len, s.groups, s.d_state), &Device::Cpu)?;
        let t = if self.grouped_bc {
            t.permute((0, 2, 3, 1))?
        } else {
            t.squeeze(2)?.transpose(1, 2)?
        };
        Ok(t.contiguous()?)
    }
}
