//! Checkpoints of either model family behind one type, detected from the tensor names, so
//! `classify`, `logits`, `inspect` and `convert` work unchanged for Audio Mamba and AST.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use aum_ast::AstCheckpoint;
use aum_core::tensors::meta::FRONT_END as META_FRONT_END;
use aum_core::AudioClassifier;
use aum_fbank::{FrontEnd, Preset};
use aum_model::{Checkpoint, Classifier};
use candle_core::Device;

pub enum AnyCheckpoint {
    Aum(Checkpoint),
    Ast {
        ckpt: AstCheckpoint,
        front_end: FrontEnd,
    },
}

impl AnyCheckpoint {
    pub fn load(path: &Path) -> Result<Self> {
        let (tensors, meta) = aum_core::tensors::read_tensors(path)?;
        if aum_train::state::is_state(&meta) {
            return Self::from_training_state(tensors, &meta, path).with_context(|| {
                format!("loading the model of the run saved in {}", path.display())
            });
        }
        let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
        let loaded: Result<Self> = if aum_ast::is_ast(&names) {
            AstCheckpoint::from_tensors(tensors, &meta)
                .map_err(Into::into)
                .and_then(|ckpt| {
                    let front_end = match meta.get(META_FRONT_END) {
                        Some(json) => {
                            serde_json::from_str(json).context("bad `aum.frontend` metadata")?
                        }
                        None => ast_front_end(&ckpt),
                    };
                    Ok(Self::Ast { ckpt, front_end })
                })
        } else {
            Checkpoint::from_tensors(tensors, &meta)
                .map(Self::Aum)
                .map_err(Into::into)
        };
        loaded.with_context(|| format!("loading {}", path.display()))
    }

    /// The current weights of a resumable training state (`last.safetensors`), with the run's
    /// labels and its recipe's front end: what `best.safetensors` holds for the best epoch.
    fn from_training_state(
        tensors: HashMap<String, candle_core::Tensor>,
        meta: &HashMap<String, String>,
        path: &Path,
    ) -> Result<Self> {
        let (weights, _, progress) = aum_train::state::split(tensors, meta, path)?;
        let front_end = progress.recipe.front_end()?;
        let labels = Some(progress.labels);
        Ok(match progress.model {
            aum_train::ModelSpec::Aum(config) => {
                let mut ckpt = Checkpoint::new(weights, config, labels)?;
                ckpt.front_end = front_end;
                Self::Aum(ckpt)
            }
            aum_train::ModelSpec::Ast(config) => Self::Ast {
                ckpt: AstCheckpoint {
                    tensors: weights,
                    config,
                    labels,
                },
                front_end,
            },
        })
    }

    pub fn family(&self) -> &'static str {
        match self {
            Self::Aum(_) => "Audio Mamba (AuM)",
            Self::Ast { .. } => "Audio Spectrogram Transformer (AST)",
        }
    }

    pub fn labels(&self) -> Option<&Vec<String>> {
        match self {
            Self::Aum(c) => c.labels.as_ref(),
            Self::Ast { ckpt, .. } => ckpt.labels.as_ref(),
        }
    }

    pub fn front_end(&self) -> &FrontEnd {
        match self {
            Self::Aum(c) => &c.front_end,
            Self::Ast { front_end, .. } => front_end,
        }
    }

    pub fn num_params(&self) -> usize {
        match self {
            Self::Aum(c) => c.num_params(),
            Self::Ast { ckpt, .. } => ckpt.num_params(),
        }
    }

    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let tensors = match self {
            Self::Aum(c) => &c.tensors,
            Self::Ast { ckpt, .. } => &ckpt.tensors,
        };
        let mut v: Vec<(String, Vec<usize>)> = tensors
            .iter()
            .map(|(k, t)| (k.clone(), t.dims().to_vec()))
            .collect();
        v.sort();
        v
    }

    /// The network on `device`, which takes over the checkpoint's tensors.
    pub fn into_model(self, device: &Device) -> Result<Arc<dyn AudioClassifier + Send + Sync>> {
        Ok(match self {
            Self::Aum(c) => Arc::new(c.into_model(device)?),
            Self::Ast { ckpt, .. } => Arc::new(ckpt.into_model(device)?),
        })
    }

    pub fn into_classifier(self, device: &Device) -> Result<Classifier> {
        let (front_end, labels) = (self.front_end().clone(), self.labels().cloned());
        Ok(Classifier::from_parts(
            self.into_model(device)?,
            front_end,
            labels,
        )?)
    }

    pub fn with_labels(self, labels: Vec<String>) -> Result<Self> {
        Ok(match self {
            Self::Aum(c) => Self::Aum(c.with_labels(labels)?),
            Self::Ast { ckpt, front_end } => Self::Ast {
                ckpt: ckpt.with_labels(labels)?,
                front_end,
            },
        })
    }

    /// Safetensors with config, labels and front end in the metadata.
    pub fn save(&self, path: &Path) -> Result<()> {
        match self {
            Self::Aum(c) => c.save(path)?,
            Self::Ast { ckpt, front_end } => {
                let meta = HashMap::from([(
                    META_FRONT_END.to_string(),
                    serde_json::to_string(front_end)?,
                )]);
                ckpt.save(path, meta)?
            }
        }
        Ok(())
    }

    /// Human-readable configuration lines for `aum inspect`.
    pub fn describe(&self) -> Vec<String> {
        match self {
            Self::Aum(ckpt) => {
                let c = &ckpt.config;
                let (fp, tp) = c.grid();
                vec![
                    format!("variant       {:?}", c.variant),
                    format!(
                        "embed_dim     {} (d_inner {}, dt_rank {}, d_state {}, d_conv {})",
                        c.embed_dim,
                        c.d_inner(),
                        c.dt_rank,
                        c.d_state,
                        c.d_conv
                    ),
                    format!("depth         {}", c.depth),
                    format!("patch/stride  {:?} / {:?}", c.patch, c.stride),
                    format!(
                        "input         {} frames x {} mel bins -> {fp} x {tp} patches + CLS ({:?})",
                        c.frames, c.num_mel_bins, c.cls_position
                    ),
                    format!("classes       {}", c.num_classes),
                ]
            }
            Self::Ast { ckpt, .. } => {
                let c = &ckpt.config;
                let (fp, tp) = c.grid_for(c.frames);
                vec![
                    format!(
                        "hidden        {} ({} heads, MLP {})",
                        c.hidden, c.heads, c.mlp
                    ),
                    format!("layers        {}", c.layers),
                    format!(
                        "patch/stride  {} / ({}, {})",
                        c.patch, c.frequency_stride, c.time_stride
                    ),
                    format!(
                        "input         {} frames x {} mel bins -> {fp} x {tp} patches + cls + dist",
                        c.frames, c.num_mel_bins
                    ),
                    format!("classes       {}", c.num_classes),
                ]
            }
        }
    }
}

/// The HuggingFace AST feature pipeline (no waveform centring), with Speech Commands statistics
/// for 35-class models, at the model's frame count.
fn ast_front_end(ckpt: &AstCheckpoint) -> FrontEnd {
    let preset = if ckpt.config.num_classes == 35 {
        Preset::SpeechCommands
    } else {
        Preset::AudioSet
    };
    let (mean, std) = preset.stats();
    FrontEnd {
        mean,
        std,
        frames: Some(ckpt.config.frames),
        sample_rate: Some(16_000),
        num_mel_bins: ckpt.config.num_mel_bins,
        ..FrontEnd::hf_ast()
    }
}
