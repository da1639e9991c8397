//! What several commands load: a checkpoint of either family (or a training run's state, or
//! the bundled model) and a label set by path or name.

use std::path::Path;

use anyhow::{bail, Context, Result};
use aum_core::LabelSet;
use aum_model::Checkpoint;
use candle_core::{Device, Tensor};

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
        .filter(|d| d.labels().is_some())
        .map(|d| d.name)
        .collect();
    bail!(
        "--labels {spec}: neither a file nor a shipped label set ({})",
        shipped.join(", ")
    )
}
