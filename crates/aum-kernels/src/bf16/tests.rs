use super::*;
use crate::Isa;

/// A deterministic pseudo-random stream in [-1, 1) (xorshift), so failures reproduce.
fn stream(seed: u64, len: usize) -> Vec<f32> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

/// Every kernel this CPU can run.
fn kernels() -> Vec<Isa> {
    let best = Isa::detect();
    #[cfg(target_arch = "x86_64")]
    {
        [Isa::Amx, Isa::Avx512Bf16, Isa::Portable]
            .into_iter()
            .filter(|&i| i <= best)
            .collect()
    }
    #[cfg(not(target_arch = "x86_64"))]
    vec![best]
}

#[test]
fn bf16_rounding_is_to_nearest_even() {
    assert_eq!(to_bf16(1.0), 0x3f80);
    // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even 1.
    assert_eq!(to_bf16(1.0 + 1.0 / 256.0), 0x3f80);
    assert_eq!(to_bf16(1.0 + 3.0 / 256.0), 0x3f82);
    assert_eq!(widen(to_bf16(-2.5)), -2.5);
    assert!(widen(to_bf16(f32::NAN)).is_nan());
    assert_eq!(widen(to_bf16(f32::INFINITY)), f32::INFINITY);
    // The largest f32 rounds up to infinity, as IEEE rounding does.
    assert_eq!(widen(to_bf16(f32::MAX)), f32::INFINITY);
}

/// Each output against an f64 product of the unrounded inputs, within what rounding the
/// inputs to bf16 allows: |Σ ab - Σ bf(a)bf(b)| <= Σ|ab| (2u + u²) with u = 2^-8, plus the f32
/// sums' own error (k·2^-24 Σ|ab|, generously).
#[test]
fn products_stay_within_the_bf16_rounding_bound_on_ragged_shapes() {
    let shapes = [
        (1, 1, 1),
        (1, 768, 10),
        (15, 17, 33),
        (17, 48, 1536),
        (33, 1536, 80),
        (513, 768, 96),
        (64, 1025, 17),
        (1025, 64, 31),
    ];
    for (seed, &(m, k, n)) in shapes.iter().enumerate() {
        let x = stream(seed as u64, m * k);
        let w = stream(100 + seed as u64, n * k);
        let bias = stream(200 + seed as u64, n);
        let packed = PackedBf16::from_rows_of_transpose(&w, n, k);
        assert_eq!((packed.k(), packed.n()), (k, n));
        for isa in kernels() {
            let y = packed.matmul_on(isa, &x, m, Some(&bias));
            assert_eq!(y.len(), m * n);
            for i in 0..m {
                for j in 0..n {
                    let (mut exact, mut mag) = (bias[j] as f64, 0f64);
                    for kk in 0..k {
                        let p = x[i * k + kk] as f64 * w[j * k + kk] as f64;
                        exact += p;
                        mag += p.abs();
                    }
                    let u = 2f64.powi(-8);
                    let bound = mag * (2.0 * u + u * u)
                        + (k as f64 + 2.0) * 2f64.powi(-23) * (mag + bias[j].abs() as f64);
                    let err = (y[i * n + j] as f64 - exact).abs();
                    assert!(
                        err <= bound,
                        "{isa:?} ({m}, {k}, {n}) at ({i}, {j}): error {err} > bound {bound}"
                    );
                }
            }
        }
    }
}

/// The kernels agree to f32 summation order: their products of bf16 values are exact.
#[test]
fn kernels_agree_and_both_packings_match() {
    let (m, k, n) = (70, 300, 50);
    let x = stream(7, m * k);
    let b = stream(8, k * n);
    let packed = PackedBf16::from_rows(&b, k, n);
    let mut transposed = vec![0f32; n * k];
    for kk in 0..k {
        for j in 0..n {
            transposed[j * k + kk] = b[kk * n + j];
        }
    }
    let other = PackedBf16::from_rows_of_transpose(&transposed, n, k);
    for kk in 0..k {
        for j in 0..n {
            assert_eq!(packed.get(kk, j), other.get(kk, j));
            assert_eq!(packed.get(kk, j), widen(to_bf16(b[kk * n + j])));
        }
    }
    let want = packed.matmul_on(Isa::Portable, &x, m, None);
    for isa in kernels() {
        let got = other.matmul_on(isa, &x, m, None);
        let diff = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(diff < 1e-3, "{isa:?}: max diff {diff}");
    }
}

#[test]
fn empty_depth_gives_the_bias() {
    let packed = PackedBf16::from_rows(&[], 0, 3);
    assert_eq!(
        packed.matmul(&[], 2, Some(&[1.0, 2.0, 3.0])),
        [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]
    );
    assert_eq!(packed.matmul(&[], 0, None), Vec::<f32>::new());
}

#[test]
fn packed_weights_take_half_the_memory() {
    let packed = PackedBf16::from_rows(&vec![0.5; 768 * 1536], 768, 1536);
    assert_eq!(packed.bytes(), 768 * 1536 * 2);
}
