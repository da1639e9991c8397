//! AST checkpoints in either published layout — the HuggingFace hub's
//! (`audio_spectrogram_transformer.encoder.layer.N.attention.attention.query…`) and the original
//! YuanGongND/ast one (`module.v.blocks.N.attn.qkv…`, fused q|k|v, `mlp_head`) — as `.pth` or
//! safetensors. Both are normalised to the HF names; the config is inferred from the tensors.

use std::collections::HashMap;
use std::path::Path;

use aum_core::{Activation, Error, Result};
use aum_fbank::{FrontEnd, Preset};
use aum_io::meta;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::config::AstConfig;
use crate::model::AstModel;

const PREFIX: &str = "audio_spectrogram_transformer.";
const META_CONFIG: &str = "ast.config";

/// An AST checkpoint: tensors by HF name, checked against its config, labels when the file
/// carries them, and the input pipeline the model expects.
#[derive(Debug, Clone)]
pub struct AstCheckpoint {
    tensors: HashMap<String, Tensor>,
    config: AstConfig,
    labels: Option<Vec<String>>,
    front_end: FrontEnd,
    /// How the logits become scores, when the file says.
    activation: Option<Activation>,
}

impl AstCheckpoint {
    /// Loads a `.pth` or safetensors file in either layout.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (tensors, meta) = aum_io::read_tensors(path)?;
        Self::from_tensors(tensors, &meta).map_err(|e| e.in_file(path))
    }

    /// Builds a checkpoint from tensors (either layout, `module.` already stripped) and the
    /// file's metadata (our `ast.config`, or the HF config keys the fixtures carry).
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
    ) -> Result<Self> {
        let tensors = to_hf_layout(tensors)?;
        let config = match meta::get(meta, META_CONFIG)? {
            Some(c) => c,
            None => infer_config(&tensors, meta)?,
        };
        let stored = meta::Stored::read(meta)?;
        let mut ckpt = Self::new(tensors, config, stored.labels)?;
        ckpt.front_end = stored.front_end.unwrap_or(ckpt.front_end);
        ckpt.activation = stored.activation;
        Ok(ckpt)
    }

    /// Checks HF-layout `tensors` against `config` (every key present, none extra, every shape
    /// right); the front end is [`default_front_end`].
    pub fn new(
        tensors: HashMap<String, Tensor>,
        config: AstConfig,
        labels: Option<Vec<String>>,
    ) -> Result<Self> {
        config.validate()?;
        validate(&tensors, &config)?;
        let front_end = default_front_end(&config);
        let ckpt = Self {
            tensors,
            config,
            labels: None,
            front_end,
            activation: None,
        };
        match labels {
            Some(l) => ckpt.with_labels(l),
            None => Ok(ckpt),
        }
    }

    /// The tensors, by HF name.
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// The tensors, consuming the checkpoint.
    pub fn into_tensors(self) -> HashMap<String, Tensor> {
        self.tensors
    }

    /// The network's configuration.
    pub fn config(&self) -> &AstConfig {
        &self.config
    }

    /// Class names, when the file carries them.
    pub fn labels(&self) -> Option<&[String]> {
        self.labels.as_deref()
    }

    /// The input pipeline the model expects.
    pub fn front_end(&self) -> &FrontEnd {
        &self.front_end
    }

    /// How the logits become scores, when the file says.
    pub fn activation(&self) -> Option<Activation> {
        self.activation
    }

    /// Sets how the logits become scores (stored by [`Self::save`]).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = Some(activation);
        self
    }

    /// Replaces the input pipeline (a training run's recipe, say).
    pub fn with_front_end(mut self, front_end: FrontEnd) -> Self {
        self.front_end = front_end;
        self
    }

    /// Builds the network on `device`, keeping the checkpoint.
    pub fn model(&self, device: &Device) -> Result<AstModel> {
        let vb = VarBuilder::from_tensors(self.tensors.clone(), DType::F32, device);
        Ok(AstModel::new(self.config.clone(), vb)?)
    }

    /// Builds the network on `device` from the checkpoint's own tensors, each freed as soon as
    /// the model has what it needs of it (on the CPU, matmul weights are kept transposed:
    /// `aum_kernels::Dense`), where [`AstCheckpoint::model`] keeps the checkpoint and so
    /// holds the weights twice.
    pub fn into_model(self, device: &Device) -> Result<AstModel> {
        Ok(AstModel::new(
            self.config,
            aum_kernels::handing_over(self.tensors, device),
        )?)
    }

    /// The number of weights.
    pub fn num_params(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }

    /// Writes HF-layout safetensors with the config, front end (and labels) in the metadata,
    /// atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let stored = meta::Stored {
            labels: self.labels.clone(),
            front_end: Some(self.front_end.clone()),
            activation: self.activation,
        };
        let m = stored.write("ast", META_CONFIG, &self.config);
        aum_io::save_safetensors(path.as_ref(), &self.tensors, m)
    }

    /// Attaches class names; their number must equal the model's classes.
    pub fn with_labels(mut self, labels: Vec<String>) -> Result<Self> {
        if labels.len() != self.config.num_classes {
            return Err(Error::InvalidInput(format!(
                "{} labels for a model with {} classes",
                labels.len(),
                self.config.num_classes
            )));
        }
        self.labels = Some(labels);
        Ok(self)
    }
}

/// The HuggingFace AST feature pipeline (no waveform centring) at the model's frame count, with
/// Speech Commands statistics for 35-class models and AudioSet's otherwise.
pub fn default_front_end(cfg: &AstConfig) -> FrontEnd {
    let preset = if cfg.num_classes == 35 {
        Preset::SpeechCommands
    } else {
        Preset::AudioSet
    };
    let (mean, std) = preset.stats();
    FrontEnd {
        mean,
        std,
        frames: Some(cfg.frames),
        sample_rate: Some(16_000),
        num_mel_bins: cfg.num_mel_bins,
        ..FrontEnd::hf_ast()
    }
}

/// Renames original-layout tensors to HF names (splitting the fused qkv) and prefixes a bare
/// `ASTModel`'s keys; drops the unused ImageNet heads (`v.head`, `v.head_dist`).
fn to_hf_layout(tensors: HashMap<String, Tensor>) -> Result<HashMap<String, Tensor>> {
    let mut out = HashMap::with_capacity(tensors.len());
    for (name, t) in tensors {
        if name.starts_with("v.head.") || name.starts_with("v.head_dist.") {
            continue;
        }
        if let Some(rest) = name.strip_prefix("v.blocks.") {
            let (i, what) = rest
                .split_once('.')
                .ok_or_else(|| Error::InvalidInput(format!("unexpected tensor `{name}`")))?;
            let layer = format!("{PREFIX}encoder.layer.{i}.");
            if let Some(kind) = what.strip_prefix("attn.qkv.") {
                let n = t.dim(0)? / 3;
                for (k, part) in ["query", "key", "value"].iter().enumerate() {
                    out.insert(
                        format!("{layer}attention.attention.{part}.{kind}"),
                        t.narrow(0, k * n, n)?.contiguous()?,
                    );
                }
                continue;
            }
            let mapped = [
                ("norm1.", "layernorm_before."),
                ("norm2.", "layernorm_after."),
                ("attn.proj.", "attention.output.dense."),
                ("mlp.fc1.", "intermediate.dense."),
                ("mlp.fc2.", "output.dense."),
            ]
            .iter()
            .find_map(|(from, to)| what.strip_prefix(from).map(|k| format!("{layer}{to}{k}")))
            .ok_or_else(|| Error::InvalidInput(format!("unexpected tensor `{name}`")))?;
            out.insert(mapped, t);
            continue;
        }
        let renamed = match name.as_str() {
            "v.cls_token" => format!("{PREFIX}embeddings.cls_token"),
            "v.dist_token" => format!("{PREFIX}embeddings.distillation_token"),
            "v.pos_embed" => format!("{PREFIX}embeddings.position_embeddings"),
            n if n.starts_with("v.patch_embed.proj.") => {
                format!(
                    "{PREFIX}embeddings.patch_embeddings.projection.{}",
                    &n["v.patch_embed.proj.".len()..]
                )
            }
            n if n.starts_with("v.norm.") => format!("{PREFIX}layernorm.{}", &n["v.norm.".len()..]),
            n if n.starts_with("mlp_head.0.") => {
                format!("classifier.layernorm.{}", &n["mlp_head.0.".len()..])
            }
            n if n.starts_with("mlp_head.1.") => {
                format!("classifier.dense.{}", &n["mlp_head.1.".len()..])
            }
            n if n.starts_with("embeddings.")
                || n.starts_with("encoder.")
                || n.starts_with("layernorm.") =>
            {
                format!("{PREFIX}{n}")
            }
            _ => name,
        };
        out.insert(renamed, t);
    }
    Ok(out)
}

fn shape(tensors: &HashMap<String, Tensor>, name: &str) -> Result<Vec<usize>> {
    tensors
        .get(name)
        .map(|t| t.dims().to_vec())
        .ok_or_else(|| Error::MissingTensor(name.to_string()))
}

/// Sizes from the tensors; heads, strides, frames and eps from HF-style metadata when present.
/// Otherwise heads = hidden / 64 and equal strides/frames are searched among the published
/// settings (strides 10-16, 1024 or 128 frames) for the positional embedding's patch count.
fn infer_config(
    tensors: &HashMap<String, Tensor>,
    meta: &HashMap<String, String>,
) -> Result<AstConfig> {
    let num = |key: &str| meta.get(key).and_then(|v| v.parse::<usize>().ok());
    let cls = shape(tensors, &format!("{PREFIX}embeddings.cls_token"))?;
    let hidden = cls.get(2).copied().unwrap_or(0);
    let layers = tensors
        .keys()
        .filter_map(|k| {
            k.strip_prefix(&format!("{PREFIX}encoder.layer."))?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    let mlp = shape(
        tensors,
        &format!("{PREFIX}encoder.layer.0.intermediate.dense.weight"),
    )?[0];
    let classes = shape(tensors, "classifier.dense.weight")?[0];
    let proj = shape(
        tensors,
        &format!("{PREFIX}embeddings.patch_embeddings.projection.weight"),
    )?;
    let patch = proj.get(2).copied().unwrap_or(0);
    let patches = shape(tensors, &format!("{PREFIX}embeddings.position_embeddings"))?
        .get(1)
        .copied()
        .unwrap_or(0)
        .saturating_sub(2);
    let mut cfg = AstConfig {
        hidden,
        layers,
        heads: num("num_attention_heads").unwrap_or((hidden / 64).max(1)),
        mlp,
        patch,
        frequency_stride: 0,
        time_stride: 0,
        frames: 0,
        num_mel_bins: num("num_mel_bins").unwrap_or(128),
        num_classes: classes,
        layer_norm_eps: meta
            .get("layer_norm_eps")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1e-12),
    };
    if let (Some(fs), Some(ts), Some(frames)) = (
        num("frequency_stride"),
        num("time_stride"),
        num("max_length"),
    ) {
        (cfg.frequency_stride, cfg.time_stride, cfg.frames) = (fs, ts, frames);
    } else {
        let found = [10, 12, 14, 16]
            .iter()
            .flat_map(|&s| [1024, 128].map(|f| (s, f)))
            .find(|&(s, frames)| {
                let c = AstConfig {
                    frequency_stride: s,
                    time_stride: s,
                    frames,
                    ..cfg.clone()
                };
                c.num_patches() == patches
            });
        let (s, frames) = found.ok_or_else(|| {
            Error::InvalidInput(format!(
                "cannot infer strides and frames from {patches} positional patches; convert the checkpoint with its config"
            ))
        })?;
        (cfg.frequency_stride, cfg.time_stride, cfg.frames) = (s, s, frames);
    }
    Ok(cfg)
}

/// Every tensor of an AST of this configuration, by HF name.
pub fn expected_shapes(cfg: &AstConfig) -> Vec<(String, Vec<usize>)> {
    let (h, m, p) = (cfg.hidden, cfg.mlp, cfg.patch);
    let e = format!("{PREFIX}embeddings.");
    let mut v = vec![
        (format!("{e}cls_token"), vec![1, 1, h]),
        (format!("{e}distillation_token"), vec![1, 1, h]),
        (
            format!("{e}position_embeddings"),
            vec![1, 2 + cfg.num_patches(), h],
        ),
        (
            format!("{e}patch_embeddings.projection.weight"),
            vec![h, 1, p, p],
        ),
        (format!("{e}patch_embeddings.projection.bias"), vec![h]),
        (format!("{PREFIX}layernorm.weight"), vec![h]),
        (format!("{PREFIX}layernorm.bias"), vec![h]),
        ("classifier.layernorm.weight".into(), vec![h]),
        ("classifier.layernorm.bias".into(), vec![h]),
        ("classifier.dense.weight".into(), vec![cfg.num_classes, h]),
        ("classifier.dense.bias".into(), vec![cfg.num_classes]),
    ];
    for i in 0..cfg.layers {
        let l = format!("{PREFIX}encoder.layer.{i}.");
        for norm in ["layernorm_before", "layernorm_after"] {
            v.push((format!("{l}{norm}.weight"), vec![h]));
            v.push((format!("{l}{norm}.bias"), vec![h]));
        }
        for lin in [
            "attention.attention.query",
            "attention.attention.key",
            "attention.attention.value",
            "attention.output.dense",
        ] {
            v.push((format!("{l}{lin}.weight"), vec![h, h]));
            v.push((format!("{l}{lin}.bias"), vec![h]));
        }
        v.push((format!("{l}intermediate.dense.weight"), vec![m, h]));
        v.push((format!("{l}intermediate.dense.bias"), vec![m]));
        v.push((format!("{l}output.dense.weight"), vec![h, m]));
        v.push((format!("{l}output.dense.bias"), vec![h]));
    }
    v
}

fn validate(tensors: &HashMap<String, Tensor>, cfg: &AstConfig) -> Result<()> {
    aum_io::check_layout(tensors, &expected_shapes(cfg), "an AST")
}
