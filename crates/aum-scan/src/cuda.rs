//! The CUDA forward and backward of the scan op: launches the kernels of
//! `kernels/selective_scan.cu` (compiled to PTX by `build.rs`) on candle's stream.
//!
//! The kernels read the op's packed inputs in place: `seqs` and `bc` in f32, f16 or bf16 (one
//! dtype for both), `params` and `h0` in f32. The forward writes `[y; last_state;
//! chunk_states]` in f32. The extra `chunk_states` (the state entering each 256-step chunk, a
//! 1/16 of `y`'s size at d_state 16) lets the backward start any chunk without rerunning the
//! forward over the whole sequence; [`crate::op`] narrows `y` and `last_state` out of the
//! output and hands all of it back to the backward.

use candle_core::backend::BackendStorage;
use candle_core::cuda_backend::cudarc::driver::sys::CUfunction_attribute_enum;
use candle_core::cuda_backend::cudarc::driver::{
    CudaFunction, CudaSlice, CudaView, DeviceRepr, LaunchConfig, PushKernelArg,
};
use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
use candle_core::op::BackpropOp;
use candle_core::{bail, CudaStorage, Device, Layout, Result, Shape, Storage, Tensor};

use crate::ScanDims;

const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/selective_scan.ptx"));
const MODULE: &str = "aum_selective_scan";
/// Steps per chunk (`kChunk` in the kernel).
const CHUNK: usize = 256;
/// Floats per padded shared-memory row (`kRow` in the kernel).
const ROW: usize = CHUNK + 33;
/// The most dynamic shared memory a block may opt in to on sm_90.
const MAX_SHARED_BYTES: usize = 227 * 1024;
/// Channels per block when the group width allows: 8 f32 channels of a token fill one
/// 32-byte sector, so the block's tile loads are fully coalesced.
const MAX_CHANNELS: usize = 8;
/// Below this many blocks (two per SM of an H100) the forward splits each channel's states
/// over several warps, to keep the GPU busy at batch 1.
const BUSY_BLOCKS: usize = 264;
/// Largest forward block (the kernel's `__launch_bounds__`).
const MAX_FWD_THREADS: usize = 512;

/// The op's options that the kernels need besides the sizes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flags {
    pub has_z: bool,
    pub softplus: bool,
    pub reverse: bool,
}

/// The kernel's `Dims`, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
struct KernelDims {
    batch: i32,
    len: i32,
    d_inner: i32,
    d_state: i32,
    groups: i32,
    has_z: i32,
    use_softplus: i32,
    reverse: i32,
}

// SAFETY: plain old data with the same layout as the kernel's `Dims` (eight 32-bit ints).
unsafe impl DeviceRepr for KernelDims {}

impl KernelDims {
    fn new(dims: &ScanDims, flags: Flags) -> Result<Self> {
        // Element offsets are 64-bit in the kernels; the sizes themselves must fit an int.
        let int = |v: usize, what: &str| {
            i32::try_from(v).or_else(|_| {
                bail!("aum selective scan: {what} = {v} is too large for the CUDA kernels")
            })
        };
        if dims.batch > 65_535 {
            bail!(
                "aum selective scan: batch {} exceeds the CUDA grid limit of 65535",
                dims.batch
            );
        }
        Ok(Self {
            batch: int(dims.batch, "batch")?,
            len: int(dims.len, "L")?,
            d_inner: int(dims.d_inner, "d_inner")?,
            d_state: int(dims.d_state, "d_state")?,
            groups: int(dims.groups, "groups")?,
            has_z: flags.has_z.into(),
            use_softplus: flags.softplus.into(),
            reverse: flags.reverse.into(),
        })
    }
}

/// Chunks of [`CHUNK`] steps in a sequence.
fn n_chunks(dims: &ScanDims) -> usize {
    dims.len.div_ceil(CHUNK)
}

/// Elements of the CUDA forward's output: y, last_state, chunk_states.
fn output_elems(dims: &ScanDims) -> usize {
    dims.seq_elems() + dims.state_elems() * (1 + n_chunks(dims))
}

/// How a launch covers the problem.
struct Geometry {
    /// Channels per block (one warp each); divides the group width, so a block reads one
    /// group's B and C.
    channels: usize,
    /// Warps sharing one channel's states (forward only).
    splits: usize,
}

impl Geometry {
    fn new(dims: &ScanDims, forward: bool) -> Self {
        let width = dims.group_width();
        let channels = (0..=MAX_CHANNELS.trailing_zeros())
            .rev()
            .map(|p| 1 << p)
            .find(|&c| width.is_multiple_of(c))
            .unwrap_or(1);
        let blocks = dims.batch * dims.d_inner / channels;
        let mut splits = 1;
        while forward
            && blocks * splits < BUSY_BLOCKS
            && dims.d_state.is_multiple_of(2 * splits)
            && 32 * channels * 2 * splits <= MAX_FWD_THREADS
        {
            splits *= 2;
        }
        Self { channels, splits }
    }

    /// Dynamic shared memory, mirroring the carve-up at the top of each kernel.
    fn shared_bytes(&self, d_state: usize, forward: bool) -> usize {
        let (c, n) = (self.channels, d_state);
        let floats = if forward {
            3 * c * ROW + 2 * n * ROW + c * n
        } else {
            3 * c * ROW + 4 * n * ROW + 2 * c * n + c
        };
        4 * floats
    }

    fn config(&self, dims: &ScanDims, shared: usize) -> LaunchConfig {
        LaunchConfig {
            grid_dim: ((dims.d_inner / self.channels) as u32, dims.batch as u32, 1),
            block_dim: (32, self.channels as u32, self.splits as u32),
            shared_mem_bytes: shared as u32,
        }
    }
}

/// The contiguous part of a CUDA buffer a layout covers.
fn view<'a, T>(slice: &'a CudaSlice<T>, layout: &Layout, what: &str) -> Result<CudaView<'a, T>> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(slice.slice(start..end)),
        None => bail!("aum selective scan: {what} is not contiguous"),
    }
}

fn cuda_storage<'a>(storage: &'a Storage, what: &str) -> Result<&'a CudaStorage> {
    match storage {
        Storage::Cuda(s) => Ok(s),
        _ => bail!("aum selective scan: {what} is not on the GPU"),
    }
}

/// The contiguous f32 data of a CUDA storage.
fn f32_view<'a>(storage: &'a Storage, layout: &Layout, what: &str) -> Result<CudaView<'a, f32>> {
    view(
        cuda_storage(storage, what)?.as_cuda_slice::<f32>()?,
        layout,
        what,
    )
}

/// Lets a loaded kernel use `shared` bytes of dynamic shared memory (past the default 48 KiB).
fn allow_shared(func: &CudaFunction, shared: usize) -> Result<()> {
    if shared > MAX_SHARED_BYTES {
        bail!("aum selective scan: d_state is too large for the CUDA kernels' shared memory");
    }
    let attr = CUfunction_attribute_enum::CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES;
    func.set_attribute(attr, shared as i32).w()
}

/// The kernel name suffix of the packed sequences' dtype; B and C must share it.
fn dtype_suffix(seqs: &CudaStorage, bc: &CudaStorage) -> Result<&'static str> {
    use CudaStorageSlice as S;
    match (&seqs.slice, &bc.slice) {
        (S::F32(_), S::F32(_)) => Ok("f32"),
        (S::F16(_), S::F16(_)) => Ok("f16"),
        (S::BF16(_), S::BF16(_)) => Ok("bf16"),
        _ => bail!(
            "aum selective scan: the CUDA kernels take u/delta/z and B/C in one of f32, f16 or bf16, got {:?} and {:?}",
            seqs.dtype(),
            bc.dtype()
        ),
    }
}

/// Pushes the views of `seqs` and `bc` in their own dtype.
macro_rules! push_typed {
    ($builder:expr, $seqs:expr, $bc:expr, $views:ident => $body:block) => {{
        use CudaStorageSlice as S;
        match (&$seqs.0.slice, &$bc.0.slice) {
            (S::F32(s), S::F32(b)) => {
                let $views = (view(s, $seqs.1, "u/delta/z")?, view(b, $bc.1, "B/C")?);
                $builder.arg(&$views.0).arg(&$views.1);
                $body
            }
            (S::F16(s), S::F16(b)) => {
                let $views = (view(s, $seqs.1, "u/delta/z")?, view(b, $bc.1, "B/C")?);
                $builder.arg(&$views.0).arg(&$views.1);
                $body
            }
            (S::BF16(s), S::BF16(b)) => {
                let $views = (view(s, $seqs.1, "u/delta/z")?, view(b, $bc.1, "B/C")?);
                $builder.arg(&$views.0).arg(&$views.1);
                $body
            }
            _ => unreachable!("dtype_suffix checked the dtypes"),
        }
    }};
}

/// The forward: returns `[y; last_state; chunk_states]` as one f32 buffer.
pub(crate) fn forward(
    dims: &ScanDims,
    flags: Flags,
    seqs: (&CudaStorage, &Layout),
    bc: (&CudaStorage, &Layout),
    params: (&CudaStorage, &Layout),
    h0: Option<&Tensor>,
) -> Result<(CudaStorage, Shape)> {
    let dev = seqs.0.device().clone();
    let suffix = dtype_suffix(seqs.0, bc.0)?;
    let kdims = KernelDims::new(dims, flags)?;
    let elems = output_elems(dims);
    // SAFETY: the kernel writes every element (y for every token, every state).
    let mut out = unsafe { dev.alloc::<f32>(elems) }?;
    if dims.batch > 0 {
        let geo = Geometry::new(dims, true);
        let shared = geo.shared_bytes(dims.d_state, true);
        let func =
            dev.get_or_load_custom_func(&format!("selective_scan_fwd_{suffix}"), MODULE, PTX)?;
        allow_shared(&func, shared)?;
        let params = view(params.0.as_cuda_slice::<f32>()?, params.1, "A/D/delta_bias")?;
        let h0_guard = h0.map(|t| t.storage_and_layout());
        let h0_view = match &h0_guard {
            Some((s, l)) => Some(view(
                cuda_storage(s, "h0")?.as_cuda_slice::<f32>()?,
                l,
                "h0",
            )?),
            None => None,
        };
        let null = 0u64;
        let mut b = func.builder();
        push_typed!(b, seqs, bc, _views => {
            b.arg(&params);
            match &h0_view {
                Some(h) => b.arg(h),
                None => b.arg(&null),
            };
            b.arg(&mut out).arg(&kdims);
            // SAFETY: argument list and types match `selective_scan_fwd_*`; sizes were validated.
            unsafe { b.launch(geo.config(dims, shared)) }.w()?;
        });
    }
    Ok((CudaStorage::wrap_cuda_slice(out, dev), Shape::from(elems)))
}

/// The backward: the gradients of `seqs`, `bc` and `params` (shaped like them, in f32) from
/// the forward's output `res` and its gradient.
pub(crate) fn backward(
    dims: &ScanDims,
    flags: Flags,
    seqs: &Tensor,
    bc: &Tensor,
    params: &Tensor,
    res: &Tensor,
    grad_res: &Tensor,
) -> Result<(Tensor, Tensor, Tensor)> {
    let Device::Cuda(dev) = seqs.device() else {
        bail!("aum selective scan: the CUDA backward needs CUDA tensors");
    };
    if res.elem_count() != output_elems(dims) {
        bail!("aum selective scan: the forward output does not come from the CUDA forward");
    }
    let grad_res = grad_res.to_dtype(candle_core::DType::F32)?.contiguous()?;
    let kdims = KernelDims::new(dims, flags)?;
    // SAFETY: the kernel writes du, ddelta (and dz) for every token and channel.
    let mut g_seqs = unsafe { dev.alloc::<f32>(seqs.elem_count()) }?;
    let mut g_bc = dev.alloc_zeros::<f32>(bc.elem_count())?;
    let mut g_params = dev.alloc_zeros::<f32>(params.elem_count())?;
    if dims.batch > 0 {
        let geo = Geometry::new(dims, false);
        let shared = geo.shared_bytes(dims.d_state, false);
        let (s_seqs, l_seqs) = seqs.storage_and_layout();
        let (s_bc, l_bc) = bc.storage_and_layout();
        let (s_params, l_params) = params.storage_and_layout();
        let (s_res, l_res) = res.storage_and_layout();
        let (s_grad, l_grad) = grad_res.storage_and_layout();
        let c_seqs = (cuda_storage(&s_seqs, "u/delta/z")?, l_seqs);
        let c_bc = (cuda_storage(&s_bc, "B/C")?, l_bc);
        let suffix = dtype_suffix(c_seqs.0, c_bc.0)?;
        let func =
            dev.get_or_load_custom_func(&format!("selective_scan_bwd_{suffix}"), MODULE, PTX)?;
        allow_shared(&func, shared)?;
        let v_params = f32_view(&s_params, l_params, "A/D/delta_bias")?;
        let v_res = f32_view(&s_res, l_res, "the forward output")?;
        let v_grad = f32_view(&s_grad, l_grad, "the output gradient")?;
        let mut b = func.builder();
        push_typed!(b, c_seqs, c_bc, _views => {
            b.arg(&v_params).arg(&v_res).arg(&v_grad);
            b.arg(&mut g_seqs).arg(&mut g_bc).arg(&mut g_params).arg(&kdims);
            // SAFETY: argument list and types match `selective_scan_bwd_*`; sizes were validated.
            unsafe { b.launch(geo.config(dims, shared)) }.w()?;
        });
    }
    let wrap = |slice: CudaSlice<f32>, like: &Tensor| {
        let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(slice, dev.clone()));
        Tensor::from_storage(storage, like.shape(), BackpropOp::none(), false)
    };
    Ok((wrap(g_seqs, seqs), wrap(g_bc, bc), wrap(g_params, params)))
}
