//! Test helpers of the workspace (not published): where tests find third-party data,
//! `../shared/data` next to the checkout (or `$AUM_SHARED_DATA`), which is never committed, and
//! how they compare tensors, and [`test_device!`], which runs one test body on every backend.

use std::path::{Path, PathBuf};

use candle_core::{DType, Result, Tensor};

pub use candle_core::Device;

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

/// The folder of golden fixtures `family` (`scan`, `aum`, `ast` ...) of the crate at
/// `manifest_dir`: its `tests/fixtures/<family>`, or `$AUM_FIXTURES/<family>` when that is set,
/// so that test binaries built here run on a machine without the checkout (the GPU check).
pub fn fixture_dir(manifest_dir: &str, family: &str) -> PathBuf {
    match std::env::var_os("AUM_FIXTURES") {
        Some(root) => PathBuf::from(root).join(family),
        None => Path::new(manifest_dir).join("tests/fixtures").join(family),
    }
}

/// The largest `|a - b|` over all elements, in f32: how far an output is from its reference.
/// The two may live on different devices (a CUDA output against a CPU fixture).
pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> Result<f32> {
    let (a, b) = (&a.to_device(&Device::Cpu)?, &b.to_device(&Device::Cpu)?);
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

/// Turns `fn name(dev: &Device)` into one test per backend, `name::cpu` and, in builds with the
/// test crate's `cuda` feature, `name::cuda` (on CUDA device 0), in the way of candle's
/// `test_device!`: parity tests are written once, and `cargo test --features cuda` on a GPU
/// machine runs the CUDA cases.
#[macro_export]
macro_rules! test_device {
    ($name:ident) => {
        mod $name {
            #[test]
            fn cpu() {
                super::$name(&$crate::Device::Cpu)
            }

            #[cfg(feature = "cuda")]
            #[test]
            fn cuda() {
                super::$name(&$crate::Device::new_cuda(0).expect("CUDA device 0"))
            }
        }
    };
}
