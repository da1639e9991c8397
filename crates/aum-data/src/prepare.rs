//! Preparing a dataset for training: every clip decoded, resampled and turned into raw fbank
//! (or kept as a resampled waveform when waveform mixup needs it) by worker threads that feed a
//! bounded queue. A file that fails to decode is reported and skipped, never fatal.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::sync_channel;

use aum_core::{Result, Waveform};
use aum_fbank::{decode_file, pad_or_crop, resample, Features, FrontEnd};

use crate::cache::FeatureCache;
use crate::clips::ClipList;

/// What the batches are built from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Raw (unnormalised) fbank per clip, cropped to the model's frames; padding is added per
    /// batch. Used when no augmentation needs the waveform.
    Features(Vec<Features>),
    /// Waveforms at the front end's rate, for waveform-level mixup.
    Waves(Vec<Waveform>),
}

/// A clip that could not be used, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    /// The clip's file path.
    pub source: String,
    /// Why it failed.
    pub error: String,
}

/// A dataset ready for batching: the usable clips' data and targets, in list order.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// Features or waveforms of the kept clips.
    pub source: Source,
    /// Multi-hot target of each kept clip, `num_classes` long.
    pub targets: Vec<Vec<f32>>,
    /// File of each kept clip.
    pub sources: Vec<String>,
    /// Clips that failed to load, with their errors.
    pub skipped: Vec<Skipped>,
    /// The front end the features were (or will be) computed with.
    pub front_end: FrontEnd,
    /// Number of labels of the clip list.
    pub num_classes: usize,
}

impl Prepared {
    /// Number of usable clips.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether no clip was usable.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Raw fbank of clip `i` (from the store, or computed from its waveform).
    pub fn raw(&self, i: usize) -> Result<Features> {
        match &self.source {
            Source::Features(f) => Ok(f[i].clone()),
            Source::Waves(w) => self.front_end.fbank(&w[i]),
        }
    }
}

/// How to prepare.
#[derive(Debug, Clone)]
pub struct PrepareOptions {
    /// Keep waveforms (for mixup) instead of features.
    pub waves: bool,
    /// Worker threads.
    pub workers: usize,
    /// Capacity of the queue between workers and the collector.
    pub queue: usize,
    /// Feature cache to read and fill; `None` computes every clip afresh.
    pub cache: Option<FeatureCache>,
}

impl Default for PrepareOptions {
    fn default() -> Self {
        Self {
            waves: false,
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 64,
            cache: None,
        }
    }
}

enum Item {
    Features(Features),
    Wave(Waveform),
}

fn load_one(list: &ClipList, i: usize, fe: &FrontEnd, opts: &PrepareOptions) -> Result<Item> {
    let path = &list.clips[i].path;
    let crop = |f: Features| match fe.frames {
        Some(t) if f.frames > t => pad_or_crop(&f, t),
        _ => f,
    };
    if opts.waves {
        let wave = decode_file(path)?.wave;
        let wave = match fe.sample_rate {
            Some(r) if r != wave.sample_rate() => resample(&wave, r)?,
            _ => wave,
        };
        return Ok(Item::Wave(wave));
    }
    let Some(cache) = &opts.cache else {
        return Ok(Item::Features(crop(fe.fbank(&decode_file(path)?.wave)?)));
    };
    let bytes = std::fs::read(path).map_err(|e| aum_core::Error::io(path, e))?;
    let entry = cache.entry(&bytes, fe, fe.frames);
    if let Some(f) = FeatureCache::read(&entry) {
        return Ok(Item::Features(f));
    }
    let ext = path.extension().and_then(|e| e.to_str());
    let f = crop(fe.fbank(&aum_fbank::decode_bytes(bytes, ext)?.wave)?);
    FeatureCache::write(&entry, &f)?;
    Ok(Item::Features(f))
}

/// Decodes and featurises every clip of `list` with `opts.workers` threads, calling
/// `progress(done, total)` as results arrive. Failed clips land in `skipped`.
pub fn prepare(
    list: &ClipList,
    front_end: &FrontEnd,
    opts: &PrepareOptions,
    progress: &mut dyn FnMut(usize, usize),
) -> Prepared {
    let n = list.clips.len();
    let next = AtomicUsize::new(0);
    let mut results: Vec<Option<Result<Item>>> = (0..n).map(|_| None).collect();
    std::thread::scope(|s| {
        let (tx, rx) = sync_channel(opts.queue.max(1));
        for _ in 0..opts.workers.max(1) {
            let tx = tx.clone();
            let next = &next;
            s.spawn(move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || tx.send((i, load_one(list, i, front_end, opts))).is_err() {
                    break;
                }
            });
        }
        drop(tx);
        for (done, (i, r)) in rx.into_iter().enumerate() {
            results[i] = Some(r);
            progress(done + 1, n);
        }
    });
    let mut feats = Vec::new();
    let mut waves = Vec::new();
    let mut targets = Vec::new();
    let mut sources = Vec::new();
    let mut skipped = Vec::new();
    for (i, r) in results.into_iter().enumerate() {
        let source = list.clips[i].path.display().to_string();
        match r {
            Some(Ok(item)) => {
                match item {
                    Item::Features(f) => feats.push(f),
                    Item::Wave(w) => waves.push(w),
                }
                targets.push(list.target(i));
                sources.push(source);
            }
            Some(Err(e)) => skipped.push(Skipped {
                source,
                error: e.to_string(),
            }),
            None => skipped.push(Skipped {
                source,
                error: "worker thread ended early".into(),
            }),
        }
    }
    Prepared {
        source: if opts.waves {
            Source::Waves(waves)
        } else {
            Source::Features(feats)
        },
        targets,
        sources,
        skipped,
        front_end: front_end.clone(),
        num_classes: list.labels.len(),
    }
}
