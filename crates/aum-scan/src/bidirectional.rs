//! The shared-input bidirectional scan of AuM's v1 ("Fo-Bi") block: the scan forward in time
//! with `A` plus the scan in reverse with a second `A`, over the same u, delta, B, C, D, z and
//! delta bias (upstream's `bimamba_inner_fn`). Fused on AVX-512 CPUs: the per-token inputs are
//! read once per direction, the outputs summed before a single gate, and no second
//! (batch, L, d_inner) output is allocated.

use crate::{check_len, cpu, reference};
use crate::{Backend, Direction, Error, Result, ScanOptions, ScanResult, ScanSlices};

/// What the bidirectional scan returns.
#[derive(Clone, Debug, PartialEq)]
pub struct BiScanResult {
    /// (batch, L, d_inner): `(y_forward + y_reverse) · silu(z)`, each direction's output with
    /// its own `D·u`.
    pub y: Vec<f32>,
    /// (batch, d_inner, d_state): the forward scan's state after token L-1.
    pub last_state: Vec<f32>,
    /// (batch, d_inner, d_state): the reverse scan's state after token 0.
    pub last_state_rev: Vec<f32>,
}

/// Runs the scan forward with `x.a` and in reverse with `a_rev` (d_inner × d_state, like `A`)
/// on slices and sums the two outputs, as AuM's v1 block does (no halving). Both directions
/// start from `x.h0` when given. Equal to two [`crate::scan_forward`] calls with z and a sum,
/// up to rounding: the outputs are summed before the gate instead of after it.
/// `opts.direction` is not used.
pub fn scan_bidirectional(
    x: &ScanSlices<'_>,
    a_rev: &[f32],
    opts: &ScanOptions,
) -> Result<BiScanResult> {
    x.validate()?;
    let (d_inner, d_state) = (x.dims.d_inner, x.dims.d_state);
    let shape = format!("(d_inner={d_inner}, d_state={d_state})");
    check_len("A_rev", a_rev, x.dims.a_elems(), shape)?;
    let softplus = opts.softplus;
    match opts.backend {
        Backend::Reference => Ok(compose(x, a_rev, |x, dir| {
            reference::forward(x, softplus, dir)
        })),
        Backend::Cpu => Ok(cpu::bidirectional(x, a_rev, opts.into())),
        Backend::Cuda => Err(Error::cuda_unavailable()),
    }
}

/// The bidirectional scan as two ungated scans of `forward`, summed and gated.
pub(crate) fn compose(
    x: &ScanSlices<'_>,
    a_rev: &[f32],
    forward: impl Fn(&ScanSlices<'_>, Direction) -> ScanResult,
) -> BiScanResult {
    let ungated = ScanSlices { z: None, ..*x };
    let fwd = forward(&ungated, Direction::Forward);
    let rev = forward(
        &ScanSlices {
            a: a_rev,
            ..ungated
        },
        Direction::Reverse,
    );
    let mut y = fwd.y;
    match x.z {
        Some(z) => {
            for ((y, r), &z) in y.iter_mut().zip(&rev.y).zip(z) {
                *y = (*y + r) * reference::silu(z);
            }
        }
        None => y.iter_mut().zip(&rev.y).for_each(|(y, r)| *y += r),
    }
    BiScanResult {
        y,
        last_state: fwd.last_state,
        last_state_rev: rev.last_state,
    }
}
