//! `aum bench fbank`: decode, fbank, and both, for a 10 s clip, plus batch extraction scaling.

use std::path::PathBuf;

use candle_core::Device;

use crate::timing;
use anyhow::{Context, Result};
use aum_fbank::{decode_bytes, KaldiFbank};

#[derive(clap::Args, Debug)]
pub struct BenchFbankArgs {
    /// Audio file to use (default: a synthetic 10 s 16 kHz 16-bit WAV built in memory).
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Timed repetitions per measurement (the median is reported).
    #[arg(long, default_value_t = 50)]
    pub iters: usize,
    /// Clips in the batch-extraction measurement.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
}

pub fn run(args: &BenchFbankArgs) -> Result<()> {
    let (bytes, ext, label) = match &args.file {
        Some(p) => (
            std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            p.extension().and_then(|e| e.to_str()).map(str::to_owned),
            p.display().to_string(),
        ),
        None => (
            synthetic_wav(16_000, 10.0),
            Some("wav".into()),
            "synthetic 10 s 16 kHz PCM16 WAV".into(),
        ),
    };
    let wave = decode_bytes(bytes.clone(), ext.as_deref())?.wave;
    let fb = KaldiFbank::aum(wave.sample_rate())?;
    let signal = wave.centered_channel0();
    let frames = fb.compute(&signal).frames;
    println!(
        "clip: {label}: {:.2} s at {} Hz, {frames} frames x 128 bins",
        wave.duration_secs(),
        wave.sample_rate()
    );
    println!("single-threaded medians over {} runs:", args.iters);
    let one = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let decode = one.install(|| {
        timing::runs(&Device::Cpu, args.iters, || {
            Ok(decode_bytes(bytes.clone(), ext.as_deref())?)
        })
        .map(|r| r.median() * 1e3)
    })?;
    let fbank = one.install(|| {
        timing::runs(&Device::Cpu, args.iters, || Ok(fb.compute(&signal))).map(|r| r.median() * 1e3)
    })?;
    let both = one.install(|| {
        timing::runs(&Device::Cpu, args.iters, || {
            let w = decode_bytes(bytes.clone(), ext.as_deref())?.wave;
            Ok(fb.compute(&w.centered_channel0()))
        })
        .map(|r| r.median() * 1e3)
    })?;
    println!("  decode          {decode:8.3} ms");
    println!(
        "  fbank           {fbank:8.3} ms   ({:.2} us per frame)",
        fbank * 1e3 / frames as f64
    );
    println!("  decode + fbank  {both:8.3} ms");

    let signals: Vec<&[f32]> = (0..args.batch).map(|_| signal.as_slice()).collect();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("batch of {} clips (compute_batch):", args.batch);
    let mut base = 0.0;
    for t in (1..=threads).filter(|t| *t == 1 || *t == threads || t.is_power_of_two()) {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(t).build()?;
        let ms = pool.install(|| {
            timing::runs(&Device::Cpu, args.iters.div_ceil(5).max(3), || {
                Ok(fb.compute_batch(&signals))
            })
            .map(|r| r.median() * 1e3)
        })?;
        if t == 1 {
            base = ms;
        }
        println!(
            "  {t:2} threads  {ms:9.2} ms  {:7.1} clips/s  speed-up x{:.2}",
            args.batch as f64 / (ms / 1e3),
            base / ms
        );
    }
    Ok(())
}

/// A mono 16-bit WAV of a chirp plus deterministic noise, so the bench needs no data files.
fn synthetic_wav(rate: u32, seconds: f64) -> Vec<u8> {
    let n = (rate as f64 * seconds) as usize;
    let mut state = 1u32;
    let samples: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let noise = (state >> 16) as f64 / 65536.0 - 0.5;
            let chirp = (2.0 * std::f64::consts::PI * (200.0 + 300.0 * t) * t).sin();
            ((0.4 * chirp + 0.05 * noise) * 32767.0) as i16
        })
        .collect();
    let data_len = (n * 2) as u32;
    let mut b = Vec::with_capacity(44 + n * 2);
    b.extend_from_slice(b"RIFF");
    b.extend_from_slice(&(36 + data_len).to_le_bytes());
    b.extend_from_slice(b"WAVEfmt ");
    b.extend_from_slice(&16u32.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&1u16.to_le_bytes());
    b.extend_from_slice(&rate.to_le_bytes());
    b.extend_from_slice(&(rate * 2).to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&16u16.to_le_bytes());
    b.extend_from_slice(b"data");
    b.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        b.extend_from_slice(&s.to_le_bytes());
    }
    b
}
