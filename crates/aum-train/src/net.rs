//! A trainable Audio Mamba or AST: the network on a `VarMap`, seeded initialisation, loading a
//! checkpoint to fine-tune (new head when the classes differ, positional embedding resampled to
//! the new frame count), and export as an inference checkpoint with labels and front end.

use std::collections::HashMap;
use std::path::Path;

use aum_core::{Activation, AudioClassifier, Error, LabelSet, Result};
use aum_data::Rng;
use aum_fbank::FrontEnd;
use aum_model::{Checkpoint, Model, ModelConfig};
use candle_core::{DType, Device, ModuleT, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};

/// The network being trained.
pub struct Net {
    spec: ModelConfig,
    varmap: VarMap,
    model: Model,
    device: Device,
}

impl Net {
    /// A freshly initialised network (upstream's initialisation for AuM; ViT's truncated
    /// normal(0.02) weights, zero biases and unit norms for AST), reproducible from `seed`.
    pub fn new(spec: ModelConfig, seed: u64, device: &Device) -> Result<Self> {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, device);
        let model = spec.build(vb)?;
        match &spec {
            ModelConfig::Aum(c) => aum_model::initialize(&varmap, c, seed)?,
            ModelConfig::Ast(_) => init_ast(&varmap, seed)?,
        }
        Ok(Self {
            spec,
            varmap,
            model,
            device: device.clone(),
        })
    }

    /// The network's configuration.
    pub fn spec(&self) -> &ModelConfig {
        &self.spec
    }

    /// The trainable variables.
    pub fn varmap(&self) -> &VarMap {
        &self.varmap
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
        let (tensors, from_grid) = match (&self.spec, crate::load_checkpoint(path)?) {
            (ModelConfig::Aum(_), Checkpoint::Aum(ck)) => {
                let grid = ck.config().grid();
                (ck.into_tensors(), Some(grid))
            }
            (ModelConfig::Ast(_), Checkpoint::Ast(ck)) => (ck.into_tensors(), None),
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
                (ModelConfig::Aum(c), Some(g))
                    if name == "pos_embed.pos_embed" && g != c.grid() =>
                {
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

    /// Logits of a batch; `train` makes the pass differentiable.
    pub fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        Ok(self.model.forward_t(x, train)?)
    }

    /// Writes an inference checkpoint (safetensors with config, labels, front end and the
    /// activation that matches the training loss).
    pub fn save_checkpoint(
        &self,
        path: &Path,
        labels: &LabelSet,
        front_end: &FrontEnd,
        activation: Activation,
    ) -> Result<()> {
        let labels = Some(labels.names().to_vec());
        Checkpoint::from_parts(
            self.spec.clone(),
            self.tensors()?,
            labels,
            front_end.clone(),
        )?
        .with_activation(activation)
        .save(path)
    }
}

impl AudioClassifier for Net {
    fn logits(&self, features: &Tensor) -> Result<Tensor> {
        Net::forward(self, features, false)
    }

    fn embed(&self, features: &Tensor) -> Result<Tensor> {
        self.model.embed(features)
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
