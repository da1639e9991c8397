//! The Audio Mamba network: patch embedding, positional embedding with a CLS token in the
//! middle, a stack of bidirectional Mamba blocks with an f32 residual stream and RMSNorm, and a
//! linear head on the CLS token (`AudioMamba.forward_features`, `src/models/mamba_models.py`
//! L509-664, and `Block` L30-99 at kaistmm/Audio-Mamba-AuM@b0eb85d595c4).

use aum_core::AudioClassifier;
use aum_kernels::spectrogram_patches;
use aum_scan::Backend;
use candle_core::{DType, Device, Module, ModuleT, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::config::AumConfig;
use crate::mixer::Mixer;
use crate::posembed::resample_pos_embed;
use aum_kernels::{Dense, Precision};

#[derive(Debug, Clone)]
struct Block {
    norm: Tensor,
    mixer: Mixer,
}

/// The model. Build it from a [`VarBuilder`] (a checkpoint, or a `VarMap` to train), or load a
/// checkpoint with [`crate::AumCheckpoint`].
#[derive(Debug, Clone)]
pub struct AumModel {
    cfg: AumConfig,
    /// The patch conv as a matmul: its kernel flattened to (D, patch_f * patch_t) in
    /// [freq][time] order, and its bias.
    patch: Dense,
    /// (1, 1 + N, D); row 0 belongs to the CLS token.
    pos_embed: Tensor,
    cls_token: Tensor,
    blocks: Vec<Block>,
    norm_f: Tensor,
    head: Dense,
    backend: Backend,
}

/// The intermediate results the parity fixtures record.
#[derive(Debug, Clone)]
pub struct ForwardTrace {
    /// (B, N + 1, D): the sequence entering layer 0 (patches + pos embed, CLS inserted).
    pub tokens: Tensor,
    /// (B, D): the CLS row after the final RMSNorm.
    pub cls_features: Tensor,
    /// (B, classes).
    pub logits: Tensor,
}

impl AumModel {
    /// Builds the model from `vb` under the official parameter names, validating `cfg` first;
    /// the scan runs on CUDA when `vb` is on a CUDA device, on the CPU otherwise.
    pub fn new(cfg: AumConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let d = cfg.embed_dim;
        let (pf, pt) = cfg.patch;
        let pe = vb.pp("patch_embed.proj");
        let patch_w = pe
            .get_with_hints(
                (d, 1, pf, pt),
                "weight",
                Init::Randn {
                    mean: 0.0,
                    stdev: (1.0 / (pf * pt) as f64).sqrt(),
                },
            )?
            .reshape((d, pf * pt))?;
        let patch = Dense::new(
            patch_w,
            Some(pe.get_with_hints(d, "bias", Init::Const(0.0))?),
        )?;
        let trunc = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let pos_embed =
            vb.get_with_hints((1, 1 + cfg.num_patches(), d), "pos_embed.pos_embed", trunc)?;
        let cls_token = vb.get_with_hints((1, 1, d), "cls_token", trunc)?;
        let blocks = (0..cfg.depth)
            .map(|i| {
                let lb = vb.pp(format!("layers.{i}"));
                Ok(Block {
                    norm: lb.get_with_hints(d, "norm.weight", Init::Const(1.0))?,
                    mixer: Mixer::new(&cfg, lb.pp("mixer"))?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let norm_f = vb.get_with_hints(d, "norm_f.weight", Init::Const(1.0))?;
        let hb = vb.pp("head");
        let head = Dense::new(
            hb.get_with_hints((cfg.num_classes, d), "weight", trunc)?,
            Some(hb.get_with_hints(cfg.num_classes, "bias", Init::Const(0.0))?),
        )?;
        let backend = if vb.device().is_cuda() {
            Backend::Cuda
        } else {
            Backend::Cpu
        };
        Ok(Self {
            cfg,
            patch,
            pos_embed,
            cls_token,
            blocks,
            norm_f,
            head,
            backend,
        })
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &AumConfig {
        &self.cfg
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        self.head.device()
    }

    /// The model with its linear layers (patch embedding, the mixers' projections, head) in
    /// `precision`: bf16 halves their memory and runs them on the bf16 GEMM, while norms,
    /// residuals, conv and the selective scan stay f32 (see [`Precision`]). For inference:
    /// a model being trained is refused.
    pub fn with_precision(self, precision: Precision) -> Result<Self> {
        let blocks = self
            .blocks
            .into_iter()
            .map(|b| {
                Ok(Block {
                    mixer: b.mixer.with_precision(precision)?,
                    ..b
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            patch: self.patch.with_precision(precision)?,
            head: self.head.with_precision(precision)?,
            blocks,
            ..self
        })
    }

    /// The precision of the linear layers.
    pub fn precision(&self) -> Precision {
        self.head.precision()
    }

    /// Runs the selective scan on another backend (e.g. the reference, to check the fast one).
    pub fn with_scan_backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    /// Patches of `x` (B, T, F) and their grid, checking the input's shape first.
    fn patches(&self, x: &Tensor) -> Result<(Tensor, (usize, usize))> {
        let (_, t, f) = x.dims3()?;
        if f != self.cfg.num_mel_bins || self.cfg.grid_for(t).1 == 0 {
            candle_core::bail!(
                "AuM input must be (batch, frames >= {}, {}) normalised fbank, got {:?}",
                self.cfg.patch.1,
                self.cfg.num_mel_bins,
                x.dims()
            );
        }
        spectrogram_patches(x, self.cfg.patch, self.cfg.stride)
    }

    /// The sequence entering layer 0 and the CLS index.
    pub fn embed(&self, x: &Tensor) -> Result<(Tensor, usize)> {
        let (patches, grid) = self.patches(x)?;
        let b = patches.dim(0)?;
        let tokens = self.patch.forward(&patches)?;
        // A clip of another length gets the positional embedding resampled to its grid.
        let pos = resample_pos_embed(&self.pos_embed, self.cfg.grid(), grid)?;
        let n = grid.0 * grid.1;
        let tokens = tokens.broadcast_add(&pos.narrow(1, 1, n)?)?;
        let cls =
            (&self.cls_token + pos.narrow(1, 0, 1)?)?.broadcast_as((b, 1, self.cfg.embed_dim))?;
        let p = self.cfg.cls_position.index(n);
        let seq = Tensor::cat(
            &[tokens.narrow(1, 0, p)?, cls, tokens.narrow(1, p, n - p)?],
            1,
        )?;
        Ok((seq, p))
    }

    /// The block stack and the final norm: (B, L, D) -> (B, L, D). `train` picks the composed
    /// RMSNorm, which has a backward pass, over candle's fused one.
    pub fn encode(&self, seq: &Tensor, train: bool) -> Result<Tensor> {
        let eps = self.cfg.norm_eps as f32;
        let rms = |x: &Tensor, w: &Tensor| match train {
            false => aum_kernels::rms_norm(x, w, eps),
            true => candle_nn::ops::rms_norm_slow(x, w, eps),
        };
        let mut residual: Option<Tensor> = None;
        let mut hidden = seq.clone();
        for block in &self.blocks {
            let r = match residual {
                None => hidden,
                Some(r) => aum_kernels::add_in_place(hidden, &r)?,
            };
            hidden = block
                .mixer
                .forward(&rms(&r, &block.norm)?, &self.cfg, self.backend)?;
            residual = Some(r);
        }
        let r = match residual {
            None => hidden,
            Some(r) => aum_kernels::add_in_place(hidden, &r)?,
        };
        rms(&r, &self.norm_f)
    }

    /// Logits and the intermediate results, for (B, T, F) normalised fbank.
    pub fn trace(&self, x: &Tensor, train: bool) -> Result<ForwardTrace> {
        let x = x.to_dtype(DType::F32)?;
        let (tokens, p) = self.embed(&x)?;
        let out = self.encode(&tokens, train)?;
        // contiguous: CUDA matmul rejects the strided row (the CPU one accepts it).
        let cls_features = out.narrow(1, p, 1)?.squeeze(1)?.contiguous()?;
        let logits = self.head.forward(&cls_features)?;
        Ok(ForwardTrace {
            tokens,
            cls_features,
            logits,
        })
    }
}

/// (B, T, F) normalised fbank -> (B, classes) logits; `train` makes the pass differentiable.
/// T may differ from the trained length: the positional embedding is then resampled to the
/// clip's grid. (`Module` is not implemented as well: candle derives `ModuleT` from it.)
impl ModuleT for AumModel {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.trace(x, train)?.logits)
    }
}

impl AudioClassifier for AumModel {
    fn logits(&self, features: &Tensor) -> aum_core::Result<Tensor> {
        Ok(self.forward_t(features, false)?)
    }

    fn embed(&self, features: &Tensor) -> aum_core::Result<Tensor> {
        Ok(self.trace(features, false)?.cls_features)
    }

    fn num_classes(&self) -> usize {
        self.cfg.num_classes
    }

    fn device(&self) -> &Device {
        AumModel::device(self)
    }
}
