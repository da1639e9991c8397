//! Which part of a dataset to load.

use aum_core::Error;

/// A split by name. Layouts with their own split lists (FSDD, Speech Commands, a CSV manifest
/// with a split column, a folder with `train/` `valid/` `test/`) honour it; a single-split layout
/// (one JSON manifest, a plain class folder) is all of one split and only accepts `all` or the
/// split it is used as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Split {
    /// Every clip, whatever its split.
    All,
    /// The training split.
    Train,
    /// The validation split (`valid`, `validation`, `val`, `dev`).
    Valid,
    /// The test split (`test`, `eval`).
    Test,
    /// Every speaker but one: the training side of leave-one-speaker-out (FSDD).
    TrainWithout(String),
    /// One speaker only: the test side of leave-one-speaker-out (FSDD).
    Speaker(String),
}

impl Split {
    /// The name a split column or split folder uses.
    pub fn name(&self) -> &str {
        match self {
            Split::All => "all",
            Split::Train | Split::TrainWithout(_) => "train",
            Split::Valid => "valid",
            Split::Test | Split::Speaker(_) => "test",
        }
    }

    /// Whether a row tagged `tag` (train, valid/validation/val/dev, test/eval) belongs here.
    pub fn accepts(&self, tag: &str) -> bool {
        let tag = match tag.trim().to_ascii_lowercase().as_str() {
            "validation" | "val" | "dev" => "valid".to_string(),
            "eval" | "evaluation" => "test".to_string(),
            t => t.to_string(),
        };
        matches!(self, Split::All) || tag == self.name()
    }
}

impl std::str::FromStr for Split {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        let lower = s.to_ascii_lowercase();
        if let Some(spk) = lower.strip_prefix("train-without:") {
            return Ok(Split::TrainWithout(spk.to_string()));
        }
        if let Some(spk) = lower.strip_prefix("speaker:") {
            return Ok(Split::Speaker(spk.to_string()));
        }
        Ok(match lower.as_str() {
            "all" => Split::All,
            "train" => Split::Train,
            "valid" | "validation" | "val" | "dev" => Split::Valid,
            "test" | "eval" => Split::Test,
            _ => {
                return Err(Error::InvalidInput(format!(
                    "unknown split `{s}` (expected all, train, valid, test, train-without:SPEAKER or speaker:SPEAKER)"
                )))
            }
        })
    }
}
