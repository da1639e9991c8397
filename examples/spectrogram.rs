//! Decode a clip, compute the AuM model input, and print a few numbers about it.
//!
//! `cargo run --release --example spectrogram -- assets/hello.wav`

use aum::fbank::{decode_file, FrontEnd, Preset};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "assets/hello.wav".into());
    let decoded = decode_file(&path)?;
    let wave = &decoded.wave;
    println!(
        "{path}: {} channel(s), {} Hz, {:.2} s",
        wave.num_channels(),
        wave.sample_rate(),
        wave.duration_secs()
    );
    let front_end = FrontEnd::aum(Preset::AudioSet);
    let raw = front_end.fbank(wave)?;
    let loudest = (0..raw.frames)
        .max_by(|&a, &b| {
            let e = |i: usize| raw.frame(i).iter().sum::<f32>();
            e(a).total_cmp(&e(b))
        })
        .unwrap_or(0);
    println!(
        "fbank: {} frames x {} bins; loudest frame at {:.2} s",
        raw.frames,
        raw.bins,
        loudest as f64 * 0.01
    );
    let input = front_end.finish(&raw);
    println!(
        "model input: {} x {} (padded, normalised)",
        input.frames, input.bins
    );
    Ok(())
}
