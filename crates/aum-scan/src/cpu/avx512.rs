//! The forward scan written with AVX-512 intrinsics, for CPUs that have them.
//!
//! It runs one vector of 16 channels through a chunk of [`CHUNK`] tokens in three passes: the
//! per-token inputs (`dt`, `dt·u`, `D·u`) into an L1 buffer, then the recurrence **one state at
//! a time** (the state `h[n]` in one register, the running output in L1), then the gate and the
//! store. The middle pass is the whole cost, and it is bound by the vector FMA port, so it is
//! written to use as few vector instructions as possible: `exp(dt·A)` is `2^(dt·A·log2 e)` with
//! `A·log2 e` computed once, `vrndscaleps` rounds, a degree-5 polynomial gives the fraction and
//! `vscalefps` applies the power of two (10 instructions, against about 20 for the
//! auto-vectorised `fastmath::exp` with its integer bit-building); with the update and the
//! output, 13 instructions per state per 16 channels.
//!
//! A rayon task owns several vectors and walks them **in lockstep over chunks of [`CHUNK`] tokens** (all its vectors through one
//! chunk, then the next chunk). Token-major rows are `d_inner · 4` bytes apart, so every token
//! of a vector is on a different 4 KiB page; scanning one vector through all L tokens before the
//! next would miss the TLB on every token once L is in the thousands. In lockstep, the pages of
//! one chunk are touched by all the task's vectors while they are still mapped.

use std::arch::x86_64::*;

use super::{seq_offset, SharedOut};
use crate::fastmath::{self, Fused};
use crate::{Direction, ScanDims, ScanSlices};
use rayon::prelude::*;

/// Channels per vector.
const LANES: usize = 16;

/// Tokens a task scans for one vector before moving to its next vector.
const CHUNK: usize = 64;

/// Vectors per rayon task at most: their saved states (1 KiB each at N = 16) stay in L1/L2.
const MAX_VECTORS_PER_TASK: usize = 32;

/// One vector of work: batch row `b`, channels `c0 .. c0 + width` (width <= 16) of `group`.
#[derive(Clone, Copy, Debug)]
struct Vector {
    b: usize,
    group: usize,
    c0: usize,
    mask: __mmask16,
}

/// Splits the problem into vectors; a vector never straddles a group boundary.
fn plan(dims: &ScanDims) -> Vec<Vector> {
    let gw = dims.group_width();
    let mut out = Vec::with_capacity(dims.batch * dims.d_inner.div_ceil(LANES));
    for b in 0..dims.batch {
        for group in 0..dims.groups {
            let end = (group + 1) * gw;
            let mut c0 = group * gw;
            while c0 < end {
                let width = LANES.min(end - c0);
                let mask = ((1u32 << width) - 1) as __mmask16;
                out.push(Vector { b, group, c0, mask });
                c0 += width;
            }
        }
    }
    out
}

/// Runs the forward scan into `y` and `last` (both zero-initialised by the caller).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
pub(super) unsafe fn forward(
    x: &ScanSlices<'_>,
    softplus: bool,
    dir: Direction,
    y: SharedOut<'_>,
    last: SharedOut<'_>,
) {
    let vectors = plan(&x.dims);
    // At least two tasks per thread so an uneven split still keeps both cores busy.
    let tasks = 2 * rayon::current_num_threads();
    let per_task = vectors.len().div_ceil(tasks).clamp(1, MAX_VECTORS_PER_TASK);
    let job = Job {
        x,
        softplus,
        dir,
        y,
        last,
    };
    vectors.par_chunks(per_task).for_each(|run| {
        // SAFETY: the caller checked the CPU features.
        unsafe { scan_run(&job, run) }
    });
}

/// The arguments every task shares.
struct Job<'x, 'o> {
    x: &'x ScanSlices<'x>,
    softplus: bool,
    dir: Direction,
    y: SharedOut<'o>,
    last: SharedOut<'o>,
}

/// A vector's constants: `A · log2 e` transposed to `[state]` vectors, `D` and the delta bias.
struct Params {
    a_log2e: Vec<__m512>,
    skip: __m512,
    bias: __m512,
}

#[inline(always)]
unsafe fn gather_optional(src: Option<&[f32]>, v: &Vector) -> __m512 {
    match src {
        // SAFETY: lanes outside the mask are neither read nor faulted on.
        Some(s) => unsafe { _mm512_maskz_loadu_ps(v.mask, s.as_ptr().add(v.c0)) },
        None => _mm512_setzero_ps(),
    }
}

/// Reads lane `j`, state `n` of a (.., d_inner, n_st) array at row offset `base` as one vector
/// per state.
#[inline(always)]
unsafe fn transpose_in(src: &[f32], base: usize, n_st: usize, v: &Vector) -> Vec<__m512> {
    let width = v.mask.count_ones() as usize;
    let mut lane = [0.0f32; LANES];
    (0..n_st)
        .map(|n| {
            for (j, l) in lane.iter_mut().enumerate().take(width) {
                *l = src[base + j * n_st + n];
            }
            // SAFETY: `lane` holds 16 floats (zeros beyond `width`).
            unsafe { _mm512_loadu_ps(lane.as_ptr()) }
        })
        .collect()
}

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn scan_run(job: &Job<'_, '_>, run: &[Vector]) {
    let x = job.x;
    let dims = x.dims;
    let n_st = dims.d_state;
    let params: Vec<Params> = run
        .iter()
        .map(|v| Params {
            // SAFETY: A has d_inner · N elements and lane j reads row c0 + j < d_inner.
            a_log2e: unsafe { transpose_in(x.a, v.c0 * n_st, n_st, v) }
                .into_iter()
                .map(|a| _mm512_mul_ps(a, _mm512_set1_ps(std::f32::consts::LOG2_E)))
                .collect(),
            skip: unsafe { gather_optional(x.d, v) },
            bias: unsafe { gather_optional(x.delta_bias, v) },
        })
        .collect();
    let mut states: Vec<Vec<__m512>> = run
        .iter()
        .map(|v| match x.h0 {
            // SAFETY: as for A, within batch row b.
            Some(h0) => unsafe { transpose_in(h0, (v.b * dims.d_inner + v.c0) * n_st, n_st, v) },
            None => vec![_mm512_setzero_ps(); n_st],
        })
        .collect();
    let mut buf = Chunk::new();
    for s0 in (0..dims.len).step_by(CHUNK) {
        let steps = s0..(s0 + CHUNK).min(dims.len);
        for ((v, p), h) in run.iter().zip(&params).zip(&mut states) {
            // SAFETY: the token range is within the sequence, the features were checked.
            unsafe { scan_chunk(job, v, p, h, steps.clone(), &mut buf) };
        }
    }
    for (v, h) in run.iter().zip(&states) {
        let width = v.mask.count_ones() as usize;
        let mut lane = [0.0f32; LANES];
        let mut rows = vec![0.0f32; width * n_st];
        for (n, hn) in h.iter().enumerate() {
            // SAFETY: `lane` holds 16 floats.
            unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), *hn) };
            for j in 0..width {
                rows[j * n_st + n] = lane[j];
            }
        }
        // SAFETY: rows (b, c0 .. c0 + width) of last_state belong to this vector alone.
        unsafe { job.last.write((v.b * dims.d_inner + v.c0) * n_st, &rows) };
    }
}

/// Per-token values of one vector for one chunk, kept in L1 between the passes.
struct Chunk {
    dt: [__m512; CHUNK],
    dtu: [__m512; CHUNK],
    y: [__m512; CHUNK],
    /// Offset of each token's B and C row.
    bc: [usize; CHUNK],
    /// Offset of each token's u/delta/z/y lanes.
    seq: [usize; CHUNK],
}

impl Chunk {
    fn new() -> Self {
        // SAFETY: all-zero bits are valid for these plain float and integer arrays.
        unsafe { std::mem::zeroed() }
    }
}

/// Scans steps `steps` of one vector, carrying its state in `h`, in three passes: the
/// per-token inputs (dt, dt·u, D·u), then the recurrence one state at a time (so the state
/// and the running output stay in registers and L1), then the gate and the store.
#[inline(always)]
unsafe fn scan_chunk(
    job: &Job<'_, '_>,
    v: &Vector,
    p: &Params,
    h: &mut [__m512],
    steps: std::ops::Range<usize>,
    buf: &mut Chunk,
) {
    let x = job.x;
    let dims = x.dims;
    let item = super::Item {
        b: v.b,
        group: v.group,
        c0: v.c0,
        width: v.mask.count_ones() as usize,
    };
    let count = steps.len();
    for (i, s) in steps.enumerate() {
        let t = job.dir.token(s, dims.len);
        let off = seq_offset(&dims, &item, t);
        buf.seq[i] = off;
        buf.bc[i] = super::bc_offset(&dims, &item, t);
        // SAFETY: `off .. off + width` is inside the (batch, L, d_inner) tensors and masked
        // lanes are not read.
        unsafe {
            let u = _mm512_maskz_loadu_ps(v.mask, x.u.as_ptr().add(off));
            let raw = _mm512_add_ps(
                _mm512_maskz_loadu_ps(v.mask, x.delta.as_ptr().add(off)),
                p.bias,
            );
            let dt = if job.softplus { softplus(raw) } else { raw };
            buf.dt[i] = dt;
            buf.dtu[i] = _mm512_mul_ps(dt, u);
            buf.y[i] = _mm512_mul_ps(p.skip, u);
        }
    }
    for (n, (hn, an)) in h.iter_mut().zip(&p.a_log2e).enumerate() {
        let mut state = *hn;
        for i in 0..count {
            // SAFETY: B and C hold d_state values for (b, t, group) at `bc[i]`.
            unsafe {
                let b = _mm512_set1_ps(*x.b.get_unchecked(buf.bc[i] + n));
                let c = _mm512_set1_ps(*x.c.get_unchecked(buf.bc[i] + n));
                let decay = exp2(_mm512_mul_ps(buf.dt[i], *an));
                state = _mm512_fmadd_ps(decay, state, _mm512_mul_ps(buf.dtu[i], b));
                buf.y[i] = _mm512_fmadd_ps(state, c, buf.y[i]);
            }
        }
        *hn = state;
    }
    for i in 0..count {
        let off = buf.seq[i];
        // SAFETY: as in the first pass.
        unsafe {
            let mut y = buf.y[i];
            if let Some(z) = x.z {
                let zv = _mm512_maskz_loadu_ps(v.mask, z.as_ptr().add(off));
                y = _mm512_mul_ps(y, silu(zv));
            }
            _mm512_mask_storeu_ps(job.y.lane_ptr(off, item.width), v.mask, y);
        }
    }
}

/// `2^x` on 16 lanes, accurate to 2.4e-7 relative: `2^x = 2^k · 2^f` with `k = round(x)`, a
/// degree-5 minimax polynomial for `2^f` on |f| <= 1/2, and `vscalefps` for the `2^k`. NaN
/// propagates; below -126 the result is 2^-126 times at most 1.5 (never a denormal, whose
/// arithmetic is slow); large x gives +inf.
///
/// The scan feeds it `dt · (A · log2 e)` with `A · log2 e` computed once per channel, so an
/// `exp(dt·A)` costs a multiply, a clamp, a rounding, a subtraction, five FMAs and a scale.
#[inline(always)]
unsafe fn exp2(x: __m512) -> __m512 {
    // `max(c, x)` returns x when x is NaN, so the clamp keeps NaN.
    let x = _mm512_max_ps(_mm512_set1_ps(-126.0), x);
    let k = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(x);
    let f = _mm512_sub_ps(x, k);
    let mut p = _mm512_set1_ps(EXP2_POLY[0]);
    for c in &EXP2_POLY[1..] {
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(*c));
    }
    _mm512_scalef_ps(p, k)
}

/// Coefficients of `2^f` on [-1/2, 1/2], highest degree first (relative minimax fit, error
/// 2.4e-7 when evaluated in f32).
const EXP2_POLY: [f32; 6] = [
    1.327_647_2e-3,
    9.675_542e-3,
    5.550_713e-2,
    0.240_221_2,
    0.693_146_94,
    1.000_000_1,
];

/// softplus on 16 lanes, through the scalar-generic code (once per token, not per state).
#[inline(always)]
unsafe fn softplus(x: __m512) -> __m512 {
    let mut lane = [0.0f32; LANES];
    // SAFETY: `lane` holds 16 floats.
    unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), x) };
    for v in &mut lane {
        *v = fastmath::softplus::<Fused>(*v);
    }
    // SAFETY: as above.
    unsafe { _mm512_loadu_ps(lane.as_ptr()) }
}

/// `z · sigmoid(z)` on 16 lanes.
#[inline(always)]
unsafe fn silu(z: __m512) -> __m512 {
    // SAFETY: the caller runs with AVX-512F.
    let e = unsafe { exp2(_mm512_mul_ps(z, _mm512_set1_ps(-std::f32::consts::LOG2_E))) };
    _mm512_div_ps(z, _mm512_add_ps(_mm512_set1_ps(1.0), e))
}
