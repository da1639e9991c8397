//! Many files through one classifier: each chunk of files is decoded and turned into features
//! on all the threads of the current rayon pool, then its clips of equal length go through the
//! model in batches of 16, several at once. Results come back in input order, a chunk at a time, so a caller can
//! stream them and memory stays bounded by the chunk, whatever the number of files.

use std::path::{Path, PathBuf};

use aum_core::{Error, Result};
use aum_fbank::Features;
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::Classifier;

/// Clips of one length per forward pass.
const BATCH: usize = 16;

/// One file's outcome.
#[derive(Debug)]
pub struct Scored {
    /// The file.
    pub path: PathBuf,
    /// Its scores per class, or why it could not be scored (the error names the file).
    pub scores: Result<Vec<f32>>,
    /// What the decoder recovered from (a truncated data chunk, say).
    pub warnings: Vec<String>,
}

impl Classifier {
    /// Scores `paths` in order, `chunk` files at a time (at least one): see the module docs.
    /// The chunking, not the thread count, decides which clips share a batch, so the scores
    /// are the same with any number of threads.
    pub fn score_files<'a>(
        &'a self,
        paths: &'a [PathBuf],
        chunk: usize,
    ) -> impl Iterator<Item = Scored> + 'a {
        paths
            .chunks(chunk.max(1))
            .flat_map(move |chunk| self.score_chunk(chunk))
    }

    fn score_chunk(&self, paths: &[PathBuf]) -> Vec<Scored> {
        let (features, warnings): (Vec<Result<Features>>, Vec<Vec<String>>) =
            paths.par_iter().map(|p| self.prepare(p)).unzip();
        let mut scores: Vec<Option<Result<Vec<f32>>>> = Vec::with_capacity(paths.len());
        let mut inputs = Vec::new();
        for (i, f) in features.into_iter().enumerate() {
            match f {
                Ok(f) => {
                    scores.push(None);
                    inputs.push((i, f));
                }
                Err(e) => scores.push(Some(Err(e))),
            }
        }
        // One batch per input length, in first-seen order.
        let mut lengths: Vec<usize> = Vec::new();
        for (_, f) in &inputs {
            if !lengths.contains(&f.frames) {
                lengths.push(f.frames);
            }
        }
        for frames in lengths {
            let group: Vec<&(usize, Features)> =
                inputs.iter().filter(|(_, f)| f.frames == frames).collect();
            // Batches of a fixed size run side by side: small models leave threads idle
            // inside one forward pass, and the batches do not depend on the thread count.
            let batches: Vec<_> = group.chunks(BATCH).collect();
            let results: Vec<Result<Vec<Vec<f32>>>> =
                batches.par_iter().map(|b| self.score_batch(b)).collect();
            for (batch, result) in batches.iter().zip(results) {
                match result {
                    Ok(rows) => {
                        for ((i, _), row) in batch.iter().zip(rows) {
                            scores[*i] = Some(Ok(row));
                        }
                    }
                    Err(e) => {
                        // A failed batch fails each of its files, with the same message.
                        for (i, _) in batch.iter() {
                            let e = Error::InvalidInput(e.to_string()).in_file(&paths[*i]);
                            scores[*i] = Some(Err(e));
                        }
                    }
                }
            }
        }
        paths
            .iter()
            .zip(warnings)
            .zip(scores)
            .map(|((path, warnings), scores)| Scored {
                path: path.clone(),
                scores: scores.expect("every file is scored or failed"),
                warnings,
            })
            .collect()
    }

    /// The model input of one file, and the decoder's warnings.
    fn prepare(&self, path: &Path) -> (Result<Features>, Vec<String>) {
        match aum_fbank::decode_file(path) {
            Ok(decoded) => {
                let features = self.front_end().model_input(&decoded.wave);
                (features.map_err(|e| e.in_file(path)), decoded.warnings)
            }
            Err(e) => (Err(e), Vec::new()),
        }
    }

    /// The scores of clips of one length, run as one batch.
    fn score_batch(&self, group: &[&(usize, Features)]) -> Result<Vec<Vec<f32>>> {
        let (frames, bins) = (group[0].1.frames, group[0].1.bins);
        let data: Vec<f32> = group
            .iter()
            .flat_map(|(_, f)| f.data.iter().copied())
            .collect();
        let x = Tensor::from_vec(data, (group.len(), frames, bins), self.model().device())?;
        let logits: Vec<Vec<f32>> = self
            .model()
            .logits(&x)?
            .to_device(&Device::Cpu)?
            .to_vec2()?;
        Ok(logits.iter().map(|l| self.activation().apply(l)).collect())
    }
}
