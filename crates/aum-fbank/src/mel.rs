//! Kaldi's triangular mel filter bank (`get_mel_banks` with `vtln_warp = 1`), computed in f32 the
//! way torchaudio computes it, and stored sparsely: each filter covers only a few FFT bins.

use aum_core::{Error, Result};

/// Kaldi's mel scale, `1127 ln(1 + f / 700)`.
pub fn mel_scale(freq: f64) -> f64 {
    1127.0 * (1.0 + freq / 700.0).ln()
}

/// One triangular filter: `weights[i]` applies to FFT bin `start + i`.
#[derive(Debug, Clone)]
pub struct MelFilter {
    /// First FFT bin the filter covers.
    pub start: usize,
    /// Triangle weights of bins `start..start + weights.len()`.
    pub weights: Vec<f32>,
}

/// Builds `num_bins` filters over the `padded_window / 2` lowest FFT bins (the Nyquist bin gets
/// no weight, as in Kaldi). `high_freq <= 0` means `nyquist + high_freq`.
pub fn mel_banks(
    num_bins: usize,
    padded_window: usize,
    sample_rate: f64,
    low_freq: f64,
    high_freq: f64,
) -> Result<Vec<MelFilter>> {
    let nyquist = 0.5 * sample_rate;
    let high = if high_freq <= 0.0 {
        high_freq + nyquist
    } else {
        high_freq
    };
    if num_bins < 3 || !(0.0..nyquist).contains(&low_freq) || high <= low_freq || high > nyquist {
        return Err(Error::InvalidInput(format!(
            "mel bank needs num_mel_bins >= 3 and 0 <= low_freq ({low_freq}) < high_freq ({high}) <= Nyquist ({nyquist})"
        )));
    }
    let num_fft_bins = padded_window / 2;
    let bin_width = (sample_rate / padded_window as f64) as f32;
    let mel_low = mel_scale(low_freq) as f32;
    let delta = ((mel_scale(high) - mel_scale(low_freq)) / (num_bins as f64 + 1.0)) as f32;
    let fft_mel: Vec<f32> = (0..num_fft_bins)
        .map(|k| 1127.0f32 * (1.0f32 + bin_width * k as f32 / 700.0).ln())
        .collect();
    let mut filters = Vec::with_capacity(num_bins);
    for b in 0..num_bins {
        let left = mel_low + b as f32 * delta;
        let center = mel_low + (b as f32 + 1.0) * delta;
        let right = mel_low + (b as f32 + 2.0) * delta;
        let w: Vec<f32> = fft_mel
            .iter()
            .map(|&m| {
                let up = (m - left) / (center - left);
                let down = (right - m) / (right - center);
                up.min(down).max(0.0)
            })
            .collect();
        let start = w.iter().position(|&x| x > 0.0).unwrap_or(0);
        let end = w.iter().rposition(|&x| x > 0.0).map_or(start, |e| e + 1);
        filters.push(MelFilter {
            start,
            weights: w[start..end].to_vec(),
        });
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_triangles_inside_the_band() {
        let f = mel_banks(128, 512, 16000.0, 20.0, 0.0).unwrap();
        assert_eq!(f.len(), 128);
        for filt in &f {
            assert!(filt.weights.iter().all(|&w| w > 0.0 && w <= 1.0));
            assert!(filt.start + filt.weights.len() <= 256);
        }
        // Lowest filter starts above 20 Hz (bin 0 is 0 Hz, bin 1 is 31.25 Hz).
        assert!(f[0].start >= 1);
        assert!(mel_banks(128, 512, 16000.0, 9000.0, 0.0).is_err());
    }
}
