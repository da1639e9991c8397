//! The Free Spoken Digit Dataset: `{digit}_{speaker}_{index}.wav`, 8 kHz, label = digit.
//! Standard split (the dataset's README): index 0-4 is test, 5-49 train; the harder split
//! leaves one speaker out.

use std::path::Path;

use aum_core::{LabelSet, Result};

use crate::clips::{Clip, ClipList};
use crate::layouts::audio_files;
use crate::split::Split;

/// `(digit, speaker, index)` of an FSDD file name.
pub fn parse_name(path: &Path) -> Option<(usize, String, usize)> {
    let stem = path.file_stem()?.to_str()?;
    let mut parts = stem.splitn(3, '_');
    let digit: usize = parts.next()?.parse().ok()?;
    let speaker = parts.next()?.to_string();
    let index: usize = parts.next()?.parse().ok()?;
    (digit < 10 && !speaker.is_empty()).then_some((digit, speaker, index))
}

/// Whether a folder looks like FSDD: audio files, all named `{digit}_{speaker}_{index}`.
pub fn is_fsdd(dir: &Path) -> bool {
    let files = audio_files(dir).unwrap_or_default();
    !files.is_empty() && files.iter().all(|f| parse_name(f).is_some())
}

/// The speakers of an FSDD folder, sorted.
pub fn speakers(dir: &Path) -> Result<Vec<String>> {
    let mut s: Vec<String> = audio_files(dir)?
        .iter()
        .filter_map(|f| parse_name(f).map(|p| p.1))
        .collect();
    s.sort();
    s.dedup();
    Ok(s)
}

/// The clips of `split` in an FSDD folder, sorted by file name. `valid` is the test split
/// (FSDD has no separate validation set).
pub fn load(dir: &Path, split: &Split) -> Result<ClipList> {
    let labels = LabelSet::from_names((0..10).map(|d| d.to_string()).collect());
    let mut clips = Vec::new();
    for path in audio_files(dir)? {
        let Some((digit, speaker, index)) = parse_name(&path) else {
            continue;
        };
        let keep = match split {
            Split::All => true,
            Split::Train => index >= 5,
            Split::Valid | Split::Test => index < 5,
            Split::TrainWithout(s) => &speaker != s,
            Split::Speaker(s) => &speaker == s,
        };
        if keep {
            clips.push(Clip {
                path,
                labels: vec![digit],
            });
        }
    }
    if clips.is_empty() {
        return Err(aum_core::Error::InvalidInput(format!(
            "{}: no FSDD clips in split `{}`",
            dir.display(),
            split.name()
        )));
    }
    Ok(ClipList { clips, labels })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        assert_eq!(
            parse_name(Path::new("x/7_george_12.wav")),
            Some((7, "george".into(), 12))
        );
        assert_eq!(parse_name(Path::new("12_george_1.wav")), None);
        assert_eq!(parse_name(Path::new("seven.wav")), None);
    }
}
