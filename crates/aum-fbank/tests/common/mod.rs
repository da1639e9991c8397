//! Helpers shared by the integration tests: fixture loading and the path to ../shared/data.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use safetensors::SafeTensors;

pub use aum_testdata::shared_data;

/// A fixture file: its f32 tensors (with shapes) and its metadata.
pub struct Fixture {
    pub tensors: HashMap<String, (Vec<usize>, Vec<f32>)>,
    pub meta: HashMap<String, String>,
}

impl Fixture {
    pub fn load(path: &Path) -> Fixture {
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = header.metadata().clone().unwrap_or_default();
        let st = SafeTensors::deserialize(&bytes).unwrap();
        let tensors = st
            .tensors()
            .into_iter()
            .map(|(name, view)| {
                let data = view
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                (name, (view.shape().to_vec(), data))
            })
            .collect();
        Fixture { tensors, meta }
    }

    pub fn get(&self, name: &str) -> &(Vec<usize>, Vec<f32>) {
        self.tensors
            .get(name)
            .unwrap_or_else(|| panic!("fixture has no tensor `{name}`"))
    }

    pub fn meta(&self, key: &str) -> &str {
        self.meta
            .get(key)
            .unwrap_or_else(|| panic!("fixture has no metadata `{key}`"))
    }
}

pub fn fixture(rel: &str) -> Fixture {
    Fixture::load(
        &Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(rel),
    )
}

pub fn fixtures_in(dir: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(dir),
    )
    .unwrap()
    .map(|e| e.unwrap().path())
    .collect();
    v.sort();
    v
}

/// max |a - b|, and max |a - b| over the entries where `reference > above`.
pub fn max_diffs(ours: &[f32], reference: &[f32], above: f32) -> (f32, f32) {
    assert_eq!(ours.len(), reference.len(), "length mismatch");
    let mut all = 0f32;
    let mut loud = 0f32;
    for (&a, &b) in ours.iter().zip(reference) {
        let d = (a - b).abs();
        all = all.max(d);
        if b > above {
            loud = loud.max(d);
        }
    }
    (all, loud)
}
