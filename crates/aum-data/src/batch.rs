//! Batches: the order of an epoch (shuffled, weighted or sequential), and the batches of that
//! order assembled by worker threads into a bounded queue while the model trains. Each batch's
//! randomness comes from `(seed, epoch, batch)`, so batches are identical whichever thread builds
//! them and a run resumed at batch `b` sees exactly the batches it would have seen.

use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use aum_core::{Error, Result};
use candle_core::{Device, Tensor};

use crate::augment::{mix_waves, noise_and_roll, spec_masks, weighted_sample, Augment};
use crate::prepare::{Prepared, Source};
use crate::rng::Rng;

/// Stream ids for [`Rng::derive`].
const STREAM_ORDER: u64 = 1;
const STREAM_BATCH: u64 = 2;

/// How an epoch visits the clips.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampling {
    /// Every clip once in input order (evaluation).
    Sequential,
    /// Every clip once in a random order.
    Shuffle,
    /// As many draws as clips, with replacement, proportional to the weights.
    Weighted(Vec<f64>),
}

/// The clip order of `epoch`.
pub fn epoch_order(n: usize, sampling: &Sampling, seed: u64, epoch: usize) -> Vec<usize> {
    let mut rng = Rng::derive(seed, &[STREAM_ORDER, epoch as u64]);
    match sampling {
        Sampling::Sequential => (0..n).collect(),
        Sampling::Shuffle => {
            let mut v: Vec<usize> = (0..n).collect();
            rng.shuffle(&mut v);
            v
        }
        Sampling::Weighted(w) => weighted_sample(w, n, &mut rng),
    }
}

/// A batch of model inputs and targets, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// `(size, frames, bins)` normalised features.
    pub inputs: Vec<f32>,
    /// `(size, classes)` (possibly mixed) targets.
    pub targets: Vec<f32>,
    /// The clips of the batch (first clip of a mixed pair).
    pub indices: Vec<usize>,
    /// Frames per clip (`T`).
    pub frames: usize,
    /// Mel bins per frame (`F`).
    pub bins: usize,
    /// Number of classes (`C`).
    pub classes: usize,
}

impl Batch {
    /// Number of clips in the batch (`B`).
    pub fn size(&self) -> usize {
        self.indices.len()
    }

    /// `(inputs (B, T, F), targets (B, C))` on `device`.
    pub fn tensors(&self, device: &Device) -> Result<(Tensor, Tensor)> {
        let b = self.size();
        Ok((
            Tensor::from_slice(&self.inputs, (b, self.frames, self.bins), device)?,
            Tensor::from_slice(&self.targets, (b, self.classes), device)?,
        ))
    }
}

/// Builds one batch: per clip, optional mixup with a random partner, raw fbank, SpecAugment,
/// pad/crop and normalisation, optional noise and roll.
pub fn build_batch(
    data: &Prepared,
    indices: &[usize],
    aug: &Augment,
    rng: &mut Rng,
) -> Result<Batch> {
    let fe = &data.front_end;
    let frames = fe.frames.ok_or_else(|| {
        Error::InvalidInput("batching needs a front end with a fixed frame count".into())
    })?;
    let classes = data.num_classes;
    let mut inputs = Vec::with_capacity(indices.len() * frames * fe.num_mel_bins);
    let mut targets = Vec::with_capacity(indices.len() * classes);
    for &i in indices {
        let mut target = data.targets[i].clone();
        let raw = if aug.mixup > 0.0 && rng.uniform() < aug.mixup {
            let Source::Waves(waves) = &data.source else {
                return Err(Error::InvalidInput(
                    "mixup mixes waveforms: prepare the data with waves".into(),
                ));
            };
            let j = rng.below(data.len());
            let lambda = rng.beta(10.0, 10.0) as f32;
            for (t, o) in target.iter_mut().zip(&data.targets[j]) {
                *t = lambda * *t + (1.0 - lambda) * o;
            }
            fe.fbank(&mix_waves(&waves[i], &waves[j], lambda)?)?
        } else {
            data.raw(i)?
        };
        let mut f = aum_fbank::pad_or_crop(&raw, frames);
        spec_masks(&mut f, aug.freqm, aug.timem, rng);
        aum_fbank::normalize(&mut f, fe.mean, fe.std);
        if aug.noise {
            noise_and_roll(&mut f, rng);
        }
        inputs.extend_from_slice(&f.data);
        targets.extend_from_slice(&target);
    }
    Ok(Batch {
        inputs,
        targets,
        indices: indices.to_vec(),
        frames,
        bins: fe.num_mel_bins,
        classes,
    })
}

/// The batches of one epoch, and how they are made.
#[derive(Debug, Clone)]
pub struct EpochPlan {
    /// Clip indices of each batch, in order.
    pub batches: Vec<Vec<usize>>,
    /// Augmentations applied to every batch.
    pub augment: Augment,
    /// Run seed; with `epoch` and the batch index it seeds each batch's randomness.
    pub seed: u64,
    /// Epoch number, from 0.
    pub epoch: usize,
}

impl EpochPlan {
    /// Cuts `order` into batches of `size` (the last may be smaller).
    pub fn new(order: &[usize], size: usize, augment: Augment, seed: u64, epoch: usize) -> Self {
        Self {
            batches: order.chunks(size.max(1)).map(<[usize]>::to_vec).collect(),
            augment,
            seed,
            epoch,
        }
    }
}

/// Runs `consume(batch_index, batch)` on batches `start..` of `plan` in order, while `workers`
/// threads build the following ones into a queue of `queue` batches. `consume` may stop early
/// with `ControlFlow::Break`. A batch that fails to build ends the loop with its error.
pub fn for_each_batch(
    data: &Prepared,
    plan: &EpochPlan,
    start: usize,
    workers: usize,
    queue: usize,
    mut consume: impl FnMut(usize, Batch) -> Result<ControlFlow<()>>,
) -> Result<()> {
    let n = plan.batches.len();
    let next = AtomicUsize::new(start);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(queue.max(1));
        for _ in 0..workers.max(1) {
            let tx = tx.clone();
            let (next, stop) = (&next, &stop);
            s.spawn(move || loop {
                let b = next.fetch_add(1, Ordering::Relaxed);
                if b >= n || stop.load(Ordering::Relaxed) {
                    break;
                }
                let mut rng = Rng::derive(plan.seed, &[STREAM_BATCH, plan.epoch as u64, b as u64]);
                let batch = build_batch(data, &plan.batches[b], &plan.augment, &mut rng);
                if tx.send((b, batch)).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        // Workers finish out of order; hold early arrivals until their turn.
        let mut pending = BTreeMap::new();
        let mut want = start;
        let result = (|| {
            for (b, batch) in rx.iter() {
                pending.insert(b, batch);
                while let Some(batch) = pending.remove(&want) {
                    if consume(want, batch?)?.is_break() {
                        return Ok(());
                    }
                    want += 1;
                }
            }
            Ok(())
        })();
        stop.store(true, Ordering::Relaxed);
        drop(rx);
        result
    })
}
