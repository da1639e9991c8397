//! The reference backend: one channel at a time, in plain scalar loops with libm functions.
//!
//! Written to be read next to the math in the crate docs, not to be fast. It is the oracle the
//! fused kernel is tested against, and the backward keeps every state (O(L·N) per channel)
//! instead of recomputing them.

// The loops index A, B, C and the state by (channel, state) together, as the math does.
#![allow(clippy::needless_range_loop)]

use crate::{Direction, ScanGrads, ScanResult, ScanSlices};

/// `ln(1 + e^x)`, or `x` above upstream's threshold of 20.
fn softplus(x: f32) -> f32 {
    if x <= 20.0 {
        x.exp().ln_1p()
    } else {
        x
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

pub(crate) fn silu(x: f32) -> f32 {
    x * sigmoid(x)
}

/// Index helpers for the token-major layouts.
struct Index {
    len: usize,
    d_inner: usize,
    d_state: usize,
    groups: usize,
    group_width: usize,
}

impl Index {
    fn new(x: &ScanSlices<'_>) -> Self {
        let s = x.dims;
        Self {
            len: s.len,
            d_inner: s.d_inner,
            d_state: s.d_state,
            groups: s.groups,
            group_width: s.group_width(),
        }
    }

    /// Offset of (b, t, d) in u, delta, z or y.
    fn seq(&self, b: usize, t: usize, d: usize) -> usize {
        (b * self.len + t) * self.d_inner + d
    }

    /// Offset of (b, t, group of d, n = 0) in B or C.
    fn bc(&self, b: usize, t: usize, d: usize) -> usize {
        ((b * self.len + t) * self.groups + d / self.group_width) * self.d_state
    }

    /// Offset of (b, d, n = 0) in h0 or last_state.
    fn state(&self, b: usize, d: usize) -> usize {
        (b * self.d_inner + d) * self.d_state
    }
}

/// `dt` for one element: bias added, then softplus if asked. Also returns the pre-softplus value.
fn delta_t(x: &ScanSlices<'_>, i: usize, d: usize, softplus_on: bool) -> (f32, f32) {
    let raw = x.delta[i] + x.delta_bias.map_or(0.0, |bias| bias[d]);
    let dt = if softplus_on { softplus(raw) } else { raw };
    (raw, dt)
}

pub(crate) fn forward(x: &ScanSlices<'_>, softplus_on: bool, dir: Direction) -> ScanResult {
    let s = x.dims;
    let ix = Index::new(x);
    let n_st = s.d_state;
    let mut y = vec![0.0; s.seq_elems()];
    let mut last_state = vec![0.0; s.state_elems()];
    let mut h = vec![0.0f32; n_st];
    for b in 0..s.batch {
        for d in 0..s.d_inner {
            let h_off = ix.state(b, d);
            match x.h0 {
                Some(h0) => h.copy_from_slice(&h0[h_off..h_off + n_st]),
                None => h.fill(0.0),
            }
            for step in 0..s.len {
                let t = dir.token(step, s.len);
                let i = ix.seq(b, t, d);
                let (_, dt) = delta_t(x, i, d, softplus_on);
                let u = x.u[i];
                let bc = ix.bc(b, t, d);
                let mut acc = 0.0;
                for n in 0..n_st {
                    let decay = (dt * x.a[d * n_st + n]).exp();
                    h[n] = decay * h[n] + dt * x.b[bc + n] * u;
                    acc += x.c[bc + n] * h[n];
                }
                let mut out = acc + x.d.map_or(0.0, |dv| dv[d] * u);
                if let Some(z) = x.z {
                    out *= silu(z[i]);
                }
                y[i] = out;
            }
            last_state[h_off..h_off + n_st].copy_from_slice(&h);
        }
    }
    ScanResult { y, last_state }
}

pub(crate) fn backward(
    x: &ScanSlices<'_>,
    grad_y: &[f32],
    grad_last_state: Option<&[f32]>,
    softplus_on: bool,
    dir: Direction,
) -> ScanGrads {
    let s = x.dims;
    let ix = Index::new(x);
    let n_st = s.d_state;
    let mut g = ScanGrads {
        u: vec![0.0; s.seq_elems()],
        delta: vec![0.0; s.seq_elems()],
        a: vec![0.0; s.a_elems()],
        b: vec![0.0; s.bc_elems()],
        c: vec![0.0; s.bc_elems()],
        d: x.d.map(|_| vec![0.0; s.d_inner]),
        z: x.z.map(|_| vec![0.0; s.seq_elems()]),
        delta_bias: x.delta_bias.map(|_| vec![0.0; s.d_inner]),
    };
    // states[step * N + n] = h after `step` steps in scan order (row 0 is h0).
    let mut states = vec![0.0f32; (s.len + 1) * n_st];
    let mut y_pre = vec![0.0f32; s.len];
    let mut adj = vec![0.0f32; n_st];
    for b in 0..s.batch {
        for d in 0..s.d_inner {
            let h_off = ix.state(b, d);
            match x.h0 {
                Some(h0) => states[..n_st].copy_from_slice(&h0[h_off..h_off + n_st]),
                None => states[..n_st].fill(0.0),
            }
            // Forward, keeping every state and the output before the gate.
            for step in 0..s.len {
                let t = dir.token(step, s.len);
                let i = ix.seq(b, t, d);
                let (_, dt) = delta_t(x, i, d, softplus_on);
                let u = x.u[i];
                let bc = ix.bc(b, t, d);
                let mut acc = x.d.map_or(0.0, |dv| dv[d] * u);
                for n in 0..n_st {
                    let prev = states[step * n_st + n];
                    let h = (dt * x.a[d * n_st + n]).exp() * prev + dt * x.b[bc + n] * u;
                    states[(step + 1) * n_st + n] = h;
                    acc += x.c[bc + n] * h;
                }
                y_pre[step] = acc;
            }
            // Backward. `adj[n]` carries dLoss/dh: on entry to a step it holds the part that
            // flows back from later steps (decay of the next step times its adjoint).
            match grad_last_state {
                Some(gl) => adj.copy_from_slice(&gl[h_off..h_off + n_st]),
                None => adj.fill(0.0),
            }
            for step in (0..s.len).rev() {
                let t = dir.token(step, s.len);
                let i = ix.seq(b, t, d);
                let (raw, dt) = delta_t(x, i, d, softplus_on);
                let u = x.u[i];
                let bc = ix.bc(b, t, d);
                let mut dy = grad_y[i];
                if let (Some(z), Some(gz)) = (x.z, g.z.as_mut()) {
                    let sig = sigmoid(z[i]);
                    gz[i] = dy * y_pre[step] * sig * (1.0 + z[i] * (1.0 - sig));
                    dy *= silu(z[i]);
                }
                let mut ddt = 0.0;
                let mut du = 0.0;
                for n in 0..n_st {
                    let a = x.a[d * n_st + n];
                    let decay = (dt * a).exp();
                    let prev = states[step * n_st + n];
                    let h = states[(step + 1) * n_st + n];
                    let gh = adj[n] + dy * x.c[bc + n];
                    g.c[bc + n] += dy * h;
                    ddt += gh * (a * decay * prev + x.b[bc + n] * u);
                    du += gh * dt * x.b[bc + n];
                    g.b[bc + n] += gh * dt * u;
                    g.a[d * n_st + n] += gh * dt * decay * prev;
                    adj[n] = gh * decay;
                }
                if let (Some(dv), Some(gd)) = (x.d, g.d.as_mut()) {
                    du += dv[d] * dy;
                    gd[d] += dy * u;
                }
                let ddelta = if softplus_on && raw <= 20.0 {
                    ddt * sigmoid(raw)
                } else {
                    ddt
                };
                g.u[i] = du;
                g.delta[i] = ddelta;
                if let Some(gb) = g.delta_bias.as_mut() {
                    gb[d] += ddelta;
                }
            }
        }
    }
    g
}
