//! `aum classify`: the top classes of audio files, or a timeline of scores over long clips.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aum_fbank::decode_file;
use aum_model::labels::LabelSource;
use aum_model::{Activation, Aggregate, Classifier, Window};
use candle_core::Device;
use serde_json::json;

use crate::loaders::{load_checkpoint, load_labels};
use crate::plot;

#[derive(clap::Args, Debug)]
pub struct ClassifyArgs {
    /// Audio files.
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
    /// One JSON document instead of text.
    #[arg(long)]
    pub json: bool,
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
}

pub fn run(args: &ClassifyArgs) -> Result<()> {
    let mut clf = Classifier::new(load_checkpoint(args.checkpoint.as_deref())?, &Device::Cpu)?;
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
    match args.frames.as_deref() {
        None => {}
        Some("auto") => clf = clf.any_length(),
        Some(n) => {
            clf = clf.with_frames(
                n.parse()
                    .with_context(|| format!("--frames {n}: a number or `auto`"))?,
            )
        }
    }
    if args.plot.is_some() && args.files.len() > 1 {
        bail!(
            "--plot draws one file's timeline; got {} files",
            args.files.len()
        );
    }
    let mut failed = 0;
    let mut docs = Vec::new();
    for path in &args.files {
        match classify_file(args, &clf, path) {
            Ok(doc) => docs.push(doc),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", path.display());
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&docs)?);
    }
    if failed > 0 {
        bail!("{failed} of {} files failed", args.files.len());
    }
    Ok(())
}

fn classify_file(args: &ClassifyArgs, clf: &Classifier, path: &Path) -> Result<serde_json::Value> {
    let decoded = decode_file(path)?;
    for w in &decoded.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    let wave = &decoded.wave;
    let file = path.display().to_string();
    let scores = match (args.window, args.hop) {
        (Some(window), Some(hop)) => {
            let windows = clf.timeline(wave, window, hop)?;
            write_timeline(args, clf, path, &windows)?;
            let Some(how) = args.aggregate else {
                return Ok(json!({
                    "file": file,
                    "windows": windows.iter().map(|w| json!({"start": w.start, "end": w.end, "top": top_json(clf, &w.scores, args.top_k)})).collect::<Vec<_>>(),
                }));
            };
            how.apply(&windows)
        }
        _ => clf.scores(wave)?,
    };
    if !args.json {
        println!("{}", path.display());
        for (label, score) in clf.rank(&scores, args.top_k) {
            println!("  {score:.5}  {label}");
        }
    }
    Ok(json!({"file": file, "top": top_json(clf, &scores, args.top_k)}))
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
        None if !args.json && args.aggregate.is_none() => print!("{csv}"),
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
