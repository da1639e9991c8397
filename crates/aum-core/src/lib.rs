//! Shared vocabulary of the Audio Mamba workspace: the [`Waveform`] type, the workspace-wide
//! [`Error`], and the three traits that let the feature, model and data crates compose without
//! depending on each other.

mod error;
pub mod fastmath;
pub mod interp;
pub mod io;
mod labels;
pub mod nn;
mod patches;
pub mod tensors;
pub mod testdata;
mod traits;
mod waveform;

pub use error::{Error, Result};
pub use labels::LabelSet;
pub use patches::{spectrogram_patches, Mode};
pub use traits::{AudioClassifier, AudioDataset, Example, FeatureExtractor};
pub use waveform::Waveform;
