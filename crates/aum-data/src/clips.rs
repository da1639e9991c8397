//! The dataset every loader produces: a list of audio files with their label indices over a
//! [`LabelSet`]. Loaders only differ in how they find files and labels, so decoding, targets and
//! features are written once, here and in [`crate::features`].

use std::path::PathBuf;

use aum_core::{LabelSet, Result, Waveform};

/// One decoded, labelled clip of a dataset.
#[derive(Debug, Clone)]
pub struct Example {
    /// The decoded audio.
    pub wave: Waveform,
    /// Multi-hot target over the dataset's labels (one 1.0 for single-label data).
    pub target: Vec<f32>,
    /// Where the clip came from, for error messages and reports.
    pub source: String,
}

/// One clip: a file and the indices of its labels.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// The audio file.
    pub path: PathBuf,
    /// Indices into the list's [`LabelSet`]; one for single-label data.
    pub labels: Vec<usize>,
}

/// A labelled list of clips, decoded on demand.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipList {
    /// The clips, in loader order.
    pub clips: Vec<Clip>,
    /// The label names the clips' indices refer to.
    pub labels: LabelSet,
}

impl ClipList {
    /// Multi-hot target of clip `i`.
    pub fn target(&self, i: usize) -> Vec<f32> {
        let mut t = vec![0f32; self.labels.len()];
        for &l in &self.clips[i].labels {
            t[l] = 1.0;
        }
        t
    }

    /// Keeps the clips for which `keep` is true.
    pub fn filter(mut self, keep: impl Fn(&Clip) -> bool) -> Self {
        self.clips.retain(keep);
        self
    }

    /// Number of clips per label (for balanced sampling and reports).
    pub fn label_counts(&self) -> Vec<usize> {
        let mut c = vec![0; self.labels.len()];
        for clip in &self.clips {
            for &l in &clip.labels {
                c[l] += 1;
            }
        }
        c
    }
}

impl ClipList {
    /// The number of clips.
    pub fn len(&self) -> usize {
        self.clips.len()
    }

    /// Whether there are no clips.
    pub fn is_empty(&self) -> bool {
        self.clips.is_empty()
    }

    /// Clip `i`, decoded, with its target.
    pub fn get(&self, i: usize) -> Result<Example> {
        let clip = self.clips.get(i).ok_or_else(|| {
            aum_core::Error::InvalidInput(format!("clip {i} of a {}-clip dataset", self.len()))
        })?;
        let decoded = aum_fbank::decode_file(&clip.path)?;
        Ok(Example {
            wave: decoded.wave,
            target: self.target(i),
            source: clip.path.display().to_string(),
        })
    }
}
