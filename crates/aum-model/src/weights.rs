//! Randomly initialised models for inference benchmarks and tests, detached from autograd.
//!
//! Weights created through a `VarMap` are variables, so every op of a forward pass records its
//! inputs for backpropagation and keeps all activations alive until the output is dropped:
//! memory grows with depth x tokens and the time includes that bookkeeping. For inference the
//! weights are copied out as plain tensors.

use aum_core::{Error, Result};
use aum_kernels::handing_over;
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};

/// Builds a model (Audio Mamba, AST, any candle module) on `device` with randomly initialised,
/// untracked weights: `build` runs once on a CPU `VarMap` to create them, then on the detached
/// copies, which it takes over one by one.
pub fn random_untracked<T>(device: &Device, build: impl Fn(VarBuilder) -> Result<T>) -> Result<T> {
    let varmap = VarMap::new();
    build(VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu))?;
    let tensors = varmap
        .data()
        .lock()
        .map_err(|_| Error::InvalidInput("weight map poisoned".into()))?
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().detach()))
        .collect();
    drop(varmap);
    build(handing_over(tensors, device))
}
