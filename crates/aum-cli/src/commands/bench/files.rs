//! `aum bench files`: files per second through `Classifier::score_files` (decode, features and
//! the model for a folder of clips), at each thread count, alternated in one process, and a
//! check that every thread count gives the same scores.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aum_model::{AumConfig, AumModel, Classifier, FrontEnd, Precision, Preset};
use candle_core::Device;

use crate::loaders::{audio_files, load_checkpoint};
use crate::timing;

#[derive(clap::Args, Debug)]
pub struct BenchFilesArgs {
    /// Audio files and folders (searched recursively).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The model: `bundled` (the spoken-digit AuM), or a random AuM of size tiny, small or
    /// base with a 128-frame (1.28 s) input.
    #[arg(long, default_value = "bundled")]
    pub model: String,
    /// Use the first N files only.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Thread counts, comma-separated; the first is the baseline of the ratios.
    #[arg(long, value_delimiter = ',', default_values_t = [1, 2])]
    pub threads: Vec<usize>,
    /// Timed runs per thread count, alternated (the best is reported).
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// Files decoded together and batched by length (as `aum classify` does).
    #[arg(long, default_value_t = 64)]
    pub chunk: usize,
    /// Precision of the model's matrix products: f32 or bf16.
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

pub fn run(args: &BenchFilesArgs) -> Result<()> {
    let mut files = audio_files(&args.files)?;
    files.truncate(args.limit.unwrap_or(usize::MAX));
    let clf = classifier(&args.model, args.precision)?;
    let pools = args
        .threads
        .iter()
        .map(|&n| Ok(rayon::ThreadPoolBuilder::new().num_threads(n).build()?))
        .collect::<Result<Vec<_>>>()?;
    let score_all = |pool: &rayon::ThreadPool| -> Result<Vec<Vec<f32>>> {
        pool.install(|| {
            clf.score_files(&files, args.chunk)
                .map(|s| s.scores.with_context(|| format!("{}", s.path.display())))
                .collect()
        })
    };
    let reference = score_all(&pools[0])?;
    for (pool, &n) in pools.iter().zip(&args.threads).skip(1) {
        if score_all(pool)? != reference {
            bail!("{n} threads gave other scores than {}", args.threads[0]);
        }
    }
    let mut best = vec![f64::INFINITY; pools.len()];
    for _ in 0..args.iters.max(1) {
        for (pool, b) in pools.iter().zip(&mut best) {
            *b = b.min(timing::once(&Device::Cpu, || score_all(pool))?.1);
        }
    }
    println!(
        "{} files, model {} in {}, chunk {}; scores identical at every thread count",
        files.len(),
        args.model,
        args.precision,
        args.chunk
    );
    println!(
        "{:>8} {:>10} {:>10} {:>8}",
        "threads", "time (s)", "files/s", "ratio"
    );
    for (&n, &secs) in args.threads.iter().zip(&best) {
        println!(
            "{n:>8} {secs:>10.3} {:>10.1} {:>8.2}",
            files.len() as f64 / secs,
            best[0] / secs
        );
    }
    Ok(())
}

fn classifier(model: &str, precision: Precision) -> Result<Classifier> {
    if model == "bundled" {
        return Ok(Classifier::new(
            load_checkpoint(None)?,
            &Device::Cpu,
            precision,
        )?);
    }
    let mut cfg = AumConfig::preset(model)
        .with_context(|| format!("unknown model `{model}` (bundled, tiny, small, base)"))?;
    cfg.frames = 128;
    let net = aum_model::random_untracked(&Device::Cpu, |vb| Ok(AumModel::new(cfg.clone(), vb)?))?
        .with_precision(precision)?;
    let front_end = FrontEnd {
        frames: Some(cfg.frames),
        sample_rate: Some(16_000),
        ..FrontEnd::aum(Preset::AudioSet)
    };
    Ok(Classifier::from_parts(Arc::new(net), front_end, None)?)
}
