//! A checkpoint of any supported family and layout, detected from the tensor names: official
//! AuM `.pth` files and our safetensors, AST in the HuggingFace and the original layouts.

use std::collections::HashMap;
use std::path::Path;

use aum_core::{Activation, Error, Result};
use aum_fbank::FrontEnd;
use candle_core::{Device, Tensor};

#[cfg(feature = "ast")]
use aum_ast::AstCheckpoint;

use crate::{AumCheckpoint, Model, ModelConfig};

/// The weights, configuration, labels and front end of a model of either family.
#[derive(Debug, Clone)]
pub enum Checkpoint {
    /// An Audio Mamba checkpoint.
    Aum(AumCheckpoint),
    /// An AST checkpoint (HF names).
    #[cfg(feature = "ast")]
    Ast(AstCheckpoint),
}

/// The `OWNER/REPO[@REVISION][:FILE]` of a checkpoint named `hf:...`, which is no local file.
pub fn hub_name(path: &Path) -> Option<&str> {
    path.to_str().and_then(|s| s.strip_prefix("hf:"))
}

impl Checkpoint {
    /// Reads a `.pth` or safetensors file of either family onto the CPU; errors name the file.
    /// `hf:OWNER/REPO[@REVISION][:FILE]` names a model on the HuggingFace hub (feature `hub`:
    /// [`crate::hub`]).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        if let Some(spec) = hub_name(path) {
            #[cfg(feature = "hub")]
            return crate::hub::HubModel::parse(spec)?.load();
            #[cfg(not(feature = "hub"))]
            return Err(Error::InvalidInput(format!(
                "hf:{spec}: models from the hub need aum-model's `hub` feature"
            )));
        }
        let (tensors, meta) = aum_io::read_tensors(path)?;
        Self::from_tensors(tensors, &meta).map_err(|e| e.in_file(path))
    }

    /// A checkpoint from a file's tensors (`module.` stripped) and metadata, of the family
    /// [`aum_io::family`] finds.
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
    ) -> Result<Self> {
        if meta.contains_key(aum_io::meta::TRAINING_STATE) {
            return Err(Error::InvalidInput(
                "a resumable training state, not a model: load it with \
                 aum_train::load_checkpoint, or use the run's best.safetensors"
                    .into(),
            ));
        }
        match aum_io::family(&tensors, meta) {
            #[cfg(feature = "ast")]
            "ast" => Ok(Self::Ast(AstCheckpoint::from_tensors(tensors, meta)?)),
            #[cfg(not(feature = "ast"))]
            "ast" => Err(Error::InvalidInput(
                "an AST checkpoint: aum-model reads those with its `ast` feature".into(),
            )),
            _ => Ok(Self::Aum(AumCheckpoint::from_tensors(tensors, meta)?)),
        }
    }

    /// A checkpoint from its parts (a training run's weights, say): tensors by the family's
    /// own names, checked against `config`.
    pub fn from_parts(
        config: ModelConfig,
        tensors: HashMap<String, Tensor>,
        labels: Option<Vec<String>>,
        front_end: FrontEnd,
    ) -> Result<Self> {
        Ok(match config {
            ModelConfig::Aum(c) => {
                Self::Aum(AumCheckpoint::new(tensors, c, labels)?.with_front_end(front_end))
            }
            #[cfg(feature = "ast")]
            ModelConfig::Ast(c) => {
                Self::Ast(AstCheckpoint::new(tensors, c, labels)?.with_front_end(front_end))
            }
        })
    }

    /// The configuration, of either family.
    pub fn config(&self) -> ModelConfig {
        match self {
            Self::Aum(c) => ModelConfig::Aum(c.config().clone()),
            #[cfg(feature = "ast")]
            Self::Ast(c) => ModelConfig::Ast(c.config().clone()),
        }
    }

    /// The family's name, for reports.
    pub fn family(&self) -> &'static str {
        self.config().family()
    }

    /// Class names, when the file carries them.
    pub fn labels(&self) -> Option<&[String]> {
        match self {
            Self::Aum(c) => c.labels(),
            #[cfg(feature = "ast")]
            Self::Ast(c) => c.labels(),
        }
    }

    /// How the logits become scores: what the file says, else
    /// [`crate::labels::default_activation`].
    pub fn activation(&self) -> Activation {
        let stored = match self {
            Self::Aum(c) => c.activation(),
            #[cfg(feature = "ast")]
            Self::Ast(c) => c.activation(),
        };
        stored.unwrap_or_else(|| crate::labels::default_activation(self.config().num_classes()))
    }

    /// Sets how the logits become scores (stored by [`Self::save`]).
    pub fn with_activation(self, activation: Activation) -> Self {
        match self {
            Self::Aum(c) => Self::Aum(c.with_activation(activation)),
            #[cfg(feature = "ast")]
            Self::Ast(c) => Self::Ast(c.with_activation(activation)),
        }
    }

    /// The input pipeline the model expects.
    pub fn front_end(&self) -> &FrontEnd {
        match self {
            Self::Aum(c) => c.front_end(),
            #[cfg(feature = "ast")]
            Self::Ast(c) => c.front_end(),
        }
    }

    /// The tensors, by the family's own names.
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        match self {
            Self::Aum(c) => c.tensors(),
            #[cfg(feature = "ast")]
            Self::Ast(c) => c.tensors(),
        }
    }

    /// The number of weights.
    pub fn num_params(&self) -> usize {
        self.tensors().values().map(Tensor::elem_count).sum()
    }

    /// Attaches class names; their number must equal the model's classes.
    pub fn with_labels(self, labels: Vec<String>) -> Result<Self> {
        Ok(match self {
            Self::Aum(c) => Self::Aum(c.with_labels(labels)?),
            #[cfg(feature = "ast")]
            Self::Ast(c) => Self::Ast(c.with_labels(labels)?),
        })
    }

    /// The network on `device`, which takes over the checkpoint's tensors one by one (so the
    /// weights are never held twice).
    pub fn into_model(self, device: &Device) -> Result<Model> {
        Ok(match self {
            Self::Aum(c) => Model::Aum(c.into_model(device)?),
            #[cfg(feature = "ast")]
            Self::Ast(c) => Model::Ast(c.into_model(device)?),
        })
    }

    /// Writes safetensors with config, labels and front end in the metadata, atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        match self {
            Self::Aum(c) => c.save(path),
            #[cfg(feature = "ast")]
            Self::Ast(c) => c.save(path),
        }
    }

    /// Human-readable configuration lines (what `aum inspect` prints).
    pub fn describe(&self) -> Vec<String> {
        match self {
            Self::Aum(ckpt) => {
                let c = ckpt.config();
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
            #[cfg(feature = "ast")]
            Self::Ast(ckpt) => {
                let c = ckpt.config();
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
