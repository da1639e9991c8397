//! `aum eval`: a checkpoint's metrics on a dataset split (accuracy, top-5, mAP, ROC-AUC, d',
//! loss) as a table or one JSON object; the bundled model when no checkpoint is given.

use std::path::PathBuf;

use anyhow::{bail, Result};
use aum_core::LabelSet;
use aum_data::{open, prepare, FeatureCache, PrepareOptions};
use aum_train::{evaluate, Loss};
use candle_core::Device;
use serde_json::json;

use crate::loaders::{load_checkpoint, ModelRun};

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint (default: the bundled spoken-digit model).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Dataset in any supported layout (detected): FSDD, Speech Commands, class folders, JSON
    /// or CSV manifest.
    #[arg(long)]
    pub data: PathBuf,
    /// Split: test, valid, train, all, or speaker:SPEAKER (FSDD).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Clips per forward pass.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Threads decoding and featurising.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Feature cache folder.
    #[arg(long)]
    pub cache: Option<PathBuf>,
    #[command(flatten)]
    pub run: ModelRun,
}

pub fn run(args: &EvalArgs) -> Result<()> {
    let ckpt = load_checkpoint(args.checkpoint.as_deref())?;
    let Some(names) = ckpt.labels().map(<[String]>::to_vec) else {
        bail!("the checkpoint has no labels to match the dataset's (convert it with --labels)");
    };
    let labels = LabelSet::from_names(names);
    let list = open(&args.data, &args.split.parse()?, Some(&labels))?;
    let opts = PrepareOptions {
        workers: args.workers.max(1),
        cache: args.cache.as_ref().map(FeatureCache::new).transpose()?,
        ..PrepareOptions::default()
    };
    let fe = ckpt.front_end().clone();
    let data = prepare(&list, &fe, &opts, &mut |_, _| {});
    for s in &data.skipped {
        eprintln!("skipped {}: {}", s.source, s.error);
    }
    if data.is_empty() {
        bail!("no usable clip in {} ({})", args.data.display(), args.split);
    }
    let model = ckpt
        .into_model(&Device::Cpu)?
        .with_precision(args.run.precision)?;
    let e = evaluate(
        &model,
        &data,
        args.batch_size.max(1),
        Loss::Bce,
        args.workers.max(1),
    )?;
    let m = &e.metrics;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "clips": m.clips, "skipped": data.skipped.len(), "accuracy": m.accuracy, "top5": m.top5,
                "map": m.map, "auc": m.auc, "dprime": m.dprime, "bce_loss": m.loss,
                "labels": labels.names(), "confusion": e.confusion,
            }))?
        );
        return Ok(());
    }
    println!(
        "{} ({}): {} clips, {} skipped",
        args.data.display(),
        args.split,
        m.clips,
        data.skipped.len()
    );
    for (name, v) in [
        ("accuracy", m.accuracy),
        ("top-5 accuracy", m.top5),
        ("mAP", m.map),
        ("ROC-AUC", m.auc),
        ("d-prime", m.dprime),
        ("BCE loss", m.loss),
    ] {
        println!("  {name:<15} {v:.4}");
    }
    Ok(())
}
