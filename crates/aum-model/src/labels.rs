//! The label sets and output activations of the datasets the published checkpoints were
//! trained on. Official checkpoints carry no labels and say nothing of how they were trained;
//! a checkpoint with a dataset's class count is taken to be of that dataset, so it prints class
//! names and scores them the way it was trained. The label lists ship with the crate (credited
//! in LICENSE).

use aum_core::{Activation, LabelSet};

/// A dataset a published checkpoint was trained on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dataset {
    /// Its name, as `--labels` takes it.
    pub name: &'static str,
    /// The number of classes of its checkpoints.
    pub classes: usize,
    /// How its checkpoints' logits become scores: softmax for the single-label datasets
    /// (trained with cross-entropy), sigmoid for multi-label AudioSet (binary cross-entropy).
    pub activation: Activation,
    /// Its `class_labels_indices.csv`, when the crate ships one.
    csv: Option<&'static str>,
}

impl Dataset {
    /// Whether the crate ships the class names.
    pub fn has_labels(&self) -> bool {
        self.csv.is_some()
    }

    /// The class names, when the crate ships them.
    pub fn labels(&self) -> Option<LabelSet> {
        // The shipped files are checked by this module's tests.
        self.csv
            .map(|csv| LabelSet::from_csv_str(csv).expect("shipped label lists parse"))
    }
}

/// The datasets of the published AuM and AST checkpoints, and ESC-50.
pub const DATASETS: [Dataset; 5] = [
    Dataset {
        name: "audioset",
        classes: 527,
        activation: Activation::Sigmoid,
        csv: Some(include_str!("../labels/audioset_class_labels_indices.csv")),
    },
    Dataset {
        name: "vggsound",
        classes: 309,
        activation: Activation::Softmax,
        csv: Some(include_str!("../labels/vggsound_class_labels_indices.csv")),
    },
    Dataset {
        name: "speechcommands",
        classes: 35,
        activation: Activation::Softmax,
        csv: Some(include_str!(
            "../labels/speechcommands_class_labels_indices.csv"
        )),
    },
    Dataset {
        name: "esc50",
        classes: 50,
        activation: Activation::Softmax,
        csv: Some(include_str!("../labels/esc50_class_labels_indices.csv")),
    },
    Dataset {
        name: "voxceleb",
        classes: 1251,
        activation: Activation::Softmax,
        csv: None,
    },
];

/// The dataset called `name` (`audioset`, `vggsound`, `speechcommands`, `esc50`, `voxceleb`).
pub fn dataset(name: &str) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.name == name)
}

/// The dataset whose checkpoints have `classes` classes, if one has.
pub fn dataset_for(classes: usize) -> Option<&'static Dataset> {
    DATASETS.iter().find(|d| d.classes == classes)
}

/// The activation of a model with `classes` classes and no word of its own: its dataset's
/// ([`dataset_for`]), else sigmoid (the official evaluation's).
pub fn default_activation(classes: usize) -> Activation {
    dataset_for(classes).map_or(Activation::Sigmoid, |d| d.activation)
}

/// Where a classifier's label names come from, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelSource {
    /// The checkpoint's own metadata.
    Checkpoint,
    /// Assumed from the class count: the named dataset's shipped list.
    Assumed(&'static str),
    /// Given by the caller (`Classifier::with_labels`, `--labels`).
    Given,
    /// None known: the class indices.
    Indices,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_lists_parse_with_their_class_counts() {
        for d in DATASETS {
            if let Some(l) = d.labels() {
                assert_eq!(l.len(), d.classes, "{}", d.name);
            }
            assert_eq!(dataset_for(d.classes), Some(&d));
        }
        let audioset = dataset("audioset").unwrap().labels().unwrap();
        assert_eq!(audioset.name(0), Some("Speech"));
        assert_eq!(audioset.index_of("/m/09x0r"), Some(0));
        assert_eq!(dataset_for(10), None);
    }
}
