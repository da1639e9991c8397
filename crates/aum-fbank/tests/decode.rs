//! The decoder against ../shared/data/decoder_testset: every container/codec/edge case decodes to
//! the sample rate, channel count and frame count of its manifest, transcodes of one clip agree,
//! and broken or random input gives an error or a warned prefix, never a panic.

mod common;

use aum_fbank::{decode_bytes, decode_file};
use common::shared_data;
use proptest::prelude::*;
use serde_json::Value;

fn manifest() -> Option<(std::path::PathBuf, Vec<Value>)> {
    let path = shared_data("decoder_testset/manifest.json")?;
    let text = std::fs::read_to_string(&path).unwrap();
    let entries: Vec<Value> = serde_json::from_str(&text).unwrap();
    Some((path.parent().unwrap().to_path_buf(), entries))
}

#[test]
fn every_file_decodes_as_its_manifest_says() {
    let Some((dir, entries)) = manifest() else {
        return;
    };
    assert_eq!(entries.len(), 34);
    let mut failures = Vec::new();
    for e in &entries {
        let file = e["file"].as_str().unwrap();
        let result = decode_file(dir.join(file));
        let Some(info) = e.get("libsndfile") else {
            // libsndfile could not open it either: we must give a clear error, not a panic.
            let err = result.expect_err(file).to_string();
            assert!(err.contains(file), "error should name the file: {err}");
            continue;
        };
        if info["subtype"] == "OPUS" {
            let err = result.expect_err(file).to_string();
            assert!(err.contains("unsupported codec: Opus"), "{file}: {err}");
            continue;
        }
        let decoded = match result {
            Ok(d) => d,
            Err(err) => {
                failures.push(format!("{file}: {err}"));
                continue;
            }
        };
        let w = &decoded.wave;
        let got = (
            w.sample_rate() as u64,
            w.num_channels() as u64,
            w.num_frames() as u64,
        );
        let want = (
            info["samplerate"].as_u64().unwrap(),
            info["channels"].as_u64().unwrap(),
            expected_frames(file, info["frames"].as_u64().unwrap()),
        );
        if got != want {
            failures.push(format!(
                "{file}: (rate, channels, frames) {got:?}, manifest {want:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The manifest's frame count, except where libsndfile's count is not a decoded count.
fn expected_frames(file: &str, manifest: u64) -> u64 {
    match file {
        // No Xing/LAME header, so libsndfile *estimates* the length from the byte size, counting
        // the trailing 128-byte ID3v1 tag as audio (~87 frames at 128 kb/s). Walking the frame
        // headers gives 139 MPEG-2.5 layer III frames of 576 samples: 80064, which we decode.
        "pygame_house_lo_mpeg25_l3_11k.mp3" => 139 * 576,
        _ => manifest,
    }
}

/// Decoded samples of `file`, channel 0.
fn samples(dir: &std::path::Path, file: &str) -> Vec<f32> {
    decode_file(dir.join(file)).unwrap().wave.channels()[0].clone()
}

fn correlation(a: &[f32], b: &[f32]) -> f64 {
    let n = a.len().min(b.len());
    let dot = |x: &[f32], y: &[f32]| {
        x[..n]
            .iter()
            .zip(&y[..n])
            .map(|(&p, &q)| p as f64 * q as f64)
            .sum::<f64>()
    };
    dot(a, b) / (dot(a, a) * dot(b, b)).sqrt()
}

#[test]
fn transcodes_agree_lossless_exactly_lossy_closely() {
    let Some((dir, _)) = manifest() else {
        return;
    };
    for (source, stem, rate) in [
        (
            "alsa_Front_Center_pcm16_48k.wav",
            "alsa_Front_Center",
            "48k",
        ),
        ("fsdd_7_jackson_32_pcm16_8k.wav", "fsdd_7_jackson_32", "8k"),
    ] {
        let reference = samples(&dir, source);
        // int16 / 32768 scaling, as torchaudio.load: all values on the 16-bit grid.
        assert!(reference
            .iter()
            .all(|&x| (x * 32768.0).fract() == 0.0 && x.abs() <= 1.0));
        for lossless in ["flac16", "flac24", "float32", "pcm24"] {
            let ext = if lossless.starts_with("flac") {
                "flac"
            } else {
                "wav"
            };
            let file = format!("{stem}_{lossless}_{rate}.{ext}");
            assert_eq!(
                samples(&dir, &file),
                reference,
                "{file} differs from {source}"
            );
        }
        for (lossy, ext) in [("vorbis", "ogg"), ("mp3", "mp3")] {
            let file = format!("{stem}_{lossy}_{rate}.{ext}");
            let s = samples(&dir, &file);
            let c = correlation(&s, &reference);
            assert!(c > 0.99, "{file}: correlation {c} with {source}");
        }
    }
}

#[test]
fn truncated_prefixes_of_real_files_never_panic() {
    let Some((dir, _)) = manifest() else {
        return;
    };
    for file in [
        "fsdd_7_jackson_32_pcm16_8k.wav",
        "fsdd_7_jackson_32_flac16_8k.flac",
        "fsdd_7_jackson_32_vorbis_8k.ogg",
        "fsdd_7_jackson_32_mp3_8k.mp3",
    ] {
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let ext = file.rsplit('.').next();
        for cut in [0, 1, 12, 44, 100, 1000, bytes.len() / 2, bytes.len() - 1] {
            match decode_bytes(bytes[..cut].to_vec(), ext) {
                Ok(d) => assert!(d.wave.num_frames() > 0),
                Err(e) => assert!(!e.to_string().is_empty()),
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048),
                                ext in prop::sample::select(vec!["wav", "flac", "ogg", "mp3", "m4a", "aiff"])) {
        let _ = decode_bytes(bytes, Some(ext));
    }

    #[test]
    fn corrupted_wav_bodies_never_panic(seed in any::<u64>(), flips in 1usize..64) {
        // A valid 16-bit WAV header followed by garbage, with random header bytes flipped.
        let mut bytes = wav_header(1000);
        let mut s = seed;
        bytes.extend((0..2000).map(|i| (i as u8).wrapping_mul(31)));
        for _ in 0..flips {
            s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let i = (s >> 33) as usize % bytes.len();
            bytes[i] ^= (s >> 17) as u8;
        }
        let _ = decode_bytes(bytes, Some("wav"));
    }
}

fn wav_header(frames: u32) -> Vec<u8> {
    let data = frames * 2;
    let mut h = Vec::new();
    h.extend(b"RIFF");
    h.extend((36 + data).to_le_bytes());
    h.extend(b"WAVEfmt ");
    h.extend(16u32.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(1u16.to_le_bytes());
    h.extend(16000u32.to_le_bytes());
    h.extend(32000u32.to_le_bytes());
    h.extend(2u16.to_le_bytes());
    h.extend(16u16.to_le_bytes());
    h.extend(b"data");
    h.extend(data.to_le_bytes());
    h
}
