//! `aum train`: train (or fine-tune) Audio Mamba or AST on a dataset in any supported layout
//! with a named recipe; progress bar, metrics log, PNG curves and confusion matrix, best and
//! resumable checkpoints in the output folder. Ctrl-C saves the state and exits; `--resume`
//! continues exactly where it stopped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use aum_data::{open, prepare, ClipList, FeatureCache, Layout, PrepareOptions, Prepared, Split};
use aum_fbank::FrontEnd;
use aum_model::ModelConfig;
use aum_train::{EpochRecord, Event, Finish, Net, Recipe, Trainer, Workers, BEST, LAST, METRICS};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressStyle};

use crate::plot;

#[derive(clap::Args, Debug)]
pub struct TrainArgs {
    /// Training data: an FSDD or Speech Commands folder, a folder per class, an AuM JSON
    /// manifest or a CSV manifest (the layout is detected).
    #[arg(long)]
    pub data: PathBuf,
    /// Validation data (default: the `valid` split of --data; FSDD's is its test split).
    #[arg(long)]
    pub val: Option<PathBuf>,
    /// Split of --data to train on: train, all, or train-without:SPEAKER (FSDD).
    #[arg(long, default_value = "train")]
    pub split: String,
    /// Split of the validation data: valid, test, or speaker:SPEAKER (FSDD).
    #[arg(long, default_value = "valid")]
    pub val_split: String,
    /// Recipe: audioset, as20k, vggsound, voxceleb, speechcommands, fsdd (default: fsdd for
    /// FSDD, speechcommands for Speech Commands, else one read off the training clips: loss,
    /// normalisation, frames, schedule and model size).
    #[arg(long)]
    pub recipe: Option<String>,
    /// Model: aum-tiny, aum-small, aum-base, ast-tiny, ast-small, ast-base (default: the
    /// recipe's).
    #[arg(long)]
    pub model: Option<String>,
    /// Token width, overriding the model preset's.
    #[arg(long)]
    pub dim: Option<usize>,
    /// Number of blocks, overriding the model preset's.
    #[arg(long)]
    pub depth: Option<usize>,
    /// Checkpoint to fine-tune from (new head when the classes differ).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Number of epochs (default: the recipe's).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Peak learning rate (default: the recipe's).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Training batch size (default: the recipe's).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Random seed (default: the recipe's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Output folder: best.safetensors, last.safetensors, metrics.jsonl, curves.png,
    /// confusion.png.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run saved in --out.
    #[arg(long)]
    pub resume: bool,
    /// Folder of the feature cache (reused across runs with the same front end).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Threads decoding and building batches.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
}

/// The recipe named, or the published one of a detected dataset (FSDD, Speech Commands), or
/// one read off the training clips ([`aum_train::auto`]); then the flags' overrides.
fn recipe_for(args: &TrainArgs, train: &ClipList) -> Result<Recipe> {
    let named = match &args.recipe {
        Some(n) => Some(n.clone()),
        None => match aum_data::detect(&args.data)? {
            Layout::Fsdd => Some("fsdd".into()),
            Layout::SpeechCommands => Some("speechcommands".into()),
            _ => None,
        },
    };
    let mut r = match named {
        Some(name) => Recipe::named(&name)?,
        None => {
            eprintln!(
                "no recipe for this dataset: measuring its {} training clips",
                train.clips.len()
            );
            Recipe::auto(&aum_train::auto::measure(train)?)
        }
    };
    if let Some(m) = &args.model {
        r.model = m.clone();
        // The FSDD width/depth belong to its default model; a named model keeps its own.
        r.embed_dim = None;
        r.depth = None;
    }
    r.embed_dim = args.dim.or(r.embed_dim);
    r.depth = args.depth.or(r.depth);
    r.epochs = args.epochs.unwrap_or(r.epochs);
    r.schedule.lr = args.lr.unwrap_or(r.schedule.lr);
    r.batch_size = args.batch_size.unwrap_or(r.batch_size);
    r.seed = args.seed.unwrap_or(r.seed);
    Ok(r)
}

/// Decodes and featurises a split with a progress bar; reports skipped files.
fn prepare_split(
    list: &ClipList,
    fe: &FrontEnd,
    args: &TrainArgs,
    waves: bool,
    what: &str,
) -> Result<Prepared> {
    let bar = ProgressBar::new(list.clips.len() as u64).with_style(
        ProgressStyle::with_template("{msg:>10} [{bar:30}] {pos}/{len} clips {per_sec} ETA {eta}")?
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    let opts = PrepareOptions {
        waves,
        workers: args.workers.max(1),
        queue: 64,
        cache: args.cache.as_ref().map(FeatureCache::new).transpose()?,
    };
    let data = prepare(list, fe, &opts, &mut |done, _| {
        bar.set_position(done as u64)
    });
    bar.finish_and_clear();
    for s in &data.skipped {
        eprintln!("skipped {}: {}", s.source, s.error);
    }
    eprintln!(
        "{what}: {} clips ({} skipped), {} classes",
        data.len(),
        data.skipped.len(),
        data.num_classes
    );
    Ok(data)
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let device = Device::Cpu;
    let resume_state = args.out.join(LAST);
    let split: Split = args.split.parse()?;
    let val_split: Split = args.val_split.parse()?;
    let train_list = open(&args.data, &split, None)?;
    let recipe = if args.resume {
        if !resume_state.is_file() {
            bail!("--resume: no {} to continue", resume_state.display());
        }
        aum_train_progress(&resume_state)?.recipe
    } else {
        recipe_for(args, &train_list)?
    };
    let val_list = open(
        args.val.as_deref().unwrap_or(&args.data),
        &val_split,
        Some(&train_list.labels),
    )?;
    let fe = recipe.front_end()?;
    let waves = recipe.augment.mixup > 0.0;
    let train = prepare_split(&train_list, &fe, args, waves, "train")?;
    let val = prepare_split(&val_list, &fe, args, false, "validation")?;
    let mut trainer = if args.resume {
        Trainer::resume(&args.out, train, Some(val), &device)?
    } else {
        let spec = ModelConfig::preset(
            &recipe.model,
            train_list.labels.len(),
            recipe.frames,
            recipe.embed_dim,
            recipe.depth,
        )?;
        let net = Net::new(spec, recipe.seed, &device)?;
        if let Some(ck) = &args.checkpoint {
            let fresh = net.load_pretrained(ck)?;
            eprintln!(
                "fine-tuning {}; newly initialised: {}",
                ck.display(),
                fresh.join(", ")
            );
        }
        Trainer::new(recipe, net, &train_list.labels, train, Some(val), &args.out)?
    };
    trainer.workers = Workers {
        threads: args.workers.max(1),
        queue: 4,
    };
    eprintln!("{}", trainer.progress.recipe.describe());
    eprintln!("model {}", trainer.spec().describe());
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        ctrlc::set_handler(move || {
            if stop.swap(true, Ordering::Relaxed) {
                // A second Ctrl-C while saving: leave at once.
                std::process::exit(130);
            }
        })
        .context("installing the Ctrl-C handler")?;
    }
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} {msg} ETA {eta}")?
            .progress_chars("=> "),
    );
    let labels = trainer.progress.labels();
    let out = args.out.clone();
    let mut plot_error = None;
    let finish = trainer.run(&stop, &mut |event| match event {
        Event::Step {
            epoch,
            batch,
            batches,
            loss,
            lr,
            clips_per_s,
        } => {
            bar.set_length(*batches as u64);
            bar.set_prefix(format!("{}", epoch + 1));
            bar.set_position(*batch as u64 + 1);
            bar.set_message(format!(
                "loss {loss:.4} lr {lr:.2e} {clips_per_s:.0} clips/s"
            ));
        }
        Event::Epoch {
            record,
            evaluation,
            best,
        } => {
            bar.suspend(|| eprintln!("{}", epoch_line(record, *best)));
            if let Some(e) = evaluation.filter(|_| *best) {
                if let Err(err) = plot::confusion(&e.confusion, labels.names())
                    .save_png(&out.join("confusion.png"))
                {
                    plot_error = Some(err);
                }
            }
        }
    })?;
    bar.finish_and_clear();
    if let Some(e) = plot_error {
        eprintln!("warning: confusion plot: {e:#}");
    }
    plot::curves(&trainer.progress.history).save_png(&args.out.join("curves.png"))?;
    match finish {
        Finish::Interrupted => {
            eprintln!(
                "interrupted: state saved to {}; continue with --resume",
                args.out.join(LAST).display()
            );
            std::process::exit(130);
        }
        Finish::Completed => {
            if let Some((score, epoch)) = trainer.progress.best {
                eprintln!(
                    "done in {:.0} s: best {} {:.4} at epoch {epoch} -> {}; log {}",
                    trainer.progress.elapsed_s,
                    match trainer.progress.recipe.metric {
                        aum_train::Metric::Map => "mAP",
                        aum_train::Metric::Accuracy => "accuracy",
                    },
                    score,
                    args.out.join(BEST).display(),
                    args.out.join(METRICS).display()
                );
            }
        }
    }
    Ok(())
}

/// The saved progress of a run (for its recipe when resuming).
fn aum_train_progress(path: &Path) -> Result<aum_train::Progress> {
    Ok(aum_train::state::load(path)?.2)
}

fn epoch_line(r: &EpochRecord, best: bool) -> String {
    let val = r.val.as_ref().map_or(String::new(), |m| {
        format!(
            " | val loss {:.4} acc {:.4} top5 {:.4} mAP {:.4} AUC {:.4}",
            m.loss, m.accuracy, m.top5, m.map, m.auc
        )
    });
    format!(
        "epoch {:>3} {:>6.0}s train loss {:.4} lr {:.2e}{val}{}",
        r.epoch,
        r.elapsed_s,
        r.train_loss,
        r.lr,
        if best { " *" } else { "" }
    )
}
