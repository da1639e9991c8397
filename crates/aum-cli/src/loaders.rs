//! What several commands load: a checkpoint of either family (or a training run's state, or
//! the bundled model) and how to run it, a label set by path or name, an input tensor, the
//! audio files of folders.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aum_core::LabelSet;
use aum_model::{Checkpoint, Classifier, Precision};
use candle_core::{Device, Tensor};

/// How the commands that run a model run it (`--precision`).
#[derive(clap::Args, Debug)]
pub struct ModelRun {
    /// Precision of the matrix products: f32 (exact to the official models) or bf16 (weights
    /// in bf16, products on AMX / AVX512-BF16 or tensor cores, sums and the rest in f32).
    #[arg(long, default_value = "f32")]
    pub precision: Precision,
}

/// The bundled model: an Audio Mamba trained from scratch on spoken digits (docs/results.md),
/// compiled into the binary so `aum classify` works from any folder without flags.
const BUNDLED: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/models/aum-fsdd.safetensors"
));

/// The checkpoint at `path`, or the bundled model when none is given.
pub fn load_checkpoint(path: Option<&Path>) -> Result<Checkpoint> {
    if let Some(p) = path {
        return Ok(aum_train::load_checkpoint(p)?);
    }
    let (tensors, meta) = aum_io::read_safetensors_bytes(BUNDLED)?;
    Checkpoint::from_tensors(tensors, &meta).context("loading the bundled model")
}

/// The tensor `name` of the safetensors file `path`, on `device`: a normalised (B, T, F) model
/// input for `aum logits` and `aum embed`.
pub fn load_input(path: &Path, name: &str, device: &Device) -> Result<Tensor> {
    let mut tensors = candle_core::safetensors::load(path, device)
        .with_context(|| format!("reading {}", path.display()))?;
    let mut names: Vec<String> = tensors.keys().cloned().collect();
    names.sort();
    tensors.remove(name).with_context(|| {
        format!(
            "{} has no tensor `{name}` (it has {names:?})",
            path.display()
        )
    })
}

/// A label set from a CSV path or the name of a dataset whose list ships with aum-model.
pub fn load_labels(spec: &str) -> Result<LabelSet> {
    let direct = Path::new(spec);
    if direct.is_file() {
        return Ok(LabelSet::from_csv(direct)?);
    }
    if let Some(labels) = aum_model::labels::dataset(spec).and_then(|d| d.labels()) {
        return Ok(labels);
    }
    let shipped: Vec<&str> = aum_model::labels::DATASETS
        .iter()
        .filter(|d| d.has_labels())
        .map(|d| d.name)
        .collect();
    bail!(
        "--labels {spec}: neither a file nor a shipped label set ({})",
        shipped.join(", ")
    )
}

/// The extensions taken from a folder.
const AUDIO_EXTENSIONS: [&str; 11] = [
    "wav", "wave", "flac", "mp3", "ogg", "oga", "m4a", "mp4", "aac", "aif", "aiff",
];

/// The files named, with every folder replaced by the audio files under it (recursively, by
/// extension, sorted by path).
pub fn audio_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if !input.is_dir() {
            files.push(input.clone());
            continue;
        }
        let mut found = Vec::new();
        let mut dirs = vec![input.clone()];
        while let Some(dir) = dirs.pop() {
            for entry in
                std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
            {
                let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
                let path = entry.path();
                // Linked folders are not followed (a link to a parent would loop).
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                } else if path
                    .extension()
                    .and_then(|e| e.to_str())
                    .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
                {
                    found.push(path);
                }
            }
        }
        if found.is_empty() {
            bail!("{}: a folder without audio files", input.display());
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}

/// `--frames`: a number pads or crops every clip to it, `auto` runs each whole clip in one
/// pass, none keeps the checkpoint's trained length.
pub fn with_frames(clf: Classifier, frames: Option<&str>) -> Result<Classifier> {
    Ok(match frames {
        None => clf,
        Some("auto") => clf.any_length(),
        Some(n) => clf.with_frames(
            n.parse()
                .with_context(|| format!("--frames {n}: a number or `auto`"))?,
        ),
    })
}
