//! One module per subcommand.

pub mod bench_fbank;
pub mod bench_scan;
pub mod fbank;
pub mod scan;
