//! An on-disk cache of raw fbank features, keyed by the file's content and the front end's
//! configuration, so a second run (or a second model on the same data) skips decoding,
//! resampling and fbank. Entries are written atomically; a damaged entry is recomputed.

use std::path::{Path, PathBuf};

use aum_fbank::{Features, FrontEnd};

/// FNV-1a, 64 bit: stable across Rust versions and platforms (unlike `DefaultHasher`).
fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// A cache folder.
#[derive(Debug, Clone)]
pub struct FeatureCache {
    dir: PathBuf,
}

impl FeatureCache {
    /// Opens the cache in `dir`, creating the folder if needed.
    pub fn new(dir: impl Into<PathBuf>) -> aum_core::Result<Self> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir).map_err(|e| aum_core::Error::io(&dir, e))?;
        Ok(Self { dir })
    }

    /// The entry for a file's bytes under a front end and crop length: 128 bits of two FNV
    /// streams over content and configuration.
    pub fn entry(
        &self,
        content: &[u8],
        front_end: &FrontEnd,
        max_frames: Option<usize>,
    ) -> PathBuf {
        let config = format!(
            "{}|{max_frames:?}",
            serde_json::to_string(front_end).unwrap_or_default()
        );
        let key: Vec<u8> = [config.as_bytes(), b"\0", content].concat();
        self.dir.join(format!(
            "{:016x}{:016x}.fbank",
            fnv1a(0, &key),
            fnv1a(0x5bd1_e995, &key)
        ))
    }

    /// Reads an entry; `None` when absent or damaged.
    pub fn read(path: &Path) -> Option<Features> {
        let bytes = std::fs::read(path).ok()?;
        let word = |i: usize| -> Option<usize> {
            Some(u32::from_le_bytes(bytes.get(i * 4..i * 4 + 4)?.try_into().ok()?) as usize)
        };
        let (frames, bins) = (word(0)?, word(1)?);
        let data: Vec<f32> = bytes
            .get(8..)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        (data.len() == frames * bins).then_some(Features { data, frames, bins })
    }

    /// Writes an entry atomically: frames and bins as little-endian `u32`, then the `f32` data.
    pub fn write(path: &Path, f: &Features) -> aum_core::Result<()> {
        let mut bytes = Vec::with_capacity(8 + f.data.len() * 4);
        bytes.extend_from_slice(&(f.frames as u32).to_le_bytes());
        bytes.extend_from_slice(&(f.bins as u32).to_le_bytes());
        for v in &f.data {
            bytes.extend_from_slice(&v.to_le_bytes());
        }
        aum_io::write_atomic(path, &bytes)
    }
}
