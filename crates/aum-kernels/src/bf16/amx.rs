//! The AMX-BF16 kernel: each step multiplies a 32-row block of `x` by two panels of `B`, 32
//! deep, as four `TDPBF16PS` (16x16 f32 += 16x32 bf16 · 32x16 bf16), the four accumulator tiles
//! staying in tile registers across the whole depth. Stable Rust has no AMX intrinsics, hence
//! `asm!`; the tile registers are never touched by compiled code, so they carry state from one
//! `asm!` block to the next within a task.

use std::arch::asm;
use std::ops::Range;

use super::{Job, Task, MR, PANEL};

/// Whether this CPU has AMX-TILE and AMX-BF16 (CPUID leaf 7, EDX bits 24 and 22) and Linux
/// grants the process the tile data state, which it hands out only on request (XFD,
/// `arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`, for every thread of the process).
/// Elsewhere, or when refused, the kernels fall back to AVX512-BF16.
pub(crate) fn available() -> bool {
    #[cfg(target_os = "linux")]
    {
        let leaf7 = std::arch::x86_64::__cpuid_count(7, 0);
        if leaf7.edx & (1 << 24) == 0 || leaf7.edx & (1 << 22) == 0 {
            return false;
        }
        const ARCH_REQ_XCOMP_PERM: libc::c_long = 0x1023;
        const XFEATURE_XTILEDATA: libc::c_long = 18;
        // SAFETY: this arch_prctl request only asks for a permission; it reads no memory.
        let granted = unsafe {
            libc::syscall(
                libc::SYS_arch_prctl,
                ARCH_REQ_XCOMP_PERM,
                XFEATURE_XTILEDATA,
            )
        };
        granted == 0
    }
    #[cfg(not(target_os = "linux"))]
    false
}

/// The 64-byte tile configuration: palette 1, all eight tiles 16 rows of 64 bytes.
#[repr(C, align(64))]
struct TileConfig([u8; 64]);

impl TileConfig {
    fn full() -> Self {
        let mut c = [0u8; 64];
        c[0] = 1;
        for t in 0..8 {
            c[16 + 2 * t] = 64;
            c[48 + t] = 16;
        }
        Self(c)
    }
}

/// Depth steps (32 each) per pass over a task's blocks: a 32-row block's slice of `x` is then
/// at most 64 KiB, which stays cached while the block meets each of the task's panels.
const MAX_STEPS: usize = 32;

/// A 32x32 f32 block, for output blocks that overhang the output's edge.
#[repr(C, align(64))]
struct Scratch([f32; MR * 2 * PANEL]);

/// Computes the task's output blocks.
///
/// # Safety
/// The CPU must have AMX-BF16 with the tile permission granted ([`available`]).
pub(crate) unsafe fn task(job: &Job<'_>, task: &Task) {
    let cfg = TileConfig::full();
    // SAFETY: (all asm below) the caller checked AMX; the configuration is a valid palette 1.
    unsafe { asm!("ldtilecfg [{}]", in(reg) cfg.0.as_ptr(), options(nostack, readonly)) };
    let steps = job.b.kp() / 32;
    let passes = steps.div_ceil(MAX_STEPS);
    let per_pass = steps.div_ceil(passes);
    let mut scratch = Scratch([0.0; MR * 2 * PANEL]);
    for s0 in (0..steps).step_by(per_pass) {
        for blk in task.blocks.clone() {
            for p in task.panels.clone().step_by(2) {
                let np = (task.panels.end - p).min(2);
                // SAFETY: as this function's.
                unsafe {
                    block(
                        job,
                        blk,
                        p,
                        np,
                        s0..(s0 + per_pass).min(steps),
                        &mut scratch,
                    )
                };
            }
        }
    }
    unsafe { asm!("tilerelease", options(nostack, nomem)) };
}

/// Adds the depth `steps` of row block `blk` times panels `p .. p + np` into the output block;
/// the first pass starts from the bias.
unsafe fn block(
    job: &Job<'_>,
    blk: usize,
    p: usize,
    np: usize,
    steps: Range<usize>,
    scratch: &mut Scratch,
) {
    let out = job.out;
    let (i0, j0) = (blk * MR, p * PANEL);
    let rows = (out.m - i0).min(MR);
    let cols = (out.n - j0).min(np * PANEL);
    let full = rows == MR && cols == np * PANEL;
    let shape = Shape {
        two_panels: np == 2,
        two_halves: rows > 16,
    };
    // The accumulators' home: the output itself, or the scratch block at the edges.
    let (c, ldc) = match full {
        true => (out.at(i0, j0), out.n),
        false => (scratch.0.as_mut_ptr(), 2 * PANEL),
    };
    // SAFETY: (this block) `c` has 32 rows of ldc floats from which the tiles are read and
    // written; the packed rows have `MR` rows per block and the panels kp / 2 lines each.
    unsafe {
        let tiles = [c, c.add(PANEL), c.add(16 * ldc), c.add(16 * ldc + PANEL)];
        if steps.start == 0 {
            // Stride 0: each of a tile's 16 rows is the bias.
            let b = job.bias.as_ptr().add(j0);
            load_c([b, b.add(PANEL), b, b.add(PANEL)], 0, shape);
        } else {
            if !full {
                for r in 0..rows {
                    std::ptr::copy_nonoverlapping(out.at(i0 + r, j0), c.add(r * ldc), cols);
                }
            }
            load_c(tiles.map(|t| t.cast_const()), ldc * 4, shape);
        }
        let lda = job.a.per_row * 64;
        let a0 = job.a.row(i0).add(steps.start).cast::<u8>();
        let a1 = job.a.row(i0 + 16).add(steps.start).cast::<u8>();
        let b0 = job.b.panel(p).add(steps.start * 16).cast::<u8>();
        let n = steps.len();
        let b1 = job.b.panel(p + np - 1).add(steps.start * 16).cast::<u8>();
        match (shape.two_halves, shape.two_panels) {
            (true, true) => dot2(a0, a1, lda, b0, b1, n),
            (true, false) => dot1(a0, a1, lda, b0, n),
            // The last block of rows, 16 or fewer: half the products.
            (false, true) => dot2_half(a0, lda, b0, b1, n),
            (false, false) => dot1_half(a0, lda, b0, n),
        }
        store_c(tiles, ldc * 4, shape);
        if !full {
            for r in 0..rows {
                std::ptr::copy_nonoverlapping(c.add(r * ldc), out.at(i0 + r, j0), cols);
            }
        }
    }
}

/// Which accumulator tiles a block uses: 0 and 1 hold rows 0-15 of panels 0 and 1, 2 and 3
/// rows 16-31; a block of one panel leaves out 1 and 3, one of 16 rows or fewer 2 and 3.
#[derive(Clone, Copy)]
struct Shape {
    two_panels: bool,
    two_halves: bool,
}

/// Loads the shape's accumulator tiles from `c` (tile t from `c[t]`), rows `stride` bytes
/// apart.
unsafe fn load_c(c: [*const f32; 4], stride: usize, shape: Shape) {
    unsafe {
        load_tile::<0>(c[0], stride);
        if shape.two_panels {
            load_tile::<1>(c[1], stride);
        }
        if shape.two_halves {
            load_tile::<2>(c[2], stride);
            if shape.two_panels {
                load_tile::<3>(c[3], stride);
            }
        }
    }
}

/// Stores the accumulator tiles [`load_c`] loads.
unsafe fn store_c(c: [*mut f32; 4], stride: usize, shape: Shape) {
    unsafe {
        store_tile::<0>(c[0], stride);
        if shape.two_panels {
            store_tile::<1>(c[1], stride);
        }
        if shape.two_halves {
            store_tile::<2>(c[2], stride);
            if shape.two_panels {
                store_tile::<3>(c[3], stride);
            }
        }
    }
}

unsafe fn load_tile<const T: u8>(p: *const f32, stride: usize) {
    unsafe {
        asm!(
            "tileloadd tmm{t}, [{p} + {s}*1]",
            t = const T, p = in(reg) p, s = in(reg) stride,
            options(nostack, readonly)
        );
    }
}

unsafe fn store_tile<const T: u8>(p: *mut f32, stride: usize) {
    unsafe {
        asm!(
            "tilestored [{p} + {s}*1], tmm{t}",
            t = const T, p = in(reg) p, s = in(reg) stride,
            options(nostack)
        );
    }
}

/// `n` (at least 1) depth steps of rows `a0` (0-15) and `a1` (16-31), `lda` bytes apart,
/// times panels `b0` and `b1` (16 lines of 64 bytes per step) into tiles 0-3. Software
/// pipelined: each operand tile is reloaded for the next step as soon as the current step's
/// last product that reads it is issued, so the loads overlap the products (tile registers
/// are not renamed).
unsafe fn dot2(a0: *const u8, a1: *const u8, lda: usize, b0: *const u8, b1: *const u8, n: usize) {
    unsafe {
        asm!(
            "tileloadd tmm4, [{a0} + {lda}*1]",
            "tileloadd tmm6, [{b0} + {ldb}*1]",
            "tileloadd tmm7, [{b1} + {ldb}*1]",
            "tileloadd tmm5, [{a1} + {lda}*1]",
            "dec {n}",
            "jz 3f",
            "2:",
            "add {a0}, 64",
            "add {a1}, 64",
            "add {b0}, 1024",
            "add {b1}, 1024",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tileloadd tmm4, [{a0} + {lda}*1]",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tileloadd tmm6, [{b0} + {ldb}*1]",
            "tdpbf16ps tmm3, tmm5, tmm7",
            "tileloadd tmm5, [{a1} + {lda}*1]",
            "tileloadd tmm7, [{b1} + {ldb}*1]",
            "dec {n}",
            "jnz 2b",
            "3:",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "tdpbf16ps tmm3, tmm5, tmm7",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b0 = inout(reg) b0 => _,
            b1 = inout(reg) b1 => _,
            n = inout(reg) n => _,
            lda = in(reg) lda,
            ldb = in(reg) 64usize,
            options(nostack, readonly)
        );
    }
}

/// [`dot2`] with one panel, into tiles 0 and 2.
unsafe fn dot1(a0: *const u8, a1: *const u8, lda: usize, b0: *const u8, n: usize) {
    unsafe {
        asm!(
            "2:",
            "tileloadd tmm4, [{a0} + {lda}*1]",
            "tileloadd tmm6, [{b0} + {ldb}*1]",
            "tileloadd tmm5, [{a1} + {lda}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm2, tmm5, tmm6",
            "add {a0}, 64",
            "add {a1}, 64",
            "add {b0}, 1024",
            "dec {n}",
            "jnz 2b",
            a0 = inout(reg) a0 => _,
            a1 = inout(reg) a1 => _,
            b0 = inout(reg) b0 => _,
            n = inout(reg) n => _,
            lda = in(reg) lda,
            ldb = in(reg) 64usize,
            options(nostack, readonly)
        );
    }
}

/// [`dot2`] for rows 0-15 alone, into tiles 0 and 1.
unsafe fn dot2_half(a0: *const u8, lda: usize, b0: *const u8, b1: *const u8, n: usize) {
    unsafe {
        asm!(
            "2:",
            "tileloadd tmm4, [{a0} + {lda}*1]",
            "tileloadd tmm6, [{b0} + {ldb}*1]",
            "tileloadd tmm7, [{b1} + {ldb}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "tdpbf16ps tmm1, tmm4, tmm7",
            "add {a0}, 64",
            "add {b0}, 1024",
            "add {b1}, 1024",
            "dec {n}",
            "jnz 2b",
            a0 = inout(reg) a0 => _,
            b0 = inout(reg) b0 => _,
            b1 = inout(reg) b1 => _,
            n = inout(reg) n => _,
            lda = in(reg) lda,
            ldb = in(reg) 64usize,
            options(nostack, readonly)
        );
    }
}

/// [`dot1`] for rows 0-15 alone, into tile 0.
unsafe fn dot1_half(a0: *const u8, lda: usize, b0: *const u8, n: usize) {
    unsafe {
        asm!(
            "2:",
            "tileloadd tmm4, [{a0} + {lda}*1]",
            "tileloadd tmm6, [{b0} + {ldb}*1]",
            "tdpbf16ps tmm0, tmm4, tmm6",
            "add {a0}, 64",
            "add {b0}, 1024",
            "dec {n}",
            "jnz 2b",
            a0 = inout(reg) a0 => _,
            b0 = inout(reg) b0 => _,
            n = inout(reg) n => _,
            lda = in(reg) lda,
            ldb = in(reg) 64usize,
            options(nostack, readonly)
        );
    }
}
