//! The forward scan: each vector runs through a chunk of [`CHUNK`] tokens in three passes: the
//! per-token inputs (`dt`, `dt·u`, `D·u`) into an L1 buffer, then the recurrence one state at a
//! time (the running output in L1), then the gate and the store. With the update and the
//! output, the recurrence costs 13 vector instructions per state per 16 channels.

use std::arch::x86_64::*;

use super::{exp2, load_state, plan, silu, transpose_out, vectors_per_task};
use super::{Params, Tokens, Vector};
use crate::cpu::SharedOut;
use crate::{Direction, ScanSlices};
use rayon::prelude::*;

/// Tokens a task scans for one vector before moving to its next vector.
const CHUNK: usize = 64;

/// Runs the forward scan into `y` and `last` (both zero-initialised by the caller).
///
/// # Safety
/// The CPU must support AVX-512F, AVX2 and FMA.
pub(in crate::cpu) unsafe fn forward(
    x: &ScanSlices<'_>,
    softplus: bool,
    dir: Direction,
    y: SharedOut<'_>,
    last: SharedOut<'_>,
) {
    let vectors = plan(&x.dims);
    let job = Job {
        x,
        softplus,
        dir,
        y,
        last,
    };
    vectors
        .par_chunks(vectors_per_task(vectors.len()))
        .for_each(|run| {
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

#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn scan_run(job: &Job<'_, '_>, run: &[Vector]) {
    let x = job.x;
    let dims = x.dims;
    // SAFETY (this block and the loops below): the caller checked the CPU features.
    let params: Vec<Params> = run.iter().map(|v| unsafe { Params::load(x, v) }).collect();
    let mut states: Vec<Vec<__m512>> = run
        .iter()
        .map(|v| unsafe { load_state(x.h0, &dims, v) })
        .collect();
    let mut buf = Chunk::new();
    for s0 in (0..dims.len).step_by(CHUNK) {
        let steps = s0..(s0 + CHUNK).min(dims.len);
        for ((v, p), h) in run.iter().zip(&params).zip(&mut states) {
            unsafe { scan_chunk(job, v, p, h, steps.clone(), &mut buf) };
        }
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

/// One chunk's buffers for one vector, kept in L1 between the passes.
struct Chunk {
    tokens: Box<Tokens<CHUNK>>,
    /// The output before the gate.
    y: [__m512; CHUNK],
}

impl Chunk {
    fn new() -> Self {
        Self {
            tokens: Tokens::new(),
            // SAFETY: all-zero bits are a valid vector of floats.
            y: unsafe { std::mem::zeroed() },
        }
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
    let count = steps.len();
    // SAFETY (and for the loops below): the caller's; offsets come from `Tokens::load`, and B
    // and C hold d_state values for (b, t, group) at each `bc[i]`.
    unsafe { buf.tokens.load(x, v, p, job.softplus, job.dir, steps) };
    let tk = &buf.tokens;
    for i in 0..count {
        buf.y[i] = _mm512_mul_ps(p.skip, tk.u[i]);
    }
    for (n, (hn, an)) in h.iter_mut().zip(&p.a_log2e).enumerate() {
        let mut state = *hn;
        for i in 0..count {
            unsafe {
                let b = _mm512_set1_ps(*x.b.get_unchecked(tk.bc[i] + n));
                let c = _mm512_set1_ps(*x.c.get_unchecked(tk.bc[i] + n));
                let decay = exp2(_mm512_mul_ps(tk.dt[i], *an));
                state = _mm512_fmadd_ps(decay, state, _mm512_mul_ps(tk.dtu[i], b));
                buf.y[i] = _mm512_fmadd_ps(state, c, buf.y[i]);
            }
        }
        *hn = state;
    }
    for i in 0..count {
        let off = tk.seq[i];
        unsafe {
            let mut y = buf.y[i];
            if let Some(z) = x.z {
                let zv = _mm512_maskz_loadu_ps(v.mask, z.as_ptr().add(off));
                y = _mm512_mul_ps(y, silu(zv));
            }
            _mm512_mask_storeu_ps(job.y.lane_ptr(off, v.width()), v.mask, y);
        }
    }
}
