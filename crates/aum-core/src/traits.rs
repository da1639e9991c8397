use candle_core::{Device, Tensor};

use crate::Result;

/// A model that maps normalised features to class logits. Audio Mamba and AST implement it, and
/// the family-agnostic code (aum-model's `Classifier`, evaluation, the CLI) holds a
/// `dyn AudioClassifier`, so it is written once for both.
///
/// The method is `logits`, not `forward`, so that it never competes with candle's
/// `Module::forward`/`ModuleT::forward_t`, which the models implement for training.
pub trait AudioClassifier: Send + Sync {
    /// `(batch, frames, bins)` normalised features to `(batch, classes)` logits, in inference
    /// mode (fused kernels without a backward pass).
    fn logits(&self, features: &Tensor) -> Result<Tensor>;
    /// `(batch, frames, bins)` normalised features to `(batch, dim)` embeddings: the pooled
    /// vector the head reads (AuM's CLS token after the final norm, AST's mean of its cls and
    /// distillation tokens).
    fn embed(&self, features: &Tensor) -> Result<Tensor>;
    /// The number of classes the head scores.
    fn num_classes(&self) -> usize;
    /// Where the model's weights live (inputs are moved there).
    fn device(&self) -> &Device;
}
