//! The one place the workspace tells the model families apart: a configuration of either
//! family ([`ModelConfig`]) and a network of either family ([`Model`]). Everything above it
//! (checkpoints, the classifier, training, the CLI) matches on these and nothing else.

use aum_core::{AudioClassifier, Error, Precision, Result};
use candle_core::{Device, ModuleT, Tensor};
use candle_nn::VarBuilder;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ast")]
use aum_ast::{AstConfig, AstModel};

use crate::{AumConfig, AumModel};

/// Which network, with its full configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelConfig {
    /// Audio Mamba.
    Aum(AumConfig),
    /// The Audio Spectrogram Transformer.
    #[cfg(feature = "ast")]
    Ast(AstConfig),
}

impl ModelConfig {
    /// `aum-tiny|small|base` or `ast-tiny|small|base` for `classes` classes and `frames`
    /// frames, with optional width/depth overrides (AST heads follow the width: 64 per head).
    pub fn preset(
        name: &str,
        classes: usize,
        frames: usize,
        embed_dim: Option<usize>,
        depth: Option<usize>,
    ) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(format!(
                "unknown model `{name}` (expected aum-tiny, aum-small, aum-base{})",
                if cfg!(feature = "ast") {
                    ", ast-tiny, ast-small or ast-base"
                } else {
                    "; AST needs aum-model's `ast` feature"
                }
            ))
        };
        #[cfg(feature = "ast")]
        if name.starts_with("ast-") {
            let mut c = AstConfig::preset(name).ok_or_else(bad)?;
            c.num_classes = classes;
            c.frames = frames;
            if let Some(d) = embed_dim {
                c.hidden = d;
                c.heads = (d / 64).max(1);
                c.mlp = 4 * d;
            }
            if let Some(l) = depth {
                c.layers = l;
            }
            c.validate()?;
            return Ok(ModelConfig::Ast(c));
        }
        let mut c = AumConfig::preset(name).ok_or_else(bad)?;
        c.num_classes = classes;
        c.frames = frames;
        if let Some(d) = embed_dim {
            c.embed_dim = d;
            c.dt_rank = d.div_ceil(16);
        }
        if let Some(l) = depth {
            c.depth = l;
        }
        c.validate()?;
        Ok(ModelConfig::Aum(c))
    }

    /// The number of classes the head scores.
    pub fn num_classes(&self) -> usize {
        match self {
            ModelConfig::Aum(c) => c.num_classes,
            #[cfg(feature = "ast")]
            ModelConfig::Ast(c) => c.num_classes,
        }
    }

    /// The number of input frames the model was built for.
    pub fn frames(&self) -> usize {
        match self {
            ModelConfig::Aum(c) => c.frames,
            #[cfg(feature = "ast")]
            ModelConfig::Ast(c) => c.frames,
        }
    }

    /// The family's name, for reports.
    pub fn family(&self) -> &'static str {
        match self {
            ModelConfig::Aum(_) => "Audio Mamba (AuM)",
            #[cfg(feature = "ast")]
            ModelConfig::Ast(_) => "Audio Spectrogram Transformer (AST)",
        }
    }

    /// One line for logs: family, width, depth, frames.
    pub fn describe(&self) -> String {
        match self {
            ModelConfig::Aum(c) => format!(
                "AuM {:?} D {} depth {} frames {} ({} parameters)",
                c.variant,
                c.embed_dim,
                c.depth,
                c.frames,
                c.num_params()
            ),
            #[cfg(feature = "ast")]
            ModelConfig::Ast(c) => format!(
                "AST D {} depth {} heads {} frames {}",
                c.hidden, c.layers, c.heads, c.frames
            ),
        }
    }

    /// The network, its weights taken from `vb` (a checkpoint's tensors, or a `VarMap` to
    /// train).
    pub fn build(&self, vb: VarBuilder) -> Result<Model> {
        Ok(match self {
            ModelConfig::Aum(c) => Model::Aum(AumModel::new(c.clone(), vb)?),
            #[cfg(feature = "ast")]
            ModelConfig::Ast(c) => Model::Ast(AstModel::new(c.clone(), vb)?),
        })
    }
}

/// A network of either family.
#[derive(Debug, Clone)]
pub enum Model {
    /// Audio Mamba.
    Aum(AumModel),
    /// The Audio Spectrogram Transformer.
    #[cfg(feature = "ast")]
    Ast(AstModel),
}

impl Model {
    /// The network with its matrix products in `precision` ([`AumModel::with_precision`],
    /// `AstModel::with_precision`). For inference: a model being trained is refused.
    pub fn with_precision(self, precision: Precision) -> Result<Self> {
        Ok(match self {
            Model::Aum(m) => Model::Aum(m.with_precision(precision)?),
            #[cfg(feature = "ast")]
            Model::Ast(m) => Model::Ast(m.with_precision(precision)?),
        })
    }

    /// The precision of the network's matrix products.
    pub fn precision(&self) -> Precision {
        match self {
            Model::Aum(m) => m.precision(),
            #[cfg(feature = "ast")]
            Model::Ast(m) => m.precision(),
        }
    }

    /// The model as the family-agnostic trait object.
    fn classifier(&self) -> &dyn AudioClassifier {
        match self {
            Model::Aum(m) => m,
            #[cfg(feature = "ast")]
            Model::Ast(m) => m,
        }
    }
}

/// (B, T, F) normalised fbank -> (B, classes) logits; `train` makes the pass differentiable.
impl ModuleT for Model {
    fn forward_t(&self, x: &Tensor, train: bool) -> candle_core::Result<Tensor> {
        match self {
            Model::Aum(m) => m.forward_t(x, train),
            #[cfg(feature = "ast")]
            Model::Ast(m) => m.forward_t(x, train),
        }
    }
}

impl AudioClassifier for Model {
    fn logits(&self, features: &Tensor) -> Result<Tensor> {
        self.classifier().logits(features)
    }

    fn embed(&self, features: &Tensor) -> Result<Tensor> {
        self.classifier().embed(features)
    }

    fn num_classes(&self) -> usize {
        self.classifier().num_classes()
    }

    fn device(&self) -> &Device {
        self.classifier().device()
    }
}
