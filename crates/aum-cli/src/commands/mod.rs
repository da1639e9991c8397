//! One module per subcommand.

pub mod bench;
pub mod classify;
pub mod convert;
pub mod embed;
pub mod eval;
pub mod fbank;
pub mod inspect;
pub mod logits;
pub mod scan;
pub mod train;
