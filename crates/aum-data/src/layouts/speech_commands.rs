//! Speech Commands v2: one folder per word, `validation_list.txt` and `testing_list.txt` listing
//! the valid and test files (relative paths); every other file is training data. The
//! `_background_noise_` folder is not a class.

use std::collections::HashSet;
use std::path::Path;

use aum_core::{Error, Result};

use crate::clips::{Clip, ClipList};
use crate::layouts::{audio_files, labels_from, subdirs};
use crate::split::Split;

fn list(path: &Path) -> Result<HashSet<String>> {
    Ok(std::fs::read_to_string(path)
        .map_err(|e| Error::io(path, e))?
        .lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect())
}

/// Loads the clips of `split` from a Speech Commands root `dir`, one label per word folder.
pub fn load(dir: &Path, split: &Split) -> Result<ClipList> {
    super::single_split(dir, split)?;
    let valid = list(&dir.join("validation_list.txt"))?;
    let test = list(&dir.join("testing_list.txt"))?;
    let words: Vec<_> = subdirs(dir)?
        .into_iter()
        .filter(|d| d.file_name().is_some_and(|n| n != "_background_noise_"))
        .collect();
    let labels = labels_from(
        words
            .iter()
            .filter_map(|d| d.file_name()?.to_str().map(String::from))
            .collect(),
    );
    let mut clips = Vec::new();
    for d in &words {
        let word = d.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let Some(l) = labels.index_of(word) else {
            continue;
        };
        for path in audio_files(d)? {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let rel = format!("{word}/{name}");
            let tag = if valid.contains(&rel) {
                "valid"
            } else if test.contains(&rel) {
                "test"
            } else {
                "train"
            };
            if split.accepts(tag) {
                clips.push(Clip {
                    path,
                    labels: vec![l],
                });
            }
        }
    }
    Ok(ClipList { clips, labels })
}
