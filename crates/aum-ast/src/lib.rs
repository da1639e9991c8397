//! The Audio Spectrogram Transformer (Gong, Chung, Glass, Interspeech 2021) on candle: the
//! baseline Audio Mamba is compared with. Loads the HuggingFace and the original checkpoint
//! layouts and implements [`aum_core::AudioClassifier`], so the same tools run both models.

mod checkpoint;
mod config;
mod model;

pub use checkpoint::{default_front_end, expected_shapes, AstCheckpoint};
pub use config::AstConfig;
pub use model::AstModel;
