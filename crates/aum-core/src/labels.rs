use std::path::Path;

use crate::{Error, Result};

/// The class vocabulary of a model or dataset: output unit `i` is `names[i]`, with a machine
/// id (`/m/09x0r` in AudioSet's `class_labels_indices.csv`; the name itself otherwise).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelSet {
    ids: Vec<String>,
    names: Vec<String>,
}

impl LabelSet {
    /// Labels whose ids are their names (e.g. `"0"`..`"9"` for spoken digits).
    pub fn from_names(names: Vec<String>) -> Self {
        Self {
            ids: names.clone(),
            names,
        }
    }

    /// Reads an AudioSet-style `class_labels_indices.csv` (`index,mid,display_name`, names
    /// quoted when they contain commas). Rows may come in any order; indices must be 0..n.
    pub fn from_csv(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        Self::from_csv_str(&text).map_err(|e| e.in_file(path))
    }

    /// [`LabelSet::from_csv`] of the file's text.
    pub fn from_csv_str(text: &str) -> Result<Self> {
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        let bad = Error::InvalidInput;
        let mut rows = Vec::new();
        for (line, record) in reader.records().enumerate() {
            let record = record.map_err(|e| bad(e.to_string()))?;
            if record.len() < 3 {
                return Err(bad(format!(
                    "row {} has {} fields, expected index,mid,display_name",
                    line + 2,
                    record.len()
                )));
            }
            let index: usize = record[0].trim().parse().map_err(|_| {
                bad(format!(
                    "row {}: index `{}` is not a number",
                    line + 2,
                    &record[0]
                ))
            })?;
            rows.push((index, record[1].to_string(), record[2].to_string()));
        }
        rows.sort_by_key(|r| r.0);
        if let Some((i, r)) = rows.iter().enumerate().find(|(i, r)| r.0 != *i) {
            return Err(bad(format!(
                "indices must be 0..{}, found {} at position {i}",
                rows.len(),
                r.0
            )));
        }
        Ok(Self {
            ids: rows.iter().map(|r| r.1.clone()).collect(),
            names: rows.into_iter().map(|r| r.2).collect(),
        })
    }

    /// Labels with machine ids and display names, one of each per class.
    pub fn new(ids: Vec<String>, names: Vec<String>) -> Result<Self> {
        if ids.len() != names.len() {
            return Err(Error::InvalidInput(format!(
                "{} label ids for {} names",
                ids.len(),
                names.len()
            )));
        }
        Ok(Self { ids, names })
    }

    /// The display names, by class index.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The machine ids, by class index.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// The name of class `i`.
    pub fn name(&self, i: usize) -> Option<&str> {
        self.names.get(i).map(String::as_str)
    }

    /// The number of classes.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether there are no classes.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_quoted_commas_and_any_row_order() {
        let dir = std::env::temp_dir().join(format!("aum-labels-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("l.csv");
        std::fs::write(
            &p,
            "index,mid,display_name\n1,/m/b,\"Cat, domestic\"\n0,/m/a,Speech\n",
        )
        .unwrap();
        let l = LabelSet::from_csv(&p).unwrap();
        assert_eq!(l.names, vec!["Speech", "Cat, domestic"]);
        assert_eq!(l.index_of("/m/b"), Some(1));
        assert_eq!(l.index_of("Speech"), Some(0));
        std::fs::write(&p, "index,mid,display_name\n0,/m/a,A\n2,/m/c,C\n").unwrap();
        let e = LabelSet::from_csv(&p).unwrap_err().to_string();
        assert!(e.contains("indices must be 0..2"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
