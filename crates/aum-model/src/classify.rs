//! From a waveform to labelled scores in one call: a front end, any [`AudioClassifier`] (Audio
//! Mamba, AST ...), and labels.

use std::path::Path;
use std::sync::Arc;

use aum_core::{AudioClassifier, Error, LabelSet, Result, Waveform};
use aum_fbank::FrontEnd;
use candle_core::{Device, Tensor};

use crate::Checkpoint;

/// A ready-to-use audio classifier: the model, the front end it was trained with, and one
/// label per class (checked when built).
#[derive(Clone)]
pub struct Classifier {
    model: Arc<dyn AudioClassifier>,
    front_end: FrontEnd,
    labels: LabelSet,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("classes", &self.model.num_classes())
            .field("front_end", &self.front_end)
            .finish()
    }
}

/// One clip's scores at one place in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start of the window, seconds.
    pub start: f64,
    /// End of the window, seconds.
    pub end: f64,
    /// Sigmoid score per class.
    pub scores: Vec<f32>,
}

impl Classifier {
    /// The model of a checkpoint file of any supported family and layout ([`Checkpoint::load`])
    /// on `device`, with the file's front end and labels.
    pub fn from_file(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::new(Checkpoint::load(path)?, device)
    }

    /// The model of `ckpt` on `device`, with the checkpoint's front end and labels (the
    /// checkpoint's tensors go to the model: [`Checkpoint::into_model`]).
    pub fn new(ckpt: Checkpoint, device: &Device) -> Result<Self> {
        let front_end = ckpt.front_end().clone();
        let labels = ckpt.labels().map(<[String]>::to_vec);
        Self::from_parts(Arc::new(ckpt.into_model(device)?), front_end, labels)
    }

    /// Any classifier with its front end; labels default to the class indices.
    pub fn from_parts(
        model: Arc<dyn AudioClassifier>,
        front_end: FrontEnd,
        labels: Option<Vec<String>>,
    ) -> Result<Self> {
        let n = model.num_classes();
        let labels = labels.unwrap_or_else(|| (0..n).map(|i| i.to_string()).collect());
        Self {
            model,
            front_end,
            labels: LabelSet::default(),
        }
        .with_labels(LabelSet::from_names(labels))
    }

    /// Replaces the label names; their number must equal the model's classes.
    pub fn with_labels(mut self, labels: LabelSet) -> Result<Self> {
        if labels.len() != self.model.num_classes() {
            return Err(Error::InvalidInput(format!(
                "{} labels for a model with {} classes",
                labels.len(),
                self.model.num_classes()
            )));
        }
        self.labels = labels;
        Ok(self)
    }

    /// The model.
    pub fn model(&self) -> &Arc<dyn AudioClassifier> {
        &self.model
    }

    /// The input pipeline (waveform to normalised features).
    pub fn front_end(&self) -> &FrontEnd {
        &self.front_end
    }

    /// The class labels.
    pub fn labels(&self) -> &LabelSet {
        &self.labels
    }

    /// Pads or crops every clip to `frames` frames instead of the trained length (the
    /// positional embedding follows the clip's grid).
    pub fn with_frames(mut self, frames: usize) -> Self {
        self.front_end.frames = Some(frames);
        self
    }

    /// Runs clips of any length in one pass (the positional embedding follows the clip's grid)
    /// instead of padding or cropping to the trained frame count.
    pub fn any_length(mut self) -> Self {
        self.front_end.frames = None;
        self
    }

    /// Logits of one waveform, `(classes)`.
    pub fn logits(&self, wave: &Waveform) -> Result<Vec<f32>> {
        let input = self.front_end.model_input(wave)?;
        let x = Tensor::from_vec(
            input.data,
            (1, input.frames, input.bins),
            self.model.device(),
        )?;
        let logits = self.model.logits(&x)?;
        Ok(logits.squeeze(0)?.to_device(&Device::Cpu)?.to_vec1()?)
    }

    /// Sigmoid scores per class, as the official evaluation reports them.
    pub fn scores(&self, wave: &Waveform) -> Result<Vec<f32>> {
        Ok(self.logits(wave)?.into_iter().map(sigmoid).collect())
    }

    /// The `k` best classes, best first.
    pub fn top_k(&self, wave: &Waveform, k: usize) -> Result<Vec<(String, f32)>> {
        Ok(self.rank(&self.scores(wave)?, k))
    }

    /// The `k` best of `scores`, with their label names.
    pub fn rank(&self, scores: &[f32], k: usize) -> Vec<(String, f32)> {
        let mut idx: Vec<usize> = (0..scores.len()).collect();
        idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        idx.into_iter()
            .take(k)
            .map(|i| (self.labels.names()[i].clone(), scores[i]))
            .collect()
    }

    /// Scores of successive windows of `window` seconds every `hop` seconds (the last window
    /// may be shorter; it is padded like any short clip).
    pub fn timeline(&self, wave: &Waveform, window: f64, hop: f64) -> Result<Vec<Window>> {
        if !(window > 0.0 && hop > 0.0) {
            return Err(Error::InvalidInput(format!(
                "window ({window} s) and hop ({hop} s) must be positive"
            )));
        }
        let rate = f64::from(wave.sample_rate());
        let (win, step) = (
            (window * rate).round() as usize,
            (hop * rate).round().max(1.0) as usize,
        );
        let n = wave.num_frames();
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + win).min(n);
            let piece = Waveform::new(
                wave.channels()
                    .iter()
                    .map(|c| c[start..end].to_vec())
                    .collect(),
                wave.sample_rate(),
            )?;
            out.push(Window {
                start: start as f64 / rate,
                end: end as f64 / rate,
                scores: self.scores(&piece)?,
            });
            if end >= n {
                break;
            }
            start += step;
        }
        Ok(out)
    }
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}
