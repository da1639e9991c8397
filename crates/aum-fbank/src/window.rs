//! Analysis windows as torchaudio.compliance.kaldi defines them (all symmetric, i.e.
//! `periodic=False`: the denominator is `len - 1`).

use std::f64::consts::PI;

/// The window applied to each frame before the FFT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WindowType {
    /// `0.5 - 0.5 cos(2 pi n / (N - 1))`; AuM and AST use it.
    Hanning,
    /// Kaldi's default: the Hann window raised to the power 0.85.
    #[default]
    Povey,
    /// `0.54 - 0.46 cos(2 pi n / (N - 1))`.
    Hamming,
    /// All ones.
    Rectangular,
    /// `c - 0.5 cos(a n) + (0.5 - c) cos(2 a n)` with `a = 2 pi / (N - 1)` and `c = blackman_coeff`.
    Blackman,
}

impl std::str::FromStr for WindowType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "hanning" | "hann" => Self::Hanning,
            "povey" => Self::Povey,
            "hamming" => Self::Hamming,
            "rectangular" => Self::Rectangular,
            "blackman" => Self::Blackman,
            _ => {
                return Err(format!(
                "unknown window `{s}` (expected hanning, povey, hamming, rectangular or blackman)"
            ))
            }
        })
    }
}

/// The `len` window coefficients.
pub fn window(kind: WindowType, len: usize, blackman_coeff: f64) -> Vec<f32> {
    let denom = len.saturating_sub(1).max(1) as f64;
    let hann = |n: usize| 0.5 - 0.5 * (2.0 * PI * n as f64 / denom).cos();
    (0..len)
        .map(|n| {
            let w = match kind {
                WindowType::Hanning => hann(n),
                WindowType::Povey => hann(n).powf(0.85),
                WindowType::Hamming => 0.54 - 0.46 * (2.0 * PI * n as f64 / denom).cos(),
                WindowType::Rectangular => 1.0,
                WindowType::Blackman => {
                    let a = 2.0 * PI / denom;
                    blackman_coeff - 0.5 * (a * n as f64).cos()
                        + (0.5 - blackman_coeff) * (2.0 * a * n as f64).cos()
                }
            };
            w as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symmetric_hann_has_zero_ends_and_unit_peak() {
        let w = window(WindowType::Hanning, 401, 0.42);
        assert_eq!(w[0], 0.0);
        assert!(w[400].abs() < 1e-7);
        assert!((w[200] - 1.0).abs() < 1e-7);
        let p = window(WindowType::Povey, 401, 0.42);
        assert!((p[100] - w[100].powf(0.85)).abs() < 1e-6);
    }
}
