//! A trainable Audio Mamba or AST: the network on a `VarMap`, seeded initialisation, loading a
//! checkpoint to fine-tune (new head when the classes differ, positional embedding resampled to
//! the new frame count), and export as an inference checkpoint with labels and front end.

use std::collections::HashMap;
use std::path::Path;

use aum_ast::{Ast, AstCheckpoint, AstConfig};
use aum_core::{AudioClassifier, Error, LabelSet, Mode, Result};
use aum_data::Rng;
use aum_fbank::FrontEnd;
use aum_model::{AudioMamba, Checkpoint, Config};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

/// Which network, with its full configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelSpec {
    Aum(Config),
    Ast(AstConfig),
}

impl ModelSpec {
    /// `aum-tiny|small|base` or `ast-tiny|small|base` for `classes` classes and `frames`
    /// frames, with optional width/depth overrides (AST heads follow the width: 64 per head).
    pub fn parse(
        name: &str,
        classes: usize,
        frames: usize,
        embed_dim: Option<usize>,
        depth: Option<usize>,
    ) -> Result<Self> {
        let bad = || {
            Error::InvalidInput(format!(
                "unknown model `{name}` (expected aum-tiny, aum-small, aum-base, ast-tiny, ast-small or ast-base)"
            ))
        };
        let spec = if name.starts_with("ast-") {
            let mut c = AstConfig::preset(name).ok_or_else(bad)?;
            c.num_classes = classes;
            c.frames = frames;
            if let Some(d) = embed_dim {
                c.hidden = d;
                c.heads = (d / 64).max(1);
                c.mlp = 4 * d;
            }
            if let Some(l) = depth {
                c.layers = l;
            }
            c.validate()?;
            ModelSpec::Ast(c)
        } else {
            let mut c = Config::preset(name).ok_or_else(bad)?;
            c.num_classes = classes;
            c.frames = frames;
            if let Some(d) = embed_dim {
                c.embed_dim = d;
                c.dt_rank = d.div_ceil(16);
            }
            if let Some(l) = depth {
                c.depth = l;
            }
            c.validate()?;
            ModelSpec::Aum(c)
        };
        Ok(spec)
    }

    pub fn num_classes(&self) -> usize {
        match self {
            ModelSpec::Aum(c) => c.num_classes,
            ModelSpec::Ast(c) => c.num_classes,
        }
    }

    /// One line for logs: family, width, depth, parameters.
    pub fn describe(&self) -> String {
        match self {
            ModelSpec::Aum(c) => format!(
                "AuM {:?} D {} depth {} frames {} ({} parameters)",
                c.variant,
                c.embed_dim,
                c.depth,
                c.frames,
                c.num_params()
            ),
            ModelSpec::Ast(c) => format!(
                "AST D {} depth {} heads {} frames {}",
                c.hidden, c.layers, c.heads, c.frames
            ),
        }
    }
}

enum Model {
    Aum(AudioMamba),
    Ast(Ast),
}

/// The network being trained.
pub struct Net {
    pub spec: ModelSpec,
    pub varmap: VarMap,
    model: Model,
    device: Device,
}

impl Net {
    /// A freshly initialised network (upstream's initialisation for AuM; ViT's truncated
    /// normal(0.02) weights, zero biases and unit norms for AST), reproducible from `seed`.
    pub fn new(spec: ModelSpec, seed: u64, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = match &spec {
            ModelSpec::Aum(c) => {
                let m = AudioMamba::new(c.clone(), vb)?;
                aum_model::initialize(&varmap, c, seed)?;
                Model::Aum(m)
            }
            ModelSpec::Ast(c) => {
                let m = Ast::new(c.clone(), vb)?;
                init_ast(&varmap, seed)?;
                Model::Ast(m)
            }
        };
        Ok(Self {
            spec,
            varmap,
            model,
            device: device.clone(),
        })
    }

    /// Named variables, in name order.
    pub fn vars(&self) -> Result<Vec<(String, Var)>> {
        let data = self
            .varmap
            .data()
            .lock()
            .map_err(|_| Error::InvalidInput("weight map poisoned".into()))?;
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(v)
    }

    /// Detached copies of the weights.
    pub fn tensors(&self) -> Result<HashMap<String, Tensor>> {
        Ok(self
            .vars()?
            .into_iter()
            .map(|(k, v)| (k, v.as_tensor().detach()))
            .collect())
    }

    /// Sets every weight from `tensors` (all names required, shapes must match).
    pub fn load_tensors(&self, tensors: &HashMap<String, Tensor>) -> Result<()> {
        for (name, var) in self.vars()? {
            let t = tensors
                .get(&name)
                .ok_or_else(|| Error::MissingTensor(name.clone()))?;
            if t.dims() != var.dims() {
                return Err(Error::shape(&name, var.dims(), t.dims()));
            }
            var.set(&t.to_device(&self.device)?)?;
        }
        Ok(())
    }

    /// Copies the weights of a checkpoint file into this network to fine-tune it: tensors of
    /// the same name and shape are copied, the AuM positional embedding is resampled to this
    /// network's grid, and a head of another class count is left freshly initialised. Returns
    /// the names left at their initial values.
    pub fn load_pretrained(&self, path: &Path) -> Result<Vec<String>> {
        let (tensors, meta) = aum_core::tensors::read_tensors(path)?;
        let names: Vec<&str> = tensors.keys().map(String::as_str).collect();
        let (tensors, from_grid) = match (&self.spec, aum_ast::is_ast(&names)) {
            (ModelSpec::Aum(_), false) => {
                let ck = Checkpoint::from_tensors(tensors, &meta)?;
                let grid = ck.config.grid();
                (ck.tensors, Some(grid))
            }
            (ModelSpec::Ast(_), true) => {
                (AstCheckpoint::from_tensors(tensors, &meta)?.tensors, None)
            }
            _ => {
                return Err(Error::InvalidInput(format!(
                    "{}: a checkpoint of the other model family",
                    path.display()
                )))
            }
        };
        let mut fresh = Vec::new();
        for (name, var) in self.vars()? {
            let Some(t) = tensors.get(&name) else {
                fresh.push(name);
                continue;
            };
            let t = match (&self.spec, from_grid) {
                (ModelSpec::Aum(c), Some(g)) if name == "pos_embed.pos_embed" && g != c.grid() => {
                    aum_model::resample_pos_embed(t, g, c.grid())?
                }
                _ => t.clone(),
            };
            if t.dims() == var.dims() {
                var.set(&t.to_device(&self.device)?)?;
            } else {
                fresh.push(name);
            }
        }
        Ok(fresh)
    }

    pub fn forward(&self, x: &Tensor, mode: Mode) -> Result<Tensor> {
        Ok(match &self.model {
            Model::Aum(m) => m.forward_mode(x, mode)?,
            Model::Ast(m) => m.forward_mode(x, mode)?,
        })
    }

    /// Writes an inference checkpoint (safetensors with config, labels and front end).
    pub fn save_checkpoint(
        &self,
        path: &Path,
        labels: &LabelSet,
        front_end: &FrontEnd,
    ) -> Result<()> {
        let tensors = self.tensors()?;
        match &self.spec {
            ModelSpec::Aum(c) => {
                let mut ck = Checkpoint::new(tensors, c.clone(), Some(labels.names.clone()))?;
                ck.front_end = front_end.clone();
                ck.save(path)
            }
            ModelSpec::Ast(c) => {
                let ck = AstCheckpoint {
                    tensors,
                    config: c.clone(),
                    labels: Some(labels.names.clone()),
                };
                let fe = serde_json::to_string(front_end)
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
                ck.save(
                    path,
                    HashMap::from([(aum_core::tensors::meta::FRONT_END.to_string(), fe)]),
                )
            }
        }
    }
}

impl AudioClassifier for Net {
    fn forward(&self, features: &Tensor) -> Result<Tensor> {
        Net::forward(self, features, Mode::Inference)
    }

    fn input_frames(&self) -> Option<usize> {
        Some(match &self.spec {
            ModelSpec::Aum(c) => c.frames,
            ModelSpec::Ast(c) => c.frames,
        })
    }

    fn num_classes(&self) -> usize {
        self.spec.num_classes()
    }

    fn device(&self) -> &Device {
        &self.device
    }
}

/// ViT initialisation for AST (timm `_init_weights`): weights and tokens ~ truncated
/// normal(0.02), biases 0, LayerNorm weights 1.
fn init_ast(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| Error::InvalidInput("weight map poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = Rng::derive(seed, &[0xA57]);
    for name in names {
        let var = &data[name];
        let n = var.elem_count();
        let values: Vec<f32> = if name.contains("layernorm") {
            vec![if name.ends_with("weight") { 1.0 } else { 0.0 }; n]
        } else if name.ends_with("bias") {
            vec![0.0; n]
        } else {
            (0..n)
                .map(|_| loop {
                    let x = rng.normal();
                    if x.abs() <= 2.0 {
                        break (x * 0.02) as f32;
                    }
                })
                .collect()
        };
        var.set(&Tensor::from_vec(values, var.dims(), var.device())?)?;
    }
    Ok(())
}
