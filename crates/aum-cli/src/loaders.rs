//! What several commands load: a checkpoint of either family (or a training run's state, or
//! the bundled model) and a label set by path or name.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aum_core::LabelSet;
use aum_model::Checkpoint;

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

/// A label set from a CSV path or a built-in name.
pub fn load_labels(spec: &str) -> Result<LabelSet> {
    let direct = Path::new(spec);
    if direct.is_file() {
        return Ok(LabelSet::from_csv(direct)?);
    }
    let file = format!("{spec}_class_labels_indices.csv");
    let mut dirs: Vec<PathBuf> = std::env::var_os("AUM_LABELS_DIR")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    dirs.push(PathBuf::from("labels"));
    dirs.push(PathBuf::from("../shared/data/labels"));
    for d in &dirs {
        let p = d.join(&file);
        if p.is_file() {
            return Ok(LabelSet::from_csv(&p)?);
        }
    }
    bail!(
        "--labels {spec}: not a file, and no {file} in {} (set AUM_LABELS_DIR to a folder holding it)",
        dirs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
    )
}
