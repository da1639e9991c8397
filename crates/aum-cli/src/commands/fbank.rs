//! `aum fbank`: features of audio files, written as safetensors and/or drawn as PNG.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use aum_fbank::{decode_file, mel_scale, Features, FrontEnd, Preset};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::output::save_tensors;
use crate::plot::{magma, Canvas, BLACK, GREY, WHITE};

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
        save_tensors(&tensors, &out)?;
        summary += &format!(" -> {}", out.display());
    }
    if let Some(png) = &args.png {
        let file = if args.inputs.len() > 1 {
            png.join(format!("{stem}.png"))
        } else {
            png.clone()
        };
        spectrogram(&raw, rate as f64, &stem).save_png(&file)?;
        summary += &format!(" -> {}", file.display());
    }
    Ok(summary)
}

fn tensor(f: &Features) -> Result<Tensor> {
    Ok(f.to_tensor(&Device::Cpu)?)
}

/// Draws a log-mel spectrogram: time left to right, low frequencies at the bottom, the magma
/// colour map over the clip's 1st-99.9th percentile, with time and frequency axes.
fn spectrogram(f: &Features, sample_rate: f64, title: &str) -> Canvas {
    let (left, right, top, bottom) = (78i64, 20i64, 34i64, 48i64);
    let plot_w = (f.frames.clamp(300, 1600)) as i64;
    let row_h = (384 / f.bins.max(1)).max(1) as i64;
    let plot_h = row_h * f.bins as i64;
    let mut c = Canvas::new(
        (left + plot_w + right) as usize,
        (top + plot_h + bottom) as usize,
        WHITE,
    );
    let mut sorted: Vec<f32> = f.data.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let pick = |q: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * q) as usize)
            .copied()
    };
    let (lo, hi) = (pick(0.01).unwrap_or(0.0), pick(0.999).unwrap_or(1.0));
    let span = (hi - lo).max(1e-6);
    for x in 0..plot_w {
        let frame =
            ((x as usize * f.frames.max(1)) / plot_w as usize).min(f.frames.saturating_sub(1));
        for b in 0..f.bins {
            let v = if f.frames == 0 { lo } else { f.frame(frame)[b] };
            let y = top + plot_h - (b as i64 + 1) * row_h;
            c.fill_rect(left + x, y, 1, row_h, magma((v - lo) / span));
        }
    }
    // Frame borders and title.
    c.line((left - 1, top - 1), (left + plot_w, top - 1), BLACK);
    c.line(
        (left - 1, top + plot_h),
        (left + plot_w, top + plot_h),
        BLACK,
    );
    c.line((left - 1, top - 1), (left - 1, top + plot_h), BLACK);
    c.line(
        (left + plot_w, top - 1),
        (left + plot_w, top + plot_h),
        BLACK,
    );
    c.text(left, 10, title, 2, BLACK);
    // Time axis: frame i starts at i * 10 ms.
    let seconds = f.frames as f64 * 0.01;
    let step = nice_step(seconds, 8);
    let mut t = 0.0;
    while t <= seconds + 1e-9 && step > 0.0 {
        let x = left + ((t / seconds.max(1e-9)) * plot_w as f64) as i64;
        c.line((x, top + plot_h), (x, top + plot_h + 5), BLACK);
        let label = format_tick(t, step);
        c.text(
            x - Canvas::text_width(&label, 1) / 2,
            top + plot_h + 9,
            &label,
            1,
            BLACK,
        );
        t += step;
    }
    c.text(
        left + plot_w / 2 - 24,
        top + plot_h + 28,
        "time (s)",
        1,
        BLACK,
    );
    // Frequency axis: mel bins are uniform in mel between 20 Hz and Nyquist, so a tick at f Hz
    // sits at the bin whose centre has that mel value.
    let (mel_lo, mel_hi) = (mel_scale(20.0), mel_scale(sample_rate / 2.0));
    for hz in [
        0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 24000.0,
    ] {
        if hz > sample_rate / 2.0 || hz < 20.0 {
            continue;
        }
        let pos = (mel_scale(hz) - mel_lo) / (mel_hi - mel_lo);
        let y = top + plot_h - (pos * plot_h as f64) as i64;
        c.line((left - 6, y), (left - 1, y), BLACK);
        c.line((left, y), (left + 3, y), GREY);
        let label = if hz >= 1000.0 {
            format!("{}k", hz / 1000.0)
        } else {
            format!("{hz}")
        };
        c.text(
            left - 10 - Canvas::text_width(&label, 1),
            y - 3,
            &label,
            1,
            BLACK,
        );
    }
    c.text(4, top + plot_h / 2 - 3, "Hz", 1, BLACK);
    c
}

/// A round tick step giving at most about `max_ticks` ticks over `span`.
fn nice_step(span: f64, max_ticks: usize) -> f64 {
    if span <= 0.0 {
        return 0.0;
    }
    let raw = span / max_ticks as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn format_tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(nice_step(10.0, 8), 2.0);
        assert_eq!(nice_step(0.5, 8), 0.1);
        assert_eq!(format_tick(0.30000000000000004, 0.1), "0.3");
        assert_eq!(format_tick(4.0, 2.0), "4");
    }
}
