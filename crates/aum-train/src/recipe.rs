//! The published training recipes (upstream's `exps/*/aum-base_scratch-*.sh` and
//! `src/traintest.py` L32-124 at kaistmm/Audio-Mamba-AuM@b0eb85d595c4) by name, plus `fsdd`, ours
//! for the Free Spoken Digit Dataset: everything about a run except the data and the model size.

use aum_core::{Error, Result};
use aum_data::Augment;
use aum_fbank::{FrontEnd, Preset};
use serde::{Deserialize, Serialize};

use crate::loss::Loss;
use crate::optim::{AdamConfig, OptimizerKind};
use crate::schedule::Schedule;

/// What picks the best epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Mean average precision (multi-label sets).
    Map,
    /// Top-1 accuracy.
    Accuracy,
}

impl Metric {
    /// This metric's value in `m` (higher is better).
    pub fn of(self, m: &crate::Metrics) -> f64 {
        match self {
            Metric::Map => m.map,
            Metric::Accuracy => m.accuracy,
        }
    }
}

/// A training recipe: loss, optimiser, schedule, batching, augmentation and input length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    /// Canonical recipe name (one of [`RECIPES`]).
    pub name: String,
    /// Training and evaluation criterion.
    pub loss: Loss,
    /// Adam(W) settings.
    pub optimizer: AdamConfig,
    /// Learning rate, warm-up and step decay.
    pub schedule: Schedule,
    /// Number of training epochs.
    pub epochs: usize,
    /// Clips per training batch.
    pub batch_size: usize,
    /// Clips per evaluation batch.
    pub eval_batch_size: usize,
    /// Augmentations of the training batches.
    pub augment: Augment,
    /// Balanced sampling (weights `sum 1000 / (count + 0.01)`) instead of shuffling.
    pub balanced: bool,
    /// Model input frames.
    pub frames: usize,
    /// Normalisation statistics of this preset.
    pub preset: String,
    /// Normalisation statistics measured on the training clips (mean, std), used instead of
    /// the preset's ([`crate::auto`]).
    #[serde(default)]
    pub norm: Option<(f32, f32)>,
    /// Validation metric that picks the best epoch.
    pub metric: Metric,
    /// Global gradient-norm limit, if any.
    pub clip_grad: Option<f64>,
    /// Seed of the model initialisation, the epoch orders and the augmentations.
    pub seed: u64,
    /// The model trained when none is named (`aum-tiny`, `ast-small`, ...).
    pub model: String,
    /// Width and depth overriding the model preset's (the small FSDD models).
    pub embed_dim: Option<usize>,
    /// Number of blocks overriding the model preset's.
    pub depth: Option<usize>,
}

/// Recipe names, for help texts and errors.
pub const RECIPES: [&str; 6] = [
    "audioset",
    "as20k",
    "vggsound",
    "voxceleb",
    "speechcommands",
    "fsdd",
];

/// The official optimizer: Adam, betas (0.95, 0.999), weight decay 5e-7.
fn official_adam() -> AdamConfig {
    AdamConfig {
        kind: OptimizerKind::Adam,
        beta1: 0.95,
        beta2: 0.999,
        eps: 1e-8,
        weight_decay: 5e-7,
    }
}

/// A recipe with upstream's common settings and the given table row.
#[allow(clippy::too_many_arguments)]
fn official(
    name: &str,
    loss: Loss,
    lr: f64,
    epochs: usize,
    (decay_start, decay_every, decay): (usize, usize, f64),
    warmup: bool,
    batch_size: usize,
    augment: Augment,
    balanced: bool,
    preset: Preset,
    metric: Metric,
) -> Recipe {
    Recipe {
        name: name.into(),
        loss,
        optimizer: official_adam(),
        schedule: Schedule {
            lr,
            warmup_steps: if warmup { 1000 } else { 0 },
            warmup_every: 50,
            decay_start,
            decay_every,
            decay,
        },
        epochs,
        batch_size,
        eval_batch_size: batch_size * 2,
        augment,
        balanced,
        frames: preset.frames(),
        preset: preset.name().into(),
        norm: None,
        metric,
        clip_grad: None,
        seed: 3949,
        model: "aum-base".into(),
        embed_dim: None,
        depth: None,
    }
}

impl Recipe {
    /// The recipe called `name` (one of [`RECIPES`]; case, `-` and `_` ignored, `as2m` and
    /// `sc` accepted); fails with [`Error::InvalidInput`] otherwise.
    pub fn named(name: &str) -> Result<Self> {
        let masks = |freqm, timem, mixup, noise| Augment {
            mixup,
            freqm,
            timem,
            noise,
        };
        Ok(
            match name.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
                "audioset" | "as2m" => official(
                    "audioset",
                    Loss::Bce,
                    1e-5,
                    5,
                    (2, 1, 0.5),
                    true,
                    12,
                    masks(48, 192, 0.5, false),
                    true,
                    Preset::AudioSet,
                    Metric::Map,
                ),
                "as20k" => official(
                    "as20k",
                    Loss::Bce,
                    5e-5,
                    25,
                    (10, 5, 0.5),
                    true,
                    12,
                    masks(48, 192, 0.5, false),
                    false,
                    Preset::AudioSet,
                    Metric::Map,
                ),
                "vggsound" => official(
                    "vggsound",
                    Loss::Bce,
                    1e-5,
                    20,
                    (5, 2, 0.75),
                    true,
                    12,
                    masks(48, 192, 0.0, false),
                    false,
                    Preset::VggSound,
                    Metric::Accuracy,
                ),
                "voxceleb" => official(
                    "voxceleb",
                    Loss::Ce,
                    1e-5,
                    20,
                    (5, 2, 0.75),
                    true,
                    12,
                    masks(48, 192, 0.0, false),
                    false,
                    Preset::VoxCeleb,
                    Metric::Accuracy,
                ),
                "speechcommands" | "sc" => official(
                    "speechcommands",
                    Loss::Bce,
                    2.5e-4,
                    30,
                    (5, 1, 0.85),
                    false,
                    128,
                    masks(48, 48, 0.6, true),
                    false,
                    Preset::SpeechCommands,
                    Metric::Accuracy,
                ),
                "fsdd" => Self::fsdd(),
                _ => {
                    return Err(Error::InvalidInput(format!(
                        "unknown recipe `{name}` (expected one of {})",
                        RECIPES.join(", ")
                    )))
                }
            },
        )
    }

    /// Spoken digits from scratch on two CPU cores: a small Fo-Bi AuM on 1.28 s clips, the
    /// Speech Commands recipe's masks, noise and roll (no mixup: the features are computed
    /// once), AdamW with a short linear warm-up and step decay.
    fn fsdd() -> Self {
        Recipe {
            name: "fsdd".into(),
            loss: Loss::Ce,
            optimizer: AdamConfig {
                kind: OptimizerKind::AdamW,
                beta1: 0.9,
                beta2: 0.999,
                eps: 1e-8,
                weight_decay: 0.05,
            },
            schedule: Schedule {
                lr: 2e-3,
                warmup_steps: 100,
                warmup_every: 1,
                decay_start: 20,
                decay_every: 5,
                decay: 0.5,
            },
            epochs: 40,
            batch_size: 32,
            eval_batch_size: 100,
            augment: Augment {
                mixup: 0.0,
                freqm: 16,
                timem: 16,
                noise: true,
            },
            balanced: false,
            frames: 96,
            preset: Preset::SpeechCommands.name().into(),
            norm: None,
            metric: Metric::Accuracy,
            clip_grad: Some(5.0),
            seed: 3949,
            model: "aum-tiny".into(),
            embed_dim: Some(64),
            depth: Some(4),
        }
    }

    /// The model-input pipeline of the recipe: its preset's statistics at its frame count,
    /// resampling to 16 kHz.
    pub fn front_end(&self) -> Result<FrontEnd> {
        let preset: Preset = self.preset.parse().map_err(Error::InvalidInput)?;
        let (mean, std) = self.norm.unwrap_or_else(|| preset.stats());
        Ok(FrontEnd {
            frames: Some(self.frames),
            sample_rate: Some(16_000),
            mean,
            std,
            ..FrontEnd::aum(preset)
        })
    }
}
