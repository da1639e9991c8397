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
#[derive(Clone, Debug)]
pub struct PackedBf16 {
    lines: Vec<Line>,
    k: usize,
    n: usize,
}

impl PackedBf16 {
    /// Packs `B = Wᵀ` for a weight `w` (n, k) row-major, as a linear layer stores it.
    ///
    /// # Panics
    /// If `w` does not hold n·k floats.
    pub fn from_rows_of_transpose(w: &[f32], n: usize, k: usize) -> Self {
        assert_eq!(w.len(), n * k, "bf16 pack: weight is not ({n}, {k})");
        Self::from_fn(k, n, true, |kk, j| w[j * k + kk])
    }

    /// Packs `b` (k, n) row-major.
    ///
    /// # Panics
    /// If `b` does not hold k·n floats.
    pub fn from_rows(b: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(b.len(), k * n, "bf16 pack: matrix is not ({k}, {n})");
        Self::from_fn(k, n, true, |kk, j| b[kk * n + j])
    }

    /// Packs the (k, n) matrix whose element (kk, j) is `get(kk, j)`, a panel per task on the
    /// thread pool when `parallel`.
    pub(crate) fn from_fn(
        k: usize,
        n: usize,
        parallel: bool,
        get: impl Fn(usize, usize) -> f32 + Sync + Send,
    ) -> Self {
        let per_panel = k.next_multiple_of(32) / 2;
        let panels = n.div_ceil(PANEL);
        let mut lines = vec![Line::ZERO; panels * per_panel];
        if per_panel > 0 {
            super::chunks_mut(&mut lines, per_panel, parallel, |p, panel| {
                for c in 0..PANEL.min(n - p * PANEL) {
                    let j = p * PANEL + c;
                    for kk in 0..k {
                        panel[kk / 2].0[2 * c + kk % 2] = to_bf16(get(kk, j));
                    }
                }
            });
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
