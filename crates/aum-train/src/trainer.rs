//! The training loop: batches built ahead by worker threads, forward in training mode, the
//! recipe's loss, backward, clipping, Adam(W) at the scheduled lr; at each epoch's end an
//! evaluation, the best checkpoint (`best.safetensors`), the resumable state
//! (`last.safetensors`) and the metrics log (`metrics.jsonl`), all written atomically. A stop
//! request (Ctrl-C) saves the state after the current step and returns.

use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use aum_core::{Error, LabelSet, Result};
use aum_data::{balanced_weights, epoch_order, for_each_batch, EpochPlan, Prepared, Sampling};
use aum_fbank::FrontEnd;
use candle_core::Device;

use crate::evaluate::{evaluate, Evaluation};
use crate::net::Net;
use crate::optim::{clip_grad_norm, Adam};
use crate::recipe::Recipe;
use crate::state::{self, EpochRecord, Progress};
use aum_model::ModelConfig;

/// Files a run writes in its output folder.
pub const BEST: &str = "best.safetensors";
/// The resumable state: weights, optimiser moments and [`Progress`].
pub const LAST: &str = "last.safetensors";
/// One JSON [`EpochRecord`] per line, per finished epoch.
pub const METRICS: &str = "metrics.jsonl";

/// What the loop reports to its caller (progress bars, plots).
pub enum Event<'a> {
    /// A training step is done.
    Step {
        /// Epoch in progress, from 0.
        epoch: usize,
        /// Batch just trained, from 0.
        batch: usize,
        /// Batches in the epoch.
        batches: usize,
        /// Mean loss of the batch (a non-finite one skipped the update).
        loss: f64,
        /// Learning rate of the step.
        lr: f64,
        /// Training throughput of the epoch so far, clips per second.
        clips_per_s: f64,
    },
    /// An epoch is done, evaluated and saved.
    Epoch {
        /// The epoch's summary, as appended to `metrics.jsonl`.
        record: &'a EpochRecord,
        /// The validation result; `None` without a validation set.
        evaluation: Option<&'a Evaluation>,
        /// Whether this epoch is the new best (and was saved to `best.safetensors`).
        best: bool,
    },
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// Every epoch of the recipe ran.
    Completed,
    /// Stopped on request; `last.safetensors` holds the state to resume from.
    Interrupted,
}

/// Threads for batch building.
#[derive(Debug, Clone, Copy)]
pub struct Workers {
    /// Worker threads (at least one runs).
    pub threads: usize,
    /// Built batches that may wait in the queue (at least one).
    pub queue: usize,
}

impl Default for Workers {
    fn default() -> Self {
        Self {
            threads: 1,
            queue: 4,
        }
    }
}

/// A training run: the model, its optimiser, the prepared data and the output folder.
pub struct Trainer {
    /// The model being trained.
    pub net: Net,
    opt: Adam,
    /// Where the run stands; saved to `last.safetensors`.
    pub progress: Progress,
    train: Prepared,
    val: Option<Prepared>,
    front_end: FrontEnd,
    out: PathBuf,
    /// Batch-building threads for training and evaluation.
    pub workers: Workers,
}

impl Trainer {
    /// A new run of `recipe` on `spec` (freshly initialised, or `net` given to fine-tune).
    pub fn new(
        recipe: Recipe,
        net: Net,
        labels: &LabelSet,
        train: Prepared,
        val: Option<Prepared>,
        out: &Path,
    ) -> Result<Self> {
        if labels.len() != net.spec().num_classes() {
            return Err(Error::InvalidInput(format!(
                "{} labels for a model with {} classes",
                labels.len(),
                net.spec().num_classes()
            )));
        }
        let opt = Adam::new(net.vars()?, recipe.optimizer.clone())?;
        let progress = Progress {
            model: net.spec().clone(),
            labels: labels.names().to_vec(),
            recipe,
            epoch: 0,
            batch: 0,
            global_step: 0,
            optimizer_steps: 0,
            epoch_loss: 0.0,
            epoch_clips: 0,
            best: None,
            history: Vec::new(),
            elapsed_s: 0.0,
        };
        Self::assemble(net, opt, progress, train, val, out)
    }

    /// Continues the run saved in `out/last.safetensors`.
    pub fn resume(
        out: &Path,
        train: Prepared,
        val: Option<Prepared>,
        device: &Device,
    ) -> Result<Self> {
        let (weights, optim, progress) = state::load(&out.join(LAST))?;
        let net = Net::new(progress.model.clone(), progress.recipe.seed, device)?;
        net.load_tensors(&weights)?;
        let mut opt = Adam::new(net.vars()?, progress.recipe.optimizer.clone())?;
        opt.load_state(&optim, progress.optimizer_steps)?;
        Self::assemble(net, opt, progress, train, val, out)
    }

    fn assemble(
        net: Net,
        opt: Adam,
        progress: Progress,
        train: Prepared,
        val: Option<Prepared>,
        out: &Path,
    ) -> Result<Self> {
        for (what, d) in
            std::iter::once(("training", &train)).chain(val.iter().map(|v| ("validation", v)))
        {
            if d.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "the {what} set has no usable clip"
                )));
            }
            if d.num_classes != progress.labels.len() {
                return Err(Error::InvalidInput(format!(
                    "the {what} set has {} classes, the model {}",
                    d.num_classes,
                    progress.labels.len()
                )));
            }
        }
        std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
        Ok(Self {
            front_end: progress.recipe.front_end()?,
            net,
            opt,
            progress,
            train,
            val,
            out: out.to_path_buf(),
            workers: Workers::default(),
        })
    }

    /// The configuration of the model being trained.
    pub fn spec(&self) -> &ModelConfig {
        self.net.spec()
    }

    fn sampling(&self) -> Sampling {
        if self.progress.recipe.balanced {
            Sampling::Weighted(balanced_weights(&self.train.targets))
        } else {
            Sampling::Shuffle
        }
    }

    fn save_state(&self) -> Result<()> {
        state::save(
            &self.out.join(LAST),
            &self.net.tensors()?,
            &self.opt.state(),
            &self.progress,
        )
    }

    fn write_metrics_log(&self) -> Result<()> {
        let mut text = String::new();
        for r in &self.progress.history {
            text += &serde_json::to_string(r).map_err(|e| Error::InvalidInput(e.to_string()))?;
            text.push('\n');
        }
        aum_io::write_atomic(&self.out.join(METRICS), text.as_bytes())
    }

    /// Trains until the recipe's last epoch, or until `stop` is set (checked after each step).
    pub fn run(&mut self, stop: &AtomicBool, on: &mut dyn FnMut(&Event)) -> Result<Finish> {
        let sampling = self.sampling();
        let device = self
            .net
            .varmap()
            .all_vars()
            .first()
            .map_or(Device::Cpu, |v| v.device().clone());
        while self.progress.epoch < self.progress.recipe.epochs {
            let recipe = self.progress.recipe.clone();
            let epoch = self.progress.epoch;
            let order = epoch_order(self.train.len(), &sampling, recipe.seed, epoch);
            let plan = EpochPlan::new(
                &order,
                recipe.batch_size,
                recipe.augment,
                recipe.seed,
                epoch,
            );
            let batches = plan.batches.len();
            let started = Instant::now();
            let elapsed_before = self.progress.elapsed_s;
            let mut interrupted = false;
            let mut lr = recipe.schedule.lr(epoch, self.progress.global_step);
            let (net, opt, progress) = (&self.net, &mut self.opt, &mut self.progress);
            let params = opt.params().to_vec();
            for_each_batch(
                &self.train,
                &plan,
                progress.batch,
                self.workers.threads,
                self.workers.queue,
                |b, batch| {
                    let (x, y) = batch.tensors(&device)?;
                    let logits = net.forward(&x, true)?;
                    let loss = recipe.loss.compute(&logits, &y)?;
                    let value = loss.to_scalar::<f32>()? as f64;
                    lr = recipe.schedule.lr(epoch, progress.global_step);
                    // Upstream skips non-finite steps.
                    if value.is_finite() {
                        let mut grads = loss.backward()?;
                        if let Some(max) = recipe.clip_grad {
                            clip_grad_norm(&mut grads, &params, max)?;
                        }
                        opt.step(&grads, lr)?;
                        progress.epoch_loss += value * batch.size() as f64;
                        progress.epoch_clips += batch.size();
                    }
                    progress.global_step += 1;
                    progress.optimizer_steps = opt.steps;
                    progress.batch = b + 1;
                    let secs = started.elapsed().as_secs_f64();
                    progress.elapsed_s = elapsed_before + secs;
                    on(&Event::Step {
                        epoch,
                        batch: b,
                        batches,
                        loss: value,
                        lr,
                        clips_per_s: progress.epoch_clips as f64 / secs.max(1e-9),
                    });
                    if stop.load(Ordering::Relaxed) {
                        interrupted = true;
                        return Ok(ControlFlow::Break(()));
                    }
                    Ok(ControlFlow::Continue(()))
                },
            )?;
            if interrupted {
                self.save_state()?;
                return Ok(Finish::Interrupted);
            }
            self.end_epoch(lr, started, elapsed_before, on)?;
        }
        Ok(Finish::Completed)
    }

    /// Evaluation, best checkpoint, state and log at the end of an epoch.
    fn end_epoch(
        &mut self,
        lr: f64,
        started: Instant,
        elapsed_before: f64,
        on: &mut dyn FnMut(&Event),
    ) -> Result<()> {
        let recipe = &self.progress.recipe;
        let evaluation = match &self.val {
            Some(v) => Some(evaluate(
                &self.net,
                v,
                recipe.eval_batch_size,
                recipe.loss,
                self.workers.threads,
            )?),
            None => None,
        };
        let epoch = self.progress.epoch + 1;
        let secs = started.elapsed().as_secs_f64();
        let record = EpochRecord {
            epoch,
            train_loss: self.progress.epoch_loss / self.progress.epoch_clips.max(1) as f64,
            lr,
            val: evaluation.as_ref().map(|e| e.metrics.clone()),
            elapsed_s: elapsed_before + secs,
            clips_per_s: self.progress.epoch_clips as f64 / secs.max(1e-9),
        };
        // Without a validation set the latest epoch is the best.
        let score = evaluation
            .as_ref()
            .map_or(epoch as f64, |e| recipe.metric.of(&e.metrics));
        let best = self.progress.best.is_none_or(|(b, _)| score > b);
        if best {
            self.progress.best = Some((score, epoch));
            self.net.save_checkpoint(
                &self.out.join(BEST),
                &self.progress.labels(),
                &self.front_end,
                recipe.loss.activation(),
            )?;
        }
        self.progress.history.push(record.clone());
        self.progress.epoch = epoch;
        self.progress.batch = 0;
        self.progress.epoch_loss = 0.0;
        self.progress.epoch_clips = 0;
        self.progress.elapsed_s = record.elapsed_s;
        self.save_state()?;
        self.write_metrics_log()?;
        on(&Event::Epoch {
            record: &record,
            evaluation: evaluation.as_ref(),
            best,
        });
        Ok(())
    }
}
