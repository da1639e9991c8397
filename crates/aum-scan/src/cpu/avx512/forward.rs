//! The forward scan: a task's vectors run through a chunk of [`CHUNK`] tokens in three passes:
//! the per-token inputs (`dt`, `dt·u`, `D·u`) of every vector into buffers, token by token; then
//! each vector's recurrence one state at a time (the running output in L1); then the gate and
//! the store, token by token. With the update and the output, the recurrence costs 12 vector
//! instructions per state per 16 channels.
//!
//! The shared-input bidirectional scan (AuM's v1 block) runs each task's vectors through the
//! sequence twice: forward, storing the output before the gate; then in reverse with the other
//! `A`, adding the stored output before gating once.

use std::arch::x86_64::*;

use super::vectors_per_task;
use super::{exp2, exp2_short, load_state, plan, row_offsets, silu, transpose_out};
use super::{Ahead, BcChunk, CheckpointMap, Params, Tokens, Vector, CHECKPOINT_EVERY, LANES};
use crate::cpu::SharedOut;
use crate::{Direction, ScanSlices};
use rayon::prelude::*;

/// Tokens in each of a task's passes.
const CHUNK: usize = 64;
const _: () = assert!(
    CHUNK.is_multiple_of(CHECKPOINT_EVERY),
    "checkpoints fall on a chunk's sub-chunk boundaries"
);

/// Runs the forward scan into `y` and `last` (both zero-initialised by the caller), and
/// with `checkpoints` (of [`super::checkpoint_len`] floats) saves the states the backward
/// re-scans from.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ, AVX2 and FMA.
pub(in crate::cpu) unsafe fn forward(
    x: &ScanSlices<'_>,
    flags: crate::cpu::Flags,
    dir: Direction,
    (y, last): (SharedOut<'_>, SharedOut<'_>),
    checkpoints: Option<SharedOut<'_>>,
) {
    let vectors = plan(&x.dims);
    let job = Job {
        x: *x,
        softplus: flags.softplus,
        short_decay: flags.short_decay,
        dir,
        y,
        last,
        accumulate: false,
        gate: true,
        checkpoints,
        vectors: vectors.len(),
    };
    let per_task = vectors_per_task(vectors.len());
    vectors
        .par_chunks(per_task)
        .enumerate()
        .for_each(|(task, run)| {
            // SAFETY: the caller checked the CPU features.
            unsafe { scan_run(&job, run, task * per_task) }
        });
}

/// Runs the scan forward with `x.a` and in reverse with `a_rev` over the same inputs, and
/// writes `(y_forward + y_reverse) · silu(z)` (each with its `D·u`, before the gate) into `y`,
/// the two last states into `last` and `last_rev`.
///
/// # Safety
/// The CPU must support AVX-512F, AVX-512DQ, AVX2 and FMA; `a_rev` must have as many elements as `x.a`.
pub(in crate::cpu) unsafe fn bidirectional(
    x: &ScanSlices<'_>,
    a_rev: &[f32],
    flags: crate::cpu::Flags,
    y: SharedOut<'_>,
    (last, last_rev): (SharedOut<'_>, SharedOut<'_>),
) {
    let forward = Job {
        x: *x,
        softplus: flags.softplus,
        short_decay: flags.short_decay,
        dir: Direction::Forward,
        y,
        last,
        accumulate: false,
        gate: false,
        checkpoints: None,
        vectors: 0,
    };
    let reverse = Job {
        x: ScanSlices { a: a_rev, ..*x },
        dir: Direction::Reverse,
        last: last_rev,
        accumulate: true,
        gate: true,
        ..forward
    };
    let vectors = plan(&x.dims);
    vectors
        .par_chunks(vectors_per_task(vectors.len()))
        .for_each(|run| {
            // SAFETY: the caller checked the CPU features. The reverse pass reads the rows of
            // `y` that the forward pass of the same task (the same vectors) wrote.
            unsafe {
                scan_run(&forward, run, 0);
                scan_run(&reverse, run, 0);
            }
        });
}

/// The arguments every task shares.
#[derive(Clone, Copy)]
struct Job<'x, 'o> {
    x: ScanSlices<'x>,
    softplus: bool,
    /// Decays by [`exp2_short`] (bf16 models) instead of [`exp2`].
    short_decay: bool,
    dir: Direction,
    y: SharedOut<'o>,
    last: SharedOut<'o>,
    /// Add what `y` holds to this pass's output (the other direction's, before the gate).
    accumulate: bool,
    /// Multiply by `silu(z)`, when z is given, before storing.
    gate: bool,
    /// Where to save the state every [`CHECKPOINT_EVERY`] tokens, for a backward.
    checkpoints: Option<SharedOut<'o>>,
    /// Vectors in the whole scan: the checkpoints' stride.
    vectors: usize,
}

/// Runs a task's vectors, the scan's vectors `first ..`, through the sequence.
#[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
unsafe fn scan_run(job: &Job<'_, '_>, run: &[Vector], first: usize) {
    let x = &job.x;
    let dims = x.dims;
    // SAFETY (this block and the loops below): the caller checked the CPU features.
    let params: Vec<Params> = run.iter().map(|v| unsafe { Params::load(x, v) }).collect();
    let mut states: Vec<Vec<__m512>> = run
        .iter()
        .map(|v| unsafe { load_state(x.h0, &dims, v) })
        .collect();
    let mut bufs: Vec<Chunk> = run.iter().map(|_| Chunk::new()).collect();
    let mut bc = BcChunk::<CHUNK>::new(dims.d_state);
    // What the passes after each recurrence read: this chunk's z (gate), the next chunk's u,
    // delta and (accumulate) y.
    let gate: Vec<*const f32> =
        x.z.filter(|_| job.gate)
            .map(<[f32]>::as_ptr)
            .into_iter()
            .collect();
    let mut next: Vec<*const f32> = vec![x.u.as_ptr(), x.delta.as_ptr()];
    if job.accumulate {
        next.push(job.y.hint_ptr());
    }
    let mut next_rows = [0usize; CHUNK];
    for s0 in (0..dims.len).step_by(CHUNK) {
        let steps = s0..(s0 + CHUNK).min(dims.len);
        unsafe { load_rows(job, run, &params, steps.clone(), &mut bufs) };
        let following = steps.end..(steps.end + CHUNK).min(dims.len);
        let rows = row_offsets(&dims, job.dir, following, &mut next_rows);
        for (i, (((v, p), h), buf)) in run
            .iter()
            .zip(&params)
            .zip(&mut states)
            .zip(&mut bufs)
            .enumerate()
        {
            let ahead = Ahead {
                arrays: &next,
                base: v.seq_base(&dims),
                rows,
            };
            let save = job.checkpoints.map(|out| Save {
                out,
                map: CheckpointMap {
                    stride: job.vectors,
                    first: first + i,
                    states: dims.d_state,
                },
                chunk: s0 / CHECKPOINT_EVERY,
            });
            bc.stage(x, v, job.dir, steps.clone());
            let (work, hints) = ((steps.len(), buf), (&ahead, &gate[..]));
            match job.short_decay {
                true => unsafe { recurrence::<true>(p, &bc, h, work, hints, save) },
                false => unsafe { recurrence::<false>(p, &bc, h, work, hints, save) },
            }
        }
        unsafe { store_rows(job, run, steps.len(), &bufs) };
    }
    for (v, h) in run.iter().zip(&states) {
        let rows = unsafe { transpose_out(h, v) };
        // SAFETY: rows (b, c0 .. c0 + width) of last_state belong to this vector alone.
        unsafe {
            job.last
                .write((v.b * dims.d_inner + v.c0) * dims.d_state, &rows)
        };
    }
}

/// One chunk's buffers for one vector, in L1 or L2 between the passes.
struct Chunk {
    tokens: Box<Tokens<CHUNK>>,
    /// The output before the gate.
    y: Box<[__m512; CHUNK]>,
}

impl Chunk {
    fn new() -> Self {
        Self {
            tokens: Tokens::new(),
            // SAFETY: all-zero bits are a valid vector of floats.
            y: Box::new(unsafe { std::mem::zeroed() }),
        }
    }
}

/// The per-token inputs (dt, dt·u, D·u) of a chunk for every vector of a task, token by token:
/// a task's vectors are adjacent channels, so each token's row is read as one contiguous run
/// that the hardware prefetches, with many independent loads in flight. (Vector by vector,
/// every load went to a different row `d_inner · 4` bytes away and waited on its own miss: a
/// third of the forward.)
#[inline(always)]
unsafe fn load_rows(
    job: &Job<'_, '_>,
    run: &[Vector],
    params: &[Params],
    steps: std::ops::Range<usize>,
    bufs: &mut [Chunk],
) {
    let x = &job.x;
    for (i, s) in steps.enumerate() {
        let t = job.dir.token(s, x.dims.len);
        for ((v, p), buf) in run.iter().zip(params).zip(bufs.iter_mut()) {
            // SAFETY: the caller's; `i` is below CHUNK. With `accumulate`, this vector's lanes
            // of `y` hold the other direction's output, written by this task.
            unsafe {
                buf.tokens.load_step(x, v, p, job.softplus, i, t);
                let mut y = _mm512_mul_ps(p.skip, buf.tokens.u[i]);
                if job.accumulate {
                    let off = buf.tokens.seq[i];
                    let other = _mm512_maskz_loadu_ps(v.mask, job.y.lane_ptr(off, v.width));
                    y = _mm512_add_ps(y, other);
                }
                *buf.y.get_unchecked_mut(i) = y;
            }
        }
    }
}

/// Where one vector saves its checkpoints: `map` with its `first` set to the vector, and the
/// checkpoint chunk at which this chunk starts.
#[derive(Clone, Copy)]
struct Save<'o> {
    out: SharedOut<'o>,
    map: CheckpointMap,
    chunk: usize,
}

/// Runs the recurrence through the chunk's first `count` steps one state at a time, so the
/// state and the running output stay in registers and L1, carrying the state in `h`; asks for
/// the `next` chunk's rows and this chunk's `gate` rows on the way, and saves the state every
/// [`CHECKPOINT_EVERY`] steps into `save`.
#[inline(always)]
unsafe fn recurrence<const SHORT: bool>(
    p: &Params,
    bc: &BcChunk<CHUNK>,
    h: &mut [__m512],
    (count, buf): (usize, &mut Chunk),
    (next, gate): (&Ahead<'_>, &[*const f32]),
    save: Option<Save<'_>>,
) {
    let tk = &buf.tokens;
    // Tells the compiler that every index below is within the chunk's arrays.
    let count = count.min(CHUNK);
    let gate = Ahead {
        arrays: gate,
        base: 0,
        rows: &tk.seq[..count],
    };
    let states = h.len();
    for (n, (hn, an)) in h.iter_mut().zip(&p.a_log2e).enumerate() {
        next.prefetch_share(n, states);
        gate.prefetch_share(n, states);
        let (bn, cn) = (&bc.b[n], &bc.c[n]);
        let mut state = *hn;
        for start in (0..count).step_by(CHECKPOINT_EVERY) {
            if let Some(s) = save {
                let at = s.map.at(s.chunk + start / CHECKPOINT_EVERY, 0, n);
                // SAFETY: the checkpoint of (chunk, vector, n) is this vector's alone, and
                // `lane_ptr` checked that its 16 floats are in bounds.
                unsafe { _mm512_storeu_ps(s.out.lane_ptr(at, LANES), state) };
            }
            for i in start..(start + CHECKPOINT_EVERY).min(count) {
                let (b, c) = (_mm512_set1_ps(bn[i]), _mm512_set1_ps(cn[i]));
                // SAFETY: the caller checked the CPU features.
                let arg = _mm512_mul_ps(tk.dt[i], *an);
                // SAFETY: as above.
                let decay = unsafe {
                    match SHORT {
                        true => exp2_short(arg),
                        false => exp2(arg),
                    }
                };
                state = _mm512_fmadd_ps(decay, state, _mm512_mul_ps(tk.dtu[i], b));
                buf.y[i] = _mm512_fmadd_ps(state, c, buf.y[i]);
            }
        }
        *hn = state;
    }
}

/// Gates the chunk's outputs with SiLU(z) and stores them, token by token as [`load_rows`]
/// reads.
#[inline(always)]
unsafe fn store_rows(job: &Job<'_, '_>, run: &[Vector], count: usize, bufs: &[Chunk]) {
    for i in 0..count {
        for (v, buf) in run.iter().zip(bufs) {
            let off = buf.tokens.seq[i];
            // SAFETY: the caller checked the CPU features; `off .. off + width` is inside the
            // (batch, L, d_inner) tensors, masked lanes are neither read nor written, and the
            // lanes belong to this vector alone.
            unsafe {
                let mut y = buf.y[i];
                if let (true, Some(z)) = (job.gate, job.x.z) {
                    let zv = _mm512_maskz_loadu_ps(v.mask, z.as_ptr().add(off));
                    y = _mm512_mul_ps(y, silu(zv));
                }
                _mm512_mask_storeu_ps(job.y.lane_ptr(off, v.width), v.mask, y);
            }
        }
    }
}
