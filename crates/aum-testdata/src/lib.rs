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

/// Checks bf16 logits against the f32 ones they approximate, as the precision switch promises:
/// per example (row), cosine similarity at least 0.999 and the same top class. Returns the
/// smallest cosine, for the test's log.
///
/// # Panics
/// When a row falls short, naming `what`, the row and the numbers.
pub fn assert_bf16_close(what: &str, bf16: &Tensor, f32: &Tensor) -> f32 {
    let rows = |t: &Tensor| -> Vec<Vec<f32>> {
        t.to_device(&Device::Cpu)
            .and_then(|t| t.flatten_to(t.rank().saturating_sub(2)))
            .and_then(|t| t.to_dtype(DType::F32))
            .and_then(|t| t.to_vec2())
            .expect("logits as (examples, classes)")
    };
    let (got, want) = (rows(bf16), rows(f32));
    assert_eq!(got.len(), want.len(), "{what}: example counts");
    let argmax = |r: &[f32]| {
        (0..r.len())
            .max_by(|&i, &j| r[i].total_cmp(&r[j]))
            .expect("a class")
    };
    let mut worst = 1f32;
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        let dot: f64 = g.iter().zip(w).map(|(a, b)| *a as f64 * *b as f64).sum();
        let norm = |r: &[f32]| r.iter().map(|a| (*a as f64).powi(2)).sum::<f64>().sqrt();
        let cos = (dot / (norm(g) * norm(w))) as f32;
        assert!(cos >= 0.999, "{what} example {i}: cosine {cos} < 0.999");
        assert_eq!(argmax(g), argmax(w), "{what} example {i}: top class");
        worst = worst.min(cos);
    }
    worst
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
