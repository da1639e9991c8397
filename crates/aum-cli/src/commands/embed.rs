//! `aum embed`: the vector a model's head reads (AuM's CLS token after the final norm, AST's
//! mean of its cls and distillation tokens), one row per audio file, or for an already
//! normalised (B, T, F) input tensor.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aum_core::AudioClassifier;
use aum_fbank::decode_file;
use aum_model::Classifier;
use candle_core::{Device, Tensor};

use crate::loaders::{load_checkpoint, load_input, with_frames, ModelRun};

#[derive(clap::Args, Debug)]
pub struct EmbedArgs {
    /// Audio files, one embedding row each (in this order).
    #[arg(required_unless_present = "input", conflicts_with = "input")]
    pub files: Vec<PathBuf>,
    /// Model checkpoint, of either family and any layout (default: the bundled model).
    #[arg(long)]
    pub checkpoint: Option<PathBuf>,
    /// Where to write the embeddings of FILES: `.safetensors` (tensor `embedding` (N, D), the
    /// file names in the metadata key `aum.files`) or `.npy` (float32 (N, D)).
    #[arg(long, required_unless_present = "input")]
    pub out: Option<PathBuf>,
    /// Frames fed to the model: a number, or `auto` to run each whole clip in one pass.
    #[arg(long)]
    pub frames: Option<String>,
    /// Tensor mode: a safetensors file holding a normalised (B, T, F) input.
    #[arg(long, requires = "output")]
    pub input: Option<PathBuf>,
    /// Tensor mode: the name of the input tensor.
    #[arg(long, default_value = "input")]
    pub tensor: String,
    /// Tensor mode: where to write `embedding` (B, D) (safetensors).
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub run: ModelRun,
}

pub fn run(args: &EmbedArgs) -> Result<()> {
    let ckpt = load_checkpoint(args.checkpoint.as_deref())?;
    if let (Some(input), Some(output)) = (&args.input, &args.output) {
        let model = ckpt
            .into_model(&Device::Cpu)?
            .with_precision(args.run.precision)?;
        let x = load_input(input, &args.tensor, &Device::Cpu)?;
        let embedding = model.embed(&x)?;
        println!(
            "{}: embedding {:?} -> {}",
            input.display(),
            embedding.dims(),
            output.display()
        );
        let tensors = HashMap::from([("embedding".to_string(), embedding)]);
        return Ok(aum_io::save_safetensors(output, &tensors, HashMap::new())?);
    }
    let out = args
        .out
        .as_deref()
        .context("--out is needed with audio files")?;
    let mut clf = Classifier::new(ckpt, &Device::Cpu, args.run.precision)?;
    clf = with_frames(clf, args.frames.as_deref())?;
    let (mut rows, mut names, mut failed) = (Vec::new(), Vec::new(), 0);
    for path in &args.files {
        match embed_file(&clf, path) {
            Ok(row) => {
                rows.push(row);
                names.push(path.display().to_string());
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", path.display());
            }
        }
    }
    if !rows.is_empty() {
        write(out, &rows, &names)?;
        println!(
            "{} embeddings of dimension {} -> {}",
            rows.len(),
            rows[0].len(),
            out.display()
        );
    }
    if failed > 0 {
        bail!("{failed} of {} files failed", args.files.len());
    }
    Ok(())
}

fn embed_file(clf: &Classifier, path: &Path) -> Result<Vec<f32>> {
    let decoded = decode_file(path)?;
    for w in &decoded.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    Ok(clf.embed(&decoded.wave)?)
}

/// Writes the (N, D) rows as safetensors (with the file names) or `.npy`, atomically.
fn write(out: &Path, rows: &[Vec<f32>], names: &[String]) -> Result<()> {
    let (n, d) = (rows.len(), rows[0].len());
    let flat: Vec<f32> = rows.concat();
    if out.extension().is_some_and(|e| e == "npy") {
        return Ok(aum_io::write_atomic(out, &npy_f32(&flat, n, d))?);
    }
    let embedding = Tensor::from_vec(flat, (n, d), &Device::Cpu)?;
    let meta = HashMap::from([("aum.files".to_string(), serde_json::to_string(names)?)]);
    let tensors = HashMap::from([("embedding".to_string(), embedding)]);
    Ok(aum_io::save_safetensors(out, &tensors, meta)?)
}

/// A NumPy `.npy` file (format 1.0) of a little-endian float32 (rows, cols) C-order array.
fn npy_f32(data: &[f32], rows: usize, cols: usize) -> Vec<u8> {
    let mut header =
        format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}");
    // Magic (6) + version (2) + length (2) + header, padded with spaces to a multiple of 64
    // and ended by a newline.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for v in data {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_header_is_aligned_and_says_the_shape() {
        let bytes = npy_f32(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3);
        let len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!((10 + len) % 64, 0);
        let header = std::str::from_utf8(&bytes[10..10 + len]).unwrap();
        assert!(header.contains("'shape': (2, 3)") && header.ends_with('\n'));
        assert_eq!(bytes.len(), 10 + len + 24);
        assert_eq!(&bytes[10 + len..10 + len + 4], &1f32.to_le_bytes());
    }
}
