use candle_core::Tensor;

use crate::{LabelSet, Result, Waveform};

/// Turns a waveform into a time x frequency feature matrix. `aum_fbank::KaldiFbank` is the
/// implementation the models were trained with.
pub trait FeatureExtractor {
    /// Features of one clip, shape `(frames, bins)`, f32.
    fn extract(&self, wave: &Waveform) -> Result<Tensor>;
    /// Number of frequency bins per frame.
    fn num_bins(&self) -> usize;
}

/// A model that maps normalised features to class logits. Audio Mamba and AST implement it, so
/// the CLI, evaluation and training code are written once for both.
pub trait AudioClassifier {
    /// `(batch, frames, bins)` normalised features to `(batch, classes)` logits.
    fn forward(&self, features: &Tensor) -> Result<Tensor>;
    /// The number of frames the model requires, or `None` when it accepts any length.
    fn input_frames(&self) -> Option<usize>;
    fn num_classes(&self) -> usize;
    /// Where the model's weights live (inputs are moved there).
    fn device(&self) -> &candle_core::Device;
}

/// One labelled clip of a dataset.
#[derive(Debug, Clone)]
pub struct Example {
    pub wave: Waveform,
    /// Multi-hot target over the dataset's labels (one 1.0 for single-label data).
    pub target: Vec<f32>,
    /// Where the clip came from, for error messages and reports.
    pub source: String,
}

/// A finite, indexable collection of labelled clips.
pub trait AudioDataset: Send + Sync {
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn get(&self, i: usize) -> Result<Example>;
    fn labels(&self) -> &LabelSet;
}
