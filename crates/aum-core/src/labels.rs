/// The class vocabulary of a model or dataset: output unit `i` is `names[i]`, with an optional
/// machine id (`/m/09x0r` in AudioSet's `class_labels_indices.csv`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSet {
    pub ids: Vec<String>,
    pub names: Vec<String>,
}

impl LabelSet {
    /// Labels whose ids are their names (e.g. `"0"`..`"9"` for spoken digits).
    pub fn from_names(names: Vec<String>) -> Self {
        Self {
            ids: names.clone(),
            names,
        }
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The index of a label given by id or by display name.
    pub fn index_of(&self, key: &str) -> Option<usize> {
        self.ids
            .iter()
            .position(|id| id == key)
            .or_else(|| self.names.iter().position(|n| n == key))
    }
}
