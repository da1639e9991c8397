//! The recipes' criteria, on `(batch, classes)` logits and (possibly mixed) multi-hot targets.

use candle_core::{DType, Result, Tensor, D};
use serde::{Deserialize, Serialize};

/// Which loss a recipe trains with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    /// `BCEWithLogitsLoss` (mean over batch and classes) on the targets as they are.
    Bce,
    /// `CrossEntropyLoss(logits, argmax(target))`, as upstream does even for mixed targets.
    Ce,
}

impl Loss {
    /// The scores a model trained with this loss gives: sigmoid for BCE (multi-label), softmax
    /// for cross-entropy (single-label).
    pub fn activation(self) -> aum_core::Activation {
        match self {
            Loss::Bce => aum_core::Activation::Sigmoid,
            Loss::Ce => aum_core::Activation::Softmax,
        }
    }

    /// The scalar loss of `(batch, classes)` logits against targets of the same shape.
    pub fn compute(self, logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
        match self {
            Loss::Bce => bce_with_logits(logits, targets),
            Loss::Ce => cross_entropy(logits, targets),
        }
    }
}

/// Mean of `max(x, 0) - x y + ln(1 + exp(-|x|))`, PyTorch's numerically stable form.
pub fn bce_with_logits(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let softplus_neg_abs = (logits.abs()?.neg()?.exp()? + 1.0)?.log()?;
    (logits.relu()? - (logits * targets)? + softplus_neg_abs)?.mean_all()
}

/// Cross-entropy against the argmax of each target row (mean over the batch).
pub fn cross_entropy(logits: &Tensor, targets: &Tensor) -> Result<Tensor> {
    let labels = targets.argmax(D::Minus1)?.to_dtype(DType::U32)?;
    candle_nn::loss::cross_entropy(logits, &labels)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn values_by_hand() {
        let dev = Device::Cpu;
        let x = Tensor::new(&[[0.0f32, 2.0], [-1.0, 3.0]], &dev).unwrap();
        let y = Tensor::new(&[[1.0f32, 0.0], [0.0, 1.0]], &dev).unwrap();
        // BCE terms: ln 2; 2 + ln(1 + e^-2); ln(1 + e^-1); ln(1 + e^-3).
        let terms = [
            2f64.ln(),
            2.0 + (1.0 + (-2f64).exp()).ln(),
            (1.0 + (-1f64).exp()).ln(),
            (1.0 + (-3f64).exp()).ln(),
        ];
        let bce: f32 = bce_with_logits(&x, &y).unwrap().to_scalar().unwrap();
        assert!((bce as f64 - terms.iter().sum::<f64>() / 4.0).abs() < 1e-6);
        // CE rows: logsumexp(0, 2) - 0; logsumexp(-1, 3) - 3.
        let lse = |a: f64, b: f64| (a.exp() + b.exp()).ln();
        let ce: f32 = cross_entropy(&x, &y).unwrap().to_scalar().unwrap();
        let want = (lse(0.0, 2.0) + lse(-1.0, 3.0) - 3.0) / 2.0;
        assert!((ce as f64 - want).abs() < 1e-6);
    }
}
