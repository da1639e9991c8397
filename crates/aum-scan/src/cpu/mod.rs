//! The fused CPU backend.
//!
//! Work is split into items of one batch row times a block of up to [`BLOCK`] channels that
//! share a group (so B and C are scalars for the whole block), and rayon runs the items in
//! parallel. Within an item the loop is token-major: for each token, for each state `n`, one
//! pass over the block's channels. That inner pass has a fixed trip count and no cross-lane
//! dependency, so LLVM turns it into vector code; the state, `h[n][channel]`, is
//! `BLOCK · d_state` floats (4 KiB for N = 16) and stays in L1. Nothing of size (L, d, N) is
//! ever materialised.
//!
//! The hot loops are compiled three times: for AVX-512, for AVX2 + FMA, and portably; the best
//! one the CPU supports is picked at run time (the default x86-64 target only assumes SSE2,
//! and AVX-512 halves the instruction count of the exp-bound inner loop).

// The lane loops index several arrays in lockstep (`h[j]`, `a[j]`, `dt[j]`, ...): explicit
// indices read like the math and vectorise reliably; zipped iterators of four arrays do neither.
#![allow(clippy::needless_range_loop)]

#[cfg(target_arch = "x86_64")]
mod avx512;
mod backward;
mod forward;

pub(crate) use backward::backward;
pub(crate) use forward::forward;

use crate::{BiScanResult, ScanDims, ScanGrads, ScanSlices};
use aum_kernels::fastmath::{self, Madd};
pub(super) use aum_kernels::Isa;
use std::marker::PhantomData;

/// Channels per item: 64 floats are eight AVX2 vectors, enough independent work per state to
/// hide the latency of `exp`, and few enough that a 16-state block fits in L1.
pub(super) const BLOCK: usize = 64;

/// One value per channel of a block.
pub(super) type Lane = [f32; BLOCK];

/// A unit of parallel work: batch row `b`, channels `c0 .. c0 + width` of group `group`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Item {
    pub b: usize,
    pub group: usize,
    pub c0: usize,
    pub width: usize,
}

/// Splits the problem into items; blocks never straddle a group boundary.
pub(super) fn plan(dims: &ScanDims) -> Vec<Item> {
    let gw = dims.group_width();
    let mut items = Vec::new();
    for b in 0..dims.batch {
        for group in 0..dims.groups {
            let mut c0 = group * gw;
            let end = c0 + gw;
            while c0 < end {
                let width = BLOCK.min(end - c0);
                items.push(Item {
                    b,
                    group,
                    c0,
                    width,
                });
                c0 += width;
            }
        }
    }
    items
}

/// An output buffer that parallel items write into, each to its own ranges.
///
/// The token-major outputs interleave the items' columns row by row, so no safe split of a
/// `&mut [f32]` hands each item its part; instead items copy into disjoint ranges through a
/// raw pointer. The lifetime ties the view to the borrowed buffer.
#[derive(Clone, Copy)]
pub(super) struct SharedOut<'a> {
    ptr: *mut f32,
    len: usize,
    _buf: PhantomData<&'a mut [f32]>,
}

// SAFETY: the view only allows copies into caller-chosen ranges; `write`'s contract makes
// concurrent writes disjoint, so sharing the pointer between threads is sound.
unsafe impl Send for SharedOut<'_> {}
unsafe impl Sync for SharedOut<'_> {}

impl<'a> SharedOut<'a> {
    pub(super) fn new(buf: &'a mut [f32]) -> Self {
        Self {
            ptr: buf.as_mut_ptr(),
            len: buf.len(),
            _buf: PhantomData,
        }
    }

    /// Copies `src` to `offset ..`.
    ///
    /// # Safety
    /// No other thread may read or write `offset .. offset + src.len()` concurrently.
    pub(super) unsafe fn write(&self, offset: usize, src: &[f32]) {
        assert!(
            offset + src.len() <= self.len,
            "SharedOut write out of bounds"
        );
        // SAFETY: in bounds (checked above); exclusive per the caller's contract.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr.add(offset), src.len()) }
    }

    /// A pointer to `offset`, after checking that `offset .. offset + width` is in bounds, for
    /// masked vector loads and stores.
    ///
    /// # Safety
    /// As for [`SharedOut::write`], for whatever the caller reads or writes through the
    /// pointer.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    pub(super) unsafe fn lane_ptr(&self, offset: usize, width: usize) -> *mut f32 {
        assert!(offset + width <= self.len, "SharedOut write out of bounds");
        self.ptr.wrapping_add(offset)
    }

    /// The buffer's start, for prefetch hints (which neither read nor write).
    #[cfg(target_arch = "x86_64")]
    pub(super) fn hint_ptr(&self) -> *const f32 {
        self.ptr
    }

    /// Copies the first `width` values of a lane to `offset ..`.
    ///
    /// # Safety
    /// As for [`SharedOut::write`].
    #[inline(always)]
    pub(super) unsafe fn write_lane(&self, offset: usize, src: &Lane, width: usize) {
        assert!(offset + width <= self.len, "SharedOut write out of bounds");
        let dst = self.ptr.wrapping_add(offset);
        if width == BLOCK {
            // SAFETY: in bounds (checked above); exclusive per the caller's contract. A
            // whole-lane copy has a constant size, so it compiles to vector moves.
            unsafe { std::ptr::copy_nonoverlapping(src, dst.cast::<Lane>(), 1) }
        } else {
            // SAFETY: as above.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, width) }
        }
    }
}

/// An output buffer that a kernel writes in full before anything reads it, so it is never
/// zeroed first. A zeroed (batch, L, d_inner) output costs a memset of the whole buffer when
/// the allocator hands back reused memory (steady state in a model or a training loop), on
/// top of the kernel's own writes. Only the AVX-512 kernels, which write every element of
/// their outputs, use it.
#[cfg(target_arch = "x86_64")]
pub(super) struct Unwritten {
    buf: Vec<f32>,
    len: usize,
}

#[cfg(target_arch = "x86_64")]
impl Unwritten {
    pub(super) fn new(len: usize) -> Self {
        Self {
            buf: Vec::with_capacity(len),
            len,
        }
    }

    /// The view kernels write through.
    pub(super) fn out(&mut self) -> SharedOut<'_> {
        SharedOut {
            ptr: self.buf.as_mut_ptr(),
            len: self.len,
            _buf: PhantomData,
        }
    }

    /// The buffer, once written.
    ///
    /// # Safety
    /// Every element must have been written through [`Unwritten::out`].
    pub(super) unsafe fn assume_written(mut self) -> Vec<f32> {
        // SAFETY: the capacity is `len`, and the caller wrote every element.
        unsafe { self.buf.set_len(self.len) };
        self.buf
    }
}

/// How a CPU forward computes: softplus on delta or not, and decays to bf16 accuracy (a
/// shorter `2^f` polynomial, AVX-512 only) or f32's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Flags {
    pub softplus: bool,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pub short_decay: bool,
}

impl Flags {
    /// Softplus as given, decays to f32 accuracy (the backward's forward).
    pub fn exact(softplus: bool) -> Self {
        Self {
            softplus,
            short_decay: false,
        }
    }
}

impl From<&crate::ScanOptions> for Flags {
    fn from(o: &crate::ScanOptions) -> Self {
        Self {
            softplus: o.softplus,
            short_decay: o.precision == crate::Precision::Bf16,
        }
    }
}

/// The shared-input bidirectional scan (see [`crate::scan_bidirectional`]): one fused pass per
/// direction on AVX-512, two scans and a sum elsewhere.
pub(crate) fn bidirectional(x: &ScanSlices<'_>, a_rev: &[f32], flags: Flags) -> BiScanResult {
    #[cfg(target_arch = "x86_64")]
    if Isa::detect() >= Isa::Avx512 {
        let dims = x.dims;
        let mut y = Unwritten::new(dims.seq_elems());
        let mut last = Unwritten::new(dims.state_elems());
        let mut last_rev = Unwritten::new(dims.state_elems());
        // SAFETY: `Isa::detect` found AVX-512F, AVX-512DQ, AVX2 and FMA on this CPU; the
        // caller checked that `a_rev` is as long as `x.a`. The kernel writes every element of
        // the three outputs.
        unsafe {
            let lasts = (last.out(), last_rev.out());
            avx512::bidirectional(x, a_rev, flags, y.out(), lasts);
            return BiScanResult {
                y: y.assume_written(),
                last_state: last.assume_written(),
                last_state_rev: last_rev.assume_written(),
            };
        }
    }
    crate::bidirectional::compose(x, a_rev, |x, dir| forward(x, flags, dir, false).0)
}

/// Floats in the checkpoints that a forward saves for the backward: only the AVX-512 kernel
/// keeps them (the state every 32 tokens); the others re-run the recurrence in the backward.
pub(crate) fn checkpoint_len(dims: &ScanDims) -> usize {
    match Isa::detect() {
        #[cfg(target_arch = "x86_64")]
        Isa::Amx | Isa::Avx512Bf16 | Isa::Avx512 => avx512::checkpoint_len(dims),
        _ => 0,
    }
}

/// The name of the instruction set [`Isa::detect`] picks.
pub(crate) fn isa_name() -> &'static str {
    Isa::detect().name()
}

/// Per-block constants, transposed to `[state][channel]` so the inner loop reads them
/// contiguously. Padding channels hold A = 0, D = 0, bias = 0.
pub(super) struct BlockParams {
    pub a: Vec<Lane>,
    pub skip: Lane,
    pub bias: Lane,
}

impl BlockParams {
    #[inline(always)]
    pub(super) fn load(x: &ScanSlices<'_>, it: &Item) -> Self {
        let n_st = x.dims.d_state;
        let mut a = vec![[0.0; BLOCK]; n_st];
        for j in 0..it.width {
            for (n, lane) in a.iter_mut().enumerate() {
                lane[j] = x.a[(it.c0 + j) * n_st + n];
            }
        }
        let mut skip = [0.0; BLOCK];
        let mut bias = [0.0; BLOCK];
        if let Some(d) = x.d {
            skip[..it.width].copy_from_slice(&d[it.c0..it.c0 + it.width]);
        }
        if let Some(db) = x.delta_bias {
            bias[..it.width].copy_from_slice(&db[it.c0..it.c0 + it.width]);
        }
        Self { a, skip, bias }
    }
}

/// Loads the block's rows of a (batch, d_inner, d_state) tensor as `[state][channel]`
/// (zeros when absent).
#[inline(always)]
pub(super) fn load_state(src: Option<&[f32]>, dims: &ScanDims, it: &Item) -> Vec<Lane> {
    let n_st = dims.d_state;
    let mut h = vec![[0.0; BLOCK]; n_st];
    if let Some(src) = src {
        let base = (it.b * dims.d_inner + it.c0) * n_st;
        for j in 0..it.width {
            for (n, lane) in h.iter_mut().enumerate() {
                lane[j] = src[base + j * n_st + n];
            }
        }
    }
    h
}

/// Copies `width` values from `src[offset..]` into a lane, zero-filling the rest.
#[inline(always)]
pub(super) fn load_lane(src: &[f32], offset: usize, width: usize, dst: &mut Lane) {
    if width == BLOCK {
        // A constant-size copy compiles to a few vector moves instead of a memcpy call.
        dst.copy_from_slice(&src[offset..offset + BLOCK]);
    } else {
        dst[..width].copy_from_slice(&src[offset..offset + width]);
        dst[width..].fill(0.0);
    }
}

/// The per-channel values of one token for one block.
#[derive(Clone)]
pub(super) struct Token {
    pub u: Lane,
    /// delta + bias: softplus's argument.
    pub raw: Lane,
    pub dt: Lane,
    pub dtu: Lane,
}

impl Token {
    pub(super) fn new() -> Self {
        Self {
            u: [0.0; BLOCK],
            raw: [0.0; BLOCK],
            dt: [0.0; BLOCK],
            dtu: [0.0; BLOCK],
        }
    }

    /// Loads token `t` (at `offset` in the (batch, L, d_inner) tensors) and computes
    /// `dt = softplus(delta + bias)` and `dt·u`.
    #[inline(always)]
    pub(super) fn load<M: Madd>(
        &mut self,
        x: &ScanSlices<'_>,
        offset: usize,
        width: usize,
        bias: &Lane,
        softplus: bool,
    ) {
        load_lane(x.u, offset, width, &mut self.u);
        load_lane(x.delta, offset, width, &mut self.raw);
        for j in 0..BLOCK {
            self.raw[j] += bias[j];
        }
        if softplus {
            for j in 0..BLOCK {
                self.dt[j] = fastmath::softplus::<M>(self.raw[j]);
            }
        } else {
            self.dt = self.raw;
        }
        for j in 0..BLOCK {
            self.dtu[j] = self.dt[j] * self.u[j];
        }
    }
}

/// Offset of (b, t, channel c0) in the (batch, L, d_inner) tensors.
#[inline(always)]
pub(super) fn seq_offset(dims: &ScanDims, it: &Item, t: usize) -> usize {
    (it.b * dims.len + t) * dims.d_inner + it.c0
}

/// Offset of (b, t, group, n = 0) in B and C.
#[inline(always)]
pub(super) fn bc_offset(dims: &ScanDims, it: &Item, t: usize) -> usize {
    ((it.b * dims.len + t) * dims.groups + it.group) * dims.d_state
}

/// Gradients shared between work items, summed per task: A, D and the delta bias (over batch
/// rows) and B and C (over a group's channels). B and C keep `bc_lanes` partial sums per
/// element, so a kernel can leave the horizontal sum over channels to [`SharedGrads::finish`].
pub(super) struct SharedGrads {
    pub a: Vec<f32>,
    pub d: Vec<f32>,
    pub bias: Vec<f32>,
    pub b: Vec<f32>,
    pub c: Vec<f32>,
    bc_lanes: usize,
}

impl SharedGrads {
    pub(super) fn zeros(dims: &ScanDims, bc_lanes: usize) -> Self {
        Self {
            a: vec![0.0; dims.a_elems()],
            d: vec![0.0; dims.d_inner],
            bias: vec![0.0; dims.d_inner],
            b: vec![0.0; dims.bc_elems() * bc_lanes],
            c: vec![0.0; dims.bc_elems() * bc_lanes],
            bc_lanes,
        }
    }

    /// Adds the tasks' sums in task order (deterministic for a given thread count) and
    /// assembles the gradients with the per-token ones.
    pub(super) fn finish(
        parts: Vec<SharedGrads>,
        x: &ScanSlices<'_>,
        bc_lanes: usize,
        (du, ddelta, dz): (Vec<f32>, Vec<f32>, Option<Vec<f32>>),
    ) -> ScanGrads {
        let mut total = SharedGrads::zeros(&x.dims, bc_lanes);
        for p in &parts {
            let pairs = [
                (&mut total.a, &p.a),
                (&mut total.d, &p.d),
                (&mut total.bias, &p.bias),
                (&mut total.b, &p.b),
                (&mut total.c, &p.c),
            ];
            for (dst, src) in pairs {
                for (d, s) in dst.iter_mut().zip(src) {
                    *d += s;
                }
            }
        }
        let lanes = total.bc_lanes;
        let fold =
            |v: &[f32]| -> Vec<f32> { v.chunks_exact(lanes).map(|p| p.iter().sum()).collect() };
        ScanGrads {
            u: du,
            delta: ddelta,
            a: total.a,
            b: fold(&total.b),
            c: fold(&total.c),
            d: x.d.map(|_| total.d),
            z: dz,
            delta_bias: x.delta_bias.map(|_| total.bias),
        }
    }
}
