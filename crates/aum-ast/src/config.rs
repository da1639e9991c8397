//! AST configuration and the published checkpoints' presets.

use serde::{Deserialize, Serialize};

/// Shape of an AST model: ViT sizes, patch grid and input/output sizes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AstConfig {
    /// Embedding width (768 for ViT-Base).
    pub hidden: usize,
    /// Number of transformer blocks.
    pub layers: usize,
    /// Attention heads per block; must divide `hidden`.
    pub heads: usize,
    /// MLP width.
    pub mlp: usize,
    /// Square patch size (16).
    pub patch: usize,
    /// Patch stride along frequency, in bins (10–16; 16 means no overlap).
    pub frequency_stride: usize,
    /// Patch stride along time, in frames (10–16; 16 means no overlap).
    pub time_stride: usize,
    /// Input frames (`max_length`): 1024 for AudioSet, 128 for Speech Commands.
    pub frames: usize,
    /// Mel bins per input frame (128).
    pub num_mel_bins: usize,
    /// Number of output classes (527 for AudioSet, 35 for Speech Commands).
    pub num_classes: usize,
    /// LayerNorm eps of the blocks and final norm (HF: 1e-12; original timm: 1e-6).
    pub layer_norm_eps: f64,
}

impl AstConfig {
    /// ViT-Base (DeiT) with the given strides and frames, 527 AudioSet classes.
    pub fn base(stride: usize, frames: usize, num_classes: usize) -> Self {
        Self {
            hidden: 768,
            layers: 12,
            heads: 12,
            mlp: 3072,
            patch: 16,
            frequency_stride: stride,
            time_stride: stride,
            frames,
            num_mel_bins: 128,
            num_classes,
            layer_norm_eps: 1e-12,
        }
    }

    /// A preset by name: audioset-10-10, -12-12, -14-14, -16-16 (527 classes, 1024 frames),
    /// speechcommands (10-10, 128 frames, 35 classes), and base/small/tiny at 16-16 (the AuM
    /// paper's comparison sizes: hidden 768/384/192 with 12/6/3 heads).
    pub fn preset(name: &str) -> Option<Self> {
        let name = name.trim_start_matches("ast-");
        Some(match name {
            "audioset-10-10" | "audioset" => Self::base(10, 1024, 527),
            "audioset-12-12" => Self::base(12, 1024, 527),
            "audioset-14-14" => Self::base(14, 1024, 527),
            "audioset-16-16" | "base" => Self::base(16, 1024, 527),
            "speechcommands" => Self::base(10, 128, 35),
            "small" => Self {
                hidden: 384,
                heads: 6,
                mlp: 1536,
                ..Self::base(16, 1024, 527)
            },
            "tiny" => Self {
                hidden: 192,
                heads: 3,
                mlp: 768,
                ..Self::base(16, 1024, 527)
            },
            _ => return None,
        })
    }

    /// Patch grid (frequency, time) for `frames` input frames.
    pub fn grid_for(&self, frames: usize) -> (usize, usize) {
        let along = |size: usize, s: usize| {
            if size < self.patch {
                0
            } else {
                (size - self.patch) / s + 1
            }
        };
        (
            along(self.num_mel_bins, self.frequency_stride),
            along(frames, self.time_stride),
        )
    }

    /// Number of patches (frequency × time) for the configured `frames`.
    pub fn num_patches(&self) -> usize {
        let (f, t) = self.grid_for(self.frames);
        f * t
    }

    /// Checks that heads divide `hidden`, sizes are positive and the strides give a patch;
    /// fails with [`aum_core::Error::InvalidInput`] otherwise.
    pub fn validate(&self) -> aum_core::Result<()> {
        let bad = |m: String| {
            Err(aum_core::Error::InvalidInput(format!(
                "invalid AST config: {m}"
            )))
        };
        if self.heads == 0 || !self.hidden.is_multiple_of(self.heads) {
            return bad(format!(
                "{} heads do not divide hidden size {}",
                self.heads, self.hidden
            ));
        }
        if self.layers == 0 || self.mlp == 0 || self.num_classes == 0 || self.patch == 0 {
            return bad("layers, mlp, classes and patch must be positive".into());
        }
        if self.frequency_stride == 0 || self.time_stride == 0 || self.num_patches() == 0 {
            return bad(format!(
                "strides {}/{} give no patch",
                self.frequency_stride, self.time_stride
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grids_of_the_published_checkpoints() {
        let n = |name: &str| AstConfig::preset(name).unwrap().num_patches();
        assert_eq!(n("audioset-10-10"), 1212);
        assert_eq!(n("audioset-12-12"), 850);
        assert_eq!(n("audioset-14-14"), 657);
        assert_eq!(n("audioset-16-16"), 512);
        assert_eq!(n("speechcommands"), 144);
    }
}
