//! `aum bench`: speed and memory of the front end, the scan, the model, and AuM against AST,
//! each as ratios to baselines measured in the same run. The subcommands share one timing
//! helper (`crate::timing`) and build models with `aum_model::random_untracked`.

pub mod compare;
pub mod fbank;
pub mod files;
pub mod gpu;
pub mod model;
pub mod scan;
