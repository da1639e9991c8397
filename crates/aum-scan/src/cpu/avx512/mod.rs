//! The scan written with AVX-512 intrinsics, for CPUs that have them: the forward in
//! `forward.rs`, the backward in `backward.rs`, and what they share here.
//!
//! Both work on vectors of 16 channels and run each vector through a chunk of tokens in
//! passes, the recurrence **one state at a time** (the state `h[n]` in one register, per-token
//! values in small L1/L2 buffers). The recurrence is bound by the vector FMA port, so it is
//! written with as few vector instructions as possible: `exp(dt·A)` is `2^(dt·A·log2 e)` with
//! `A·log2 e` computed once per channel, `vreduceps` splits off the fraction, a degree-5
//! polynomial gives its power of two and `vscalefps` applies the integer part (9
//! instructions, against about 20 for the auto-vectorised `fastmath::exp` with its integer
//! bit-building).
//!
//! A rayon task owns several vectors and walks them **in lockstep over chunks of tokens** (all
//! its vectors through one chunk, then the next chunk). Token-major rows are `d_inner · 4`
//! bytes apart, so every token of a vector is on a different 4 KiB page; scanning one vector
//! through all L tokens before the next would miss the TLB on every token once L is in the
//! thousands. In lockstep, the pages of one chunk are touched by all the task's vectors while
//! they are still mapped.

mod backward;
mod forward;

pub(super) use backward::backward;
pub(super) use forward::{bidirectional, forward};

use std::arch::x86_64::*;

use crate::{ScanDims, ScanSlices};
use aum_kernels::fastmath::SOFTPLUS_THRESHOLD;

/// Channels per vector.
const LANES: usize = 16;

/// Vectors per rayon task at most, so that a task's saved states and buffers stay in L2.
const MAX_VECTORS_PER_TASK: usize = 32;

/// How many vectors each rayon task gets: the same number of tasks for every thread, as few as
/// [`MAX_VECTORS_PER_TASK`] allows. A task's vectors are adjacent channels, so fewer, larger
/// tasks read longer contiguous runs of each token's row.
fn vectors_per_task(vectors: usize) -> usize {
    let per_thread = vectors.div_ceil(rayon::current_num_threads());
    let tasks_per_thread = per_thread.div_ceil(MAX_VECTORS_PER_TASK).max(1);
    per_thread.div_ceil(tasks_per_thread).max(1)
}

/// Tokens between the states that the backward re-scans from (its chunk), and that a
/// training forward saves.
const CHECKPOINT_EVERY: usize = 32;

/// Floats in a scan's checkpoints: the state at the start of every [`CHECKPOINT_EVERY`]
/// tokens, one 16-lane vector per (chunk, vector, state). That is `L / 32 · d_inner · N`
/// (rounded up to whole chunks and vectors): 1/32 of every state of the scan.
pub(in crate::cpu) fn checkpoint_len(dims: &ScanDims) -> usize {
    let vectors = dims.batch * dims.groups * dims.group_width().div_ceil(LANES);
    dims.len.div_ceil(CHECKPOINT_EVERY) * vectors * dims.d_state * LANES
}

/// Where the checkpoints of a task's vectors lie: `[chunk][vector][state]`, `stride` vectors
/// per chunk, the task's first at `first`. Chunk-major, so that the backward, which visits
/// the chunks last to first, finds one chunk's states for all its vectors side by side.
#[derive(Clone, Copy)]
struct CheckpointMap {
    stride: usize,
    first: usize,
    states: usize,
}

impl CheckpointMap {
    /// The offset, in floats, of state `n` of the task's vector `i` at the start of `chunk`.
    fn at(&self, chunk: usize, i: usize, n: usize) -> usize {
        ((chunk * self.stride + self.first + i) * self.states + n) * LANES
    }
}

/// One vector of work: batch row `b`, channels `c0 .. c0 + width` (width <= 16) of `group`;
/// `mask` has the low `width` bits set.
#[derive(Clone, Copy, Debug)]
struct Vector {
    b: usize,
    group: usize,
    c0: usize,
    width: usize,
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
                out.push(Vector {
                    b,
                    group,
                    c0,
                    width,
                    mask,
                });
                c0 += width;
            }
        }
    }
    out
}

impl Vector {
    /// The offset of the vector's first lane at token 0 in the (batch, L, d_inner) tensors;
    /// token `t`'s lanes start `t · d_inner` further.
    fn seq_base(&self, dims: &ScanDims) -> usize {
        self.b * dims.len * dims.d_inner + self.c0
    }
}

/// A vector's constants: `A` and `A · log2 e` transposed to `[state]` vectors, `D` and the
/// delta bias.
struct Params {
    a: Vec<__m512>,
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
    let width = v.width;
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

impl Params {
    /// # Safety
    /// The CPU must support AVX-512F.
    #[inline(always)]
    unsafe fn load(x: &ScanSlices<'_>, v: &Vector) -> Self {
        let n_st = x.dims.d_state;
        // SAFETY: A has d_inner · N elements and lane j reads row c0 + j < d_inner.
        let a = unsafe { transpose_in(x.a, v.c0 * n_st, n_st, v) };
        let log2e = _mm512_set1_ps(std::f32::consts::LOG2_E);
        Self {
            a_log2e: a.iter().map(|&a| _mm512_mul_ps(a, log2e)).collect(),
            a,
            // SAFETY: as above, for D and the bias.
            skip: unsafe { gather_optional(x.d, v) },
            bias: unsafe { gather_optional(x.delta_bias, v) },
        }
    }
}

/// u, dt and dt·u of a chunk's tokens for one vector, with the tokens' offsets.
struct Tokens<const C: usize> {
    u: [__m512; C],
    dt: [__m512; C],
    dtu: [__m512; C],
    /// Offset of each token's lanes in the (batch, L, d_inner) tensors.
    seq: [usize; C],
}

impl<const C: usize> Tokens<C> {
    fn new() -> Box<Self> {
        // SAFETY: all-zero bits are valid for these plain float and integer arrays.
        Box::new(unsafe { std::mem::zeroed() })
    }

    /// Loads token `t` of vector `v` as the chunk's step `i`.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `t` must lie within the sequence and `i` below C.
    #[inline(always)]
    unsafe fn load_step(
        &mut self,
        x: &ScanSlices<'_>,
        v: &Vector,
        p: &Params,
        softplus_on: bool,
        i: usize,
        t: usize,
    ) {
        let dims = x.dims;
        let off = v.seq_base(&dims) + t * dims.d_inner;
        self.seq[i] = off;
        // SAFETY: `off .. off + width` is inside the (batch, L, d_inner) tensors and masked
        // lanes are not read.
        unsafe {
            let u = _mm512_maskz_loadu_ps(v.mask, x.u.as_ptr().add(off));
            let raw = _mm512_add_ps(
                _mm512_maskz_loadu_ps(v.mask, x.delta.as_ptr().add(off)),
                p.bias,
            );
            let dt = if softplus_on { softplus(raw) } else { raw };
            *self.u.get_unchecked_mut(i) = u;
            *self.dt.get_unchecked_mut(i) = dt;
            *self.dtu.get_unchecked_mut(i) = _mm512_mul_ps(dt, u);
        }
    }
}

/// B and C at a chunk's steps for one (batch row, group), `[state][step]`: the recurrences
/// read them at the same offsets as their per-step vectors, rather than through each token's
/// row offset (two instructions per step and state fewer in every recurrence).
struct BcChunk<const C: usize> {
    /// (batch row, group, first step) of what the arrays hold.
    key: Option<(usize, usize, usize)>,
    b: Vec<[f32; C]>,
    c: Vec<[f32; C]>,
}

impl<const C: usize> BcChunk<C> {
    fn new(d_state: usize) -> Self {
        Self {
            key: None,
            b: vec![[0.0; C]; d_state],
            c: vec![[0.0; C]; d_state],
        }
    }

    /// Makes the arrays hold vector `v`'s B and C at the scan steps `steps` (at most C),
    /// unless they do already.
    fn stage(
        &mut self,
        x: &ScanSlices<'_>,
        v: &Vector,
        dir: crate::Direction,
        steps: std::ops::Range<usize>,
    ) {
        let key = Some((v.b, v.group, steps.start));
        if self.key == key {
            return;
        }
        self.key = key;
        let dims = x.dims;
        let n_st = dims.d_state;
        for (i, s) in steps.take(C).enumerate() {
            let t = dir.token(s, dims.len);
            let row = ((v.b * dims.len + t) * dims.groups + v.group) * n_st;
            let (b, c) = (&x.b[row..row + n_st], &x.c[row..row + n_st]);
            for n in 0..n_st {
                self.b[n][i] = b[n];
                self.c[n][i] = c[n];
            }
        }
    }
}

/// Rows that one vector reads in its next token-by-token pass, asked for into L2 while it runs
/// its recurrence: `arrays[k][base + row]` for each of `rows`. At thousands of tokens those
/// rows come from memory, and the token-by-token passes would wait for them (docs/kernels.md). The recurrences issue them a few tokens per state, spread over their
/// compute.
struct Ahead<'a> {
    arrays: &'a [*const f32],
    /// The vector's offset within the arrays (batch row and first channel), or 0 when `rows`
    /// are lane offsets already.
    base: usize,
    rows: &'a [usize],
}

impl Ahead<'_> {
    /// Prefetches share `n` of the rows split into `shares` (`n` below `shares`), so that a
    /// loop over the states asks for each row once.
    #[inline(always)]
    fn prefetch_share(&self, n: usize, shares: usize) {
        let per = self.rows.len().div_ceil(shares);
        let end = ((n + 1) * per).min(self.rows.len());
        for &row in &self.rows[(n * per).min(end)..end] {
            for &a in self.arrays {
                // SAFETY: a prefetch is a hint; it neither faults nor reads into the program.
                unsafe { _mm_prefetch::<_MM_HINT_T1>(a.wrapping_add(self.base + row).cast()) };
            }
        }
    }
}

/// Each token's row offset, `t · d_inner`, for the scan steps `steps` (at most `out.len()`):
/// the slice of `out` that holds them.
#[inline(always)]
fn row_offsets<'o>(
    dims: &ScanDims,
    dir: crate::Direction,
    steps: std::ops::Range<usize>,
    out: &'o mut [usize],
) -> &'o [usize] {
    let n = steps.len().min(out.len());
    for (o, s) in out.iter_mut().zip(steps) {
        *o = dir.token(s, dims.len) * dims.d_inner;
    }
    &out[..n]
}

/// The vector's rows of a (batch, d_inner, N) state (h0 or the last state's gradient), or
/// zeros.
///
/// # Safety
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn load_state(src: Option<&[f32]>, dims: &ScanDims, v: &Vector) -> Vec<__m512> {
    let n_st = dims.d_state;
    match src {
        // SAFETY: row b · d_inner + c0 + j < batch · d_inner for every lane j < width.
        Some(s) => unsafe { transpose_in(s, (v.b * dims.d_inner + v.c0) * n_st, n_st, v) },
        None => vec![_mm512_setzero_ps(); n_st],
    }
}

/// `[state]` vectors as the vector's rows of a (.., d_inner, N) array: element `j · N + n` is
/// lane `j` of state `n`.
///
/// # Safety
/// The CPU must support AVX-512F.
#[inline(always)]
unsafe fn transpose_out(rows: &[__m512], v: &Vector) -> Vec<f32> {
    let (width, n_st) = (v.width, rows.len());
    let mut lane = [0.0f32; LANES];
    let mut out = vec![0.0f32; width * n_st];
    for (n, r) in rows.iter().enumerate() {
        // SAFETY: `lane` holds 16 floats.
        unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), *r) };
        for j in 0..width {
            out[j * n_st + n] = lane[j];
        }
    }
    out
}

/// The first `width` lanes of a vector.
#[inline(always)]
unsafe fn lanes(v: __m512, width: usize) -> [f32; LANES] {
    let mut lane = [0.0f32; LANES];
    // SAFETY: `lane` holds 16 floats.
    unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), v) };
    lane[width..].fill(0.0);
    lane
}

/// `2^x` on 16 lanes, accurate to 1.4e-7 relative: `2^x = 2^f · 2^floor(x)` with
/// `f = x - floor(x)` in [0, 1) from `vreduceps`, a degree-5 minimax polynomial for `2^f`, and
/// `vscalefps`, which multiplies by `2^floor(x)` of its second operand itself. NaN propagates;
/// below -126 the result is 2^-126 (never a denormal, whose arithmetic is slow); large x gives
/// +inf.
///
/// The scan feeds it `dt · (A · log2 e)` with `A · log2 e` computed once per channel, so an
/// `exp(dt·A)` costs a multiply, a clamp, the split, five FMAs and a scale.
#[inline(always)]
unsafe fn exp2(x: __m512) -> __m512 {
    unsafe { exp2_by(&EXP2_POLY, x) }
}

/// `2^x` with `poly` (highest degree first) for `2^f` on [0, 1): the clamp, split and scale of
/// [`exp2`] and [`exp2_short`].
#[inline(always)]
unsafe fn exp2_by(poly: &[f32], x: __m512) -> __m512 {
    // `max(c, x)` returns x when x is NaN, so the clamp keeps NaN.
    let x = _mm512_max_ps(_mm512_set1_ps(-126.0), x);
    // Splitting at the nearest integer instead (f in [-1/2, 1/2]) needs `k = x - f` for the
    // scale: one instruction more, and slower in `benches/recurrence.c` (docs/kernels.md).
    let f = _mm512_reduce_ps::<{ _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC }>(x);
    let mut p = _mm512_set1_ps(poly[0]);
    for c in &poly[1..] {
        p = _mm512_fmadd_ps(p, f, _mm512_set1_ps(*c));
    }
    _mm512_scalef_ps(p, x)
}

/// [`exp2`] to bf16 accuracy (1.03e-4 relative) by a degree-3 polynomial: two FMAs fewer per
/// decay, for models whose products run in bf16 (`ScanOptions::precision`). The same clamp
/// and scale; the polynomial is at least 1 on [0, 1) and exact at both ends, so a decay just
/// below 1 (a long memory, `dt·A` near 0) keeps its distance from 1 to within 0.3 % — a fit
/// free at f = 1 would be off there by its whole error, 8.6e-5, a tenth of `1 - decay` at 0.999.
#[inline(always)]
pub(super) unsafe fn exp2_short(x: __m512) -> __m512 {
    unsafe { exp2_by(&EXP2_SHORT, x) }
}

/// `2^f` on [0, 1) to degree 3, highest first: `1 + f·(c1 + c2·f + c3·f²)` with
/// `c1 + c2 + c3 = 1`, so p(0) = 1 and p(1) = 2 (relative minimax fit under those constraints).
const EXP2_SHORT: [f32; 4] = [0.078_267_97, 0.226_307_68, 0.695_424_4, 1.0];

/// Coefficients of `2^f` on [0, 1), highest degree first (relative minimax fit with the
/// constant term held at 1, error 1.4e-7 when evaluated in f32). The polynomial is at least 1
/// on [0, 1), so a clamped argument gives at least 2^-126, never a denormal, and integers give
/// their power of two exactly.
const EXP2_POLY: [f32; 6] = [
    1.867_130_5e-3,
    9.017_029e-3,
    5.579_991_3e-2,
    0.240_164_44,
    0.693_151_3,
    1.0,
];

/// `1 / d` on 16 lanes without a division: `vrcp14ps` and one Newton step (relative error
/// about 1e-8 before rounding). A `vdivps` of 16 lanes occupies the divider for 10 cycles or
/// more, and the per-token passes had two or three of them per vector.
#[inline(always)]
unsafe fn recip(d: __m512) -> __m512 {
    let r = _mm512_rcp14_ps(d);
    // r + r·(1 - d·r)
    _mm512_fmadd_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(1.0)), r)
}

/// softplus on 16 lanes: `max(x, 0) + ln(1 + t)` with `t = e^-|x|` in (0, 1], and
/// `ln(1 + t) = 2·atanh(s)`, `s = t / (2 + t)` in (0, 1/3], whose odd series to `s^17` is
/// exact in f32 (no cancellation for tiny `t`); `x` itself above the threshold, as upstream.
/// NaN propagates.
#[inline(always)]
unsafe fn softplus(x: __m512) -> __m512 {
    // SAFETY: the caller runs with AVX-512F.
    unsafe {
        let neg_abs = _mm512_mul_ps(_mm512_abs_ps(x), _mm512_set1_ps(-std::f32::consts::LOG2_E));
        let t = exp2(neg_abs);
        let s = _mm512_mul_ps(t, recip(_mm512_add_ps(_mm512_set1_ps(2.0), t)));
        let s2 = _mm512_mul_ps(s, s);
        let mut q = _mm512_set1_ps(1.0 / 17.0);
        for k in (1..=7).rev() {
            q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(1.0 / (2 * k + 1) as f32));
        }
        let q = _mm512_fmadd_ps(q, s2, _mm512_set1_ps(1.0));
        let ln1p = _mm512_mul_ps(_mm512_add_ps(s, s), q);
        // `max(x, 0)` returns 0 for NaN x; NaN still comes through `ln1p`.
        let y = _mm512_add_ps(_mm512_max_ps(x, _mm512_setzero_ps()), ln1p);
        let linear = _mm512_cmp_ps_mask::<_CMP_GT_OQ>(x, _mm512_set1_ps(SOFTPLUS_THRESHOLD));
        _mm512_mask_blend_ps(linear, y, x)
    }
}

/// `-x · log2 e`, at most 120: `e^-x` as a power of two that stays finite, so that
/// [`recip`]`(1 + e^-x)` is a tiny number rather than NaN (`1 / inf` through the Newton step).
/// NaN propagates.
#[inline(always)]
unsafe fn exp2_arg_of_neg(x: __m512) -> __m512 {
    let arg = _mm512_mul_ps(x, _mm512_set1_ps(-std::f32::consts::LOG2_E));
    // `min(c, arg)` returns arg when it is NaN.
    _mm512_min_ps(_mm512_set1_ps(120.0), arg)
}

/// `z · sigmoid(z)` on 16 lanes.
#[inline(always)]
unsafe fn silu(z: __m512) -> __m512 {
    // SAFETY: the caller runs with AVX-512F.
    let e = unsafe { exp2(exp2_arg_of_neg(z)) };
    // SAFETY: as above.
    _mm512_mul_ps(z, unsafe { recip(_mm512_add_ps(_mm512_set1_ps(1.0), e)) })
}

/// `sigmoid(x)` on 16 lanes.
#[inline(always)]
unsafe fn sigmoid(x: __m512) -> __m512 {
    // SAFETY: the caller runs with AVX-512F.
    let e = unsafe { exp2(exp2_arg_of_neg(x)) };
    // SAFETY: as above.
    unsafe { recip(_mm512_add_ps(_mm512_set1_ps(1.0), e)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies a 16-lane function to every value, 16 at a time.
    fn apply(f: unsafe fn(__m512) -> __m512, xs: &[f32]) -> Vec<f32> {
        xs.chunks(LANES)
            .flat_map(|c| {
                let mut lane = [0.0f32; LANES];
                lane[..c.len()].copy_from_slice(c);
                // SAFETY: the callers checked for AVX-512F; `lane` holds 16 floats.
                unsafe { _mm512_storeu_ps(lane.as_mut_ptr(), f(_mm512_loadu_ps(lane.as_ptr()))) };
                lane[..c.len()].to_vec()
            })
            .collect()
    }

    /// -100 .. 30 in steps of 1/64, and the edges.
    fn inputs() -> Vec<f32> {
        let mut xs: Vec<f32> = (-6400..=1920).map(|i| i as f32 / 64.0).collect();
        xs.extend([
            1e-30,
            -1e-30,
            19.999,
            20.001,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ]);
        xs
    }

    /// Within 1e-6 relative, plus 1e-7 per unit of |x|: `e^x` is computed as `2^(x·log2 e)`,
    /// and the f32 rounding of that product grows with |x|.
    fn check(name: &str, got: &[f32], xs: &[f32], want: impl Fn(f64) -> f64) {
        for (&g, &x) in got.iter().zip(xs) {
            let w = want(x as f64);
            if w.is_infinite() {
                assert_eq!(g as f64, w, "{name}({x})");
                continue;
            }
            let err = (g as f64 - w).abs();
            let rel = 1e-6 + 1e-7 * (x as f64).abs().min(100.0);
            assert!(
                err <= rel * w.abs() + 1e-30,
                "{name}({x}) = {g}, want {w} (error {err:e})"
            );
        }
    }

    #[test]
    fn vector_exp2_softplus_sigmoid_and_silu_match_their_definitions() {
        if !(is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq")) {
            return;
        }
        let xs = inputs();
        check("exp2", &apply(exp2, &xs), &xs, f64::exp2);
        // Powers of two exactly; never a denormal below the clamp.
        let ints: Vec<f32> = (-126..=127).map(|k| k as f32).collect();
        for (&got, &k) in apply(exp2, &ints).iter().zip(&ints) {
            assert_eq!(got as f64, f64::exp2(k as f64), "exp2({k})");
        }
        let low = [-125.999_99, -126.0, -126.5, -300.0, f32::NEG_INFINITY];
        for (got, x) in apply(exp2, &low).into_iter().zip(low) {
            assert!(
                got >= f32::MIN_POSITIVE,
                "exp2({x}) = {got:e} is below 2^-126"
            );
        }
        // The bf16-grade decay: within 1.1e-4 relative, powers of two exact, never a denormal,
        // and decays just below 1 keep `1 - decay` to 0.3 %.
        for (&g, &x) in apply(exp2_short, &xs).iter().zip(&xs) {
            let w = f64::exp2(x as f64);
            if w.is_infinite() {
                assert_eq!(g as f64, w, "exp2_short({x})");
            } else {
                let err = (g as f64 - w).abs();
                assert!(err <= 1.1e-4 * w + 1e-30, "exp2_short({x}) = {g}, want {w}");
            }
        }
        let near_one: Vec<f32> = (1..=1000).map(|i| -(i as f32) * 1e-5).collect();
        for (&g, &x) in apply(exp2_short, &near_one).iter().zip(&near_one) {
            let (gap, want) = (1.0 - g as f64, 1.0 - f64::exp2(x as f64));
            // f32 itself resolves 1 - decay to 6e-8.
            assert!(
                (gap - want).abs() <= 3e-3 * want + 1.2e-7,
                "1 - exp2_short({x}) = {gap}, want {want}"
            );
        }
        for (&got, &k) in apply(exp2_short, &ints).iter().zip(&ints) {
            assert_eq!(got as f64, f64::exp2(k as f64), "exp2_short({k})");
        }
        assert!(apply(exp2_short, &low)
            .iter()
            .all(|&g| g >= f32::MIN_POSITIVE));
        check("softplus", &apply(softplus, &xs), &xs, |x| {
            if x > SOFTPLUS_THRESHOLD as f64 {
                x
            } else {
                x.exp().ln_1p()
            }
        });
        let sig = |x: f64| 1.0 / (1.0 + (-x).exp());
        // Below -83, e^-x is capped at 2^120: both are below 1e-30 either way.
        let finite: Vec<f32> = xs.iter().copied().filter(|&x| x > -83.0).collect();
        check("sigmoid", &apply(sigmoid, &finite), &finite, sig);
        check("silu", &apply(silu, &finite), &finite, |x| x * sig(x));
        for f in [softplus as unsafe fn(__m512) -> __m512, sigmoid, silu] {
            assert!(apply(f, &[f32::NAN])[0].is_nan());
            assert!(apply(f, &[-1000.0])[0].abs() < 1e-28);
        }
    }
}
