//! Loading and saving Audio Mamba checkpoints by the official parameter names
//! (`AudioMamba.__init__`, `src/models/mamba_models.py` L277-319 and L456-477 at
//! kaistmm/Audio-Mamba-AuM@b0eb85d595c4):
//! PyTorch `.pth` zip pickles (a raw state_dict, `module.`-prefixed, or under a key such as
//! `model`) and safetensors. The configuration is inferred from the tensors, or read from the
//! metadata our own safetensors files carry; every missing, unexpected or mis-shaped tensor is an
//! error that names it.

use std::collections::HashMap;
use std::path::Path;

use aum_core::{Activation, Error, Result};
use aum_fbank::{FrontEnd, Preset};
use aum_io::meta;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;

use crate::config::{AumConfig, ClsPosition, Variant};
use crate::model::AumModel;
use aum_io::read_tensors;

/// The metadata key of the config (the other keys are shared: `aum_io::meta`).
const META_CONFIG: &str = "aum.config";

/// A checkpoint's tensors (by upstream name, `module.` stripped), its configuration and labels.
#[derive(Debug, Clone)]
pub struct AumCheckpoint {
    tensors: HashMap<String, Tensor>,
    config: AumConfig,
    /// Class names, when the file carries them.
    labels: Option<Vec<String>>,
    /// The input pipeline the model expects: from the file's metadata, or the published
    /// recipe matching its class count ([`default_front_end`]).
    front_end: FrontEnd,
    /// How the logits become scores, when the file says.
    activation: Option<Activation>,
}

impl AumCheckpoint {
    /// Loads a `.pth` or `.safetensors` file (detected from its content) onto the CPU.
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let (tensors, meta) = read_tensors(path)?;
        Self::from_tensors(tensors, &meta).map_err(|e| e.in_file(path))
    }

    /// A checkpoint from tensors (upstream names, `module.` stripped) and the file's metadata:
    /// our `aum.config`, `aum.labels` and `aum.frontend` when present, the config inferred from
    /// the tensors otherwise.
    pub fn from_tensors(
        tensors: HashMap<String, Tensor>,
        meta: &HashMap<String, String>,
    ) -> Result<Self> {
        let config = match meta::get(meta, META_CONFIG)? {
            Some(c) => c,
            None => infer_config(&tensors)?,
        };
        let stored = meta::Stored::read(meta)?;
        let mut ckpt = Self::new(tensors, config, stored.labels)?;
        ckpt.front_end = stored.front_end.unwrap_or(ckpt.front_end);
        ckpt.activation = stored.activation;
        Ok(ckpt)
    }

    /// Checks `tensors` against `config` (every key present, none extra, every shape right).
    pub fn new(
        tensors: HashMap<String, Tensor>,
        config: AumConfig,
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

    /// The tensors, by upstream name.
    pub fn tensors(&self) -> &HashMap<String, Tensor> {
        &self.tensors
    }

    /// The tensors, consuming the checkpoint.
    pub fn into_tensors(self) -> HashMap<String, Tensor> {
        self.tensors
    }

    /// The network's configuration.
    pub fn config(&self) -> &AumConfig {
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

    /// Builds the model on `device`, keeping the checkpoint. On the CPU the model's matmul
    /// weights are transposed copies (see [`AumCheckpoint::into_model`]), so while both live the
    /// weights take twice their size in memory.
    pub fn model(&self, device: &Device) -> Result<AumModel> {
        let vb = VarBuilder::from_tensors(self.tensors.clone(), DType::F32, device);
        Ok(AumModel::new(self.config.clone(), vb)?)
    }

    /// Builds the model on `device` from the checkpoint's own tensors, each freed as soon as
    /// the model has what it needs of it: the way to load for inference. (On the CPU, weights
    /// that feed a matmul are kept transposed: [`aum_kernels::Dense`].)
    pub fn into_model(self, device: &Device) -> Result<AumModel> {
        Ok(AumModel::new(
            self.config,
            aum_kernels::handing_over(self.tensors, device),
        )?)
    }

    /// Writes the checkpoint as safetensors with its config and labels in the metadata,
    /// atomically.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let stored = meta::Stored {
            labels: self.labels.clone(),
            front_end: Some(self.front_end.clone()),
            activation: self.activation,
        };
        let m = stored.write("aum", META_CONFIG, &self.config);
        aum_io::save_safetensors(path.as_ref(), &self.tensors, m)
    }

    /// The number of weights.
    pub fn num_params(&self) -> usize {
        self.tensors.values().map(Tensor::elem_count).sum()
    }
}

/// The input pipeline of the published recipe with this many classes (AudioSet 527, VGGSound
/// 309, VoxCeleb 1251, Speech Commands 35), AudioSet's otherwise; always at the model's frame
/// count, resampling to 16 kHz (a no-op for the 16 kHz data the models were trained on).
pub fn default_front_end(cfg: &AumConfig) -> FrontEnd {
    let preset = match cfg.num_classes {
        309 => Preset::VggSound,
        1251 => Preset::VoxCeleb,
        35 => Preset::SpeechCommands,
        _ => Preset::AudioSet,
    };
    FrontEnd {
        frames: Some(cfg.frames),
        sample_rate: Some(16_000),
        num_mel_bins: cfg.num_mel_bins,
        ..FrontEnd::aum(preset)
    }
}

fn dims(tensors: &HashMap<String, Tensor>, name: &str) -> Result<Vec<usize>> {
    tensors
        .get(name)
        .map(|t| t.dims().to_vec())
        .ok_or_else(|| Error::MissingTensor(name.to_string()))
}

fn dim(shape: &[usize], i: usize, name: &str) -> Result<usize> {
    shape.get(i).copied().ok_or_else(|| {
        Error::InvalidInput(format!(
            "tensor `{name}` has shape {shape:?}, too few dimensions"
        ))
    })
}

/// Infers the configuration from tensor shapes: sizes from the layer weights, the variant from
/// the `*_b` keys, classes from the head, frames from the positional embedding (128 mel bins and
/// stride = patch, as in every released model).
pub fn infer_config(tensors: &HashMap<String, Tensor>) -> Result<AumConfig> {
    let cls = dims(tensors, "cls_token")?;
    let embed_dim = dim(&cls, 2, "cls_token")?;
    let depth = tensors
        .keys()
        .filter_map(|k| {
            k.strip_prefix("layers.")?
                .split('.')
                .next()?
                .parse::<usize>()
                .ok()
        })
        .max()
        .map_or(0, |m| m + 1);
    if depth == 0 {
        return Err(Error::MissingTensor("layers.0.mixer.in_proj.weight".into()));
    }
    let m = "layers.0.mixer.";
    let in_proj = dims(tensors, &format!("{m}in_proj.weight"))?;
    let d_inner = dim(&in_proj, 0, "in_proj.weight")? / 2;
    let a_log = dims(tensors, &format!("{m}A_log"))?;
    let conv = dims(tensors, &format!("{m}conv1d.weight"))?;
    let dt = dims(tensors, &format!("{m}dt_proj.weight"))?;
    let head = dims(tensors, "head.weight")?;
    let patch = dims(tensors, "patch_embed.proj.weight")?;
    let pos = dims(tensors, "pos_embed.pos_embed")?;
    let variant = if tensors.contains_key(&format!("{m}conv1d_b.weight")) {
        Variant::V2
    } else if tensors.contains_key(&format!("{m}A_b_log")) {
        Variant::V1
    } else {
        Variant::None
    };
    if embed_dim == 0 || d_inner % embed_dim != 0 {
        return Err(Error::InvalidInput(format!(
            "in_proj gives d_inner {d_inner}, not a multiple of embed_dim {embed_dim}"
        )));
    }
    let patch_hw = (
        dim(&patch, 2, "patch_embed.proj.weight")?,
        dim(&patch, 3, "patch_embed.proj.weight")?,
    );
    let mut cfg = AumConfig {
        embed_dim,
        depth,
        d_state: dim(&a_log, 1, "A_log")?,
        d_conv: dim(&conv, 2, "conv1d.weight")?,
        expand: d_inner / embed_dim,
        dt_rank: dim(&dt, 1, "dt_proj.weight")?,
        patch: patch_hw,
        stride: patch_hw,
        num_mel_bins: 128,
        frames: 0,
        num_classes: dim(&head, 0, "head.weight")?,
        variant,
        cls_position: ClsPosition::Middle,
        norm_eps: 1e-5,
    };
    let patches = dim(&pos, 1, "pos_embed.pos_embed")?.saturating_sub(1);
    let (fp, _) = cfg.grid_for(cfg.patch.1);
    if fp == 0 || patches == 0 || patches % fp != 0 {
        return Err(Error::InvalidInput(format!(
            "pos_embed has {patches} patch rows, not a positive whole number of {fp}-band rows \
             for 128 mel bins"
        )));
    }
    let tp = patches / fp;
    cfg.frames = (tp - 1) * cfg.stride.1 + cfg.patch.1;
    Ok(cfg)
}

/// Every tensor a model of this configuration has, with its shape.
pub fn expected_shapes(cfg: &AumConfig) -> Vec<(String, Vec<usize>)> {
    let (d, di, n, k, r) = (
        cfg.embed_dim,
        cfg.d_inner(),
        cfg.d_state,
        cfg.d_conv,
        cfg.dt_rank,
    );
    let mut v = vec![
        ("cls_token".into(), vec![1, 1, d]),
        (
            "pos_embed.pos_embed".into(),
            vec![1, 1 + cfg.num_patches(), d],
        ),
        (
            "patch_embed.proj.weight".into(),
            vec![d, 1, cfg.patch.0, cfg.patch.1],
        ),
        ("patch_embed.proj.bias".into(), vec![d]),
        ("norm_f.weight".into(), vec![d]),
        ("head.weight".into(), vec![cfg.num_classes, d]),
        ("head.bias".into(), vec![cfg.num_classes]),
    ];
    for i in 0..cfg.depth {
        let m = format!("layers.{i}.mixer.");
        let mut add = |name: &str, shape: Vec<usize>| v.push((format!("{m}{name}"), shape));
        add("in_proj.weight", vec![2 * di, d]);
        add("out_proj.weight", vec![d, di]);
        add("A_log", vec![di, n]);
        let branch = |suffix: &str, add: &mut dyn FnMut(&str, Vec<usize>)| {
            add(&format!("conv1d{suffix}.weight"), vec![di, 1, k]);
            add(&format!("conv1d{suffix}.bias"), vec![di]);
            add(&format!("x_proj{suffix}.weight"), vec![r + 2 * n, di]);
            add(&format!("dt_proj{suffix}.weight"), vec![di, r]);
            add(&format!("dt_proj{suffix}.bias"), vec![di]);
            add(&format!("D{suffix}"), vec![di]);
        };
        branch("", &mut add);
        match cfg.variant {
            Variant::None => {}
            Variant::V1 => add("A_b_log", vec![di, n]),
            Variant::V2 => {
                add("A_b_log", vec![di, n]);
                branch("_b", &mut add);
            }
        }
        v.push((format!("layers.{i}.norm.weight"), vec![d]));
    }
    v
}

fn validate(tensors: &HashMap<String, Tensor>, cfg: &AumConfig) -> Result<()> {
    let model = format!("a {:?} AuM of depth {}", cfg.variant, cfg.depth);
    aum_io::check_layout(tensors, &expected_shapes(cfg), &model)
}
