//! Test helpers of the workspace (not published): where tests find third-party data,
//! `../shared/data` next to the checkout (or `$AUM_SHARED_DATA`), which is never committed, and
//! how they compare tensors.

use std::path::{Path, PathBuf};

use candle_core::{DType, Result, Tensor};

/// The path of `rel` under the shared data folder, or `None` (with a note on stderr) when it is
/// missing, so that a local run skips the test.
///
/// # Panics
/// When it is missing and `CI=true`: CI must never pass by skipping.
pub fn shared_data(rel: &str) -> Option<PathBuf> {
    let root = std::env::var_os("AUM_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let p = root.join(rel);
    if p.exists() {
        return Some(p);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!(
            "{} is missing and CI=true: tests that need ../shared/data must not skip",
            p.display()
        );
    }
    eprintln!("skipping: {} not found", p.display());
    None
}

/// The largest `|a - b|` over all elements, in f32: how far an output is from its reference.
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    if a.dims() != b.dims() {
        candle_core::bail!(
            "compared tensors differ in shape: {:?} and {:?}",
            a.dims(),
            b.dims()
        );
    }
    (a - b)?
        .abs()?
        .flatten_all()?
        .max(0)?
        .to_dtype(DType::F32)?
        .to_scalar::<f32>()
}
