//! Manifests: the AuM/AST JSON data file (`{"data": [{"wav": ..., "labels": "/m/a,/m/b"}]}`)
//! with a `class_labels_indices.csv`, and a CSV manifest (`path,label[,split]`, several labels
//! comma-separated inside a quoted field). Relative paths are resolved against the manifest's
//! folder.

use std::path::{Path, PathBuf};

use aum_core::{Error, LabelSet, Result};
use serde::Deserialize;

use crate::clips::{Clip, ClipList};
use crate::layouts::labels_from;
use crate::split::Split;

#[derive(Deserialize)]
struct JsonFile {
    data: Vec<JsonEntry>,
}

#[derive(Deserialize)]
struct JsonEntry {
    wav: String,
    labels: String,
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

fn bad(path: &Path, m: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("{}: {m}", path.display()))
}

/// The labels CSV of a JSON manifest: `labels`, or a `*class_labels_indices.csv` in its folder.
fn json_labels(path: &Path, labels: Option<&LabelSet>) -> Result<LabelSet> {
    if let Some(l) = labels {
        return Ok(l.clone());
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with("class_labels_indices.csv"))
        })
        .collect();
    found.sort();
    match found.as_slice() {
        [one] => LabelSet::from_csv(one),
        [] => Err(bad(
            path,
            "no class_labels_indices.csv next to the manifest (pass the labels explicitly)",
        )),
        _ => Err(bad(
            path,
            "several *class_labels_indices.csv next to the manifest (pass the labels explicitly)",
        )),
    }
}

/// Loads an AuM JSON manifest. Every label must be in the label set (by mid or name).
pub fn load_json(path: &Path, labels: Option<&LabelSet>) -> Result<ClipList> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let file: JsonFile = serde_json::from_str(&text).map_err(|e| bad(path, e))?;
    let labels = json_labels(path, labels)?;
    let base = path.parent().unwrap_or(Path::new("."));
    let clips = file
        .data
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let ids = e
                .labels
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|l| {
                    labels
                        .index_of(l)
                        .ok_or_else(|| bad(path, format!("entry {i}: unknown label `{l}`")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Clip {
                path: resolve(base, &e.wav),
                labels: ids,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ClipList { clips, labels })
}

/// Whether a CSV is FSDD's own manifest (`file,digit,speaker,...`).
pub fn is_fsdd_manifest(path: &Path) -> bool {
    csv::Reader::from_path(path)
        .ok()
        .and_then(|mut r| r.headers().ok().cloned())
        .is_some_and(|h| h.iter().take(3).eq(["file", "digit", "speaker"]))
}

/// Loads a CSV manifest with a header naming a path column (`path`, `file` or `wav`), a label
/// column (`label` or `labels`) and optionally `split`.
pub fn load_csv(path: &Path, split: &Split, labels: Option<&LabelSet>) -> Result<ClipList> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| bad(path, e))?;
    let header = reader.headers().map_err(|e| bad(path, e))?.clone();
    let col = |names: &[&str]| {
        header
            .iter()
            .position(|h| names.contains(&h.trim().to_ascii_lowercase().as_str()))
    };
    let path_col = col(&["path", "file", "wav", "filename"])
        .ok_or_else(|| bad(path, "no path column (path, file or wav) in the header"))?;
    let label_col =
        col(&["label", "labels"]).ok_or_else(|| bad(path, "no label column in the header"))?;
    let split_col = col(&["split"]);
    if split_col.is_none() {
        super::single_split(path, split)?;
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rows = Vec::new();
    for (line, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| bad(path, e))?;
        let field = |c: usize| {
            rec.get(c)
                .ok_or_else(|| bad(path, format!("row {} is too short", line + 2)))
        };
        if let Some(c) = split_col {
            if !split.accepts(field(c)?) {
                continue;
            }
        }
        let names: Vec<String> = field(label_col)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        rows.push((resolve(base, field(path_col)?), names));
    }
    // The label set is every label of the whole file (all splits), so splits agree.
    let labels = match labels {
        Some(l) => l.clone(),
        None => {
            let mut all = Vec::new();
            let mut r = csv::Reader::from_path(path).map_err(|e| bad(path, e))?;
            for rec in r.records() {
                let rec = rec.map_err(|e| bad(path, e))?;
                all.extend(
                    rec.get(label_col)
                        .unwrap_or_default()
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty()),
                );
            }
            labels_from(all)
        }
    };
    let clips = rows
        .into_iter()
        .map(|(p, names)| {
            let ids = names
                .iter()
                .map(|n| {
                    labels
                        .index_of(n)
                        .ok_or_else(|| bad(path, format!("unknown label `{n}`")))
                })
                .collect::<Result<Vec<_>>>()?;
            Ok(Clip {
                path: p,
                labels: ids,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ClipList { clips, labels })
}
