//! `aum bench`: speed and memory of the front end, the scan, the model, and AuM against AST,
//! each as ratios to baselines measured in the same run. The subcommands share one timing
//! helper (`crate::timing`) and build models with `aum_model::random_untracked`.

pub mod compare;
pub mod fbank;
pub mod files;
pub mod gemm;
pub mod gpu;
pub mod model;
pub mod scan;

/// The rayon pool a benchmark runs in: `threads` workers, or one per core.
pub fn thread_pool(threads: Option<usize>) -> anyhow::Result<rayon::ThreadPool> {
    let mut builder = rayon::ThreadPoolBuilder::new();
    if let Some(n) = threads {
        builder = builder.num_threads(n);
    }
    anyhow::Context::context(builder.build(), "building the thread pool")
}
