//! The CPU numeric kernels that Audio Mamba and AST share, behind one instruction-set
//! dispatcher ([`Isa`], capped by the `AUM_ISA` environment variable).
//!
//! - [`PackedBf16`]: the bf16 GEMM with f32 sums — AMX tiles, AVX512-BF16, or f32 — behind
//!   [`Dense`] in [`Precision::Bf16`];
//! - [`attention`]: multi-head attention for inference, fused per head and row block;
//! - [`matmul`]: products of two activations in either precision;
//! - [`Dense`]: the models' linear layer, with fixed weights packed for the CPU GEMM, and
//!   [`handing_over`], the `VarBuilder` that moves a checkpoint's tensors into it one by one;
//! - [`conv_silu`]: the depthwise causal / anti-causal conv + SiLU of a Mamba branch, fused,
//!   with its backward pass;
//! - [`fastmath`]: vectorisable `exp`, `softplus`, `sigmoid`, `erf`, softmax, GELU, RMSNorm and
//!   LayerNorm over slices; over tensors [`softmax_last_dim_in_place`], [`gelu_erf_in_place`],
//!   [`add_in_place`], [`rms_norm`] and [`layer_norm`];
//! - [`spectrogram_patches`]: the 16x16 patch gather both models start with;
//! - [`bilinear_matrix`]: torch's antialiased bilinear resize along one axis (positional
//!   embeddings on another grid).
//!
//! Each op falls back to plain candle ops off the CPU, so the same model code runs on CUDA.

mod attention;
pub mod bf16;
mod conv;
mod dense;
pub mod fastmath;
mod inplace;
mod interp;
mod isa;
mod matmul;
mod patches;
mod storage;

pub use attention::attention;
pub use aum_core::Precision;
pub use bf16::PackedBf16;
pub use conv::{conv_silu, ConvSide};
pub use dense::{dense, handing_over, Dense};
pub use inplace::{
    add_in_place, gelu_erf_in_place, layer_norm, rms_norm, softmax_last_dim_in_place,
};
pub use interp::bilinear_matrix;
pub use isa::{Isa, ISA_ENV};
pub use matmul::matmul;
pub use patches::spectrogram_patches;
