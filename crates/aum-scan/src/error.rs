//! The crate's error type.

/// Everything that can go wrong when calling the scan.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor or slice does not have the shape the scan expects.
    #[error("selective scan: `{name}` has shape {actual:?}, expected {expected}")]
    Shape {
        /// The argument's name, as in the API (`u`, `delta`, `B`, ...).
        name: &'static str,
        /// The expected shape, written out with the dimension names.
        expected: String,
        /// The shape that was passed.
        actual: Vec<usize>,
    },
    /// Dimensions that are individually fine but do not fit together.
    #[error("selective scan: {0}")]
    Dims(String),
    /// The tensor is not of a floating-point dtype the scan accepts.
    #[error("selective scan: `{name}` has dtype {dtype:?}; expected f32, f16, bf16 or f64")]
    DType {
        /// The argument's name.
        name: &'static str,
        /// The dtype that was passed.
        dtype: candle_core::DType,
    },
    /// The tensors are not all on one device, or not on a device the backend runs on.
    #[error("selective scan: {0}")]
    Device(String),
    /// The requested backend cannot run here.
    #[error("selective scan: backend `{backend}` is unavailable: {reason}")]
    BackendUnavailable {
        /// The backend's name.
        backend: &'static str,
        /// Why it cannot run.
        reason: &'static str,
    },
    /// An error from candle while packing or unpacking tensors.
    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

/// Lets code that returns candle's errors (custom ops, model layers) use `?` on the scan.
impl From<Error> for candle_core::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Candle(e) => e,
            other => candle_core::Error::wrap(other),
        }
    }
}

impl Error {
    /// The error for the CUDA backend where it cannot run: in builds without the `cuda`
    /// feature, and in the slice API, which works on host memory.
    pub(crate) fn cuda_unavailable() -> Self {
        let reason = if cfg!(feature = "cuda") {
            "the slice API runs on the host; call selective_scan with CUDA tensors"
        } else {
            "aum-scan was built without the cuda feature"
        };
        Error::BackendUnavailable {
            backend: "cuda",
            reason,
        }
    }
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
