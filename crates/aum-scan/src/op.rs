//! The candle-tensor API and the custom op that records the scan for autograd.
//!
//! candle's custom ops take at most three tensors, so the inputs are packed by concatenating
//! along the first axis, which keeps every original tensor a contiguous sub-slice of a packed
//! one (no copies inside the op):
//!
//! - `seqs` = [u; delta; z] as (2 or 3 · batch, L, d_inner),
//! - `bc` = [B; C] as (2 · batch, L, groups, d_state),
//! - `params` = [A flattened; D; delta_bias] as (d_inner · d_state + 2 · d_inner), with zeros
//!   standing in for an absent D or delta_bias.
//!
//! The op's output is `[y; last_state]` flattened, and [`selective_scan`] narrows it back. Since
//! `cat`, `narrow`, `reshape` and `to_dtype` all have backward passes, gradients reach the
//! caller's original tensors. `h0` is held by the op, not passed as an input, and so gets no
//! gradient; the gradient of `last_state` *is* propagated.

use crate::{Backend, Direction, Error, Result, ScanDims, ScanOptions, ScanSlices};
use candle_core::{CpuStorage, CustomOp3, DType, Device, Layout, Shape, Storage, Tensor};

/// The scan's tensor inputs (layouts in the crate docs). Build with [`ScanInputs::new`] and the
/// `with_*` methods for the optional ones.
#[derive(Clone, Copy, Debug)]
pub struct ScanInputs<'a> {
    /// (batch, L, d_inner).
    pub u: &'a Tensor,
    /// (batch, L, d_inner), before bias and softplus.
    pub delta: &'a Tensor,
    /// (d_inner, d_state).
    pub a: &'a Tensor,
    /// (batch, L, d_state) or (batch, L, groups, d_state).
    pub b: &'a Tensor,
    /// Same shape as `b`.
    pub c: &'a Tensor,
    /// (d_inner).
    pub d: Option<&'a Tensor>,
    /// (batch, L, d_inner).
    pub z: Option<&'a Tensor>,
    /// (d_inner).
    pub delta_bias: Option<&'a Tensor>,
    /// (batch, d_inner, d_state).
    pub h0: Option<&'a Tensor>,
}

impl<'a> ScanInputs<'a> {
    /// Whether a gradient can flow to any input (a variable, or computed from one).
    fn tracked(&self) -> bool {
        let required = [self.u, self.delta, self.a, self.b, self.c];
        let optional = [self.d, self.z, self.delta_bias];
        required
            .into_iter()
            .chain(optional.into_iter().flatten())
            .any(Tensor::track_op)
    }

    /// The required inputs; the optional ones start absent.
    pub fn new(
        u: &'a Tensor,
        delta: &'a Tensor,
        a: &'a Tensor,
        b: &'a Tensor,
        c: &'a Tensor,
    ) -> Self {
        Self {
            u,
            delta,
            a,
            b,
            c,
            d: None,
            z: None,
            delta_bias: None,
            h0: None,
        }
    }

    /// Adds the skip term `D·u`.
    pub fn with_d(mut self, d: &'a Tensor) -> Self {
        self.d = Some(d);
        self
    }

    /// Adds the gate `y *= silu(z)`.
    pub fn with_z(mut self, z: &'a Tensor) -> Self {
        self.z = Some(z);
        self
    }

    /// Adds the bias added to delta before softplus.
    pub fn with_delta_bias(mut self, delta_bias: &'a Tensor) -> Self {
        self.delta_bias = Some(delta_bias);
        self
    }

    /// Starts from state `h0` instead of zeros.
    pub fn with_h0(mut self, h0: &'a Tensor) -> Self {
        self.h0 = Some(h0);
        self
    }
}

/// What [`selective_scan`] returns.
#[derive(Clone, Debug)]
pub struct ScanOutput {
    /// (batch, L, d_inner), in u's dtype.
    pub y: Tensor,
    /// (batch, d_inner, d_state), f32.
    pub last_state: Tensor,
}

/// Runs the selective scan on candle tensors.
///
/// All arithmetic is f32, as upstream, and `y` comes back in u's dtype. On the CPU, inputs of
/// dtype f16, bf16 or f64 are converted to f32; the CUDA kernels read f16 and bf16 sequences
/// and B/C directly (converting delta, z, B and C to u's dtype). The result is recorded for
/// autograd when any input is a variable. The reference and cpu backends need CPU tensors,
/// the cuda backend (built with the `cuda` feature) CUDA tensors.
pub fn selective_scan(inputs: &ScanInputs<'_>, opts: &ScanOptions) -> Result<ScanOutput> {
    if opts.backend == Backend::Cuda && !cfg!(feature = "cuda") {
        return Err(Error::cuda_unavailable());
    }
    let dims = check_shapes(inputs)?;
    check_devices(inputs, opts.backend)?;
    if opts.backend != Backend::Cuda && !inputs.tracked() {
        return scan_untracked(inputs, opts, dims);
    }
    let seq_dtype = kernel_dtype(inputs.u, opts.backend);
    let as_f32 = |name, t: &Tensor| as_dtype(name, t, seq_dtype);
    let (batch, len, d_inner, d_state, groups) = (
        dims.batch,
        dims.len,
        dims.d_inner,
        dims.d_state,
        dims.groups,
    );
    let u = as_f32("u", inputs.u)?;
    let delta = as_f32("delta", inputs.delta)?;
    let mut seqs = vec![u, delta];
    if let Some(z) = inputs.z {
        seqs.push(as_f32("z", z)?);
    }
    let seqs = Tensor::cat(&seqs, 0)?;
    let bc_shape = (batch, len, groups, d_state);
    let b = as_f32("B", inputs.b)?.reshape(bc_shape)?;
    let c = as_f32("C", inputs.c)?.reshape(bc_shape)?;
    let bc = Tensor::cat(&[b, c], 0)?;
    let device = inputs.u.device();
    let vector = |name, t: Option<&Tensor>| match t {
        Some(t) => f32_param(name, t),
        None => Ok(Tensor::zeros(d_inner, DType::F32, device)?),
    };
    let params = Tensor::cat(
        &[
            f32_param("A", inputs.a)?.flatten_all()?,
            vector("D", inputs.d)?,
            vector("delta_bias", inputs.delta_bias)?,
        ],
        0,
    )?;
    let h0 = match inputs.h0 {
        Some(h0) => Some(f32_param("h0", h0)?.contiguous()?.detach()),
        None => None,
    };
    let op = ScanOp {
        dims,
        opts: *opts,
        has_z: inputs.z.is_some(),
        has_d: inputs.d.is_some(),
        has_bias: inputs.delta_bias.is_some(),
        h0,
    };
    let packed = seqs.apply_op3(&bc, &params, op)?;
    let y_len = dims.seq_elems();
    let y = packed
        .narrow(0, 0, y_len)?
        .reshape((batch, len, d_inner))?
        .to_dtype(inputs.u.dtype())?;
    let last_state = packed
        .narrow(0, y_len, dims.state_elems())?
        .reshape((batch, d_inner, d_state))?;
    Ok(ScanOutput { y, last_state })
}

/// The CPU scan of inputs that no gradient will flow to (inference): straight from the
/// tensors' storage into the kernel, without the packing copies that the op needs to record
/// the scan for autograd (mostly page faults of the packed buffer: docs/benchmarks.md).
fn scan_untracked(
    inputs: &ScanInputs<'_>,
    opts: &ScanOptions,
    dims: ScanDims,
) -> Result<ScanOutput> {
    let result = with_slices(inputs, dims, |x| crate::scan_forward(x, opts))?;
    Ok(ScanOutput {
        y: seq_tensor(result.y, dims, inputs.u)?,
        last_state: state_tensor(result.last_state, dims, inputs.u.device())?,
    })
}

/// Calls `run` with the inputs as contiguous f32 slices of their CPU storage (converted or
/// copied first only where a tensor is not already f32 and contiguous).
fn with_slices<R>(
    inputs: &ScanInputs<'_>,
    dims: ScanDims,
    run: impl FnOnce(&ScanSlices<'_>) -> Result<R>,
) -> Result<R> {
    let f32_contiguous =
        |name, t: &Tensor| -> Result<Tensor> { Ok(f32_param(name, t)?.contiguous()?) };
    let opt = |name, t: Option<&Tensor>| t.map(|t| f32_contiguous(name, t)).transpose();
    let u = f32_contiguous("u", inputs.u)?;
    let delta = f32_contiguous("delta", inputs.delta)?;
    let a = f32_contiguous("A", inputs.a)?;
    let b = f32_contiguous("B", inputs.b)?;
    let c = f32_contiguous("C", inputs.c)?;
    let (d, z) = (opt("D", inputs.d)?, opt("z", inputs.z)?);
    let (bias, h0) = (opt("delta_bias", inputs.delta_bias)?, opt("h0", inputs.h0)?);
    let (gu, gdelta) = (u.storage_and_layout(), delta.storage_and_layout());
    let (ga, gb, gc) = (
        a.storage_and_layout(),
        b.storage_and_layout(),
        c.storage_and_layout(),
    );
    let gd = d.as_ref().map(Tensor::storage_and_layout);
    let gz = z.as_ref().map(Tensor::storage_and_layout);
    let gbias = bias.as_ref().map(Tensor::storage_and_layout);
    let gh0 = h0.as_ref().map(Tensor::storage_and_layout);
    let x = ScanSlices {
        dims,
        u: guarded_slice(&gu, "u")?,
        delta: guarded_slice(&gdelta, "delta")?,
        a: guarded_slice(&ga, "A")?,
        b: guarded_slice(&gb, "B")?,
        c: guarded_slice(&gc, "C")?,
        d: maybe_slice(&gd, "D")?,
        z: maybe_slice(&gz, "z")?,
        delta_bias: maybe_slice(&gbias, "delta_bias")?,
        h0: maybe_slice(&gh0, "h0")?,
    };
    run(&x)
}

/// A (batch, L, d_inner) output as a tensor in `like`'s dtype, on its device.
fn seq_tensor(data: Vec<f32>, dims: ScanDims, like: &Tensor) -> Result<Tensor> {
    let shape = (dims.batch, dims.len, dims.d_inner);
    Ok(Tensor::from_vec(data, shape, like.device())?.to_dtype(like.dtype())?)
}

/// A (batch, d_inner, d_state) state as an f32 tensor.
fn state_tensor(data: Vec<f32>, dims: ScanDims, device: &Device) -> Result<Tensor> {
    let shape = (dims.batch, dims.d_inner, dims.d_state);
    Ok(Tensor::from_vec(data, shape, device)?)
}

/// What [`selective_scan_bidirectional`] returns.
#[derive(Clone, Debug)]
pub struct BiScanOutput {
    /// (batch, L, d_inner), in u's dtype: the sum of the two directions' gated outputs.
    pub y: Tensor,
    /// (batch, d_inner, d_state), f32: the forward scan's state after token L-1.
    pub last_state: Tensor,
    /// (batch, d_inner, d_state), f32: the reverse scan's state after token 0.
    pub last_state_rev: Tensor,
}

/// AuM's v1 ("Fo-Bi") block: the scan forward in time with `inputs.a` plus the scan in reverse
/// with `a_rev` (same shape as A), over the same u, delta, B, C, D, z and delta_bias, summed
/// without halving (upstream's `bimamba_inner_fn`).
///
/// Untracked CPU inputs (inference) run as one fused kernel call, which reads the per-token
/// inputs once per direction and gates the summed outputs once ([`crate::scan_bidirectional`]);
/// tracked inputs, and CUDA tensors, run as two [`selective_scan`] calls and a sum, so autograd
/// records them. The two agree up to rounding. `opts.direction` is not used.
pub fn selective_scan_bidirectional(
    inputs: &ScanInputs<'_>,
    a_rev: &Tensor,
    opts: &ScanOptions,
) -> Result<BiScanOutput> {
    if a_rev.dims() != inputs.a.dims() {
        let text = format!("the same as A, {:?}", inputs.a.dims());
        return Err(shape_error("A_rev", text, a_rev));
    }
    if !a_rev.device().same_device(inputs.a.device()) {
        return Err(Error::Device(format!(
            "`A_rev` is on {:?} but A is on {:?}",
            a_rev.device().location(),
            inputs.a.device().location()
        )));
    }
    if opts.backend != Backend::Cuda && !inputs.tracked() && !a_rev.track_op() {
        let dims = check_shapes(inputs)?;
        check_devices(inputs, opts.backend)?;
        let a_rev = f32_param("A_rev", a_rev)?.contiguous()?;
        let guard = a_rev.storage_and_layout();
        let a_rev = guarded_slice(&guard, "A_rev")?;
        let result = with_slices(inputs, dims, |x| crate::scan_bidirectional(x, a_rev, opts))?;
        let device = inputs.u.device();
        return Ok(BiScanOutput {
            y: seq_tensor(result.y, dims, inputs.u)?,
            last_state: state_tensor(result.last_state, dims, device)?,
            last_state_rev: state_tensor(result.last_state_rev, dims, device)?,
        });
    }
    let directed = |direction| ScanOptions { direction, ..*opts };
    let fwd = selective_scan(inputs, &directed(Direction::Forward))?;
    let reverse = ScanInputs {
        a: a_rev,
        ..*inputs
    };
    let rev = selective_scan(&reverse, &directed(Direction::Reverse))?;
    Ok(BiScanOutput {
        y: (fwd.y + rev.y)?,
        last_state: fwd.last_state,
        last_state_rev: rev.last_state,
    })
}

/// The f32 data behind a tensor's storage guard (see [`Tensor::storage_and_layout`]).
fn guarded_slice<'g, G: std::ops::Deref<Target = Storage>>(
    guard: &'g (G, &Layout),
    what: &str,
) -> Result<&'g [f32]> {
    Ok(cpu_slice(&guard.0, guard.1, what)?)
}

fn maybe_slice<'g, G: std::ops::Deref<Target = Storage>>(
    guard: &'g Option<(G, &Layout)>,
    what: &str,
) -> Result<Option<&'g [f32]>> {
    guard.as_ref().map(|g| guarded_slice(g, what)).transpose()
}

/// The dtype the kernels read the sequences and B/C in: u's own for f16/bf16 on CUDA (half the
/// memory traffic), f32 otherwise.
fn kernel_dtype(u: &Tensor, backend: Backend) -> DType {
    match (backend, u.dtype()) {
        (Backend::Cuda, dtype @ (DType::F16 | DType::BF16)) => dtype,
        _ => DType::F32,
    }
}

/// Converts a floating-point tensor to `dtype` (a no-op when it already has it) and rejects
/// other dtypes.
fn as_dtype(name: &'static str, t: &Tensor, dtype: DType) -> Result<Tensor> {
    match t.dtype() {
        d if d == dtype => Ok(t.clone()),
        DType::F32 | DType::F16 | DType::BF16 | DType::F64 => Ok(t.to_dtype(dtype)?),
        dtype => Err(Error::DType { name, dtype }),
    }
}

/// A, D, delta_bias and h0 are always f32.
fn f32_param(name: &'static str, t: &Tensor) -> Result<Tensor> {
    as_dtype(name, t, DType::F32)
}

fn shape_error(name: &'static str, expected: String, t: &Tensor) -> Error {
    Error::Shape {
        name,
        expected,
        actual: t.dims().to_vec(),
    }
}

/// Derives the problem sizes from the tensors and checks every shape against them.
fn check_shapes(x: &ScanInputs<'_>) -> Result<ScanDims> {
    let (batch, len, d_inner) = match *x.u.dims() {
        [b, l, d] => (b, l, d),
        _ => return Err(shape_error("u", "(batch, L, d_inner)".into(), x.u)),
    };
    let seq = format!("(batch={batch}, L={len}, d_inner={d_inner})");
    let expect = |name, t: &Tensor, want: &[usize], text: &str| {
        if t.dims() == want {
            Ok(())
        } else {
            Err(shape_error(name, text.to_string(), t))
        }
    };
    expect("delta", x.delta, &[batch, len, d_inner], &seq)?;
    let d_state = match *x.a.dims() {
        [d, n] if d == d_inner => n,
        _ => {
            let text = format!("(d_inner={d_inner}, d_state)");
            return Err(shape_error("A", text, x.a));
        }
    };
    let bc_text = format!(
        "(batch={batch}, L={len}, d_state={d_state}) or (batch={batch}, L={len}, groups, d_state={d_state})"
    );
    let groups = match *x.b.dims() {
        [b, l, n] if (b, l, n) == (batch, len, d_state) => 1,
        [b, l, g, n] if (b, l, n) == (batch, len, d_state) => g,
        _ => return Err(shape_error("B", bc_text, x.b)),
    };
    if x.c.dims() != x.b.dims() {
        let text = format!("the same as B, {:?}", x.b.dims());
        return Err(shape_error("C", text, x.c));
    }
    let vec_text = format!("(d_inner={d_inner})");
    if let Some(d) = x.d {
        expect("D", d, &[d_inner], &vec_text)?;
    }
    if let Some(bias) = x.delta_bias {
        expect("delta_bias", bias, &[d_inner], &vec_text)?;
    }
    if let Some(z) = x.z {
        expect("z", z, &[batch, len, d_inner], &seq)?;
    }
    if let Some(h0) = x.h0 {
        let text = format!("(batch={batch}, d_inner={d_inner}, d_state={d_state})");
        expect("h0", h0, &[batch, d_inner, d_state], &text)?;
    }
    let dims = ScanDims {
        batch,
        len,
        d_inner,
        d_state,
        groups,
    };
    dims.validate()?;
    Ok(dims)
}

/// Checks that every tensor is on u's device, and that the backend runs there.
fn check_devices(x: &ScanInputs<'_>, backend: Backend) -> Result<()> {
    let device = x.u.device();
    let named = [
        ("delta", Some(x.delta)),
        ("A", Some(x.a)),
        ("B", Some(x.b)),
        ("C", Some(x.c)),
        ("D", x.d),
        ("z", x.z),
        ("delta_bias", x.delta_bias),
        ("h0", x.h0),
    ];
    for (name, t) in named {
        if let Some(t) = t {
            if !t.device().same_device(device) {
                return Err(Error::Device(format!(
                    "`{name}` is on {:?} but u is on {device:?}",
                    t.device().location()
                )));
            }
        }
    }
    match (backend, device) {
        (Backend::Cuda, Device::Cuda(_)) | (Backend::Reference | Backend::Cpu, Device::Cpu) => {
            Ok(())
        }
        (Backend::Cuda, _) => Err(Error::Device(format!(
            "the cuda backend needs CUDA tensors, got {:?}",
            device.location()
        ))),
        _ => Err(Error::Device(format!(
            "the reference and cpu backends need CPU tensors, got {:?}",
            device.location()
        ))),
    }
}

/// `parts` one after the other, in a buffer of exactly their length (growing the first part
/// instead would copy it anyway and leave the tensor, which autograd keeps, with up to twice
/// the capacity).
fn packed(parts: &[&[f32]]) -> Vec<f32> {
    let mut out = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.extend_from_slice(p);
    }
    out
}

/// The recorded op: everything that is not one of the three packed tensors.
struct ScanOp {
    dims: ScanDims,
    opts: ScanOptions,
    has_z: bool,
    has_d: bool,
    has_bias: bool,
    /// f32, contiguous, detached.
    h0: Option<Tensor>,
}

/// The f32 data of a contiguous CPU storage.
fn cpu_slice<'s>(
    storage: &'s Storage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'s [f32]> {
    let Storage::Cpu(cpu) = storage else {
        candle_core::bail!("aum selective scan: {what} is not on the CPU");
    };
    cpu_storage_slice(cpu, layout, what)
}

fn cpu_storage_slice<'s>(
    cpu: &'s CpuStorage,
    layout: &Layout,
    what: &str,
) -> candle_core::Result<&'s [f32]> {
    let data = cpu.as_slice::<f32>()?;
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("aum selective scan: {what} is not contiguous"),
    }
}

impl ScanOp {
    #[cfg(feature = "cuda")]
    fn cuda_flags(&self) -> crate::cuda::Flags {
        crate::cuda::Flags {
            has_z: self.has_z,
            softplus: self.opts.softplus,
            reverse: self.opts.direction == crate::Direction::Reverse,
        }
    }

    /// Splits the packed inputs back into the scan's slices.
    fn slices<'a>(
        &self,
        seqs: &'a [f32],
        bc: &'a [f32],
        params: &'a [f32],
        h0: Option<&'a [f32]>,
    ) -> candle_core::Result<ScanSlices<'a>> {
        let dims = self.dims;
        let (n, m, an, di) = (
            dims.seq_elems(),
            dims.bc_elems(),
            dims.a_elems(),
            dims.d_inner,
        );
        let n_seqs = if self.has_z { 3 } else { 2 };
        if seqs.len() != n_seqs * n || bc.len() != 2 * m || params.len() != an + 2 * di {
            candle_core::bail!(
                "aum selective scan: packed inputs have {}, {} and {} elements, expected {}, {} and {}",
                seqs.len(),
                bc.len(),
                params.len(),
                n_seqs * n,
                2 * m,
                an + 2 * di
            );
        }
        Ok(ScanSlices {
            dims,
            u: &seqs[..n],
            delta: &seqs[n..2 * n],
            z: self.has_z.then(|| &seqs[2 * n..3 * n]),
            a: &params[..an],
            b: &bc[..m],
            c: &bc[m..],
            d: self.has_d.then(|| &params[an..an + di]),
            delta_bias: self.has_bias.then(|| &params[an + di..]),
            h0,
        })
    }
}

impl CustomOp3 for ScanOp {
    fn name(&self) -> &'static str {
        "aum-selective-scan"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let seqs = cpu_storage_slice(s1, l1, "u/delta/z")?;
        let bc = cpu_storage_slice(s2, l2, "B/C")?;
        let params = cpu_storage_slice(s3, l3, "A/D/delta_bias")?;
        let h0_storage = self.h0.as_ref().map(|t| t.storage_and_layout());
        let h0 = match &h0_storage {
            Some((storage, layout)) => Some(cpu_slice(storage, layout, "h0")?),
            None => None,
        };
        let x = self.slices(seqs, bc, params, h0)?;
        let (result, checkpoints) = crate::scan_forward_with_checkpoints(&x, &self.opts)?;
        // The checkpoints ride along in the output, which autograd keeps for `bwd`.
        let out = packed(&[&result.y, &result.last_state, &checkpoints]);
        let len = out.len();
        Ok((CpuStorage::F32(out), Shape::from(len)))
    }

    /// The CUDA kernels' forward; its output also carries the per-chunk states that the CUDA
    /// backward starts from (see `cuda.rs`).
    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> candle_core::Result<(candle_core::CudaStorage, Shape)> {
        crate::cuda::forward(
            &self.dims,
            self.cuda_flags(),
            (s1, l1),
            (s2, l2),
            (s3, l3),
            self.h0.as_ref(),
        )
    }

    fn bwd(
        &self,
        arg1: &Tensor,
        arg2: &Tensor,
        arg3: &Tensor,
        res: &Tensor,
        grad_res: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        #[cfg(feature = "cuda")]
        if arg1.device().is_cuda() {
            let (g1, g2, g3) = crate::cuda::backward(
                &self.dims,
                self.cuda_flags(),
                arg1,
                arg2,
                arg3,
                res,
                grad_res,
            )?;
            return Ok((
                Some(g1.to_dtype(arg1.dtype())?),
                Some(g2.to_dtype(arg2.dtype())?),
                Some(g3),
            ));
        }
        let grad_res = grad_res.contiguous()?;
        let grads = {
            let (s1, l1) = arg1.storage_and_layout();
            let (s2, l2) = arg2.storage_and_layout();
            let (s3, l3) = arg3.storage_and_layout();
            let (sg, lg) = grad_res.storage_and_layout();
            let (sr, lr) = res.storage_and_layout();
            let h0_storage = self.h0.as_ref().map(|t| t.storage_and_layout());
            let h0 = match &h0_storage {
                Some((storage, layout)) => Some(cpu_slice(storage, layout, "h0")?),
                None => None,
            };
            let x = self.slices(
                cpu_slice(&s1, l1, "u/delta/z")?,
                cpu_slice(&s2, l2, "B/C")?,
                cpu_slice(&s3, l3, "A/D/delta_bias")?,
                h0,
            )?;
            let outputs = self.dims.seq_elems() + self.dims.state_elems();
            let checkpoints = &cpu_slice(&sr, lr, "the forward's output")?[outputs..];
            let grad = cpu_slice(&sg, lg, "the output gradient")?;
            let (grad_y, grad_last) = grad[..outputs].split_at(self.dims.seq_elems());
            crate::scan_backward_from_checkpoints(
                &x,
                checkpoints,
                grad_y,
                Some(grad_last),
                &self.opts,
            )?
        };
        let zeros = vec![0.0; self.dims.d_inner];
        let g1 = packed(&[&grads.u, &grads.delta, grads.z.as_deref().unwrap_or(&[])]);
        let g2 = packed(&[&grads.b, &grads.c]);
        let d = grads.d.as_deref().unwrap_or(&zeros);
        let g3 = packed(&[&grads.a, d, grads.delta_bias.as_deref().unwrap_or(&zeros)]);
        let device = arg1.device();
        Ok((
            Some(Tensor::from_vec(g1, arg1.shape(), device)?),
            Some(Tensor::from_vec(g2, arg2.shape(), device)?),
            Some(Tensor::from_vec(g3, arg3.shape(), device)?),
        ))
    }
}
