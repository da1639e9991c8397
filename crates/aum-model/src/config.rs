//! The Audio Mamba configuration: sizes, bidirectional variant, CLS placement and input grid.

use serde::{Deserialize, Serialize};

/// How each layer's mixer looks at the sequence: upstream's `bimamba_type` (`--aum_type` in
/// `src/run.py` L239-246, the branches in `mamba_simple.py` L195-263 at
/// kaistmm/Audio-Mamba-AuM@b0eb85d595c4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Variant {
    /// Fo-Fo: forward scan only.
    None,
    /// Fo-Bi (all Base checkpoints): one conv/x_proj/dt_proj/D shared by a forward and a reverse
    /// scan that differ only in A; the two outputs are summed.
    V1,
    /// Bi-Bi (Vim, the Small checkpoints): a separate reverse branch with its own anti-causal
    /// conv, projections, A and D; the two outputs are averaged.
    V2,
}

impl std::str::FromStr for Variant {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "fo-fo" => Ok(Variant::None),
            "v1" | "fo-bi" => Ok(Variant::V1),
            "v2" | "bi-bi" => Ok(Variant::V2),
            _ => Err(format!(
                "unknown variant `{s}` (expected v1/Fo-Bi, v2/Bi-Bi or none/Fo-Fo)"
            )),
        }
    }
}

/// Where the CLS token sits in the token sequence. The released models put it in the middle;
/// the other placements are the official code's ablations. In every case the CLS token takes
/// row 0 of the positional embedding and is the one read out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClsPosition {
    /// Index N / 2 (`use_middle_cls_token`).
    Middle,
    /// Index 0.
    Head,
    /// Index N, after every patch (`use_end_cls_token`).
    Tail,
}

impl ClsPosition {
    /// The CLS token's index in a sequence of `patches` patch tokens.
    pub fn index(self, patches: usize) -> usize {
        match self {
            ClsPosition::Middle => patches / 2,
            ClsPosition::Head => 0,
            ClsPosition::Tail => patches,
        }
    }
}

/// Everything needed to build an Audio Mamba model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AumConfig {
    /// Token width D (192 Tiny, 384 Small, 768 Base).
    pub embed_dim: usize,
    /// Number of Mamba blocks.
    pub depth: usize,
    /// SSM states per channel (16).
    pub d_state: usize,
    /// Depthwise causal conv width (4).
    pub d_conv: usize,
    /// d_inner = expand * embed_dim (2).
    pub expand: usize,
    /// Rank of the delta projection: ceil(embed_dim / 16).
    pub dt_rank: usize,
    /// Patch size (frequency, time).
    pub patch: (usize, usize),
    /// Patch stride (frequency, time); equal to `patch` in every released model.
    pub stride: (usize, usize),
    /// Mel bins of the input spectrogram (128).
    pub num_mel_bins: usize,
    /// Frames of the input spectrogram the positional embedding was trained for.
    pub frames: usize,
    /// Number of output classes (527 for AudioSet).
    pub num_classes: usize,
    /// Bidirectional scheme of the mixers.
    pub variant: Variant,
    /// Where the CLS token is inserted among the patch tokens.
    pub cls_position: ClsPosition,
    /// RMSNorm eps of the blocks and final norm (1e-5).
    pub norm_eps: f64,
}

impl AumConfig {
    /// A model of width `embed_dim` with the released defaults (24 blocks, v1, 1024 frames,
    /// 527 classes).
    fn with_width(embed_dim: usize, variant: Variant) -> Self {
        Self {
            embed_dim,
            depth: 24,
            d_state: 16,
            d_conv: 4,
            expand: 2,
            dt_rank: embed_dim.div_ceil(16),
            patch: (16, 16),
            stride: (16, 16),
            num_mel_bins: 128,
            frames: 1024,
            num_classes: 527,
            variant,
            cls_position: ClsPosition::Middle,
            norm_eps: 1e-5,
        }
    }

    /// AuM-Tiny (D 192), Fo-Bi.
    pub fn tiny() -> Self {
        Self::with_width(192, Variant::V1)
    }

    /// AuM-Small (D 384), Bi-Bi as the released ImageNet-initialised checkpoints.
    pub fn small() -> Self {
        Self::with_width(384, Variant::V2)
    }

    /// AuM-Base (D 768), Fo-Bi as every released Base checkpoint.
    pub fn base() -> Self {
        Self::with_width(768, Variant::V1)
    }

    /// A preset by name: tiny, small or base.
    pub fn preset(name: &str) -> Option<Self> {
        match name.trim_start_matches("aum-") {
            "tiny" => Some(Self::tiny()),
            "small" => Some(Self::small()),
            "base" => Some(Self::base()),
            _ => None,
        }
    }

    /// Width of the mixer's inner (SSM) channels: `expand * embed_dim`.
    pub fn d_inner(&self) -> usize {
        self.expand * self.embed_dim
    }

    /// Patch grid (frequency, time) for a spectrogram of `frames` frames.
    pub fn grid_for(&self, frames: usize) -> (usize, usize) {
        let along = |size: usize, p: usize, s: usize| if size < p { 0 } else { (size - p) / s + 1 };
        (
            along(self.num_mel_bins, self.patch.0, self.stride.0),
            along(frames, self.patch.1, self.stride.1),
        )
    }

    /// The grid the positional embedding was trained on.
    pub fn grid(&self) -> (usize, usize) {
        self.grid_for(self.frames)
    }

    /// Number of patch tokens N of the trained grid (excluding CLS).
    pub fn num_patches(&self) -> usize {
        let (f, t) = self.grid();
        f * t
    }

    /// Parameter count, summed over upstream's tensor shapes (`mamba_simple.py` L74-167,
    /// `src/models/mamba_models.py` L271-319 at kaistmm/Audio-Mamba-AuM@b0eb85d595c4).
    pub fn num_params(&self) -> usize {
        let (d, di, r, n, k) = (
            self.embed_dim,
            self.d_inner(),
            self.dt_rank,
            self.d_state,
            self.d_conv,
        );
        let branch = di * k + di + di * (r + 2 * n) + r * di + di; // conv, x_proj, dt_proj
        let mut layer = 2 * di * d + branch + di * n + di + di * d + d; // in/out proj, A, D, norm
        layer += match self.variant {
            Variant::None => 0,
            Variant::V1 => di * n,
            Variant::V2 => di * n + branch + di,
        };
        let patch = d * self.patch.0 * self.patch.1 + d;
        let outside =
            patch + (1 + self.num_patches()) * d + d + d + self.num_classes * d + self.num_classes;
        self.depth * layer + outside
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> aum_core::Result<()> {
        let bad = |m: String| {
            Err(aum_core::Error::InvalidInput(format!(
                "invalid AuM config: {m}"
            )))
        };
        if self.embed_dim == 0 || self.depth == 0 || self.d_state == 0 || self.d_conv == 0 {
            return bad("embed_dim, depth, d_state and d_conv must be positive".into());
        }
        if self.expand == 0 || self.dt_rank == 0 || self.num_classes == 0 {
            return bad("expand, dt_rank and num_classes must be positive".into());
        }
        if self.patch.0 == 0 || self.patch.1 == 0 || self.stride.0 == 0 || self.stride.1 == 0 {
            return bad("patch and stride must be positive".into());
        }
        if self.num_patches() == 0 {
            return bad(format!(
                "a {} x {} spectrogram holds no {:?} patch",
                self.frames, self.num_mel_bins, self.patch
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exact parameter counts (527 classes, 1024 frames), which round to the #Params column of
    /// upstream's README (L111-140 at kaistmm/Audio-Mamba-AuM@b0eb85d595c4) and of released
    /// checkpoints.
    #[test]
    fn parameter_counts_match_the_paper() {
        let with = |mut c: AumConfig, v: Variant| {
            c.variant = v;
            c.num_params()
        };
        assert_eq!(with(AumConfig::tiny(), Variant::None), 6_291_023);
        assert_eq!(with(AumConfig::tiny(), Variant::V1), 6_438_479);
        assert_eq!(with(AumConfig::tiny(), Variant::V2), 7_019_087);
        assert_eq!(with(AumConfig::small(), Variant::None), 23_640_719);
        assert_eq!(with(AumConfig::small(), Variant::V1), 23_935_631);
        assert_eq!(AumConfig::small().num_params(), 25_539_215);
        assert_eq!(with(AumConfig::base(), Variant::None), 91_517_711);
        assert_eq!(AumConfig::base().num_params(), 92_107_535);
        assert_eq!(with(AumConfig::base(), Variant::V2), 97_084_175);
        let vgg = AumConfig {
            num_classes: 309,
            ..AumConfig::base()
        };
        assert_eq!(vgg.num_params(), 91_939_893);
        let sc = AumConfig {
            num_classes: 35,
            frames: 128,
            ..AumConfig::base()
        };
        assert_eq!(sc.num_params(), 91_385_123);
    }

    #[test]
    fn grid_and_cls_index_follow_the_official_code() {
        let c = AumConfig::base();
        assert_eq!(c.grid(), (8, 64));
        assert_eq!(ClsPosition::Middle.index(c.num_patches()), 256);
        assert_eq!(c.grid_for(998), (8, 62));
        assert_eq!(ClsPosition::Tail.index(64), 64);
    }
}
