//! The official recipes' augmentations (`src/dataloader.py` L94-228 at
//! kaistmm/Audio-Mamba-AuM@b0eb85d595c4), seeded: waveform mixup, SpecAugment
//! masks, Speech Commands noise and time roll, and balanced-sampling weights.

use aum_core::{Result, Waveform};
use aum_fbank::Features;

use crate::rng::Rng;

/// Which augmentations a training batch gets.
#[derive(Debug, Clone, Copy, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct Augment {
    /// Probability that a clip is mixed with a random other clip.
    pub mixup: f64,
    /// Maximum frequency-mask width (bins), 0 for none.
    pub freqm: usize,
    /// Maximum time-mask width (frames), 0 for none.
    pub timem: usize,
    /// Speech Commands' additive noise and random time roll, after normalisation.
    pub noise: bool,
}

impl Augment {
    /// No augmentation (the default): for evaluation.
    pub fn none() -> Self {
        Self::default()
    }
}

fn centred(x: &[f32]) -> Vec<f32> {
    let mean = (x.iter().map(|&v| v as f64).sum::<f64>() / x.len().max(1) as f64) as f32;
    x.iter().map(|v| v - mean).collect()
}

/// Waveform mixup as the AuM loader does it: both clips mean-centred (channel 0), the second
/// zero-padded or cropped to the first's length, `lambda * w1 + (1 - lambda) * w2`, re-centred.
pub fn mix_waves(w1: &Waveform, w2: &Waveform, lambda: f32) -> Result<Waveform> {
    let a = centred(&w1.channels()[0]);
    let mut b = centred(&w2.channels()[0]);
    b.resize(a.len(), 0.0);
    let mixed: Vec<f32> = a
        .iter()
        .zip(&b)
        .map(|(x, y)| lambda * x + (1.0 - lambda) * y)
        .collect();
    Waveform::mono(centred(&mixed), w1.sample_rate())
}

/// One mask along an axis of `size`, torchaudio's `mask_along_axis`: width = floor(U * param),
/// start = floor(U * (size - width_real)). Returns `[start, end)`.
fn mask_range(size: usize, param: usize, rng: &mut Rng) -> (usize, usize) {
    let value = rng.uniform() * param as f64;
    let min_value = rng.uniform() * (size as f64 - value);
    let start = (min_value as usize).min(size);
    let end = (start + value as usize).min(size);
    (start, end)
}

/// SpecAugment on a `(frames, bins)` matrix: one frequency mask of width < `freqm`, then one
/// time mask of width < `timem`, filled with 0 (applied before normalisation, as upstream).
pub fn spec_masks(f: &mut Features, freqm: usize, timem: usize, rng: &mut Rng) {
    if freqm > 0 {
        let (s, e) = mask_range(f.bins, freqm, rng);
        for t in 0..f.frames {
            f.data[t * f.bins + s..t * f.bins + e].fill(0.0);
        }
    }
    if timem > 0 {
        let (s, e) = mask_range(f.frames, timem, rng);
        f.data[s * f.bins..e * f.bins].fill(0.0);
    }
}

/// Speech Commands noise: `x += U[0,1)^{T x F} * U[0,1) / 10`, then a roll along time by
/// `randint(-10, 10)` frames (positive moves frames later, as `torch.roll`).
pub fn noise_and_roll(f: &mut Features, rng: &mut Rng) {
    let scale = rng.uniform() as f32 / 10.0;
    for v in &mut f.data {
        *v += rng.uniform() as f32 * scale;
    }
    let shift = rng.range(-10, 10);
    let t = f.frames as i64;
    if t == 0 {
        return;
    }
    let k = shift.rem_euclid(t) as usize * f.bins;
    f.data.rotate_right(k);
}

/// Balanced-sampling weight per clip: the sum over its labels of `1000 / (count + 0.01)`
/// (`gen_weight_file.py`), so rare classes are drawn as often as common ones.
pub fn balanced_weights(targets: &[Vec<f32>]) -> Vec<f64> {
    let classes = targets.first().map_or(0, Vec::len);
    let mut counts = vec![0f64; classes];
    for t in targets {
        for (c, &v) in t.iter().enumerate() {
            if v > 0.0 {
                counts[c] += 1.0;
            }
        }
    }
    targets
        .iter()
        .map(|t| {
            t.iter()
                .enumerate()
                .filter(|(_, &v)| v > 0.0)
                .map(|(c, _)| 1000.0 / (counts[c] + 0.01))
                .sum()
        })
        .collect()
}

/// `n` indices drawn with replacement with probability proportional to `weights`
/// (`WeightedRandomSampler(replacement=True)`).
pub fn weighted_sample(weights: &[f64], n: usize, rng: &mut Rng) -> Vec<usize> {
    let mut cumulative = Vec::with_capacity(weights.len());
    let mut total = 0.0;
    for &w in weights {
        total += w.max(0.0);
        cumulative.push(total);
    }
    if total <= 0.0 {
        return Vec::new();
    }
    (0..n)
        .map(|_| {
            let x = rng.uniform() * total;
            cumulative
                .partition_point(|&c| c <= x)
                .min(weights.len() - 1)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balanced_weights_by_hand() {
        // class 0 appears twice, class 1 once.
        let t = vec![
            vec![1.0, 0.0],
            vec![1.0, 1.0],
            vec![0.0, 1.0],
            vec![1.0, 0.0],
        ];
        let w = balanced_weights(&t);
        let (w0, w1) = (1000.0 / 3.01, 1000.0 / 2.01);
        assert!((w[0] - w0).abs() < 1e-9);
        assert!((w[1] - (w0 + w1)).abs() < 1e-9);
        assert!((w[2] - w1).abs() < 1e-9);
    }

    #[test]
    fn weighted_sampler_follows_the_weights() {
        let mut rng = Rng::new(1);
        let s = weighted_sample(&[1.0, 0.0, 3.0], 40_000, &mut rng);
        let twos = s.iter().filter(|&&i| i == 2).count() as f64 / s.len() as f64;
        assert!(!s.contains(&1));
        assert!((twos - 0.75).abs() < 0.01, "{twos}");
    }

    #[test]
    fn masks_stay_inside_and_are_narrower_than_the_parameter() {
        let mut rng = Rng::new(2);
        for _ in 0..200 {
            let mut f = Features {
                data: vec![1.0; 20 * 8],
                frames: 20,
                bins: 8,
            };
            spec_masks(&mut f, 4, 6, &mut rng);
            let zero_bins = (0..8)
                .filter(|&b| (0..20).all(|t| f.data[t * 8 + b] == 0.0))
                .count();
            let zero_frames = (0..20)
                .filter(|&t| f.data[t * 8..t * 8 + 8].iter().all(|&v| v == 0.0))
                .count();
            assert!(zero_bins < 4 && zero_frames < 6 + 1);
        }
    }

    #[test]
    fn mixup_mixes_centred_waves_and_pads_the_second() {
        let a = Waveform::mono(vec![1.0, 3.0, 1.0, 3.0], 16000).unwrap(); // centred: -1, 1, -1, 1
        let b = Waveform::mono(vec![2.0, 4.0], 16000).unwrap(); // centred: -1, 1, then 0 0
        let m = mix_waves(&a, &b, 0.75).unwrap();
        // 0.75 a + 0.25 b = [-1, 1, -0.75, 0.75], mean 0
        assert_eq!(m.channels()[0], vec![-1.0, 1.0, -0.75, 0.75]);
    }

    #[test]
    fn roll_moves_frames_later() {
        let mut rng = Rng::new(9);
        let mut f = Features {
            data: (0..30).map(|i| (i / 2) as f32).collect(),
            frames: 15,
            bins: 2,
        };
        noise_and_roll(&mut f, &mut rng);
        // Noise is below 0.1, so each frame still tells its original index.
        let firsts: Vec<usize> = (0..15).map(|t| f.data[t * 2].floor() as usize).collect();
        let shift = (firsts.iter().position(|&v| v == 0).unwrap()) as i64;
        for (t, &v) in firsts.iter().enumerate() {
            assert_eq!(v as i64, (t as i64 - shift).rem_euclid(15));
        }
    }
}
