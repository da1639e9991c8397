//! One subfolder per class (`dog/a.wav`, `cat/b.flac` ...), optionally under split folders
//! (`train/dog/a.wav`, `test/dog/c.wav`).

use std::path::Path;

use aum_core::{Error, Result};

use crate::clips::{Clip, ClipList};
use crate::layouts::{audio_files, labels_from, single_split, subdirs};
use crate::split::Split;

/// Split folder names, in the order tried.
const SPLIT_DIRS: [(&str, &[&str]); 3] = [
    ("train", &["train"]),
    ("valid", &["valid", "validation", "val", "dev"]),
    ("test", &["test", "eval"]),
];

/// Loads the clips of `split` under `dir`, labelled by class folder (labels span all splits);
/// without split folders every clip is returned. Fails when no audio file is found.
pub fn load(dir: &Path, split: &Split) -> Result<ClipList> {
    single_split(dir, split)?;
    let has_splits = subdirs(dir)?.iter().any(|d| {
        d.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| split_of(n).is_some())
    });
    let roots: Vec<std::path::PathBuf> = if has_splits {
        subdirs(dir)?
            .into_iter()
            .filter(|d| {
                d.file_name()
                    .and_then(|n| n.to_str())
                    .and_then(split_of)
                    .is_some_and(|s| split.accepts(s))
            })
            .collect()
    } else {
        vec![dir.to_path_buf()]
    };
    // Labels come from every class folder of every split, so all splits share one label set.
    let all_roots: Vec<_> = if has_splits {
        subdirs(dir)?
    } else {
        vec![dir.to_path_buf()]
    };
    let mut names = Vec::new();
    for r in &all_roots {
        for c in subdirs(r)? {
            if let Some(n) = c.file_name().and_then(|n| n.to_str()) {
                names.push(n.to_string());
            }
        }
    }
    let labels = labels_from(names);
    let mut clips = Vec::new();
    for r in &roots {
        for class_dir in subdirs(r)? {
            let name = class_dir
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(l) = labels.index_of(name) else {
                continue;
            };
            for path in audio_files(&class_dir)? {
                clips.push(Clip {
                    path,
                    labels: vec![l],
                });
            }
        }
    }
    if clips.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{}: no audio files in class subfolders for split `{}`",
            dir.display(),
            split.name()
        )));
    }
    Ok(ClipList { clips, labels })
}

fn split_of(name: &str) -> Option<&'static str> {
    let lower = name.to_ascii_lowercase();
    SPLIT_DIRS
        .iter()
        .find(|(_, names)| names.contains(&lower.as_str()))
        .map(|(s, _)| *s)
}
