//! Audio Mamba in Rust: the umbrella crate. It re-exports the workspace crates so examples and
//! benches (and users who want everything) need one dependency.

pub use aum_core as core;
pub use aum_fbank as fbank;
pub use aum_scan as scan;
