//! Writing results without ever leaving a half-written file (see `aum_io`).

use std::collections::HashMap;
use std::path::Path;

use anyhow::{Context, Result};
use candle_core::Tensor;

/// Writes `bytes` to `path` atomically.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(aum_io::write_atomic(path, bytes)?)
}

/// Saves named tensors as safetensors, atomically.
pub fn save_tensors(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    let bytes = safetensors::serialize(tensors.iter().map(|(k, v)| (k.as_str(), v)), None)
        .with_context(|| format!("serialising {}", path.display()))?;
    write_atomic(path, &bytes)
}
