//! `aum classify`: the top classes of audio files, or a timeline of scores over long clips.

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use aum_fbank::decode_file;
use aum_model::labels::LabelSource;
use aum_model::{Activation, Aggregate, Classifier, Window};
use candle_core::Device;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::loaders::{audio_files, load_checkpoint, load_labels, with_frames, ModelRun};
use crate::plot;

#[derive(clap::Args, Debug)]
pub struct ClassifyArgs {
    /// Audio files, and folders (searched recursively for audio files).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Model checkpoint: Audio Mamba or AST, .pth or .safetensors, official or our layout
    /// (default: the bundled spoken-digit model, crates/aum-cli/models/aum-fsdd.safetensors).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Class names: a class_labels_indices.csv, or audioset, vggsound, speechcommands, esc50
    /// (shipped with the tool). Default: the checkpoint's, or the dataset's whose class count
    /// it has (said on stderr), or the class indices.
    #[arg(long)]
    pub labels: Option<String>,
    /// How many classes to print per file.
    #[arg(long, default_value_t = 5)]
    pub top_k: usize,
    /// Score with a softmax over the classes (single-label models). Default: what the
    /// checkpoint says, else what its dataset was trained for (softmax for spoken digits,
    /// Speech Commands, VGGSound, VoxCeleb, ESC-50; sigmoid for AudioSet).
    #[arg(long, conflicts_with = "sigmoid")]
    pub softmax: bool,
    /// Score each class with its own sigmoid (multi-label models such as AudioSet's).
    #[arg(long)]
    pub sigmoid: bool,
    /// One JSON document instead of text (printed at the end).
    #[arg(long, conflicts_with_all = ["jsonl", "csv"])]
    pub json: bool,
    /// One JSON object per file, per line, as results come (input order).
    #[arg(long, conflicts_with = "csv")]
    pub jsonl: bool,
    /// CSV rows `file,rank,label,score` as results come (input order; not with --window
    /// unless --aggregate).
    #[arg(long)]
    pub csv: bool,
    /// Threads for decoding, features and the model (default: every core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Frames fed to the model: a number, or `auto` to run the whole clip in one pass
    /// (default: the checkpoint's trained length, padding or cropping).
    #[arg(long)]
    pub frames: Option<String>,
    /// Score successive windows of this many seconds (a timeline) instead of the whole clip.
    #[arg(long, requires = "hop")]
    pub window: Option<f64>,
    /// Step between windows, seconds.
    #[arg(long, requires = "window")]
    pub hop: Option<f64>,
    /// One score per class for the whole clip from its windows: their mean or their max
    /// (the timeline is then written only with --timeline or --plot).
    #[arg(long, requires = "window")]
    pub aggregate: Option<Aggregate>,
    /// Timeline output: .csv or .json (default: CSV on stdout, unless --aggregate).
    #[arg(long, requires = "window")]
    pub timeline: Option<PathBuf>,
    /// Timeline plot: a PNG of the top classes' scores over time (one input file).
    #[arg(long, requires = "window")]
    pub plot: Option<PathBuf>,
    #[command(flatten)]
    pub run: ModelRun,
}

pub fn run(args: &ClassifyArgs) -> Result<()> {
    let mut clf = Classifier::new(
        load_checkpoint(args.checkpoint.as_deref())?,
        &Device::Cpu,
        args.run.precision,
    )?;
    if let Some(spec) = &args.labels {
        clf = clf.with_labels(load_labels(spec)?)?;
    }
    if let LabelSource::Assumed(dataset) = clf.label_source() {
        eprintln!(
            "note: labels of {dataset} assumed from the model's {} classes (--labels overrides)",
            clf.labels().len()
        );
    }
    if args.softmax {
        clf = clf.with_activation(Activation::Softmax);
    } else if args.sigmoid {
        clf = clf.with_activation(Activation::Sigmoid);
    }
    clf = with_frames(clf, args.frames.as_deref())?;
    if args.csv && args.window.is_some() && args.aggregate.is_none() {
        bail!("--csv writes one row per class and file: with --window it needs --aggregate");
    }
    let files = audio_files(&args.files)?;
    if args.plot.is_some() && files.len() > 1 {
        bail!(
            "--plot draws one file's timeline; got {} files",
            files.len()
        );
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(args.threads.unwrap_or(0))
        .build()?;
    let bar = ProgressBar::new(files.len() as u64).with_style(ProgressStyle::with_template(
        "{bar:30} {pos}/{len} files, {per_sec}, {eta} left",
    )?);
    if files.len() < 2 {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    let mut report = Report::new(args, &clf);
    let mut failed = 0;
    pool.install(|| -> Result<()> {
        let mut fail = |path: &Path, e: &dyn std::fmt::Display| {
            failed += 1;
            bar.suspend(|| eprintln!("{}: {e:#}", path.display()));
        };
        if args.window.is_some() {
            for path in &files {
                match classify_windows(args, &clf, path) {
                    Ok(Windows::Timeline(doc)) => report.doc(doc),
                    Ok(Windows::Aggregated(scores)) => {
                        bar.suspend(|| report.scores(path, &scores))?
                    }
                    Err(e) => fail(path, &e),
                }
                bar.inc(1);
            }
            return Ok(());
        }
        for scored in clf.score_files(&files, CHUNK) {
            for w in &scored.warnings {
                bar.suspend(|| eprintln!("{}: warning: {w}", scored.path.display()));
            }
            match &scored.scores {
                Ok(scores) => bar.suspend(|| report.scores(&scored.path, scores))?,
                Err(e) => fail(&scored.path, e),
            }
            bar.inc(1);
        }
        Ok(())
    })?;
    bar.finish_and_clear();
    report.finish()?;
    if failed > 0 {
        bail!("{failed} of {} files failed", files.len());
    }
    Ok(())
}

/// Files decoded and featurised together, then run through the model in batches of equal
/// length: enough to keep every thread busy, few enough that results stream.
const CHUNK: usize = 64;

/// How results are written: text as they come, one JSON document at the end, JSON lines or CSV
/// rows as they come.
struct Report<'a> {
    args: &'a ClassifyArgs,
    clf: &'a Classifier,
    docs: Vec<serde_json::Value>,
    csv_started: bool,
}

impl<'a> Report<'a> {
    fn new(args: &'a ClassifyArgs, clf: &'a Classifier) -> Self {
        Self {
            args,
            clf,
            docs: Vec::new(),
            csv_started: false,
        }
    }

    /// One file's whole-clip scores.
    fn scores(&mut self, path: &Path, scores: &[f32]) -> Result<()> {
        let top = self.clf.rank(scores, self.args.top_k);
        let file = path.display().to_string();
        if self.args.csv {
            if !self.csv_started {
                println!("file,rank,label,score");
                self.csv_started = true;
            }
            for (rank, (label, score)) in top.iter().enumerate() {
                println!(
                    "{},{},{},{score:.6}",
                    csv_field(&file),
                    rank + 1,
                    csv_field(label)
                );
            }
        } else if self.args.json || self.args.jsonl {
            self.doc(json!({"file": file, "top": top_json(self.clf, scores, self.args.top_k)}));
        } else {
            println!("{file}");
            for (label, score) in top {
                println!("  {score:.5}  {label}");
            }
        }
        Ok(())
    }

    /// One file's JSON document: printed now with --jsonl, kept for the end with --json.
    fn doc(&mut self, doc: serde_json::Value) {
        if self.args.jsonl {
            println!("{doc}");
        } else if self.args.json {
            self.docs.push(doc);
        }
    }

    fn finish(self) -> Result<()> {
        if self.args.json {
            println!("{}", serde_json::to_string_pretty(&self.docs)?);
        }
        Ok(())
    }
}

/// What the windowed mode gives for one file.
enum Windows {
    /// The per-window top classes (its timeline has been written).
    Timeline(serde_json::Value),
    /// One score per class (`--aggregate`).
    Aggregated(Vec<f32>),
}

fn classify_windows(args: &ClassifyArgs, clf: &Classifier, path: &Path) -> Result<Windows> {
    let decoded = decode_file(path)?;
    for w in &decoded.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    let (window, hop) = (
        args.window.unwrap_or_default(),
        args.hop.unwrap_or_default(),
    );
    let windows = clf.timeline(&decoded.wave, window, hop)?;
    write_timeline(args, clf, path, &windows)?;
    Ok(match args.aggregate {
        Some(how) => Windows::Aggregated(how.apply(&windows)),
        None => Windows::Timeline(json!({
            "file": path.display().to_string(),
            "windows": windows.iter().map(|w| json!({"start": w.start, "end": w.end, "top": top_json(clf, &w.scores, args.top_k)})).collect::<Vec<_>>(),
        })),
    })
}

fn top_json(clf: &Classifier, scores: &[f32], k: usize) -> Vec<serde_json::Value> {
    clf.rank(scores, k)
        .into_iter()
        .map(|(label, score)| json!({"label": label, "score": score}))
        .collect()
}

/// Writes the timeline as CSV (start,end,label...) or JSON, and the plot when asked.
fn write_timeline(
    args: &ClassifyArgs,
    clf: &Classifier,
    path: &Path,
    windows: &[Window],
) -> Result<()> {
    let mut csv = format!(
        "file,start,end,{}\n",
        clf.labels()
            .names()
            .iter()
            .map(|n| csv_field(n))
            .collect::<Vec<_>>()
            .join(",")
    );
    for w in windows {
        let scores: Vec<String> = w.scores.iter().map(|s| format!("{s:.6}")).collect();
        csv += &format!(
            "{},{:.3},{:.3},{}\n",
            csv_field(&path.display().to_string()),
            w.start,
            w.end,
            scores.join(",")
        );
    }
    match &args.timeline {
        Some(out) if out.extension().is_some_and(|e| e == "json") => {
            let doc = json!(windows
                .iter()
                .map(|w| json!({"start": w.start, "end": w.end, "scores": w.scores}))
                .collect::<Vec<_>>());
            aum_io::write_atomic(
                out,
                serde_json::to_string_pretty(
                    &json!({"labels": clf.labels().names(), "windows": doc}),
                )?
                .as_bytes(),
            )?;
        }
        Some(out) => aum_io::write_atomic(out, csv.as_bytes())?,
        None if !(args.json || args.jsonl) && args.aggregate.is_none() => print!("{csv}"),
        None => {}
    }
    if let Some(png) = &args.plot {
        plot::timeline(clf, windows, args.top_k.min(6), &path.display().to_string())
            .save_png(png)?;
    }
    Ok(())
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}
