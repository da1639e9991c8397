//! `aum fbank`: features of audio files, written as safetensors and/or drawn as PNG.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aum_fbank::{decode_file, Features, FrontEnd, Preset};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::plot;

#[derive(clap::Args, Debug)]
pub struct FbankArgs {
    /// Audio files (WAV, FLAC, Ogg Vorbis, MP3, AAC/M4A, AIFF ...).
    #[arg(required = true)]
    pub inputs: Vec<PathBuf>,
    /// Output safetensors file (one input only): tensor `fbank` (frames, bins), and
    /// `model_input` when a preset is given.
    #[arg(long, conflicts_with = "out_dir")]
    pub out: Option<PathBuf>,
    /// Output folder: one `<name>.safetensors` per input.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
    /// Normalisation preset for `model_input`: audioset, as20k, vggsound, voxceleb, speechcommands.
    #[arg(long)]
    pub preset: Option<Preset>,
    /// Pad or crop to this many frames (default: the preset's, or the clip's own length).
    #[arg(long)]
    pub frames: Option<usize>,
    /// Resample to this rate (Hz) before the fbank; by default the file's own rate is used, as
    /// the reference data loaders do.
    #[arg(long)]
    pub resample: Option<u32>,
    /// Draw the spectrogram: a PNG file for one input, a folder for several.
    #[arg(long)]
    pub png: Option<PathBuf>,
}

pub fn run(args: &FbankArgs) -> Result<()> {
    if args.out.is_some() && args.inputs.len() > 1 {
        bail!(
            "--out takes one input; use --out-dir for {} inputs",
            args.inputs.len()
        );
    }
    if let Some(dir) = &args.out_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if let (Some(png), true) = (&args.png, args.inputs.len() > 1) {
        std::fs::create_dir_all(png).with_context(|| format!("creating {}", png.display()))?;
    }
    // Files are independent: process them in parallel, report in input order.
    let results: Vec<Result<String>> = args.inputs.par_iter().map(|p| process(args, p)).collect();
    let mut failed = 0;
    for (path, r) in args.inputs.iter().zip(results) {
        match r {
            Ok(line) => println!("{line}"),
            Err(e) => {
                failed += 1;
                eprintln!("{}: {e:#}", path.display());
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} files failed", args.inputs.len());
    }
    Ok(())
}

fn process(args: &FbankArgs, path: &Path) -> Result<String> {
    let decoded = decode_file(path)?;
    for w in &decoded.warnings {
        eprintln!("{}: warning: {w}", path.display());
    }
    let mut fe = FrontEnd::aum(args.preset.unwrap_or(Preset::AudioSet));
    fe.sample_rate = args.resample;
    let raw = fe.fbank(&decoded.wave)?;
    let rate = args.resample.unwrap_or(decoded.wave.sample_rate());
    let frames = args.frames.or(args.preset.map(Preset::frames));
    let fbank = match frames {
        Some(t) => aum_fbank::pad_or_crop(&raw, t),
        None => raw.clone(),
    };
    let mut summary = format!(
        "{}: {} Hz, {:.2} s -> fbank {} x {}",
        path.display(),
        decoded.wave.sample_rate(),
        decoded.wave.duration_secs(),
        fbank.frames,
        fbank.bins
    );
    let stem = path
        .file_stem()
        .map_or("audio".into(), |s| s.to_string_lossy().into_owned());
    let out = match (&args.out, &args.out_dir) {
        (Some(o), _) => Some(o.clone()),
        (None, Some(d)) => Some(d.join(format!("{stem}.safetensors"))),
        _ => None,
    };
    if let Some(out) = out {
        let mut tensors = HashMap::new();
        tensors.insert("fbank".to_string(), tensor(&fbank)?);
        if args.preset.is_some() {
            fe.frames = frames;
            tensors.insert("model_input".to_string(), tensor(&fe.finish(&raw))?);
        }
        aum_io::save_safetensors(&out, &tensors, Default::default())?;
        summary += &format!(" -> {}", out.display());
    }
    if let Some(png) = &args.png {
        let file = if args.inputs.len() > 1 {
            png.join(format!("{stem}.png"))
        } else {
            png.clone()
        };
        plot::spectrogram(&raw, rate as f64, &stem).save_png(&file)?;
        summary += &format!(" -> {}", file.display());
    }
    Ok(summary)
}

fn tensor(f: &Features) -> Result<Tensor> {
    Ok(f.to_tensor(&Device::Cpu)?)
}
