//! The kernel for CPUs without bf16 dot products: the same blocks as [`super::avx512`], in f32
//! multiply-adds of the widened bf16 values (exact products, as the bf16 instructions' are),
//! compiled for the widest vectors [`crate::Isa::detect`] allows.

use super::{widen, Job, Task, MR, PANEL};
use crate::fastmath::Madd;

const ROWS: usize = 8;
/// Lanes per panel line: 16 columns x a pair.
const LANES: usize = 2 * PANEL;

/// Computes the task's output blocks.
pub(crate) fn task(job: &Job<'_>, task: &Task) {
    crate::isa::dispatch!(run(job, task))
}

#[inline(always)]
fn run<M: Madd>(job: &Job<'_>, task: &Task) {
    let out = job.out;
    let pairs = job.b.kp() / 2;
    let kp = job.b.kp();
    for blk in task.blocks.clone() {
        for i0 in (blk * MR..blk * MR + MR).step_by(ROWS) {
            if i0 >= out.m {
                break;
            }
            let x: Vec<&[u16]> = (i0..i0 + ROWS)
                .map(|i| {
                    // SAFETY: the packed rows have `MR` rows per block, kp values each.
                    unsafe { std::slice::from_raw_parts(job.a.row(i).cast::<u16>(), kp) }
                })
                .collect();
            for p in task.panels.clone() {
                // SAFETY: a panel holds kp / 2 lines.
                let panel = unsafe { std::slice::from_raw_parts(job.b.panel(p), pairs) };
                // Lane 2c + h sums x[2r + h] · B[2r + h][c] over the pairs r.
                let mut acc = [[0f32; LANES]; ROWS];
                for (r, line) in panel.iter().enumerate() {
                    let w: [f32; LANES] = std::array::from_fn(|l| widen(line.0[l]));
                    for (acc, x) in acc.iter_mut().zip(&x) {
                        let (x0, x1) = (widen(x[2 * r]), widen(x[2 * r + 1]));
                        for (l, a) in acc.iter_mut().enumerate() {
                            let xv = if l % 2 == 0 { x0 } else { x1 };
                            *a = M::madd(xv, w[l], *a);
                        }
                    }
                }
                let j0 = p * PANEL;
                let cols = (out.n - j0).min(PANEL);
                for (r, acc) in acc.iter().enumerate().take(out.m - i0) {
                    for c in 0..cols {
                        let v = acc[2 * c] + acc[2 * c + 1] + job.bias[j0 + c];
                        // SAFETY: row i0 + r < m and column j0 + c < n.
                        unsafe { *out.at(i0 + r, j0 + c) = v };
                    }
                }
            }
        }
    }
}
