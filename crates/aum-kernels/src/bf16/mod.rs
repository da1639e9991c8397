//! The bf16 GEMM: `x · B (+ bias)` with `x` f32 activations, `B` weights held in bf16, products
//! accumulated in f32. `x` is rounded to bf16 (to nearest, ties to even) on the way in, so every
//! path computes the same exact products of bf16 values and differs only in the order of the
//! f32 sums.
//!
//! Three kernels share one packed layout ([`PackedBf16`]) and one work split:
//! - AMX tiles (`TDPBF16PS`, a 16x16 f32 block += 16x32 by 32x16 bf16, in `asm!`: stable Rust
//!   has no AMX intrinsics), 2x2 tiles per step: [`amx`];
//! - AVX512-BF16 pair dot products (`VDPBF16PS`) on CPUs without AMX: [`avx512`];
//! - f32 multiply-adds of the widened values everywhere else: [`portable`].
//!
//! [`crate::Isa::detect`] picks one; `AUM_ISA=avx512bf16` or `avx512` runs the slower ones.

#[cfg(target_arch = "x86_64")]
pub(crate) mod amx;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod pack;
mod portable;

use rayon::prelude::*;

#[cfg(test)]
use pack::to_bf16;
pub use pack::PackedBf16;
pub(crate) use pack::{widen, Line};

/// Rows of `x` per block: two AMX tiles of 16 rows.
pub(crate) const MR: usize = 32;
/// Columns of `B` per panel: one AMX tile (16 f32 = 64 bytes per row).
pub(crate) const PANEL: usize = 16;
/// Bytes of `B` per task (per pass of at most 1024 deep): the slice stays in the L2 cache
/// (2 MiB per core on Sapphire and Emerald Rapids) while the task walks its row blocks, each
/// of which stays in L1 across the slice's panels. So `x` is read from memory once per slice
/// and `B` once per task.
const TASK_B_BYTES: usize = 1 << 20;
/// Tasks per thread at least, so that uneven tasks still balance.
const TASKS_PER_THREAD: usize = 3;

/// The rows of `x` (m, k), rounded to bf16 and padded with zeros to `MR` rows and to the
/// packed `B`'s padded depth: the left operand every kernel reads.
pub(crate) struct PackedRows {
    pub lines: Vec<Line>,
    /// Lines per row (`kp / 32`).
    pub per_row: usize,
}

impl PackedRows {
    /// Rows `i·ld .. i·ld + k` of `x` for i < m.
    fn new(x: &[f32], (m, k, ld): (usize, usize, usize), kp: usize, parallel: bool) -> Self {
        let per_row = kp / 32;
        let rows = m.div_ceil(MR) * MR;
        let mut lines = vec![Line::ZERO; rows * per_row];
        chunks_mut(&mut lines, MR * per_row, parallel, |block, dst| {
            for (r, row) in dst.chunks_mut(per_row).enumerate() {
                let i = block * MR + r;
                if i >= m {
                    break;
                }
                // SAFETY: a row of lines is kp >= k contiguous u16 values (no padding).
                let dst =
                    unsafe { std::slice::from_raw_parts_mut(row.as_mut_ptr().cast::<u16>(), k) };
                pack::round_into(dst, &x[i * ld..i * ld + k]);
            }
        });
        Self { lines, per_row }
    }

    /// The first line of row `i`.
    pub fn row(&self, i: usize) -> *const Line {
        self.lines[i * self.per_row..].as_ptr()
    }
}

/// An (m, n) row-major f32 output that parallel tasks fill in disjoint blocks (the GEMM's, and
/// attention's (batch·tokens, width)).
#[derive(Clone, Copy)]
pub(crate) struct Out {
    ptr: *mut f32,
    pub m: usize,
    pub n: usize,
}

// SAFETY: the tasks that share one write disjoint blocks of it.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}

impl Out {
    /// The output at `ptr`, which must have room for m·n floats.
    pub fn new(ptr: *mut f32, m: usize, n: usize) -> Self {
        Self { ptr, m, n }
    }

    /// Element (i, j).
    pub fn at(&self, i: usize, j: usize) -> *mut f32 {
        debug_assert!(i < self.m && j < self.n);
        // SAFETY: in bounds: i < m, j < n.
        unsafe { self.ptr.add(i * self.n + j) }
    }
}

/// One task: blocks of `MR` rows and panels of `B`, the output block they cover.
pub(crate) struct Task {
    pub blocks: std::ops::Range<usize>,
    pub panels: std::ops::Range<usize>,
}

/// Everything a kernel reads and writes for one product.
pub(crate) struct Job<'a> {
    pub a: &'a PackedRows,
    pub b: &'a PackedBf16,
    /// The bias padded with zeros to whole panels (zeros without one).
    pub bias: &'a [f32],
    pub out: Out,
}

impl PackedBf16 {
    /// `x · B (+ bias)` for `x` (m, k) row-major f32: an (m, n) row-major f32 result.
    /// `x` is rounded to bf16; the products are summed in f32.
    ///
    /// # Panics
    /// If `x` does not hold m·k floats or `bias` n.
    pub fn matmul(&self, x: &[f32], m: usize, bias: Option<&[f32]>) -> Vec<f32> {
        assert_eq!(
            x.len(),
            m * self.k(),
            "bf16 matmul: x is not ({m}, {})",
            self.k()
        );
        self.product(crate::Isa::detect(), (x, m, self.k()), bias, true)
    }

    /// [`PackedBf16::matmul`] without a bias on the calling thread alone, for callers that
    /// run many small products in parallel themselves (attention, one head per task); the
    /// rows of `x` are `ld` floats apart.
    pub(crate) fn matmul_serial(&self, x: &[f32], m: usize, ld: usize) -> Vec<f32> {
        self.product(crate::Isa::detect(), (x, m, ld), None, false)
    }

    /// [`PackedBf16::matmul`] by the kernel for `isa`, which the CPU must have.
    #[cfg(test)]
    pub(crate) fn matmul_on(
        &self,
        isa: crate::Isa,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
    ) -> Vec<f32> {
        self.product(isa, (x, m, self.k()), bias, true)
    }

    /// The product of rows `i·ld .. i·ld + k` of `x` (i < m).
    fn product(
        &self,
        isa: crate::Isa,
        (x, m, ld): (&[f32], usize, usize),
        bias: Option<&[f32]>,
        parallel: bool,
    ) -> Vec<f32> {
        let (k, n) = (self.k(), self.n());
        assert!(
            m == 0 || x.len() >= (m - 1) * ld + k,
            "bf16 matmul: x is not ({m}, {k})"
        );
        if let Some(b) = bias {
            assert_eq!(b.len(), n, "bf16 matmul: bias is not ({n})");
        }
        let mut padded = vec![0f32; self.panels() * PANEL];
        if let Some(b) = bias {
            padded[..n].copy_from_slice(b);
        }
        if m == 0 || n == 0 || k == 0 {
            return (0..m).flat_map(|_| padded[..n].iter().copied()).collect();
        }
        let a = PackedRows::new(x, (m, k, ld), self.kp(), parallel);
        let mut y: Vec<f32> = Vec::with_capacity(m * n);
        crate::storage::huge_pages(&mut y);
        let job = Job {
            a: &a,
            b: self,
            bias: &padded,
            out: Out::new(y.as_mut_ptr(), m, n),
        };
        #[cfg(not(target_arch = "x86_64"))]
        let _ = isa; // one kernel there
        let run = |task: &Task| {
            #[cfg(target_arch = "x86_64")]
            match isa {
                // SAFETY: the caller's `isa` is one this CPU has: AMX-BF16 with the tile
                // permission granted, or AVX-512F with AVX512-BF16.
                crate::Isa::Amx => return unsafe { amx::task(&job, task) },
                // SAFETY: as above.
                crate::Isa::Avx512Bf16 => return unsafe { avx512::task(&job, task) },
                _ => {}
            }
            portable::task(&job, task);
        };
        let blocks = m.div_ceil(MR);
        match parallel {
            true => self
                .tasks(blocks, rayon::current_num_threads())
                .par_iter()
                .for_each(run),
            false => run(&Task {
                blocks: 0..blocks,
                panels: 0..self.panels(),
            }),
        }
        // SAFETY: the tasks cover every (row block, panel) pair once and each kernel writes
        // every element of its block that lies inside (m, n).
        unsafe { y.set_len(m * n) };
        y
    }
}

impl PackedBf16 {
    /// The product split into tasks of whole row blocks and an even number of panels (the AMX
    /// kernel's pairs), sized by [`TASK_B_BYTES`] and evened out.
    fn tasks(&self, blocks: usize, threads: usize) -> Vec<Task> {
        let panels = self.panels();
        let panel_bytes = self.kp().min(1024) * PANEL * 2;
        let most = (TASK_B_BYTES / panel_bytes).max(2);
        let groups = panels.div_ceil(most);
        let per_group = panels.div_ceil(groups).next_multiple_of(2);
        let row_groups = (TASKS_PER_THREAD * threads)
            .div_ceil(groups)
            .clamp(1, blocks);
        let per_row_group = blocks.div_ceil(row_groups);
        let mut tasks = Vec::new();
        for b0 in (0..blocks).step_by(per_row_group) {
            for p0 in (0..panels).step_by(per_group) {
                tasks.push(Task {
                    blocks: b0..(b0 + per_row_group).min(blocks),
                    panels: p0..(p0 + per_group).min(panels),
                });
            }
        }
        tasks
    }
}

/// `f(index, chunk)` for the `size`-long chunks of `data`, on the thread pool or in turn.
pub(crate) fn chunks_mut<T: Send>(
    data: &mut [T],
    size: usize,
    parallel: bool,
    f: impl Fn(usize, &mut [T]) + Sync + Send,
) {
    match parallel {
        true => data
            .par_chunks_mut(size)
            .enumerate()
            .for_each(|(i, c)| f(i, c)),
        false => data.chunks_mut(size).enumerate().for_each(|(i, c)| f(i, c)),
    }
}

#[cfg(test)]
mod tests;
