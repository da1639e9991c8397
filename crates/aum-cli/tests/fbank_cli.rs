//! The `aum fbank` command end to end: outputs, PNG, and per-file errors.

use std::path::Path;

mod common;
use common::aum;

fn asset(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

#[test]
fn writes_fbank_model_input_and_png() {
    let dir = tempdir("fbank-ok");
    let out = dir.join("hello.safetensors");
    let png = dir.join("hello.png");
    let status = aum()
        .args([
            "fbank",
            &asset("hello.wav"),
            "--preset",
            "audioset",
            "--out",
        ])
        .arg(&out)
        .arg("--png")
        .arg(&png)
        .status()
        .unwrap();
    assert!(status.success());
    let tensors = candle_core::safetensors::load(&out, &candle_core::Device::Cpu).unwrap();
    // 2.84 s at 16 kHz -> 1 + (45382 - 400) / 160 = 282 frames, padded to 1024 for the preset.
    assert_eq!(tensors["fbank"].dims(), &[1024, 128]);
    assert_eq!(tensors["model_input"].dims(), &[1024, 128]);
    let raw: Vec<Vec<f32>> = tensors["fbank"].to_vec2().unwrap();
    assert!(raw[281].iter().any(|&v| v != 0.0) && raw[282].iter().all(|&v| v == 0.0));
    let png_bytes = std::fs::read(&png).unwrap();
    assert_eq!(&png_bytes[1..4], b"PNG");
}

#[test]
fn a_bad_file_is_reported_and_the_others_still_processed() {
    let dir = tempdir("fbank-bad");
    let bad = dir.join("broken.wav");
    std::fs::write(&bad, b"RIFF\x10\x00\x00\x00WAVEjunk").unwrap();
    let missing = dir.join("missing.flac");
    let out_dir = dir.join("out");
    let output = aum()
        .args(["fbank", &asset("seven.wav")])
        .arg(&bad)
        .arg(&missing)
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("broken.wav") || l.contains("missing.flac"))
        .collect();
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(stderr.contains("2 of 3 files failed"), "{stderr}");
    let t = candle_core::safetensors::load(
        out_dir.join("seven.safetensors"),
        &candle_core::Device::Cpu,
    )
    .unwrap();
    // 0.99 s at 8 kHz: 1 + (7948 - 200) / 80 = 97 frames, no padding without a preset.
    assert_eq!(t["fbank"].dims(), &[97, 128]);
    assert!(!t.contains_key("model_input"));
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("aum-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}
