//! A recipe for data no published recipe was made for (a folder per class, a CSV or JSON
//! manifest): everything the published recipes fix by hand is read off the training clips.
//!
//! - single-label data (one label per clip) trains with cross-entropy and is scored by
//!   accuracy, multi-label data with BCE and mAP;
//! - the normalisation mean and std are measured on the training clips' fbank, as AST's
//!   `get_norm_stats` does (over the frames the clips have, not the padding);
//! - the input length covers 95 % of the clips, in whole 16-frame patches;
//! - batch size, epochs, warm-up and decay are sized for about 1500 optimiser steps, so that
//!   a few hundred clips get enough of them (a published recipe's batch of 128 over 40 epochs
//!   would give a 400-clip folder 120 steps);
//! - the model is the small Audio Mamba of the `fsdd` recipe (D 64, 4 blocks) below 5000
//!   clips, AuM-Tiny above.

use aum_core::{Error, Result};
use aum_data::ClipList;
use aum_fbank::{FrontEnd, Preset};
use rayon::prelude::*;

use crate::loss::Loss;
use crate::recipe::{Metric, Recipe};

/// Optimiser steps the schedule is sized for.
const TARGET_STEPS: usize = 1500;

/// What a recipe needs to know of the training clips.
#[derive(Debug, Clone, PartialEq)]
pub struct DataStats {
    /// Clips that decoded.
    pub clips: usize,
    /// Whether some clip has other than exactly one label.
    pub multi_label: bool,
    /// Frames (10 ms each) covering 95 % of the clips.
    pub frames_p95: usize,
    /// Mean of the fbank values.
    pub mean: f32,
    /// Standard deviation of the fbank values.
    pub std: f32,
}

/// Decodes every clip of `list` (in parallel; clips that fail are left out here and reported
/// when the data is prepared) and measures its length and fbank statistics.
pub fn measure(list: &ClipList) -> Result<DataStats> {
    // The front end of the recipes without its normalisation: x' = (x - 0) / (2 * 0.5).
    let raw = FrontEnd {
        mean: 0.0,
        std: 0.5,
        frames: None,
        sample_rate: Some(16_000),
        ..FrontEnd::aum(Preset::SpeechCommands)
    };
    let per_clip: Vec<(usize, f64, f64)> = list
        .clips
        .par_iter()
        .filter_map(|clip| {
            let wave = aum_fbank::decode_file(&clip.path).ok()?.wave;
            let f = raw.model_input(&wave).ok()?;
            let (s, s2) = f.data.iter().fold((0.0f64, 0.0f64), |(s, s2), &x| {
                (s + x as f64, s2 + (x as f64) * (x as f64))
            });
            Some((f.frames, s, s2))
        })
        .collect();
    if per_clip.is_empty() {
        return Err(Error::InvalidInput(
            "no training clip could be decoded".into(),
        ));
    }
    let values: f64 = per_clip
        .iter()
        .map(|c| (c.0 * raw.num_mel_bins) as f64)
        .sum();
    let sum: f64 = per_clip.iter().map(|c| c.1).sum();
    let sum2: f64 = per_clip.iter().map(|c| c.2).sum();
    let mean = sum / values;
    let std = (sum2 / values - mean * mean).max(1e-12).sqrt();
    let mut frames: Vec<usize> = per_clip.iter().map(|c| c.0).collect();
    frames.sort_unstable();
    let p95 = frames[((frames.len() - 1) as f64 * 0.95).round() as usize];
    Ok(DataStats {
        clips: per_clip.len(),
        multi_label: list.clips.iter().any(|c| c.labels.len() != 1),
        frames_p95: p95,
        mean: mean as f32,
        std: std as f32,
    })
}

impl Recipe {
    /// The recipe for data with these statistics (see the module docs).
    pub fn auto(stats: &DataStats) -> Recipe {
        let mut r = Recipe::named("fsdd").expect("the fsdd recipe exists");
        r.name = "auto".into();
        (r.loss, r.metric) = match stats.multi_label {
            true => (Loss::Bce, Metric::Map),
            false => (Loss::Ce, Metric::Accuracy),
        };
        r.norm = Some((stats.mean, stats.std));
        r.frames = stats.frames_p95.div_ceil(16).clamp(2, 64) * 16;
        r.batch_size = (stats.clips / 16).clamp(8, 32);
        let steps_per_epoch = stats.clips.div_ceil(r.batch_size).max(1);
        r.epochs = TARGET_STEPS.div_ceil(steps_per_epoch).clamp(10, 200);
        let total = r.epochs * steps_per_epoch;
        r.schedule.warmup_steps = (total / 10).min(100);
        r.schedule.decay_start = r.epochs * 3 / 5;
        r.schedule.decay_every = (r.epochs / 10).max(1);
        if stats.clips >= 5000 {
            (r.embed_dim, r.depth) = (None, None);
        }
        r
    }

    /// One line per choice, for the log of a run.
    pub fn describe(&self) -> String {
        let norm = self
            .norm
            .map_or(format!("preset {}", self.preset), |(m, s)| {
                format!("measured mean {m:.4} std {s:.4}")
            });
        format!(
            "recipe {}: loss {:?}, metric {:?}, {} frames, normalisation {norm}, batch {}, \
             {} epochs, lr {:e} (warm-up {} steps, halved from epoch {} every {}), model {}{}",
            self.name,
            self.loss,
            self.metric,
            self.frames,
            self.batch_size,
            self.epochs,
            self.schedule.lr,
            self.schedule.warmup_steps,
            self.schedule.decay_start,
            self.schedule.decay_every,
            self.model,
            match (self.embed_dim, self.depth) {
                (Some(d), Some(l)) => format!(" (D {d}, {l} blocks)"),
                _ => String::new(),
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_folder_gets_enough_steps() {
        let stats = DataStats {
            clips: 400,
            multi_label: false,
            frames_p95: 98,
            mean: -6.0,
            std: 4.0,
        };
        let r = Recipe::auto(&stats);
        assert_eq!((r.loss, r.metric), (Loss::Ce, Metric::Accuracy));
        assert_eq!(r.frames, 112);
        assert_eq!(r.batch_size, 25);
        let steps = r.epochs * 400usize.div_ceil(r.batch_size);
        assert!(
            (TARGET_STEPS..TARGET_STEPS + 16).contains(&steps),
            "{steps}"
        );
        let fe = r.front_end().unwrap();
        assert_eq!((fe.mean, fe.std, fe.frames), (-6.0, 4.0, Some(112)));
        let multi = Recipe::auto(&DataStats {
            multi_label: true,
            clips: 100_000,
            ..stats
        });
        assert_eq!(
            (multi.loss, multi.metric, multi.batch_size),
            (Loss::Bce, Metric::Map, 32)
        );
        assert_eq!(multi.epochs, 10);
        assert_eq!(multi.embed_dim, None);
    }
}
