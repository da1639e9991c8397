//! The AST network (Gong et al. 2021) in the HuggingFace layout: overlapping 16x16 patches,
//! cls + distillation tokens, pre-norm ViT blocks with exact GELU, and a head on the mean of the
//! two token outputs (`ASTModel.forward`, `src/models/ast_models.py` L164-187 at
//! YuanGongND/ast@31088be8a3f6; HF transformers v4.46.0,
//! `modeling_audio_spectrogram_transformer.py` L48-108, L326-365, L546-580).

use aum_core::AudioClassifier;
use aum_kernels::{dense, spectrogram_patches, Dense, Precision};
use candle_core::{Device, Module, ModuleT, Result, Tensor, D};
use candle_nn::{Init, VarBuilder};

use crate::config::AstConfig;

/// Query rows per attention chunk (training, GPU) are chosen so one chunk's scores stay under
/// this many floats (16 MiB): all heads' L x L matrices never exist at once, so 8192-token
/// inputs fit, and a chunk is small enough for the allocator to reuse the previous one's
/// memory. Chunks hold one head's rows, not all heads': the same budget then gives each matmul
/// 12 times the rows (1023 at 4098 tokens), which multiply faster than 85 rows.
const SCORE_BUDGET: usize = 4 << 20;

#[derive(Debug, Clone)]
struct Norm {
    w: Tensor,
    b: Tensor,
}

impl Norm {
    fn new(size: usize, vb: VarBuilder) -> Result<Self> {
        Ok(Self {
            w: vb.get_with_hints(size, "weight", Init::Const(1.0))?,
            b: vb.get_with_hints(size, "bias", Init::Const(0.0))?,
        })
    }

    fn forward(&self, x: &Tensor, eps: f64, train: bool) -> Result<Tensor> {
        match train {
            false => aum_kernels::layer_norm(x, &self.w, &self.b, eps as f32),
            true => candle_nn::ops::layer_norm_slow(x, &self.w, &self.b, eps as f32),
        }
    }
}

#[derive(Debug, Clone)]
struct Layer {
    norm_before: Norm,
    query: Dense,
    key: Dense,
    value: Dense,
    out: Dense,
    norm_after: Norm,
    fc1: Dense,
    fc2: Dense,
}

impl Layer {
    fn new(cfg: &AstConfig, vb: VarBuilder) -> Result<Self> {
        let (h, m) = (cfg.hidden, cfg.mlp);
        let att = vb.pp("attention");
        Ok(Self {
            norm_before: Norm::new(h, vb.pp("layernorm_before"))?,
            query: dense(h, h, true, att.pp("attention.query"))?,
            key: dense(h, h, true, att.pp("attention.key"))?,
            value: dense(h, h, true, att.pp("attention.value"))?,
            out: dense(h, h, true, att.pp("output.dense"))?,
            norm_after: Norm::new(h, vb.pp("layernorm_after"))?,
            fc1: dense(h, m, true, vb.pp("intermediate.dense"))?,
            fc2: dense(m, h, true, vb.pp("output.dense"))?,
        })
    }

    fn with_precision(self, p: Precision) -> Result<Self> {
        Ok(Self {
            query: self.query.with_precision(p)?,
            key: self.key.with_precision(p)?,
            value: self.value.with_precision(p)?,
            out: self.out.with_precision(p)?,
            fc1: self.fc1.with_precision(p)?,
            fc2: self.fc2.with_precision(p)?,
            ..self
        })
    }

    fn forward(&self, x: &Tensor, cfg: &AstConfig, train: bool) -> Result<Tensor> {
        let h = self.norm_before.forward(x, cfg.layer_norm_eps, train)?;
        let x = aum_kernels::add_in_place(self.out.forward(&self.attention(&h, cfg, train)?)?, x)?;
        let h = self.norm_after.forward(&x, cfg.layer_norm_eps, train)?;
        let h = self.fc1.forward(&h)?;
        let h = match train {
            false => aum_kernels::gelu_erf_in_place(h)?,
            true => h.gelu_erf()?,
        };
        aum_kernels::add_in_place(self.fc2.forward(&h)?, &x)
    }

    /// Multi-head self-attention, the two products in the layers' precision, the softmax in
    /// f32: fused per head on the CPU for inference ([`aum_kernels::attention`]), else in
    /// candle ops, one head at a time in chunks of query rows.
    fn attention(&self, h: &Tensor, cfg: &AstConfig, train: bool) -> Result<Tensor> {
        let precision = self.query.precision();
        let (q, k, v) = (
            self.query.forward(h)?,
            self.key.forward(h)?,
            self.value.forward(h)?,
        );
        if !train && h.device().is_cpu() {
            return aum_kernels::attention(&q, &k, &v, cfg.heads, precision);
        }
        let (b, l, d) = h.dims3()?;
        let (heads, dh) = (cfg.heads, d / cfg.heads);
        let split = |t: Tensor| t.reshape((b, l, heads, dh))?.transpose(1, 2)?.contiguous();
        let q = (split(q)? * (1.0 / (dh as f64).sqrt()))?;
        let kt = split(k)?.transpose(2, 3)?.contiguous()?;
        let v = split(v)?;
        let rows = (SCORE_BUDGET / (b * l).max(1)).clamp(1, l);
        let mut per_head = Vec::with_capacity(heads);
        for head in 0..heads {
            let (q, kt, v) = (
                q.narrow(1, head, 1)?,
                kt.narrow(1, head, 1)?,
                v.narrow(1, head, 1)?,
            );
            let mut chunks = Vec::with_capacity(l.div_ceil(rows));
            for start in (0..l).step_by(rows) {
                let n = rows.min(l - start);
                let scores = aum_kernels::matmul(&q.narrow(2, start, n)?, &kt, precision)?;
                let probs = match train {
                    false => aum_kernels::softmax_last_dim_in_place(scores)?,
                    true => candle_nn::ops::softmax(&scores, D::Minus1)?,
                };
                chunks.push(aum_kernels::matmul(&probs, &v, precision)?);
            }
            per_head.push(Tensor::cat(&chunks, 2)?);
        }
        Tensor::cat(&per_head, 1)?
            .transpose(1, 2)?
            .reshape((b, l, d))
    }
}

/// The Audio Spectrogram Transformer. Parameter names are HuggingFace's
/// (`audio_spectrogram_transformer.…`, `classifier.…`); [`crate::AstCheckpoint`] also reads
/// the original layout.
#[derive(Debug, Clone)]
pub struct AstModel {
    cfg: AstConfig,
    /// The patch conv as a matmul: its kernel flattened to (hidden, patch * patch), and its
    /// bias.
    patch: Dense,
    cls: Tensor,
    dist: Tensor,
    /// (1, 2 + N, hidden): rows 0 and 1 for the cls and distillation tokens.
    pos: Tensor,
    layers: Vec<Layer>,
    norm: Norm,
    head_norm: Norm,
    head: Dense,
}

impl AstModel {
    /// Builds the model from `vb` under HuggingFace names, validating `cfg` first; a `vb`
    /// that creates variables initialises them as ViT does (normal, std 0.02).
    pub fn new(cfg: AstConfig, vb: VarBuilder) -> Result<Self> {
        cfg.validate()?;
        let (h, p) = (cfg.hidden, cfg.patch);
        let trunc = Init::Randn {
            mean: 0.0,
            stdev: 0.02,
        };
        let base = vb.pp("audio_spectrogram_transformer");
        let emb = base.pp("embeddings");
        let proj = emb.pp("patch_embeddings.projection");
        let patch_w = proj
            .get_with_hints((h, 1, p, p), "weight", trunc)?
            .reshape((h, p * p))?;
        let patch = Dense::new(
            patch_w,
            Some(proj.get_with_hints(h, "bias", Init::Const(0.0))?),
        )?;
        let layers = (0..cfg.layers)
            .map(|i| Layer::new(&cfg, base.pp(format!("encoder.layer.{i}"))))
            .collect::<Result<Vec<_>>>()?;
        let head = dense(h, cfg.num_classes, true, vb.pp("classifier.dense"))?;
        Ok(Self {
            patch,
            cls: emb.get_with_hints((1, 1, h), "cls_token", trunc)?,
            dist: emb.get_with_hints((1, 1, h), "distillation_token", trunc)?,
            pos: emb.get_with_hints((1, 2 + cfg.num_patches(), h), "position_embeddings", trunc)?,
            layers,
            norm: Norm::new(h, base.pp("layernorm"))?,
            head_norm: Norm::new(h, vb.pp("classifier.layernorm"))?,
            head,
            cfg,
        })
    }

    /// The model with its linear layers and attention products in `precision`: bf16 halves
    /// the layers' memory and runs them and attention's two products on the bf16 GEMM, while
    /// norms, residuals, softmax and GELU stay f32 (see [`Precision`]). For inference: a model
    /// being trained is refused.
    pub fn with_precision(self, precision: Precision) -> Result<Self> {
        let layers = self
            .layers
            .into_iter()
            .map(|l| l.with_precision(precision))
            .collect::<Result<_>>()?;
        Ok(Self {
            patch: self.patch.with_precision(precision)?,
            head: self.head.with_precision(precision)?,
            layers,
            ..self
        })
    }

    /// The precision of the linear layers.
    pub fn precision(&self) -> Precision {
        self.head.precision()
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &AstConfig {
        &self.cfg
    }

    /// The patch rows of the positional embedding for a clip whose time grid is `t`: AST's own
    /// rule for other lengths — centre-crop in time when shorter, bilinear when longer.
    fn patch_pos(&self, t: usize) -> Result<Tensor> {
        let (f, t0) = self.cfg.grid_for(self.cfg.frames);
        let d = self.cfg.hidden;
        let grid = self.pos.narrow(1, 2, f * t0)?;
        if t == t0 {
            return Ok(grid);
        }
        let grid = grid.reshape((f, t0, d))?;
        let g = if t < t0 {
            grid.narrow(1, t0 / 2 - t / 2, t)?
        } else {
            let w = Tensor::from_vec(
                aum_kernels::bilinear_matrix(t0, t),
                (t, t0),
                self.pos.device(),
            )?;
            // (t, t0) x (t0, f * d) over the time axis.
            let g = w.matmul(&grid.transpose(0, 1)?.contiguous()?.reshape((t0, f * d))?)?;
            g.reshape((t, f, d))?.transpose(0, 1)?.contiguous()?
        };
        g.reshape((1, f * t, d))
    }

    /// The encoder's output pooled over the cls and distillation tokens, (B, 1, hidden).
    fn pooled(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let (b, _, f) = x.dims3()?;
        if f != self.cfg.num_mel_bins {
            candle_core::bail!(
                "AST input must be (batch, frames, {}), got {:?}",
                self.cfg.num_mel_bins,
                x.dims()
            );
        }
        let stride = (self.cfg.frequency_stride, self.cfg.time_stride);
        let (patches, (_, t)) = spectrogram_patches(x, (self.cfg.patch, self.cfg.patch), stride)?;
        let tokens = self
            .patch
            .forward(&patches)?
            .broadcast_add(&self.patch_pos(t)?)?;
        let d = self.cfg.hidden;
        let cls = (&self.cls + self.pos.narrow(1, 0, 1)?)?.broadcast_as((b, 1, d))?;
        let dist = (&self.dist + self.pos.narrow(1, 1, 1)?)?.broadcast_as((b, 1, d))?;
        let mut x = Tensor::cat(&[cls, dist, tokens], 1)?;
        for layer in &self.layers {
            x = layer.forward(&x, &self.cfg, train)?;
        }
        let x = self.norm.forward(&x, self.cfg.layer_norm_eps, train)?;
        (x.narrow(1, 0, 1)? + x.narrow(1, 1, 1)?)? * 0.5
    }

    /// (B, T, F) normalised fbank -> (B, hidden): the mean of the cls and distillation token
    /// outputs after the final norm, the vector the head reads.
    pub fn embed(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.pooled(x, train)?.squeeze(1)
    }

    /// (B, T, F) normalised fbank -> (B, classes) logits; `train` picks the composed layer
    /// norms and GELU (with a backward pass) over the fused in-place ones.
    fn logits_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let pooled = self.embed(x, train)?;
        self.head.forward(
            &self
                .head_norm
                .forward(&pooled, self.cfg.layer_norm_eps, train)?,
        )
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        self.pos.device()
    }
}

/// (`Module` is not implemented as well: candle derives `ModuleT` from it.)
impl ModuleT for AstModel {
    fn forward_t(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        self.logits_t(x, train)
    }
}

impl AudioClassifier for AstModel {
    fn logits(&self, features: &Tensor) -> aum_core::Result<Tensor> {
        Ok(self.logits_t(features, false)?)
    }

    fn embed(&self, features: &Tensor) -> aum_core::Result<Tensor> {
        Ok(AstModel::embed(self, features, false)?)
    }

    fn num_classes(&self) -> usize {
        self.cfg.num_classes
    }

    fn device(&self) -> &Device {
        AstModel::device(self)
    }
}
