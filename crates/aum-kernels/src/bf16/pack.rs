//! bf16 values and the packed weight layout the kernels read.

use super::PANEL;

/// One 64-byte row of an AMX tile: 32 bf16 values, cache-line aligned.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(crate) struct Line(pub [u16; 32]);

impl Line {
    pub const ZERO: Line = Line([0; 32]);
}

/// `x` rounded to the nearest bf16, ties to even (NaN stays a quiet NaN), as its bits.
/// Branch-free, so that loops over it vectorise.
#[inline(always)]
pub(crate) fn to_bf16(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16;
    let nan = (bits >> 16) | 0x40;
    (if bits & 0x7fff_ffff > 0x7f80_0000 {
        nan
    } else {
        rounded
    }) as u16
}

/// `dst[i] = to_bf16(src[i])`, compiled for the widest vectors [`crate::Isa::detect`] allows.
pub(crate) fn round_into(dst: &mut [u16], src: &[f32]) {
    crate::isa::dispatch!(round_slice(dst, src))
}

// `dispatch!` calls a body generic over the multiply-add; rounding has none.
#[allow(clippy::extra_unused_type_parameters)]
#[inline(always)]
fn round_slice<M: crate::fastmath::Madd>(dst: &mut [u16], src: &[f32]) {
    for (d, &s) in dst.iter_mut().zip(src) {
        *d = to_bf16(s);
    }
}

/// The f32 value of the bf16 `bits` (exact).
#[inline(always)]
pub(crate) fn widen(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// A weight matrix `B` (k, n) in bf16, packed once for the kernels: panels of 16 columns; in
/// a panel, row `r` (one 64-byte line) holds the pairs `(B[2r][j], B[2r + 1][j])` for its 16
/// columns `j` — the layout AMX's `TDPBF16PS` and AVX512-BF16's `VDPBF16PS` take their right
/// operand in ("VNNI pairs"). `k` is padded with zeros to a multiple of 32 (one tile's depth),
/// `n` to whole panels. Half the memory of the f32 matrix.
#[derive(Clone)]
pub struct PackedBf16 {
    lines: Vec<Line>,
    k: usize,
    n: usize,
}

/// The shape only, as candle prints tensors (not the megabytes of a weight).
impl std::fmt::Debug for PackedBf16 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackedBf16[{}, {}; bf16]", self.k, self.n)
    }
}

impl PackedBf16 {
    /// Packs `B = Wᵀ` for a weight `w` (n, k) row-major, as a linear layer stores it.
    ///
    /// # Panics
    /// If `w` does not hold n·k floats.
    pub fn from_rows_of_transpose(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "bf16 pack: weight is not ({n}, {k})");
        Self::from_rows_of_transpose_strided(w, (n, k, k), true)
    }

    /// Packs `b` (k, n) row-major.
    ///
    /// # Panics
    /// If `b` does not hold k·n floats.
    pub fn from_rows(b: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(b.len(), k * n, "bf16 pack: matrix is not ({k}, {n})");
        Self::from_rows_strided(b, (k, n, n), true)
    }

    /// Packs `B = Wᵀ` for `w` (n, k) whose rows are `ld` floats apart, a panel per task on
    /// the thread pool when `parallel`: each of a panel's 16 rows of `w` is read in order.
    pub(crate) fn from_rows_of_transpose_strided(
        w: &[f32],
        (n, k, ld): (usize, usize, usize),
        parallel: bool,
    ) -> Self {
        Self::packed(k, n, parallel, |p, panel| {
            for c in 0..PANEL.min(n - p * PANEL) {
                let row = &w[(p * PANEL + c) * ld..][..k];
                for (line, pair) in panel.iter_mut().zip(row.chunks(2)) {
                    line.0[2 * c] = to_bf16(pair[0]);
                    line.0[2 * c + 1] = pair.get(1).map_or(0, |&v| to_bf16(v));
                }
            }
        })
    }

    /// Packs `b` (k, n) whose rows are `ld` floats apart (a block of columns of a wider
    /// matrix), a panel per task on the thread pool when `parallel`: each line interleaves two
    /// rows' 16 columns.
    pub(crate) fn from_rows_strided(
        b: &[f32],
        (k, n, ld): (usize, usize, usize),
        parallel: bool,
    ) -> Self {
        Self::packed(k, n, parallel, |p, panel| {
            let (j0, cols) = (p * PANEL, PANEL.min(n - p * PANEL));
            for (r, line) in panel.iter_mut().enumerate().take(k.div_ceil(2)) {
                let even = &b[2 * r * ld + j0..][..cols];
                for (c, &v) in even.iter().enumerate() {
                    line.0[2 * c] = to_bf16(v);
                }
                if 2 * r + 1 < k {
                    let odd = &b[(2 * r + 1) * ld + j0..][..cols];
                    for (c, &v) in odd.iter().enumerate() {
                        line.0[2 * c + 1] = to_bf16(v);
                    }
                }
            }
        })
    }

    /// A zeroed packed (k, n) matrix whose panels `fill(p, lines)` writes.
    fn packed(
        k: usize,
        n: usize,
        parallel: bool,
        fill: impl Fn(usize, &mut [Line]) + Sync + Send,
    ) -> Self {
        let per_panel = k.next_multiple_of(32) / 2;
        let panels = n.div_ceil(PANEL);
        let mut lines = vec![Line::ZERO; panels * per_panel];
        if per_panel > 0 {
            super::chunks_mut(&mut lines, per_panel, parallel, fill);
        }
        Self { lines, k, n }
    }

    /// Rows of `B` (the product's depth).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Columns of `B` (the product's outputs).
    pub fn n(&self) -> usize {
        self.n
    }

    /// The depth padded to whole tiles (a multiple of 32).
    pub(crate) fn kp(&self) -> usize {
        self.k.next_multiple_of(32)
    }

    /// Panels of 16 columns.
    pub(crate) fn panels(&self) -> usize {
        self.n.div_ceil(PANEL)
    }

    /// The first line of panel `p`; the panel is `kp / 2` lines long.
    pub(crate) fn panel(&self, p: usize) -> *const Line {
        self.lines[p * (self.kp() / 2)..].as_ptr()
    }

    /// Element (kk, j) of `B`, rounded to bf16, as f32 (for tests and checks).
    pub fn get(&self, kk: usize, j: usize) -> f32 {
        let line = &self.lines[(j / PANEL) * (self.kp() / 2) + kk / 2];
        widen(line.0[2 * (j % PANEL) + kk % 2])
    }

    /// Bytes the packed matrix holds.
    pub fn bytes(&self) -> usize {
        self.lines.len() * std::mem::size_of::<Line>()
    }
}
