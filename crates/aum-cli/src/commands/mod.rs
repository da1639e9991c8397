//! One module per subcommand.

pub mod bench_compare;
pub mod bench_fbank;
pub mod bench_gpu;
pub mod bench_model;
pub mod bench_scan;
pub mod classify;
pub mod convert;
pub mod eval;
pub mod fbank;
pub mod inspect;
pub mod logits;
pub mod scan;
pub mod train;
