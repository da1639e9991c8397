//! Dataset layouts on disk, and [`open`], which detects the layout of a path.

pub mod folder;
pub mod fsdd;
pub mod manifest;
pub mod speech_commands;

use std::path::{Path, PathBuf};

use aum_core::{Error, LabelSet, Result};

use crate::clips::ClipList;
use crate::split::Split;

/// File extensions the decoder reads.
const AUDIO_EXTENSIONS: [&str; 10] = [
    "wav", "flac", "ogg", "mp3", "m4a", "aac", "aif", "aiff", "aifc", "rf64",
];

pub(crate) fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| AUDIO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// The audio files directly inside `dir`, sorted.
pub(crate) fn audio_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_audio(p))
        .collect();
    v.sort();
    Ok(v)
}

/// The subfolders of `dir`, sorted.
pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

/// The layouts [`open`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Free Spoken Digit Dataset folder (or its `recordings/` parent, or its manifest.csv).
    Fsdd,
    /// Speech Commands v2: word folders plus validation_list.txt / testing_list.txt.
    SpeechCommands,
    /// The AuM/AST JSON manifest with a class_labels_indices.csv.
    JsonManifest,
    /// A CSV manifest: path, label[, split].
    CsvManifest,
    /// One subfolder per class (optionally under train/ valid/ test/).
    Folder,
}

/// Detects the layout of `path`.
pub fn detect(path: &Path) -> Result<Layout> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    if path.is_file() {
        return match ext.as_deref() {
            Some("json") => Ok(Layout::JsonManifest),
            Some("csv") if manifest::is_fsdd_manifest(path) => Ok(Layout::Fsdd),
            Some("csv") => Ok(Layout::CsvManifest),
            _ => Err(Error::InvalidInput(format!(
                "{}: a dataset file must be a .json or .csv manifest",
                path.display()
            ))),
        };
    }
    if !path.is_dir() {
        return Err(Error::InvalidInput(format!(
            "{}: no such dataset file or folder",
            path.display()
        )));
    }
    if path.join("validation_list.txt").is_file() && path.join("testing_list.txt").is_file() {
        return Ok(Layout::SpeechCommands);
    }
    if fsdd::is_fsdd(path) || fsdd::is_fsdd(&path.join("recordings")) {
        return Ok(Layout::Fsdd);
    }
    Ok(Layout::Folder)
}

/// Opens a dataset at `path` in any supported layout (detected) and selects `split`.
/// `labels` overrides the class list (a JSON manifest needs one unless a
/// `class_labels_indices.csv` lies next to it).
pub fn open(path: &Path, split: &Split, labels: Option<&LabelSet>) -> Result<ClipList> {
    let mut list = match detect(path)? {
        Layout::Fsdd => {
            let dir = if path.is_file() {
                path.parent().unwrap_or(Path::new(".")).to_path_buf()
            } else if fsdd::is_fsdd(path) {
                path.to_path_buf()
            } else {
                path.join("recordings")
            };
            fsdd::load(&dir, split)?
        }
        Layout::SpeechCommands => speech_commands::load(path, split)?,
        Layout::JsonManifest => manifest::load_json(path, labels)?,
        Layout::CsvManifest => manifest::load_csv(path, split, labels)?,
        Layout::Folder => folder::load(path, split)?,
    };
    if let Some(l) = labels {
        if list.labels != *l {
            list = relabel(list, l)?;
        }
    }
    Ok(list)
}

/// Maps a list's label indices onto another label set (by id or name).
fn relabel(list: ClipList, to: &LabelSet) -> Result<ClipList> {
    let map: Vec<usize> = (0..list.labels.len())
        .map(|i| {
            to.index_of(&list.labels.ids()[i])
                .or_else(|| to.index_of(&list.labels.names()[i]))
                .ok_or_else(|| {
                    Error::InvalidInput(format!(
                        "label `{}` is not among the {} given labels",
                        list.labels.names()[i],
                        to.len()
                    ))
                })
        })
        .collect::<Result<_>>()?;
    let mut clips = list.clips;
    for c in &mut clips {
        c.labels = c.labels.iter().map(|&l| map[l]).collect();
    }
    Ok(ClipList {
        clips,
        labels: to.clone(),
    })
}

/// The labels of a single-split layout must not be asked for a split they do not have.
pub(crate) fn single_split(path: &Path, split: &Split) -> Result<()> {
    match split {
        Split::All | Split::Train | Split::Valid | Split::Test => Ok(()),
        other => Err(Error::InvalidInput(format!(
            "{}: split `{}` needs speaker names, which only FSDD has",
            path.display(),
            other.name()
        ))),
    }
}

/// Sorted unique names, as labels.
pub(crate) fn labels_from(mut names: Vec<String>) -> LabelSet {
    names.sort();
    names.dedup();
    LabelSet::from_names(names)
}
