//! Interpolation along one axis of a grid, as `torch.nn.functional.interpolate(mode="bilinear",
//! align_corners=False, antialias=True)` computes it (separable, so one axis at a time). Used to
//! resample positional embeddings to another patch grid.

/// The `out x inp` row-major interpolation matrix of torch's antialiased bilinear resize along one axis:
/// a triangle filter widened by the scale when shrinking, normalised per output sample.
pub fn bilinear_matrix(inp: usize, out: usize) -> Vec<f32> {
    let scale = inp as f64 / out as f64;
    let (support, inv) = if scale >= 1.0 {
        (scale, 1.0 / scale)
    } else {
        (1.0, 1.0)
    };
    let mut w = vec![0f32; out * inp];
    for i in 0..out {
        let center = scale * (i as f64 + 0.5);
        let lo = ((center - support + 0.5) as i64).max(0) as usize;
        let hi = ((center + support + 0.5) as i64)
            .min(inp as i64)
            .max(lo as i64) as usize;
        let taps: Vec<f64> = (lo..hi)
            .map(|j| (1.0 - ((j as f64 - center + 0.5) * inv).abs()).max(0.0))
            .collect();
        let total: f64 = taps.iter().sum();
        for (j, t) in (lo..hi).zip(&taps) {
            w[i * inp + j] = if total > 0.0 { (t / total) as f32 } else { 0.0 };
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halving_uses_a_wide_triangle_and_doubling_interpolates() {
        // Shrinking by 2 with antialiasing: a triangle of half-width 2 input samples, renormalised
        // at the border.
        let w = bilinear_matrix(4, 2);
        let expect = [3.0 / 7.0, 3.0 / 7.0, 1.0 / 7.0, 0.0];
        assert!(
            w[..4].iter().zip(expect).all(|(a, b)| (a - b).abs() < 1e-7),
            "{w:?}"
        );
        // Upsampling is plain bilinear with half-pixel centres: output 1 of 4 from 2 inputs.
        let w = bilinear_matrix(2, 4);
        assert_eq!(&w[2..4], &[0.75, 0.25]);
        assert!(w
            .chunks(2)
            .all(|r| (r.iter().sum::<f32>() - 1.0).abs() < 1e-6));
    }
}
