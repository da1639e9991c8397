//! Weights for building models: randomly initialised ones for inference benchmarks and tests,
//! detached from autograd, and a `VarBuilder` that hands a checkpoint's tensors over one by one.
//!
//! Weights created through a `VarMap` are variables, so every op of a forward pass records its
//! inputs for backpropagation and keeps all activations alive until the output is dropped:
//! memory grows with depth x tokens and the time includes that bookkeeping. For inference the
//! weights are copied out as plain tensors.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{DType, Device, Result, Shape, Tensor};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder, VarMap};

/// Builds a model (Audio Mamba, AST, any candle module) with randomly initialised, untracked
/// weights: `build` runs once on a `VarMap` to create them, then on the detached copies.
pub fn random_untracked<T>(build: impl Fn(VarBuilder) -> Result<T>) -> Result<T> {
    let varmap = VarMap::new();
    build(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
    let tensors = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("weight map poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(varmap);
    build(handing_over(tensors, &Device::Cpu))
}

/// A `VarBuilder` over `tensors` that gives each one out once and forgets it. A model that
/// keeps a copy of a weight (on the CPU, matmul weights are kept transposed: `Dense`) thereby
/// frees the original before it reads the next, so building it never holds two copies of every
/// weight. Each name can be read once.
pub(crate) fn handing_over(
    tensors: HashMap<String, Tensor>,
    device: &Device,
) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(HandOver(Mutex::new(tensors))),
        DType::F32,
        device.clone(),
    )
}

struct HandOver(Mutex<HashMap<String, Tensor>>);

impl HandOver {
    fn take(&self, name: &str) -> Result<Tensor> {
        self.0
            .lock()
            .map_err(|_| candle_core::Error::Msg("weight map poisoned".into()))?
            .remove(name)
            .ok_or_else(|| candle_core::Error::CannotFindTensor {
                path: name.to_string(),
            })
    }
}

impl SimpleBackend for HandOver {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let tensor = self.take(name)?;
        if tensor.shape() != &s {
            return Err(candle_core::Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: tensor.shape().clone(),
            });
        }
        tensor.to_device(dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.take(name)?.to_device(dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.lock().is_ok_and(|m| m.contains_key(name))
    }
}
