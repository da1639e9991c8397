//! The resumable state of a run, saved atomically as one safetensors file (`last.safetensors`):
//! weights (`model.*`), Adam moments (`optim.*`), and in the metadata the recipe, the model,
//! the labels, the position in the schedule and the history. Batches derive their randomness
//! from `(seed, epoch, batch)`, so this is all a resumed run needs to continue exactly.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use aum_core::{Error, LabelSet, Result};
use aum_model::{Checkpoint, ModelConfig};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use crate::metrics::Metrics;
use crate::recipe::Recipe;

use aum_io::meta::TRAINING_STATE as META_STATE;

/// One finished epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochRecord {
    /// From 1.
    pub epoch: usize,
    /// Mean training loss per clip (batches with a non-finite loss excluded).
    pub train_loss: f64,
    /// The lr at the epoch's last step.
    pub lr: f64,
    /// Validation metrics; `None` without a validation set.
    pub val: Option<Metrics>,
    /// Training wall time so far, seconds (steps and evaluation, not data preparation).
    pub elapsed_s: f64,
    /// Training throughput of the epoch, clips per second (evaluation time included).
    pub clips_per_s: f64,
}

/// Where a run stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// The recipe being run.
    pub recipe: Recipe,
    /// The model being trained.
    pub model: ModelConfig,
    /// Class names, in the model's output order.
    pub labels: Vec<String>,
    /// The epoch in progress (from 0) and its next batch.
    pub epoch: usize,
    /// Next batch of the epoch in progress, from 0.
    pub batch: usize,
    /// Batches trained over the whole run, skipped ones included; drives the lr schedule.
    pub global_step: usize,
    /// Updates Adam has made (non-finite-loss batches skipped), for its bias correction.
    pub optimizer_steps: u64,
    /// Loss sum and clips of the epoch in progress.
    pub epoch_loss: f64,
    /// Clips counted in `epoch_loss` (batches with a non-finite loss excluded).
    pub epoch_clips: usize,
    /// Best value of the recipe's metric and its epoch (from 1).
    pub best: Option<(f64, usize)>,
    /// Every finished epoch, in order.
    pub history: Vec<EpochRecord>,
    /// Training wall time so far, seconds (across resumptions).
    pub elapsed_s: f64,
}

impl Progress {
    /// The class names as a [`LabelSet`].
    pub fn labels(&self) -> LabelSet {
        LabelSet::from_names(self.labels.clone())
    }
}

/// Writes weights, optimizer moments and progress to `path` atomically.
pub fn save(
    path: &Path,
    weights: &HashMap<String, Tensor>,
    optimizer: &HashMap<String, Tensor>,
    progress: &Progress,
) -> Result<()> {
    let mut all: BTreeMap<String, &Tensor> = BTreeMap::new();
    for (k, v) in weights {
        all.insert(format!("model.{k}"), v);
    }
    for (k, v) in optimizer {
        all.insert(format!("optim.{k}"), v);
    }
    let meta = HashMap::from([(
        META_STATE.to_string(),
        serde_json::to_string(progress).map_err(|e| Error::InvalidInput(e.to_string()))?,
    )]);
    let bytes = safetensors::serialize(all, Some(meta))
        .map_err(|e| Error::InvalidInput(format!("cannot serialise training state: {e}")))?;
    aum_io::write_atomic(path, &bytes)
}

/// Weights, optimizer moments and progress saved by [`save`].
pub type Loaded = (HashMap<String, Tensor>, HashMap<String, Tensor>, Progress);

/// Reads a state written by [`save`]; errors name the file.
pub fn load(path: &Path) -> Result<Loaded> {
    let (tensors, meta) = aum_io::read_tensors(path)?;
    split(tensors, &meta, path)
}

/// Whether a file's metadata is that of a training state (rather than a model checkpoint).
pub fn is_state(meta: &HashMap<String, String>) -> bool {
    meta.contains_key(META_STATE)
}

/// Splits the tensors and metadata of a state read from `path` (named in errors).
pub fn split(
    tensors: HashMap<String, Tensor>,
    meta: &HashMap<String, String>,
    path: &Path,
) -> Result<Loaded> {
    let json = meta.get(META_STATE).ok_or_else(|| {
        Error::InvalidInput(format!(
            "{}: not a training state (no `{META_STATE}`)",
            path.display()
        ))
    })?;
    let progress: Progress = serde_json::from_str(json)
        .map_err(|e| Error::InvalidInput(format!("{}: bad `{META_STATE}`: {e}", path.display())))?;
    let (mut weights, mut optim) = (HashMap::new(), HashMap::new());
    for (k, v) in tensors {
        if let Some(n) = k.strip_prefix("model.") {
            weights.insert(n.to_string(), v);
        } else if let Some(n) = k.strip_prefix("optim.") {
            optim.insert(n.to_string(), v);
        }
    }
    Ok((weights, optim, progress))
}

/// The model a file holds: an inference checkpoint of either family, or the current weights of
/// a resumable training state (`last.safetensors`) with the run's labels and its recipe's front
/// end, i.e. what `best.safetensors` holds for the best epoch. Errors name the file.
pub fn load_checkpoint(path: &Path) -> Result<Checkpoint> {
    if aum_model::hub_name(path).is_some() {
        return Checkpoint::load(path);
    }
    let (tensors, meta) = aum_io::read_tensors(path)?;
    if !is_state(&meta) {
        return Checkpoint::from_tensors(tensors, &meta).map_err(|e| e.in_file(path));
    }
    let (weights, _, progress) = split(tensors, &meta, path)?;
    let front_end = progress.recipe.front_end()?;
    let activation = progress.recipe.loss.activation();
    Checkpoint::from_parts(progress.model, weights, Some(progress.labels), front_end)
        .map(|c| c.with_activation(activation))
        .map_err(|e| {
            Error::InvalidInput(format!(
                "{}: the model of the run saved there: {e}",
                path.display()
            ))
        })
}
