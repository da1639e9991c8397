//! A natural logarithm that LLVM vectorises (libm's `logf` is an opaque scalar call; the
//! fbank's time is in docs/benchmarks.md). Cephes' `logf` polynomial: about 1 ulp for the positive normal inputs
//! the fbank produces (it floors energies at `f32::EPSILON`).

const SQRT_HALF: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// `ln(x)` for positive, normal, finite `x`.
#[inline(always)]
pub fn ln(x: f32) -> f32 {
    let bits = x.to_bits();
    // x = m * 2^e with m in [0.5, 1).
    let mut e = ((bits >> 23) & 0xff) as i32 - 126;
    let m = f32::from_bits((bits & 0x007f_ffff) | 0x3f00_0000);
    // Shift m to [sqrt(1/2), sqrt(2)) so the polynomial argument is small.
    let small = m < SQRT_HALF;
    e -= i32::from(small);
    let f = if small { m + m - 1.0 } else { m - 1.0 };
    let ef = e as f32;
    let z = f * f;
    let mut y = 7.037_683_6e-2_f32;
    for c in [
        -1.151_461e-1,
        1.167_699_9e-1,
        -1.242_014_1e-1,
        1.424_932_3e-1,
        -1.666_805_8e-1,
        2.000_071_4e-1,
        -2.499_999_4e-1,
        3.333_333e-1,
    ] {
        y = y * f + c;
    }
    y *= f * z;
    y += -2.121_944_4e-4 * ef;
    y += -0.5 * z;
    f + y + 0.693_359_4 * ef
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_libm_over_the_fbank_range() {
        let mut worst = 0f64;
        let mut x = f32::EPSILON;
        while x < 1e9 {
            let err = (ln(x) as f64 - (x as f64).ln()).abs();
            worst = worst.max(err);
            x *= 1.000_37;
        }
        assert!(worst < 2e-6, "max abs error {worst}");
        assert_eq!(ln(1.0), 0.0);
    }
}
