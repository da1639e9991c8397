//! The vocabulary the Audio Mamba crates share: the [`Waveform`] every front end takes, the
//! [`LabelSet`] every model scores, the [`Activation`] that turns its logits into scores, the [`Precision`] its products run in, the
//! one [`Error`] type at every crate seam, and the
//! [`AudioClassifier`] trait through which the family-agnostic code runs AuM and AST alike.

mod activation;
mod error;
mod labels;
mod precision;
mod traits;
mod waveform;

pub use activation::Activation;
pub use error::{Error, Result};
pub use labels::LabelSet;
pub use precision::Precision;
pub use traits::AudioClassifier;
pub use waveform::Waveform;
