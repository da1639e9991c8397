//! The fused forward scan, auto-vectorised (AVX2 + FMA, or portable); AVX-512 CPUs run
//! `avx512.rs` instead.

use super::{
    bc_offset, load_lane, load_state, plan, seq_offset, BlockParams, Isa, Item, Lane, SharedOut,
    Token, BLOCK,
};
use crate::{Direction, ScanResult, ScanSlices};
use aum_kernels::fastmath::{self, Madd, Plain};
use rayon::prelude::*;

/// The forward scan, and with `checkpoints` the states for a backward ([`super::checkpoint_len`]
/// floats: none but on AVX-512).
pub(crate) fn forward(
    x: &ScanSlices<'_>,
    flags: super::Flags,
    dir: Direction,
    checkpoints: bool,
) -> (ScanResult, Vec<f32>) {
    let dims = x.dims;
    let softplus = flags.softplus;
    let isa = Isa::detect();
    #[cfg(target_arch = "x86_64")]
    if isa >= Isa::Avx512 {
        let mut y = super::Unwritten::new(dims.seq_elems());
        let mut last = super::Unwritten::new(dims.state_elems());
        let len = if checkpoints {
            super::checkpoint_len(&dims)
        } else {
            0
        };
        let mut saved = super::Unwritten::new(len);
        // SAFETY: `Isa::detect` found AVX-512F, AVX-512DQ, AVX2 and FMA on this CPU; the
        // kernel writes every element of y, of the last state and of the checkpoints.
        unsafe {
            let save = checkpoints.then(|| saved.out());
            super::avx512::forward(x, flags, dir, (y.out(), last.out()), save);
            let result = ScanResult {
                y: y.assume_written(),
                last_state: last.assume_written(),
            };
            return (result, saved.assume_written());
        }
    }
    let mut y = vec![0.0; dims.seq_elems()];
    let mut last_state = vec![0.0; dims.state_elems()];
    let out = SharedOut::new(&mut y);
    let last = SharedOut::new(&mut last_state);
    plan(&dims).par_iter().for_each(|it| {
        let job = Job {
            x,
            it,
            softplus,
            dir,
            out,
            last,
        };
        #[cfg(target_arch = "x86_64")]
        if isa == Isa::Avx2Fma {
            // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU.
            return unsafe { run_avx2_fma(&job) };
        }
        run::<Plain>(&job)
    });
    // The auto-vectorised kernels keep no checkpoints.
    let _ = checkpoints;
    (ScanResult { y, last_state }, Vec::new())
}

/// One item's arguments.
struct Job<'x, 'o> {
    x: &'x ScanSlices<'x>,
    it: &'x Item,
    softplus: bool,
    dir: Direction,
    out: SharedOut<'o>,
    last: SharedOut<'o>,
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn run_avx2_fma(job: &Job<'_, '_>) {
    run::<fastmath::Fused>(job)
}

/// Scans one item: every token, writing its columns of `y`, then its rows of `last_state`.
#[inline(always)]
fn run<M: Madd>(job: &Job<'_, '_>) {
    let Job { x, it, .. } = *job;
    let dims = x.dims;
    let n_st = dims.d_state;
    let width = it.width;
    let params = BlockParams::load(x, it);
    let mut h = load_state(x.h0, &dims, it);
    let mut tok = Token::new();
    let mut y: Lane = [0.0; BLOCK];
    let mut z: Lane = [0.0; BLOCK];
    for step in 0..dims.len {
        let t = job.dir.token(step, dims.len);
        let off = seq_offset(&dims, it, t);
        tok.load::<M>(x, off, width, &params.bias, job.softplus);
        for j in 0..BLOCK {
            y[j] = params.skip[j] * tok.u[j];
        }
        let bc = bc_offset(&dims, it, t);
        let b_t = &x.b[bc..bc + n_st];
        let c_t = &x.c[bc..bc + n_st];
        for n in 0..n_st {
            step_state::<M>(&mut h[n], &params.a[n], &tok, b_t[n], c_t[n], &mut y);
        }
        if let Some(zs) = x.z {
            load_lane(zs, off, width, &mut z);
            for j in 0..BLOCK {
                y[j] *= z[j] * fastmath::sigmoid::<M>(z[j]);
            }
        }
        // SAFETY: this item owns channels c0..c0+width of every row.
        unsafe { job.out.write_lane(off, &y, width) };
    }
    let mut rows = vec![0.0; width * n_st];
    for (j, row) in rows.chunks_exact_mut(n_st).enumerate() {
        for (n, v) in row.iter_mut().enumerate() {
            *v = h[n][j];
        }
    }
    // SAFETY: rows (b, c0..c0+width) of last_state belong to this item alone.
    unsafe { job.last.write((it.b * dims.d_inner + it.c0) * n_st, &rows) };
}

/// One state of one token for the whole block: `h = exp(dt·A)·h + dt·u·B`, `y += C·h`.
#[inline(always)]
fn step_state<M: Madd>(h: &mut Lane, a: &Lane, tok: &Token, b: f32, c: f32, y: &mut Lane) {
    for j in 0..BLOCK {
        let decay = fastmath::exp::<M>(tok.dt[j] * a[j]);
        let hj = M::madd(decay, h[j], tok.dtu[j] * b);
        h[j] = hj;
        y[j] = M::madd(hj, c, y[j]);
    }
}
