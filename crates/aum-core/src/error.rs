use std::path::PathBuf;

/// The error every public function of the workspace returns at the crate seams.
///
/// Crates keep their own, more specific error enums where that helps, and convert into this one
/// so applications handle a single type. Each variant names what went wrong and where: a file,
/// a tensor key, an expected and an actual shape.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O failure on a named file.
    #[error("{path}: {source}")]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The underlying I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Audio that could not be decoded (unsupported codec, corrupt stream, no audio track ...).
    #[error("{path}: {message}")]
    Decode {
        /// The file that failed to decode.
        path: PathBuf,
        /// The decoder's description of the failure.
        message: String,
    },
    /// An argument or input outside what the operation accepts.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A tensor whose shape is not the one required.
    #[error("tensor `{name}`: expected shape {expected}, got {actual}")]
    Shape {
        /// The tensor's name (checkpoint key or argument).
        name: String,
        /// The required shape, Debug-formatted.
        expected: String,
        /// The shape found, Debug-formatted.
        actual: String,
    },
    /// A tensor missing from a checkpoint or a feature file.
    #[error("missing tensor `{0}`")]
    MissingTensor(String),
    /// An error raised inside candle.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
    /// What went wrong while reading a named file (a checkpoint whose tensor is missing, say).
    #[error("{path}: {cause}")]
    InFile {
        /// The file being read.
        path: PathBuf,
        /// What went wrong in it (not a `source`: the message already includes it).
        cause: Box<Error>,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// Attaches the file the error happened in (once: an error that names its file already is
    /// returned as it is).
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        match self {
            Error::Io { .. } | Error::Decode { .. } | Error::InFile { .. } => self,
            other => Error::InFile {
                path: path.into(),
                cause: Box::new(other),
            },
        }
    }

    /// Builds a shape error from anything printable as a shape (`Shape`, `&[usize]` via Debug ...).
    pub fn shape(
        name: impl Into<String>,
        expected: impl std::fmt::Debug,
        actual: impl std::fmt::Debug,
    ) -> Self {
        Error::Shape {
            name: name.into(),
            expected: format!("{expected:?}"),
            actual: format!("{actual:?}"),
        }
    }
}

/// `std::result::Result` with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Lets code that returns candle's errors (model layers, custom ops) use `?` on ours.
impl From<Error> for candle_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Candle(e) => e,
            other => candle_core::Error::wrap(other),
        }
    }
}
