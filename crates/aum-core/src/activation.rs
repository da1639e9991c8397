//! How a classifier's logits become scores: one sigmoid per class for multi-label models
//! (AudioSet, trained with binary cross-entropy), a softmax over the classes for single-label
//! ones (spoken digits, Speech Commands, VGGSound, VoxCeleb, ESC-50: cross-entropy).

use std::str::FromStr;

use crate::Error;

/// The function from logits to scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Independent per-class probabilities in [0, 1] (multi-label).
    Sigmoid,
    /// Probabilities over the classes that sum to 1 (single-label).
    Softmax,
}

impl Activation {
    /// The scores of one clip's logits.
    pub fn apply(self, logits: &[f32]) -> Vec<f32> {
        match self {
            Activation::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            Activation::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let e: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
                let sum: f32 = e.iter().sum();
                e.into_iter().map(|x| x / sum).collect()
            }
        }
    }

    /// `sigmoid` or `softmax`, as stored in checkpoint metadata and printed.
    pub fn name(self) -> &'static str {
        match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Softmax => "softmax",
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "sigmoid" => Ok(Activation::Sigmoid),
            "softmax" => Ok(Activation::Softmax),
            other => Err(Error::InvalidInput(format!(
                "activation `{other}`: expected sigmoid or softmax"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_and_softmax_are_what_they_say() {
        let logits = [2.0f32, 0.0, -1.0];
        let s = Activation::Sigmoid.apply(&logits);
        assert!((s[1] - 0.5).abs() < 1e-7 && (s[0] - 0.880_797).abs() < 1e-6);
        let p = Activation::Softmax.apply(&logits);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((p[0] - 2f32.exp() / (2f32.exp() + 1.0 + (-1f32).exp())).abs() < 1e-6);
        // Large logits do not overflow.
        assert!(Activation::Softmax.apply(&[1000.0, 0.0])[0] == 1.0);
        assert_eq!(
            "softmax".parse::<Activation>().unwrap(),
            Activation::Softmax
        );
        assert!("relu".parse::<Activation>().is_err());
    }
}
