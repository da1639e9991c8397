//! The AVX512-BF16 kernel, for CPUs without AMX: 8 rows by two panels (32 columns) of 16
//! accumulators, each `VDPBF16PS` adding 16 pair dot products (one pair of `x`, broadcast, by
//! one 64-byte line of a panel) over the whole depth.

use std::arch::x86_64::*;

use super::{Job, Task, MR, PANEL};

/// Rows per register block: 8 rows x 2 panels = 16 of the 32 vector registers.
const ROWS: usize = 8;

/// Computes the task's output blocks.
///
/// # Safety
/// The CPU must have AVX-512F and AVX512-BF16.
#[target_feature(enable = "avx512f,avx512bf16")]
pub(crate) unsafe fn task(job: &Job<'_>, task: &Task) {
    let out = job.out;
    let pairs = job.b.kp() / 2;
    for blk in task.blocks.clone() {
        for i0 in (blk * MR..blk * MR + MR).step_by(ROWS) {
            if i0 >= out.m {
                break;
            }
            for p in task.panels.clone().step_by(2) {
                let np = (task.panels.end - p).min(2);
                let mut acc = [[_mm512_setzero_ps(); 2]; ROWS];
                // SAFETY: (this loop) the packed rows have `MR` rows per block with kp bf16
                // each, read as kp / 2 pairs; the panels have kp / 2 lines.
                let b0 = job.b.panel(p).cast::<__m512bh>();
                let b1 = job.b.panel(p + np - 1).cast::<__m512bh>();
                let rows: [*const i32; ROWS] = std::array::from_fn(|r| job.a.row(i0 + r).cast());
                for r in 0..pairs {
                    let (w0, w1) = unsafe { (*b0.add(r), *b1.add(r)) };
                    for (acc, row) in acc.iter_mut().zip(rows) {
                        let x: __m512bh =
                            unsafe { std::mem::transmute(_mm512_set1_epi32(*row.add(r))) };
                        acc[0] = _mm512_dpbf16_ps(acc[0], x, w0);
                        acc[1] = _mm512_dpbf16_ps(acc[1], x, w1);
                    }
                }
                let j0 = p * PANEL;
                let cols = (out.n - j0).min(np * PANEL);
                for (r, acc) in acc.iter().enumerate().take(out.m - i0) {
                    let mut vals = [0f32; 2 * PANEL];
                    // SAFETY: `vals` holds 32 floats.
                    unsafe {
                        _mm512_storeu_ps(vals.as_mut_ptr(), acc[0]);
                        _mm512_storeu_ps(vals.as_mut_ptr().add(PANEL), acc[1]);
                    }
                    for (c, v) in vals.iter().enumerate().take(cols) {
                        // SAFETY: row i0 + r < m and column j0 + c < n.
                        unsafe { *out.at(i0 + r, j0 + c) = v + job.bias[j0 + c] };
                    }
                }
            }
        }
    }
}
