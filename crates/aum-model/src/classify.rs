//! From a waveform to labelled scores in one call: a front end, any [`AudioClassifier`] (Audio
//! Mamba, AST ...), and labels.

use std::path::Path;
use std::sync::Arc;

use aum_core::{Activation, AudioClassifier, Error, LabelSet, Precision, Result, Waveform};
use aum_fbank::FrontEnd;
use candle_core::{Device, Tensor};

use crate::labels::{dataset_for, LabelSource};
use crate::Checkpoint;

/// A ready-to-use audio classifier: the model, the front end it was trained with, one label
/// per class (checked when built) and the activation that turns its logits into scores.
#[derive(Clone)]
pub struct Classifier {
    model: Arc<dyn AudioClassifier>,
    front_end: FrontEnd,
    labels: LabelSet,
    label_source: LabelSource,
    activation: Activation,
}

impl std::fmt::Debug for Classifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("classes", &self.model.num_classes())
            .field("front_end", &self.front_end)
            .finish()
    }
}

/// How the scores of a long clip's windows become one score per class for the whole clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregate {
    /// The mean over the windows: how present a class is throughout.
    Mean,
    /// The maximum over the windows: whether a class occurs anywhere.
    Max,
}

impl Aggregate {
    /// One score per class from the windows' scores (none for no windows).
    pub fn apply(self, windows: &[Window]) -> Vec<f32> {
        let Some(first) = windows.first() else {
            return Vec::new();
        };
        let mut out = first.scores.clone();
        for w in &windows[1..] {
            for (o, &s) in out.iter_mut().zip(&w.scores) {
                *o = match self {
                    Aggregate::Mean => *o + s,
                    Aggregate::Max => o.max(s),
                };
            }
        }
        if self == Aggregate::Mean {
            let n = windows.len() as f32;
            out.iter_mut().for_each(|o| *o /= n);
        }
        out
    }
}

impl std::str::FromStr for Aggregate {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mean" => Ok(Aggregate::Mean),
            "max" => Ok(Aggregate::Max),
            other => Err(Error::InvalidInput(format!(
                "aggregate `{other}`: expected mean or max"
            ))),
        }
    }
}

/// One clip's scores at one place in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start of the window, seconds.
    pub start: f64,
    /// End of the window, seconds.
    pub end: f64,
    /// Score per class (the classifier's activation of the window's logits).
    pub scores: Vec<f32>,
}

impl Classifier {
    /// The model of a checkpoint file of any supported family and layout ([`Checkpoint::load`])
    /// on `device`, in f32, with the file's front end and labels.
    pub fn from_file(path: impl AsRef<Path>, device: &Device) -> Result<Self> {
        Self::load(path, device, Precision::F32)
    }

    /// [`Classifier::from_file`] in `precision`: [`Precision::Bf16`] holds the linear layers
    /// in bf16 (half the memory) and runs them on the bf16 GEMM.
    pub fn load(path: impl AsRef<Path>, device: &Device, precision: Precision) -> Result<Self> {
        Self::new(Checkpoint::load(path)?, device, precision)
    }

    /// The model of `ckpt` on `device` in `precision`, with the checkpoint's front end and
    /// labels (the checkpoint's tensors go to the model: [`Checkpoint::into_model`]).
    pub fn new(ckpt: Checkpoint, device: &Device, precision: Precision) -> Result<Self> {
        let front_end = ckpt.front_end().clone();
        let labels = ckpt.labels().map(<[String]>::to_vec);
        let activation = ckpt.activation();
        let model = ckpt.into_model(device)?.with_precision(precision)?;
        Ok(Self::from_parts(Arc::new(model), front_end, labels)?.with_activation(activation))
    }

    /// Any classifier with its front end. Without labels, a model with the class count of a
    /// published dataset gets that dataset's names and activation ([`crate::labels`]); any
    /// other gets its class indices and sigmoid scores.
    pub fn from_parts(
        model: Arc<dyn AudioClassifier>,
        front_end: FrontEnd,
        labels: Option<Vec<String>>,
    ) -> Result<Self> {
        let n = model.num_classes();
        let dataset = dataset_for(n);
        let (labels, label_source) = match (labels, dataset.and_then(|d| d.labels())) {
            (Some(l), _) => (LabelSet::from_names(l), LabelSource::Checkpoint),
            (None, Some(l)) => (l, LabelSource::Assumed(dataset.map_or("", |d| d.name))),
            (None, None) => (
                LabelSet::from_names((0..n).map(|i| i.to_string()).collect()),
                LabelSource::Indices,
            ),
        };
        let activation = crate::labels::default_activation(n);
        let clf = Self {
            model,
            front_end,
            labels: LabelSet::default(),
            label_source,
            activation,
        };
        clf.set_labels(labels, label_source)
    }

    /// Replaces the label names; their number must equal the model's classes.
    pub fn with_labels(self, labels: LabelSet) -> Result<Self> {
        self.set_labels(labels, LabelSource::Given)
    }

    fn set_labels(mut self, labels: LabelSet, source: LabelSource) -> Result<Self> {
        if labels.len() != self.model.num_classes() {
            return Err(Error::InvalidInput(format!(
                "{} labels for a model with {} classes",
                labels.len(),
                self.model.num_classes()
            )));
        }
        self.labels = labels;
        self.label_source = source;
        Ok(self)
    }

    /// Where the label names came from (the checkpoint, a dataset assumed from the class
    /// count, the caller, or none: indices).
    pub fn label_source(&self) -> LabelSource {
        self.label_source
    }

    /// Scores the logits with `activation` instead (softmax for a single-label model, sigmoid
    /// for a multi-label one).
    pub fn with_activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// How the logits become scores.
    pub fn activation(&self) -> Activation {
        self.activation
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
        let logits = self.model.logits(&self.input(wave)?)?;
        Ok(logits.squeeze(0)?.to_device(&Device::Cpu)?.to_vec1()?)
    }

    /// The embedding of one waveform, `(dim)`: the pooled vector the head reads
    /// ([`AudioClassifier::embed`]), for retrieval, clustering or a classifier of one's own.
    pub fn embed(&self, wave: &Waveform) -> Result<Vec<f32>> {
        let embedding = self.model.embed(&self.input(wave)?)?;
        Ok(embedding.squeeze(0)?.to_device(&Device::Cpu)?.to_vec1()?)
    }

    /// The model's input for one waveform, `(1, frames, bins)` on the model's device.
    fn input(&self, wave: &Waveform) -> Result<Tensor> {
        let input = self.front_end.model_input(wave)?;
        Ok(Tensor::from_vec(
            input.data,
            (1, input.frames, input.bins),
            self.model.device(),
        )?)
    }

    /// Scores per class: the [`Classifier::activation`] of the logits.
    pub fn scores(&self, wave: &Waveform) -> Result<Vec<f32>> {
        Ok(self.activation.apply(&self.logits(wave)?))
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

    /// One score per class for a long clip: the [`Classifier::timeline`] of `window`-second
    /// windows every `hop` seconds, aggregated; also returns the windows.
    pub fn classify_long(
        &self,
        wave: &Waveform,
        window: f64,
        hop: f64,
        how: Aggregate,
    ) -> Result<(Vec<f32>, Vec<Window>)> {
        let windows = self.timeline(wave, window, hop)?;
        Ok((how.apply(&windows), windows))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(scores: Vec<f32>) -> Window {
        Window {
            start: 0.0,
            end: 1.0,
            scores,
        }
    }

    #[test]
    fn windows_aggregate_by_mean_and_max() {
        let w = [
            window(vec![0.1, 0.9]),
            window(vec![0.5, 0.3]),
            window(vec![0.3, 0.0]),
        ];
        let mean = Aggregate::Mean.apply(&w);
        assert!((mean[0] - 0.3).abs() < 1e-6 && (mean[1] - 0.4).abs() < 1e-6);
        assert_eq!(Aggregate::Max.apply(&w), vec![0.5, 0.9]);
        assert!(Aggregate::Max.apply(&[]).is_empty());
        assert_eq!("max".parse::<Aggregate>().unwrap(), Aggregate::Max);
        assert!("median".parse::<Aggregate>().is_err());
    }
}
