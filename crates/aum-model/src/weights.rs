//! Randomly initialised models for inference benchmarks and tests, detached from autograd.
//!
//! Weights created through a `VarMap` are variables, so every op of a forward pass records its
//! inputs for backpropagation and keeps all activations alive until the output is dropped:
//! memory grows with depth x tokens and the time includes that bookkeeping. For inference the
//! weights are copied out as plain tensors.

use aum_kernels::handing_over;
use candle_core::{DType, Device, Result};
use candle_nn::{VarBuilder, VarMap};

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
