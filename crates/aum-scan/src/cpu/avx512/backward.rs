//! The backward scan, sharing the forward's layout of work (vectors of 16 channels walked in
//! lockstep over token chunks, the recurrence one state at a time).
//!
//! Each chunk starts from a checkpoint, the vector's state at the chunk's first token: saved
//! by a training forward, or else found by a first pass that runs the forward recurrence
//! (states only). Chunks are visited last to first; for each vector and state, the chunk is
//! re-scanned from its checkpoint, keeping the decays `exp(dt·A)` and the states in a buffer,
//! and then walked backwards with the adjoint `g` (dLoss/dh):
//!
//! ```text
//! g   += dy_t·C_t            dC_t += Σ_lanes dy_t·h_t        dB_t += Σ_lanes g·dt_t·u_t
//! q    = g·decay_t·h_{t-1}   dA   += dt_t·q                  s_a_t += A·q      s_b_t += g·B_t
//! g   *= decay_t
//! ```
//!
//! after which each token's `du = dt·s_b + D·dy` and `d(dt) = u·s_b + s_a` are known. That is
//! 12 + 8 vector instructions per state per 16 channels from saved checkpoints (the forward's
//! recurrence is 12), 10 more for the first pass without them.
//!
//! dB and dC are sums over all channels of a group: a task sums them over its vectors in
//! per-(token, state) vectors and reduces those horizontally once per chunk. They, dA, dD and
//! the delta bias's gradient are summed per task and the tasks' sums added in task order at
//! the end (deterministic for a given thread count).

use std::arch::x86_64::*;

use super::{exp2, lanes, load_state, plan, row_offsets, sigmoid, silu, transpose_out};
use super::{vectors_per_task, Ahead, BcChunk, CheckpointMap, Params, Tokens, Vector, LANES};
use crate::cpu::{SharedGrads, SharedOut, Unwritten};
use crate::{Direction, ScanDims, ScanGrads, ScanSlices};
use aum_kernels::fastmath::SOFTPLUS_THRESHOLD;
use rayon::prelude::*;

/// Steps between checkpoints.
const CHUNK: usize = super::CHECKPOINT_EVERY;

/// Computes every gradient of the scan, starting each chunk from the forward's `saved`
/// checkpoints (of [`super::checkpoint_len`] floats) when given, else from its own.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ, AVX2 and FMA.
pub(in crate::cpu) unsafe fn backward(
    x: &ScanSlices<'_>,
    grad_y: &[f32],
    grad_last_state: Option<&[f32]>,
    (softplus, dir): (bool, Direction),
    saved: Option<&[f32]>,
) -> ScanGrads {
    let dims = x.dims;
    let mut du = Unwritten::new(dims.seq_elems());
    let mut ddelta = Unwritten::new(dims.seq_elems());
    let mut dz = x.z.map(|_| Unwritten::new(dims.seq_elems()));
    let vectors = plan(&dims);
    let job = Job {
        x,
        grad_y,
        grad_last_state,
        softplus,
        dir,
        saved,
        vectors: vectors.len(),
        du: du.out(),
        ddelta: ddelta.out(),
        dz: dz.as_mut().map(Unwritten::out),
    };
    let per_task = vectors_per_task(vectors.len());
    let partials: Vec<SharedGrads> = vectors
        .par_chunks(per_task)
        .enumerate()
        .map(|(task, run)| {
            let mut part = SharedGrads::zeros(&dims, 1);
            // SAFETY: the caller checked the CPU features.
            unsafe { backward_run(&job, run, task * per_task, &mut part) };
            part
        })
        .collect();
    // SAFETY: `write_chunk` wrote every token of every vector's lanes of du, d(delta) and dz.
    let seqs = unsafe {
        let dz = dz.map(|dz| dz.assume_written());
        (du.assume_written(), ddelta.assume_written(), dz)
    };
    SharedGrads::finish(partials, x, 1, seqs)
}

/// The arguments every task shares; per-token gradients are written in place.
struct Job<'x, 'o> {
    x: &'x ScanSlices<'x>,
    grad_y: &'x [f32],
    grad_last_state: Option<&'x [f32]>,
    softplus: bool,
    dir: Direction,
    /// The forward's checkpoints, `[chunk][vector][state]` over all the scan's vectors.
    saved: Option<&'x [f32]>,
    /// Vectors in the whole scan.
    vectors: usize,
    du: SharedOut<'o>,
    ddelta: SharedOut<'o>,
    dz: Option<SharedOut<'o>>,
}

/// Per-vector sums over the whole sequence.
struct VectorSums {
    /// dA, one vector per state.
    a: Vec<__m512>,
    d: __m512,
    bias: __m512,
    /// The adjoint carried from one chunk to the previous one, per state.
    adj: Vec<__m512>,
}

/// One vector's buffers for the chunk being processed.
struct VectorChunk {
    tokens: Tokens<CHUNK>,
    /// Per token: the gradient reaching the pre-gate output, the pre-gate output, and the sums
    /// over states that give d(dt) (`s_a`) and du (`s_b`).
    dy: [__m512; CHUNK],
    y_pre: [__m512; CHUNK],
    s_a: [__m512; CHUNK],
    s_b: [__m512; CHUNK],
}

impl VectorChunk {
    fn new() -> Box<Self> {
        // SAFETY: all-zero bits are valid for these plain float and integer arrays.
        Box::new(unsafe { std::mem::zeroed() })
    }
}

/// The current state's decays at each step of a chunk, and its states: `h[0]` at the start,
/// `h[i + 1]` after step `i` (so the walk reads the state before and after a step without a
/// branch). Shared by a task's vectors.
struct Scratch {
    decay: [__m512; CHUNK],
    h: [__m512; CHUNK + 1],
}

/// dB and dC of one chunk summed over the vectors of one (batch row, group), `[state][step]`,
/// before the horizontal sum over lanes.
struct BcSums {
    key: Option<(usize, usize)>,
    db: Vec<[__m512; CHUNK]>,
    dc: Vec<[__m512; CHUNK]>,
}

/// Back-propagates a task's vectors, the scan's vectors `first ..`, through the sequence.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn backward_run(job: &Job<'_, '_>, run: &[Vector], first: usize, part: &mut SharedGrads) {
    let x = job.x;
    let dims = x.dims;
    let n_st = dims.d_state;
    let chunks = dims.len.div_ceil(CHUNK);
    let steps_of = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(dims.len);
    // SAFETY (the unsafe calls of this function): the caller checked the CPU features; token
    // ranges are within the sequence.
    let params: Vec<Params> = run.iter().map(|v| unsafe { Params::load(x, v) }).collect();
    let mut bufs: Vec<Box<VectorChunk>> = run.iter().map(|_| VectorChunk::new()).collect();
    let own;
    let (checkpoints, map) = match job.saved {
        Some(saved) => {
            let map = CheckpointMap {
                stride: job.vectors,
                first,
                states: n_st,
            };
            (saved, map)
        }
        None => {
            let map = CheckpointMap {
                stride: run.len(),
                first: 0,
                states: n_st,
            };
            own = unsafe { checkpoint_pass(job, run, &params, &mut bufs, map) };
            (&own[..], map)
        }
    };
    // The rows the token-by-token reads of the next chunk want, asked for during each
    // recurrence.
    let mut rows = [0usize; CHUNK];
    let mut inputs = vec![x.u.as_ptr(), x.delta.as_ptr(), job.grad_y.as_ptr()];
    inputs.extend(x.z.map(<[f32]>::as_ptr));

    // Chunks last to first.
    let mut sums: Vec<VectorSums> = run
        .iter()
        .map(|v| VectorSums {
            a: vec![_mm512_setzero_ps(); n_st],
            d: _mm512_setzero_ps(),
            bias: _mm512_setzero_ps(),
            adj: unsafe { load_state(job.grad_last_state, &dims, v) },
        })
        .collect();
    let mut bc = BcSums {
        key: None,
        db: vec![[_mm512_setzero_ps(); CHUNK]; n_st],
        dc: vec![[_mm512_setzero_ps(); CHUNK]; n_st],
    };
    // SAFETY: all-zero bits are a valid vector of floats.
    let mut scratch: Box<Scratch> = Box::new(unsafe { std::mem::zeroed() });
    let mut start = vec![_mm512_setzero_ps(); n_st];
    let mut bc_in = BcChunk::<CHUNK>::new(n_st);
    for c in (0..chunks).rev() {
        unsafe { read_chunk(job, run, &params, steps_of(c), &mut bufs, true) };
        let next = match c {
            0 => &[][..],
            _ => row_offsets(&dims, job.dir, steps_of(c - 1), &mut rows),
        };
        for (i, ((v, p), (s, buf))) in run
            .iter()
            .zip(&params)
            .zip(sums.iter_mut().zip(bufs.iter_mut()))
            .enumerate()
        {
            let key = Some((v.b, v.group));
            if bc.key != key {
                unsafe { flush_bc(&mut bc, &dims, steps_of(c), job.dir, part) };
                bc.key = key;
            }
            for (n, h) in start.iter_mut().enumerate() {
                let at = map.at(c, i, n);
                *h = unsafe { _mm512_loadu_ps(checkpoints[at..at + LANES].as_ptr()) };
            }
            // This vector's checkpoints of the chunk before, asked for one line per state.
            let earlier = match c {
                0 => None,
                _ => Some(checkpoints[map.at(c - 1, i, 0)..].as_ptr()),
            };
            let count = steps_of(c).len();
            let ahead = Ahead {
                arrays: &inputs,
                base: v.seq_base(&dims),
                rows: next,
            };
            let chunk = (count, &mut **buf, &ahead, earlier);
            bc_in.stage(x, v, job.dir, steps_of(c));
            let bc_pair = (&bc_in, &mut bc);
            unsafe { chunk_backward(x, p, &start, s, bc_pair, chunk, &mut scratch) };
        }
        unsafe { flush_bc(&mut bc, &dims, steps_of(c), job.dir, part) };
        bc.key = None;
        unsafe { write_chunk(job, run, &params, steps_of(c).len(), &bufs, &mut sums) };
    }

    for (v, s) in run.iter().zip(&sums) {
        let width = v.width;
        let rows = unsafe { transpose_out(&s.a, v) };
        let base = v.c0 * n_st;
        for (dst, r) in part.a[base..base + width * n_st].iter_mut().zip(&rows) {
            *dst += r;
        }
        let (d, bias) = unsafe { (lanes(s.d, width), lanes(s.bias, width)) };
        for j in 0..width {
            part.d[v.c0 + j] += d[j];
            part.bias[v.c0 + j] += bias[j];
        }
    }
}

/// Runs the forward recurrence (states only) through the sequence and returns the state at
/// the start of every chunk, laid out by `map`.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ, AVX2 and FMA.
#[inline(always)]
unsafe fn checkpoint_pass(
    job: &Job<'_, '_>,
    run: &[Vector],
    params: &[Params],
    bufs: &mut [Box<VectorChunk>],
    map: CheckpointMap,
) -> Vec<f32> {
    let x = job.x;
    let dims = x.dims;
    let chunks = dims.len.div_ceil(CHUNK);
    let steps_of = |c: usize| c * CHUNK..((c + 1) * CHUNK).min(dims.len);
    let mut checkpoints = vec![0.0; chunks * run.len() * dims.d_state * LANES];
    let mut bc = BcChunk::<CHUNK>::new(dims.d_state);
    // SAFETY (the unsafe calls of this function): the caller checked the CPU features; token
    // ranges are within the sequence; `map` addresses `checkpoints`.
    let mut states: Vec<Vec<__m512>> = run
        .iter()
        .map(|v| unsafe { load_state(x.h0, &dims, v) })
        .collect();
    // The next chunk's u and delta, asked for during each recurrence.
    let mut rows = [0usize; CHUNK];
    let inputs = [x.u.as_ptr(), x.delta.as_ptr()];
    for c in 0..chunks {
        unsafe { read_chunk(job, run, params, steps_of(c), bufs, false) };
        let next = row_offsets(&dims, job.dir, steps_of(c + 1), &mut rows);
        for (i, (((v, p), h), buf)) in run
            .iter()
            .zip(params)
            .zip(&mut states)
            .zip(bufs.iter())
            .enumerate()
        {
            for (n, hn) in h.iter().enumerate() {
                let at = map.at(c, i, n);
                unsafe { _mm512_storeu_ps(checkpoints[at..at + LANES].as_mut_ptr(), *hn) };
            }
            let ahead = Ahead {
                arrays: &inputs,
                base: v.seq_base(&dims),
                rows: next,
            };
            bc.stage(x, v, job.dir, steps_of(c));
            unsafe { advance(p, &bc, h, steps_of(c).len(), &buf.tokens, &ahead) };
        }
    }
    checkpoints
}

/// Adds a chunk's summed dB and dC lanes into the task's sums and clears them.
#[inline(always)]
unsafe fn flush_bc(
    bc: &mut BcSums,
    dims: &ScanDims,
    steps: std::ops::Range<usize>,
    dir: Direction,
    part: &mut SharedGrads,
) {
    let Some((b, group)) = bc.key else { return };
    let n_st = dims.d_state;
    for (i, s) in steps.enumerate() {
        let t = dir.token(s, dims.len);
        let row = ((b * dims.len + t) * dims.groups + group) * n_st;
        for n in 0..n_st {
            part.b[row + n] += _mm512_reduce_add_ps(bc.db[n][i]);
            part.c[row + n] += _mm512_reduce_add_ps(bc.dc[n][i]);
            bc.db[n][i] = _mm512_setzero_ps();
            bc.dc[n][i] = _mm512_setzero_ps();
        }
    }
}

/// Reads a chunk's per-token inputs for every vector of a task, token by token (each token's
/// row as one contiguous run of the task's channels; see the forward), and with `grads` the
/// incoming gradient of each token, ready for [`chunk_backward`].
///
/// # Safety
/// The CPU must support AVX-512F; `steps` must lie within the sequence.
#[inline(always)]
unsafe fn read_chunk(
    job: &Job<'_, '_>,
    run: &[Vector],
    params: &[Params],
    steps: std::ops::Range<usize>,
    bufs: &mut [Box<VectorChunk>],
    grads: bool,
) {
    let x = job.x;
    for (i, s) in steps.enumerate() {
        let t = job.dir.token(s, x.dims.len);
        for ((v, p), buf) in run.iter().zip(params).zip(bufs.iter_mut()) {
            // SAFETY: the caller's; `i` is below CHUNK and the offsets are the ones
            // `load_step` checked.
            unsafe {
                buf.tokens.load_step(x, v, p, job.softplus, i, t);
                if !grads {
                    continue;
                }
                let off = buf.tokens.seq[i];
                let gy = _mm512_maskz_loadu_ps(v.mask, job.grad_y.as_ptr().add(off));
                buf.dy[i] = match x.z {
                    Some(z) => {
                        let zv = _mm512_maskz_loadu_ps(v.mask, z.as_ptr().add(off));
                        _mm512_mul_ps(gy, silu(zv))
                    }
                    None => gy,
                };
                buf.y_pre[i] = _mm512_mul_ps(p.skip, buf.tokens.u[i]);
                buf.s_a[i] = _mm512_setzero_ps();
                buf.s_b[i] = _mm512_setzero_ps();
            }
        }
    }
}

/// Runs the state recurrence (no output) through the first `count` steps of `tk`, asking for
/// the rows of `next` on the way.
#[inline(always)]
unsafe fn advance(
    p: &Params,
    bc: &BcChunk<CHUNK>,
    h: &mut [__m512],
    count: usize,
    tk: &Tokens<CHUNK>,
    next: &Ahead<'_>,
) {
    let states = h.len();
    // Tells the compiler that every index below is within the chunk's arrays.
    let count = count.min(CHUNK);
    for (n, (hn, an)) in h.iter_mut().zip(&p.a_log2e).enumerate() {
        next.prefetch_share(n, states);
        let bn = &bc.b[n];
        let mut state = *hn;
        for i in 0..count {
            let b = _mm512_set1_ps(bn[i]);
            // SAFETY: the caller checked the CPU features.
            let decay = unsafe { exp2(_mm512_mul_ps(tk.dt[i], *an)) };
            state = _mm512_fmadd_ps(decay, state, _mm512_mul_ps(tk.dtu[i], b));
        }
        *hn = state;
    }
}

/// Back-propagates one vector through the first `count` steps of the chunk `buf` holds,
/// starting from its checkpoint `start`: fills `s_a` and `s_b` and adds to the vector's and
/// the group's sums, asking for the rows of `next` and the `earlier` checkpoint on the way.
#[inline(always)]
unsafe fn chunk_backward(
    x: &ScanSlices<'_>,
    p: &Params,
    start: &[__m512],
    sums: &mut VectorSums,
    (bc_in, bc): (&BcChunk<CHUNK>, &mut BcSums),
    (count, buf, next, earlier): (usize, &mut VectorChunk, &Ahead<'_>, Option<*const f32>),
    scratch: &mut Scratch,
) {
    let tk = &buf.tokens;
    // Tells the compiler that every index below is within the chunk's arrays.
    let count = count.min(CHUNK);
    for n in 0..x.dims.d_state {
        next.prefetch_share(n, x.dims.d_state);
        if let Some(e) = earlier {
            // SAFETY: a prefetch is a hint; it neither faults nor reads into the program.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(e.wrapping_add(n * LANES).cast()) };
        }
        let (a, a2) = (p.a[n], p.a_log2e[n]);
        let (db, dc) = (&mut bc.db[n], &mut bc.dc[n]);
        let (bn, cn) = (&bc_in.b[n], &bc_in.c[n]);
        // Re-scan this state through the chunk.
        let mut state = start[n];
        scratch.h[0] = state;
        for i in 0..count {
            // SAFETY: the caller checked the CPU features.
            let decay = unsafe { exp2(_mm512_mul_ps(tk.dt[i], a2)) };
            state = _mm512_fmadd_ps(
                decay,
                state,
                _mm512_mul_ps(tk.dtu[i], _mm512_set1_ps(bn[i])),
            );
            scratch.decay[i] = decay;
            scratch.h[i + 1] = state;
            buf.y_pre[i] = _mm512_fmadd_ps(state, _mm512_set1_ps(cn[i]), buf.y_pre[i]);
        }
        // Walk it backwards.
        let mut g = sums.adj[n];
        let mut da = sums.a[n];
        for i in (0..count).rev() {
            let dy = buf.dy[i];
            g = _mm512_fmadd_ps(dy, _mm512_set1_ps(cn[i]), g);
            dc[i] = _mm512_fmadd_ps(dy, scratch.h[i + 1], dc[i]);
            db[i] = _mm512_fmadd_ps(g, tk.dtu[i], db[i]);
            let q = _mm512_mul_ps(_mm512_mul_ps(g, scratch.decay[i]), scratch.h[i]);
            da = _mm512_fmadd_ps(tk.dt[i], q, da);
            buf.s_a[i] = _mm512_fmadd_ps(a, q, buf.s_a[i]);
            buf.s_b[i] = _mm512_fmadd_ps(g, _mm512_set1_ps(bn[i]), buf.s_b[i]);
            g = _mm512_mul_ps(g, scratch.decay[i]);
        }
        sums.adj[n] = g;
        sums.a[n] = da;
    }
}

/// Writes a chunk's du, d(delta) and dz for every vector of a task, token by token, and adds
/// each vector's dD and delta-bias terms to its sums.
///
/// # Safety
/// The CPU must support AVX-512F; `bufs` must hold the chunk's first `count` steps.
#[inline(always)]
unsafe fn write_chunk(
    job: &Job<'_, '_>,
    run: &[Vector],
    params: &[Params],
    count: usize,
    bufs: &[Box<VectorChunk>],
    sums: &mut [VectorSums],
) {
    let x = job.x;
    for i in 0..count {
        for (((v, p), buf), s) in run.iter().zip(params).zip(bufs).zip(sums.iter_mut()) {
            let tk = &buf.tokens;
            let off = tk.seq[i];
            let width = v.width;
            // SAFETY: offsets come from `Tokens::load_step`, which checked them against the
            // tensors; masked lanes are neither read nor written, and the lanes of each
            // vector belong to it alone.
            unsafe {
                let u = tk.u[i];
                let dy = buf.dy[i];
                let du = _mm512_fmadd_ps(tk.dt[i], buf.s_b[i], _mm512_mul_ps(p.skip, dy));
                let mut ddt = _mm512_fmadd_ps(u, buf.s_b[i], buf.s_a[i]);
                if job.softplus {
                    // d softplus(r)/dr = sigmoid(r), and 1 above the threshold (the identity).
                    let raw = _mm512_add_ps(
                        _mm512_maskz_loadu_ps(v.mask, x.delta.as_ptr().add(off)),
                        p.bias,
                    );
                    let linear =
                        _mm512_cmp_ps_mask::<_CMP_GT_OQ>(raw, _mm512_set1_ps(SOFTPLUS_THRESHOLD));
                    let scaled = _mm512_mul_ps(ddt, sigmoid(raw));
                    ddt = _mm512_mask_blend_ps(linear, scaled, ddt);
                }
                s.d = _mm512_fmadd_ps(dy, u, s.d);
                s.bias = _mm512_add_ps(s.bias, ddt);
                _mm512_mask_storeu_ps(job.du.lane_ptr(off, width), v.mask, du);
                _mm512_mask_storeu_ps(job.ddelta.lane_ptr(off, width), v.mask, ddt);
                if let (Some(z), Some(dz_out)) = (x.z, job.dz) {
                    // d silu(z)/dz = sig·(1 + z·(1 - sig)).
                    let zv = _mm512_maskz_loadu_ps(v.mask, z.as_ptr().add(off));
                    let gy = _mm512_maskz_loadu_ps(v.mask, job.grad_y.as_ptr().add(off));
                    let sig = sigmoid(zv);
                    let one = _mm512_set1_ps(1.0);
                    let slope =
                        _mm512_mul_ps(sig, _mm512_fmadd_ps(zv, _mm512_sub_ps(one, sig), one));
                    let dz = _mm512_mul_ps(_mm512_mul_ps(gy, buf.y_pre[i]), slope);
                    _mm512_mask_storeu_ps(dz_out.lane_ptr(off, width), v.mask, dz);
                }
            }
        }
    }
}
