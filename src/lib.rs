#![doc = include_str!("../README.md")]

pub use aum_core as core;
pub use aum_fbank as fbank;
pub use aum_kernels as kernels;
pub use aum_model as model;
pub use aum_scan as scan;
