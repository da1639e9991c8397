//! Branch-free `exp`, `ln`, `softplus` and `sigmoid` that LLVM vectorises, for the CPU kernels
//! of the workspace (the selective scan, the conv + SiLU, attention's softmax), and slice
//! helpers that run them with the instruction set [`crate::Isa::detect`] picks.
//!
//! libm's `expf` is an opaque call, so a loop that calls it stays scalar; and Rust's saturating
//! `f32 as i32` cast stops the vectoriser too. These versions round with the 1.5·2²³ "magic
//! number" trick and build powers of two from the bits, so every step is a plain vector
//! instruction. Every branch is written as a select on values, which LLVM turns into
//! compare-and-blend. Accuracy: about 2e-7 relative for `exp`, a few ulp for `ln`.
//!
//! The functions are generic over [`Madd`] so the same source compiles to fused multiply-adds
//! inside `#[target_feature(enable = "fma")]` callers and to plain multiply-then-add elsewhere
//! (calling `f32::mul_add` without hardware FMA falls back to a slow libm call).

/// How `a * b + c` is evaluated: fused (one rounding) or as two operations.
pub trait Madd {
    /// `a * b + c`.
    fn madd(a: f32, b: f32, c: f32) -> f32;
}

/// `a * b + c` with one rounding; only used where the CPU has FMA.
pub struct Fused;

impl Madd for Fused {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
}

/// `a * b + c` as a multiply then an add: the portable fallback.
pub struct Plain;

impl Madd for Plain {
    #[inline(always)]
    fn madd(a: f32, b: f32, c: f32) -> f32 {
        a * b + c
    }
}

/// 1.5·2²³: adding it to a float of magnitude below 2²² rounds it to an integer held in the low
/// mantissa bits.
const ROUND_MAGIC: f32 = 12_582_912.0;
/// The bit pattern of [`ROUND_MAGIC`].
const ROUND_MAGIC_BITS: i32 = 0x4B40_0000;
/// ln 2 split in two (Cody-Waite) so that `x - k·ln2` is exact for the `k` that occur.
pub const LN2_HI: f32 = 0.693_359_4;
/// The low part of ln 2: `LN2_HI + LN2_LO` is ln 2 beyond f32 precision.
pub const LN2_LO: f32 = -2.121_944_4e-4;
/// Below this `exp` returns 0: the true value is under 1.7e-38, and keeping the result a normal
/// number avoids slow denormal arithmetic in the recurrence.
const EXP_LO: f32 = -87.0;
/// Above this `exp` returns +inf (the true overflow is at 88.72).
const EXP_HI: f32 = 88.0;

/// `e^x`. NaN propagates; `x < -87` gives 0 and `x > 88` gives +inf.
#[inline(always)]
pub fn exp<M: Madd>(x: f32) -> f32 {
    // Clamp with compares rather than `f32::max`/`min`, which would turn NaN into a number.
    let xc = if x < EXP_LO { EXP_LO } else { x };
    let xc = if xc > EXP_HI { EXP_HI } else { xc };
    let shifted = M::madd(xc, std::f32::consts::LOG2_E, ROUND_MAGIC);
    let k = shifted - ROUND_MAGIC;
    let r = M::madd(k, -LN2_HI, xc);
    let r = M::madd(k, -LN2_LO, r);
    // e^r on |r| <= ln2/2 by its degree-6 Taylor polynomial: truncation error 1.3e-7 relative.
    let p = M::madd(r, 1.0 / 720.0, 1.0 / 120.0);
    let p = M::madd(p, r, 1.0 / 24.0);
    let p = M::madd(p, r, 1.0 / 6.0);
    let p = M::madd(p, r, 0.5);
    let p = M::madd(p, r, 1.0);
    let p = M::madd(p, r, 1.0);
    let ki = (shifted.to_bits() as i32).wrapping_sub(ROUND_MAGIC_BITS);
    let scale = f32::from_bits((ki.wrapping_add(127) as u32).wrapping_shl(23));
    let y = p * scale;
    let y = if x < EXP_LO { 0.0 } else { y };
    if x > EXP_HI {
        f32::INFINITY
    } else {
        y
    }
}

/// `ln x` for positive, finite, normal `x` (the only inputs [`softplus`] gives it).
#[inline(always)]
fn ln_positive<M: Madd>(x: f32) -> f32 {
    let bits = x.to_bits() as i32;
    let exponent = ((bits >> 23) & 0xff) - 127;
    let mantissa = f32::from_bits(((bits & 0x007f_ffff) | 0x3f80_0000) as u32);
    // Centre the mantissa on 1: [1, 2) -> [sqrt(1/2), sqrt(2)).
    let big = mantissa > std::f32::consts::SQRT_2;
    let m = if big { mantissa * 0.5 } else { mantissa };
    let e = (if big { exponent + 1 } else { exponent }) as f32;
    // ln m = 2·atanh(s) with s = (m-1)/(m+1), |s| <= 0.172: the series to s^9 is exact in f32.
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let q = M::madd(s2, 1.0 / 9.0, 1.0 / 7.0);
    let q = M::madd(q, s2, 1.0 / 5.0);
    let q = M::madd(q, s2, 1.0 / 3.0);
    let q = M::madd(q, s2, 1.0);
    let ln_m = 2.0 * s * q;
    M::madd(e, std::f32::consts::LN_2, ln_m)
}

/// `ln(1 + x)` for `x >= 0`, accurate for tiny `x` (Kahan's trick: the rounding of `1 + x` is
/// cancelled by dividing by the rounded `u - 1` instead of `x`).
#[inline(always)]
fn ln_1p_nonneg<M: Madd>(x: f32) -> f32 {
    let u = 1.0 + x;
    let corrected = ln_positive::<M>(u) * (x / (u - 1.0));
    if u == 1.0 {
        x
    } else {
        corrected
    }
}

/// The threshold above which softplus is the identity, as upstream.
pub const SOFTPLUS_THRESHOLD: f32 = 20.0;

/// `ln(1 + e^x)`, and `x` itself above 20 (as upstream). NaN propagates.
#[inline(always)]
pub fn softplus<M: Madd>(x: f32) -> f32 {
    let small = ln_1p_nonneg::<M>(exp::<M>(x));
    if x > SOFTPLUS_THRESHOLD {
        x
    } else {
        small
    }
}

/// `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid<M: Madd>(x: f32) -> f32 {
    1.0 / (1.0 + exp::<M>(-x))
}

/// `out[i] = sigmoid(x[i])` (about 2e-7 relative; NaN propagates), vectorised for this CPU.
///
/// # Panics
/// If `x` and `out` differ in length.
pub fn sigmoid_into(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "sigmoid_into: lengths differ");
    #[inline(always)]
    fn body<M: Madd>(x: &[f32], out: &mut [f32]) {
        for (o, &v) in out.iter_mut().zip(x) {
            *o = sigmoid::<M>(v);
        }
    }
    crate::isa::dispatch!(body(x, out))
}

/// Replaces each row of `width` values by its softmax (`e^(v - max) / sum`), vectorised for
/// this CPU. A row of all -inf becomes NaN, as in PyTorch.
///
/// # Panics
/// If `data.len()` is not a multiple of `width`.
pub fn softmax_rows(data: &mut [f32], width: usize) {
    assert!(
        width > 0 && data.len().is_multiple_of(width),
        "softmax_rows: ragged rows"
    );
    #[inline(always)]
    fn body<M: Madd>(data: &mut [f32], width: usize) {
        for row in data.chunks_exact_mut(width) {
            // Each pass is a plain map or a reduction into 16 lanes, so all three vectorise (a
            // running `sum += e` would keep the exps scalar: float adds do not reassociate).
            let max = fold_lanes(row, f32::NEG_INFINITY, |m, v| if v > m { v } else { m });
            for v in row.iter_mut() {
                *v = exp::<M>(*v - max);
            }
            let scale = 1.0 / fold_lanes(row, 0.0, |a, v| a + v);
            for v in row.iter_mut() {
                *v *= scale;
            }
        }
    }
    crate::isa::dispatch!(body(data, width))
}

/// RMSNorm of each row of `width` values of `src` into `dst`: `x / sqrt(mean(x²) + eps) · w`,
/// the sum of squares in 16 lanes (a single running sum, as candle's, is a chain of dependent
/// adds that never vectorises) and one reciprocal per row instead of a division per element.
///
/// # Panics
/// If `src` and `dst` differ in length, or it is not a multiple of `weight.len()`.
pub fn rms_norm_rows(src: &[f32], weight: &[f32], eps: f32, dst: &mut [f32]) {
    let width = weight.len();
    assert!(
        src.len() == dst.len() && width > 0 && src.len().is_multiple_of(width),
        "rms_norm_rows: ragged rows"
    );
    #[inline(always)]
    fn body<M: Madd>(src: &[f32], weight: &[f32], eps: f32, dst: &mut [f32]) {
        let width = weight.len();
        for (row, out) in src.chunks_exact(width).zip(dst.chunks_exact_mut(width)) {
            let inv = 1.0 / (squares_in_lanes::<M>(row) / width as f32 + eps).sqrt();
            for ((o, &x), &w) in out.iter_mut().zip(row).zip(weight) {
                *o = x * inv * w;
            }
        }
    }
    crate::isa::dispatch!(body(src, weight, eps, dst))
}

/// LayerNorm of each row of `width` values of `src` into `dst`, as candle's CPU kernel computes
/// it (`var = mean(x²) - mean²`, then `(x - mean) / sqrt(var + eps) · w + b`, the last step one
/// fused multiply-add where the CPU has FMA), with both sums in 16 lanes.
///
/// # Panics
/// If `src` and `dst` differ in length, it is not a multiple of `weight.len()`, or `bias`
/// differs from `weight` in length.
pub fn layer_norm_rows(src: &[f32], (weight, bias): (&[f32], &[f32]), eps: f32, dst: &mut [f32]) {
    let width = weight.len();
    assert!(
        src.len() == dst.len()
            && width > 0
            && bias.len() == width
            && src.len().is_multiple_of(width),
        "layer_norm_rows: ragged rows"
    );
    #[inline(always)]
    fn body<M: Madd>(src: &[f32], (weight, bias): (&[f32], &[f32]), eps: f32, dst: &mut [f32]) {
        let n = weight.len() as f32;
        for (row, out) in src
            .chunks_exact(weight.len())
            .zip(dst.chunks_exact_mut(weight.len()))
        {
            let mean = fold_lanes(row, 0.0, |a, v| a + v) / n;
            let var = squares_in_lanes::<M>(row) / n - mean * mean;
            let inv_std = 1.0 / (var + eps).sqrt();
            for (((o, &x), &w), &b) in out.iter_mut().zip(row).zip(weight).zip(bias) {
                *o = M::madd((x - mean) * inv_std, w, b);
            }
        }
    }
    crate::isa::dispatch!(body(src, (weight, bias), eps, dst))
}

/// The sum of squares of `values`, in 16 independent lanes.
#[inline(always)]
fn squares_in_lanes<M: Madd>(values: &[f32]) -> f32 {
    let mut lanes = [0f32; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = M::madd(v, v, *l);
        }
    }
    for (l, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *l = M::madd(v, v, *l);
    }
    lanes.into_iter().sum()
}

/// Folds `values` with `f` into 16 independent lanes, then the lanes into one value.
#[inline(always)]
fn fold_lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 16];
    let mut chunks = values.chunks_exact(16);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = f(*l, v);
        }
    }
    for (l, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *l = f(*l, v);
    }
    lanes.into_iter().fold(init, f)
}

/// `erf(x)` to about 3e-7 absolute: its Taylor series below |x| = 1 (where a relative error
/// matters), Abramowitz & Stegun 7.1.26 with this module's `exp` above. NaN propagates.
#[inline(always)]
pub fn erf<M: Madd>(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / M::madd(0.327_591_1, a, 1.0);
    let mut p = 1.061_405_4_f32;
    for c in [-1.453_152_1, 1.421_413_7, -0.284_496_74, 0.254_829_6] {
        p = M::madd(p, t, c);
    }
    let far = 1.0 - p * t * exp::<M>(-a * a);
    // 2/sqrt(pi) · Σ (-1)^n a^(2n+1) / (n! (2n+1)) for n <= 10: 1.3e-8 short at a = 1.
    let a2 = a * a;
    let mut q = 0.0_f32;
    for c in ERF_TAYLOR.iter().rev() {
        q = M::madd(q, a2, *c);
    }
    let near = std::f32::consts::FRAC_2_SQRT_PI * a * q;
    let y = if a < 1.0 { near } else { far };
    if x < 0.0 {
        -y
    } else {
        y
    }
}

/// `(-1)^n / (n! (2n + 1))`, n = 0..=10.
const ERF_TAYLOR: [f32; 11] = [
    1.0,
    -0.333_333_34,
    0.1,
    -0.023_809_524,
    0.004_629_63,
    -7.575_757e-4,
    1.068_376_1e-4,
    -1.322_751_4e-5,
    1.458_917e-6,
    -1.450_385_3e-7,
    1.312_253_3e-8,
];

/// The exact GELU, `x/2 · (1 + erf(x/√2))` (PyTorch's default, AST's), in place and
/// vectorised for this CPU; within about 1e-7 · |x| of the definition.
pub fn gelu_erf_in_place(data: &mut [f32]) {
    #[inline(always)]
    fn body<M: Madd>(data: &mut [f32]) {
        for v in data.iter_mut() {
            *v = 0.5 * *v * (1.0 + erf::<M>(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    }
    crate::isa::dispatch!(body(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(a: f32, b: f32) -> f64 {
        ((a as f64 - b as f64) / (b as f64).abs().max(1e-30)).abs()
    }

    #[test]
    fn exp_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -86.9f32;
        while x < 87.9 {
            worst = worst.max(rel(exp::<Plain>(x), x.exp()));
            worst = worst.max(rel(exp::<Fused>(x), x.exp()));
            x += 0.0137;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert_eq!(exp::<Plain>(-200.0), 0.0);
        assert_eq!(exp::<Plain>(200.0), f32::INFINITY);
        assert!(exp::<Plain>(f32::NAN).is_nan());
        assert_eq!(exp::<Plain>(0.0), 1.0);
    }

    #[test]
    fn softplus_matches_libm() {
        let mut worst = 0.0f64;
        let mut x = -80.0f32;
        while x < 30.0 {
            let want = if x > 20.0 { x } else { x.exp().ln_1p() };
            worst = worst.max(rel(softplus::<Plain>(x), want));
            x += 0.0091;
        }
        assert!(worst < 1e-6, "worst relative error {worst}");
        assert!(softplus::<Plain>(f32::NAN).is_nan());
        assert_eq!(softplus::<Plain>(f32::INFINITY), f32::INFINITY);
    }

    #[test]
    fn sigmoid_into_matches_libm() {
        let x: Vec<f32> = (0..1000).map(|i| (i as f32 - 500.0) * 0.037).collect();
        let mut out = vec![0.0; x.len()];
        sigmoid_into(&x, &mut out);
        for (&v, &s) in x.iter().zip(&out) {
            let want = 1.0 / (1.0 + (-v as f64).exp());
            assert!(
                ((s as f64 - want) / want).abs() < 1e-6,
                "sigmoid({v}) = {s}, want {want}"
            );
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_match_the_definition() {
        let mut rows: Vec<f32> = (0..3 * 37)
            .map(|i| ((i * 7919) % 101) as f32 * 0.13 - 6.0)
            .collect();
        let orig = rows.clone();
        softmax_rows(&mut rows, 37);
        for (row, src) in rows.chunks(37).zip(orig.chunks(37)) {
            let max = src.iter().cloned().fold(f32::MIN, f32::max) as f64;
            let sum: f64 = src.iter().map(|&v| (v as f64 - max).exp()).sum();
            for (&p, &v) in row.iter().zip(src) {
                let want = (v as f64 - max).exp() / sum;
                assert!(
                    (p as f64 - want).abs() < 1e-6 * want.max(1e-3),
                    "{p} vs {want}"
                );
            }
        }
    }

    #[test]
    fn erf_and_gelu_match_the_definition() {
        // erf in f64: its Taylor series for |x| <= 3, 1 - erfc by the continued fraction beyond.
        let erf64 = |x: f64| -> f64 {
            let a = x.abs();
            let y = if a <= 3.0 {
                let (mut term, mut sum) = (a, a);
                for n in 1..80 {
                    term *= -a * a / n as f64;
                    sum += term / (2 * n + 1) as f64;
                }
                sum * 2.0 / std::f64::consts::PI.sqrt()
            } else {
                let mut k = a;
                for n in (1..60).rev() {
                    k = a + (n as f64 / 2.0) / k;
                }
                1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / k
            };
            y.copysign(x)
        };
        let xs: Vec<f32> = (0..2001).map(|i| (i as f32 - 1000.0) * 0.006).collect();
        for &x in &xs {
            let got = erf::<Plain>(x) as f64;
            assert!(
                (got - erf64(x as f64)).abs() < 2.5e-7,
                "erf({x}) = {got}, want {}",
                erf64(x as f64)
            );
        }
        let mut g = xs.clone();
        gelu_erf_in_place(&mut g);
        for (&x, &y) in xs.iter().zip(&g) {
            let want = 0.5 * x as f64 * (1.0 + erf64(x as f64 / std::f64::consts::SQRT_2));
            assert!(
                (y as f64 - want).abs() < 3e-7 * (1.0 + x.abs() as f64),
                "gelu({x}) = {y}"
            );
        }
        assert!(erf::<Plain>(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_saturates() {
        assert_eq!(sigmoid::<Plain>(-200.0), 0.0);
        assert_eq!(sigmoid::<Plain>(200.0), 1.0);
        assert!((sigmoid::<Plain>(0.3) - 1.0 / (1.0 + (-0.3f32).exp())).abs() < 1e-7);
    }
}
