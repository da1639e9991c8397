//! The fused backward scan: recompute, then run the adjoint recurrence backwards in time.
//! Auto-vectorised (AVX2 + FMA, or portable); AVX-512 CPUs run `avx512/backward.rs` instead.
//!
//! The adjoint of the state, `g_t = dLoss/dh_t`, obeys `g_t = dy_t·C_t + exp(dt_{t+1}·A)·g_{t+1}`,
//! so it needs the forward states in reverse order. Running the recurrence backwards from the
//! last state would divide by `exp(dt·A)`, which underflows to 0, so the states are recomputed
//! instead, with checkpoints: a first pass keeps the state every [`CHUNK`] steps, then chunks
//! are visited last to first, each re-scanned from its checkpoint into a small buffer (decays
//! and states for `CHUNK` steps) and walked backwards. Per item that is
//! `(L / CHUNK + 2·CHUNK) · BLOCK · N` floats, independent of d_inner.
//!
//! Gradients of per-token tensors (u, delta, z) belong to one item and are written in place.
//! B and C are shared by all channels of a group and A, D and delta_bias by all batch rows, so
//! each worker sums those into its own buffers, which are added up in a fixed order at the end
//! (deterministic for a given thread count, no atomics). For B and C those buffers keep 8
//! partial sums per element (8 · batch · L · groups · N floats per worker), so that the
//! horizontal add over a block's channels happens once at the end instead of per block.

use super::{
    bc_offset, load_lane, load_state, plan, seq_offset, BlockParams, Isa, Item, Lane, SharedGrads,
    SharedOut, Token, BLOCK,
};
use crate::{Direction, ScanDims, ScanGrads, ScanSlices};
use aum_kernels::fastmath::{self, Madd, Plain, SOFTPLUS_THRESHOLD};
use rayon::prelude::*;

/// Steps between checkpoints: the chunk buffers (2 · 32 · 4 KiB at N = 16) stay in L2.
const CHUNK: usize = 32;

/// Width of the partial sums kept for the B and C gradients (one AVX2 vector).
const SUM_LANES: usize = 8;
const _: () = assert!(
    BLOCK == 64 && SUM_LANES == 8,
    "`fold` halves 64 lanes down to 8"
);

/// Every gradient of the scan; AVX-512 CPUs start from the forward's `checkpoints` when
/// given (other kernels keep none, see [`super::checkpoint_len`]).
pub(crate) fn backward(
    x: &ScanSlices<'_>,
    grad_y: &[f32],
    grad_last_state: Option<&[f32]>,
    (softplus, dir): (bool, Direction),
    checkpoints: Option<&[f32]>,
) -> ScanGrads {
    let isa = Isa::detect();
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx512 {
        let flags = (softplus, dir);
        // SAFETY: `Isa::detect` found AVX-512F, AVX-512DQ, AVX2 and FMA on this CPU.
        return unsafe { super::avx512::backward(x, grad_y, grad_last_state, flags, checkpoints) };
    }
    let _ = checkpoints;
    let dims = x.dims;
    let mut du = vec![0.0; dims.seq_elems()];
    let mut ddelta = vec![0.0; dims.seq_elems()];
    let mut dz = x.z.map(|_| vec![0.0; dims.seq_elems()]);
    let outs = Outs {
        du: SharedOut::new(&mut du),
        ddelta: SharedOut::new(&mut ddelta),
        dz: dz.as_deref_mut().map(SharedOut::new),
    };
    let items = plan(&dims);
    // One contiguous run of items per worker, each with its own shared-gradient sums.
    let workers = rayon::current_num_threads().clamp(1, items.len().max(1));
    let per_worker = items.len().div_ceil(workers).max(1);
    let partials: Vec<SharedGrads> = items
        .par_chunks(per_worker)
        .map(|run_items| {
            let mut part = SharedGrads::zeros(&dims, SUM_LANES);
            let mut scratch = Scratch::new(&dims);
            for it in run_items {
                let job = Job {
                    x,
                    it,
                    grad_y,
                    grad_last_state,
                    softplus,
                    dir,
                    outs: &outs,
                };
                #[cfg(target_arch = "x86_64")]
                if isa == Isa::Avx2Fma {
                    // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU.
                    unsafe { run_avx2_fma(&job, &mut scratch, &mut part) };
                    continue;
                }
                run::<Plain>(&job, &mut scratch, &mut part);
            }
            part
        })
        .collect();
    SharedGrads::finish(partials, x, SUM_LANES, (du, ddelta, dz))
}

/// The per-token gradient outputs, written by items in place.
struct Outs<'o> {
    du: SharedOut<'o>,
    ddelta: SharedOut<'o>,
    dz: Option<SharedOut<'o>>,
}

/// Buffers reused by all items of a worker.
struct Scratch {
    /// The state before every CHUNK-th step: [chunk][state].
    checkpoints: Vec<Lane>,
    /// Recomputed decays exp(dt·A) of the current chunk: [step][state].
    decays: Vec<Lane>,
    /// Recomputed states after each step of the current chunk: [step][state].
    states: Vec<Lane>,
    /// The tokens of the current chunk.
    tokens: Vec<Token>,
    /// The outputs before the gate, for dz: [step].
    y_pre: Vec<Lane>,
}

impl Scratch {
    fn new(dims: &ScanDims) -> Self {
        let n_st = dims.d_state;
        let zero: Lane = [0.0; BLOCK];
        Self {
            checkpoints: vec![zero; dims.len.div_ceil(CHUNK) * n_st],
            decays: vec![zero; CHUNK * n_st],
            states: vec![zero; CHUNK * n_st],
            tokens: vec![Token::new(); CHUNK],
            y_pre: vec![zero; CHUNK],
        }
    }
}

/// One item's arguments.
struct Job<'x, 'o> {
    x: &'x ScanSlices<'x>,
    it: &'x Item,
    grad_y: &'x [f32],
    grad_last_state: Option<&'x [f32]>,
    softplus: bool,
    dir: Direction,
    outs: &'x Outs<'o>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2_fma(job: &Job<'_, '_>, scratch: &mut Scratch, part: &mut SharedGrads) {
    run::<fastmath::Fused>(job, scratch, part)
}

/// Back-propagates through one item.
#[inline(always)]
fn run<M: Madd>(job: &Job<'_, '_>, scratch: &mut Scratch, part: &mut SharedGrads) {
    let Job { x, it, .. } = *job;
    let dims = x.dims;
    let (len, n_st, width) = (dims.len, dims.d_state, it.width);
    let params = BlockParams::load(x, it);
    let mut tok = Token::new();

    // Pass 1: scan forward, keeping the state at the start of every chunk.
    let mut h = load_state(x.h0, &dims, it);
    for step in 0..len {
        if step % CHUNK == 0 {
            let at = (step / CHUNK) * n_st;
            scratch.checkpoints[at..at + n_st].copy_from_slice(&h);
        }
        let t = job.dir.token(step, len);
        tok.load::<M>(
            x,
            seq_offset(&dims, it, t),
            width,
            &params.bias,
            job.softplus,
        );
        let bc = bc_offset(&dims, it, t);
        for n in 0..n_st {
            let (hn, a, bn) = (&mut h[n], &params.a[n], x.b[bc + n]);
            for j in 0..BLOCK {
                let decay = fastmath::exp::<M>(tok.dt[j] * a[j]);
                hn[j] = M::madd(decay, hn[j], tok.dtu[j] * bn);
            }
        }
    }

    // Pass 2: chunks last to first.
    let mut adj = load_state(job.grad_last_state, &dims, it);
    let mut da = vec![[0.0; BLOCK]; n_st];
    let mut dskip: Lane = [0.0; BLOCK];
    let mut dbias: Lane = [0.0; BLOCK];
    let mut gy: Lane = [0.0; BLOCK];
    let mut dy: Lane = [0.0; BLOCK];
    let mut z: Lane = [0.0; BLOCK];
    let mut dz: Lane = [0.0; BLOCK];
    for chunk in (0..len.div_ceil(CHUNK)).rev() {
        let s0 = chunk * CHUNK;
        let s1 = (s0 + CHUNK).min(len);
        let ckpt = chunk * n_st;
        h.copy_from_slice(&scratch.checkpoints[ckpt..ckpt + n_st]);
        for step in s0..s1 {
            let i = step - s0;
            let t = job.dir.token(step, len);
            let tk = &mut scratch.tokens[i];
            tk.load::<M>(
                x,
                seq_offset(&dims, it, t),
                width,
                &params.bias,
                job.softplus,
            );
            let bc = bc_offset(&dims, it, t);
            let y = &mut scratch.y_pre[i];
            for j in 0..BLOCK {
                y[j] = params.skip[j] * tk.u[j];
            }
            for n in 0..n_st {
                let (hn, a) = (&mut h[n], &params.a[n]);
                let decay = &mut scratch.decays[i * n_st + n];
                let state = &mut scratch.states[i * n_st + n];
                let (bn, cn) = (x.b[bc + n], x.c[bc + n]);
                for j in 0..BLOCK {
                    decay[j] = fastmath::exp::<M>(tk.dt[j] * a[j]);
                    hn[j] = M::madd(decay[j], hn[j], tk.dtu[j] * bn);
                    state[j] = hn[j];
                    y[j] = M::madd(hn[j], cn, y[j]);
                }
            }
        }
        for step in (s0..s1).rev() {
            let i = step - s0;
            let t = job.dir.token(step, len);
            let off = seq_offset(&dims, it, t);
            let bc = bc_offset(&dims, it, t);
            let tk = &scratch.tokens[i];
            load_lane(job.grad_y, off, width, &mut gy);
            match (x.z, job.outs.dz) {
                (Some(zs), Some(dz_out)) => {
                    load_lane(zs, off, width, &mut z);
                    let y = &scratch.y_pre[i];
                    for j in 0..BLOCK {
                        let sig = fastmath::sigmoid::<M>(z[j]);
                        let silu = z[j] * sig;
                        dz[j] = gy[j] * y[j] * M::madd(z[j], 1.0 - sig, 1.0) * sig;
                        dy[j] = gy[j] * silu;
                    }
                    // SAFETY: this item owns channels c0..c0+width of every row.
                    unsafe { dz_out.write_lane(off, &dz, width) };
                }
                _ => dy = gy,
            }
            let mut s_b: Lane = [0.0; BLOCK];
            let mut s_a: Lane = [0.0; BLOCK];
            for n in 0..n_st {
                let prev = if i > 0 {
                    &scratch.states[(i - 1) * n_st + n]
                } else {
                    &scratch.checkpoints[ckpt + n]
                };
                let sums = adjoint_state::<M>(
                    AdjointIn {
                        decay: &scratch.decays[i * n_st + n],
                        prev,
                        state: &scratch.states[i * n_st + n],
                        a: &params.a[n],
                        tok: tk,
                        dy: &dy,
                        b: x.b[bc + n],
                        c: x.c[bc + n],
                    },
                    &mut adj[n],
                    &mut da[n],
                    &mut s_b,
                    &mut s_a,
                );
                let at = (bc + n) * SUM_LANES;
                for l in 0..SUM_LANES {
                    part.b[at + l] += sums.0[l];
                    part.c[at + l] += sums.1[l];
                }
            }
            let mut du: Lane = [0.0; BLOCK];
            let mut ddelta: Lane = [0.0; BLOCK];
            for j in 0..BLOCK {
                du[j] = M::madd(tk.dt[j], s_b[j], params.skip[j] * dy[j]);
                ddelta[j] = M::madd(tk.u[j], s_b[j], s_a[j]);
            }
            if job.softplus {
                for j in 0..BLOCK {
                    let slope = fastmath::sigmoid::<M>(tk.raw[j]);
                    let scaled = ddelta[j] * slope;
                    ddelta[j] = if tk.raw[j] > SOFTPLUS_THRESHOLD {
                        ddelta[j]
                    } else {
                        scaled
                    };
                }
            }
            for j in 0..BLOCK {
                dskip[j] = M::madd(dy[j], tk.u[j], dskip[j]);
                dbias[j] += ddelta[j];
            }
            // SAFETY: this item owns channels c0..c0+width of every row.
            unsafe {
                job.outs.du.write_lane(off, &du, width);
                job.outs.ddelta.write_lane(off, &ddelta, width);
            }
        }
    }

    for j in 0..width {
        let c = it.c0 + j;
        for (n, lane) in da.iter().enumerate() {
            part.a[c * n_st + n] += lane[j];
        }
        part.d[c] += dskip[j];
        part.bias[c] += dbias[j];
    }
}

/// The read-only inputs of [`adjoint_state`].
struct AdjointIn<'a> {
    /// exp(dt·A) of this step.
    decay: &'a Lane,
    /// The state before this step.
    prev: &'a Lane,
    /// The state after this step.
    state: &'a Lane,
    a: &'a Lane,
    tok: &'a Token,
    /// dLoss/dy before the gate.
    dy: &'a Lane,
    b: f32,
    c: f32,
}

/// One state of one step of the adjoint recurrence for the whole block.
///
/// With `g = adj + dy·C` (dLoss/dh after this step) and `q = g·decay·prev`: accumulates
/// `dA += dt·q`, `s_a += A·q` and `s_b += g·B` (the per-channel sums over states that give
/// d(dt) and du), carries `adj = g·decay` to the previous step, and returns this step's
/// contributions to dB (`Σ g·dt·u`) and dC (`Σ dy·h`) over the block's channels.
#[inline(always)]
fn adjoint_state<M: Madd>(
    v: AdjointIn<'_>,
    adj: &mut Lane,
    da: &mut Lane,
    s_b: &mut Lane,
    s_a: &mut Lane,
) -> (Partials, Partials) {
    let mut db: Lane = [0.0; BLOCK];
    let mut dc: Lane = [0.0; BLOCK];
    for j in 0..BLOCK {
        let g = M::madd(v.dy[j], v.c, adj[j]);
        let q = g * v.decay[j] * v.prev[j];
        s_a[j] = M::madd(v.a[j], q, s_a[j]);
        da[j] = M::madd(v.tok.dt[j], q, da[j]);
        s_b[j] = M::madd(g, v.b, s_b[j]);
        db[j] = g * v.tok.dtu[j];
        dc[j] = v.dy[j] * v.state[j];
        adj[j] = g * v.decay[j];
    }
    (fold(&db), fold(&dc))
}

/// Partial sums of a lane over channels, [`SUM_LANES`] wide.
type Partials = [f32; SUM_LANES];

/// Folds a lane in halves down to [`SUM_LANES`] partial sums. Each step is an element-wise add
/// of two arrays, which vectorises; the last, horizontal, step is left to the very end of the
/// backward pass (see [`SharedGrads`]), so it runs once per (token, state) instead of once per
/// (token, state, block).
#[inline(always)]
fn fold(v: &Lane) -> Partials {
    let mut h32 = [0.0f32; 32];
    for l in 0..32 {
        h32[l] = v[l] + v[32 + l];
    }
    let mut h16 = [0.0f32; 16];
    for l in 0..16 {
        h16[l] = h32[l] + h32[16 + l];
    }
    let mut h8 = [0.0f32; SUM_LANES];
    for l in 0..SUM_LANES {
        h8[l] = h16[l] + h16[SUM_LANES + l];
    }
    h8
}
