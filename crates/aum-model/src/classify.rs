//! From a waveform to labelled scores in one call: the checkpoint's front end, the model, and
//! its labels.

use aum_core::{Error, LabelSet, Result, Waveform};
use aum_fbank::FrontEnd;
use candle_core::{Device, Tensor};

use crate::checkpoint::Checkpoint;
use crate::model::{AudioMamba, Mode};

/// A ready-to-use audio classifier.
#[derive(Debug, Clone)]
pub struct Classifier {
    pub model: AudioMamba,
    pub front_end: FrontEnd,
    pub labels: LabelSet,
}

/// One clip's scores at one place in time.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// Start and end of the window, seconds.
    pub start: f64,
    pub end: f64,
    /// Sigmoid score per class.
    pub scores: Vec<f32>,
}

impl Classifier {
    /// The model of `ckpt` on `device`, with the checkpoint's labels (or `0..classes` as names).
    pub fn new(ckpt: &Checkpoint, device: &Device) -> Result<Self> {
        let labels = match &ckpt.labels {
            Some(l) => LabelSet::from_names(l.clone()),
            None => LabelSet::from_names((0..ckpt.config.num_classes).map(|i| i.to_string()).collect()),
        };
        Ok(Self {
            model: ckpt.model(device)?,
            front_end: ckpt.front_end.clone(),
            labels,
        })
    }

    /// Replaces the label names; their number must equal the model's classes.
    pub fn with_labels(mut self, labels: LabelSet) -> Result<Self> {
        if labels.len() != self.model.config().num_classes {
            return Err(Error::InvalidInput(format!(
                "{} labels for a model with {} classes",
                labels.len(),
                self.model.config().num_classes
            )));
        }
        self.labels = labels;
        Ok(self)
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
        let min = self.model.config().patch.1;
        if input.frames < min {
            return Err(Error::InvalidInput(format!(
                "the clip gives {} frames; the model needs at least {min} (about {:.2} s)",
                input.frames,
                (min + 2) as f64 * 0.01
            )));
        }
        let x = Tensor::from_vec(input.data, (1, input.frames, input.bins), self.model.device())?;
        let logits = self.model.forward_mode(&x, Mode::Inference)?;
        Ok(logits.squeeze(0)?.to_vec1()?)
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
            .map(|i| (self.labels.names[i].clone(), scores[i]))
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
        let rate = wave.sample_rate as f64;
        let (win, step) = ((window * rate).round() as usize, (hop * rate).round().max(1.0) as usize);
        let n = wave.num_frames();
        let mut out = Vec::new();
        let mut start = 0;
        loop {
            let end = (start + win).min(n);
            let piece = Waveform::new(
                wave.channels.iter().map(|c| c[start..end].to_vec()).collect(),
                wave.sample_rate,
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
