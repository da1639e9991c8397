//! Scoring a model on a prepared dataset: logits in batches (built ahead by worker threads),
//! sigmoid scores, the recipe's loss, the metrics and the confusion matrix.

use std::ops::ControlFlow;

use aum_core::{AudioClassifier, Result};
use aum_data::{epoch_order, for_each_batch, Augment, EpochPlan, Prepared, Sampling};
use candle_nn::ops::sigmoid;
use serde::Serialize;

use crate::loss::Loss;
use crate::metrics::{confusion_matrix, Metrics};

/// The outcome of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Accuracy, mAP, AUC and loss over the whole set.
    pub metrics: Metrics,
    /// Sigmoid score per clip and class, in dataset order.
    pub scores: Vec<Vec<f32>>,
    /// Target per clip and class, in dataset order.
    pub targets: Vec<Vec<f32>>,
    /// `[true][predicted]`.
    pub confusion: Vec<Vec<usize>>,
}

/// Evaluates `model` on every clip of `data` (no augmentation), `batch_size` clips at a time.
pub fn evaluate(
    model: &dyn AudioClassifier,
    data: &Prepared,
    batch_size: usize,
    loss: Loss,
    workers: usize,
) -> Result<Evaluation> {
    let order = epoch_order(data.len(), &Sampling::Sequential, 0, 0);
    let plan = EpochPlan::new(&order, batch_size, Augment::none(), 0, 0);
    let mut scores = Vec::with_capacity(data.len());
    let mut targets = Vec::with_capacity(data.len());
    let (mut loss_sum, mut seen) = (0f64, 0usize);
    for_each_batch(data, &plan, 0, workers, 2, |_, batch| {
        let (x, y) = batch.tensors(model.device())?;
        let logits = model.logits(&x)?.detach();
        loss_sum += loss.compute(&logits, &y)?.to_scalar::<f32>()? as f64 * batch.size() as f64;
        seen += batch.size();
        scores.extend(sigmoid(&logits)?.to_vec2::<f32>()?);
        targets.extend(y.to_vec2::<f32>()?);
        Ok(ControlFlow::Continue(()))
    })?;
    let metrics = Metrics::compute(&scores, &targets, loss_sum / seen.max(1) as f64);
    let confusion = confusion_matrix(&scores, &targets, data.num_classes);
    Ok(Evaluation {
        metrics,
        scores,
        targets,
        confusion,
    })
}
