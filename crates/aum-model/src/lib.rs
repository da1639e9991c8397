//! Audio Mamba (AuM, Erol et al. 2024, arXiv 2406.03344) on candle, and the crate to add to
//! classify audio: it loads any supported checkpoint — official AuM `.pth`, AST from the
//! HuggingFace hub or the original repository (default feature `ast`), or one of ours — with
//! its front end and labels, and turns audio files into labelled scores.
//!
//! ```
//! use aum_model::{Classifier, Device};
//! # fn main() -> aum_model::Result<()> {
//! # let checkpoint_path = "../aum-cli/models/aum-fsdd.safetensors";
//! # let audio_path = "../../assets/seven.wav";
//! let classifier = Classifier::from_file(&checkpoint_path, &Device::Cpu)?;
//! let wave = aum_model::audio::load(&audio_path)?;
//! for (label, score) in classifier.top_k(&wave, 5)? { println!("{score:.5} {label}"); }
//! # assert_eq!(classifier.top_k(&wave, 1)?[0].0, "7");
//! # Ok(())
//! # }
//! ```
//!
//! The pieces, for other uses: [`Checkpoint`] (any family, any layout) and [`ModelConfig`] /
//! [`Model`] (the one family dispatch of the workspace); the AuM definition itself
//! ([`AumConfig`], [`AumCheckpoint`], [`AumModel`], which implements candle's `ModuleT`, the
//! `train` flag choosing differentiable norms); [`Classifier`] for waveforms to scores,
//! timelines and clips of any length.

pub mod audio;
mod aum_checkpoint;
mod batch;
mod checkpoint;
mod classify;
mod config;
mod family;
#[cfg(feature = "hub")]
pub mod hub;
mod init;
pub mod labels;
mod mixer;
mod model;
mod posembed;
mod weights;

pub use aum_checkpoint::AumCheckpoint;
pub use batch::Scored;
pub use checkpoint::{hub_name, Checkpoint};
pub use classify::{Aggregate, Classifier, Window};
pub use config::{AumConfig, ClsPosition, Variant};
pub use family::{Model, ModelConfig};
pub use init::initialize;
pub use model::{AumModel, ForwardTrace};
pub use posembed::resample_pos_embed;
// Random-weight models for the benchmarks and tests, not part of the API.
#[doc(hidden)]
pub use weights::random_untracked;

#[cfg(feature = "ast")]
pub use aum_ast::{AstCheckpoint, AstConfig, AstModel};

/// Audio Mamba's checkpoint layout: the tensors a config expects, the config tensors imply,
/// and the front end of the published recipe for a config.
pub mod aum {
    pub use crate::aum_checkpoint::{default_front_end, expected_shapes, infer_config};
}

/// AST's checkpoint layout, as [`aum`] for Audio Mamba.
#[cfg(feature = "ast")]
pub mod ast {
    pub use aum_ast::{default_front_end, expected_shapes};
}
pub use aum_core::{Activation, AudioClassifier, Error, LabelSet, Precision, Result, Waveform};
pub use aum_fbank::{FrontEnd, Preset};
pub use candle_core::{DType, Device, Tensor};
