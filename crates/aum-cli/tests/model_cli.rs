//! `aum inspect`, `convert`, `logits` and `classify` end to end, on the official-layout fixture
//! checkpoints of aum-model.

use std::path::{Path, PathBuf};

mod common;
use common::{aum, stdout_of};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../aum-model/tests/fixtures/aum")
        .join(name)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aum-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// max |logits - expected logits| between `aum logits` output and a fixture's `logits`.
fn max_logits_diff(out: &Path, io: &Path) -> f32 {
    let load = |p: &Path| candle_core::safetensors::load(p, &candle_core::Device::Cpu).unwrap();
    let (ours, io) = (load(out), load(io));
    aum_testdata::max_abs_diff(&ours["logits"], &io["logits"]).unwrap()
}

#[test]
fn inspect_shows_the_inferred_config() {
    let text = stdout_of(
        aum()
            .arg("inspect")
            .arg(fixture("aum-v1-d64-l2-t128.module-prefixed.pth")),
    );
    assert!(
        text.contains("Audio Mamba") && text.contains("variant       V1"),
        "{text}"
    );
    assert!(
        text.contains("128 frames x 128 mel bins -> 8 x 8 patches"),
        "{text}"
    );
    assert!(text.contains("classes       10"), "{text}");
}

#[test]
fn logits_of_a_pth_checkpoint_match_the_fixture_and_convert_round_trips() {
    let dir = tempdir("logits");
    let name = "aum-v1-d64-l2-t128";
    let converted = dir.join("m.safetensors");
    stdout_of(
        aum()
            .arg("convert")
            .arg(fixture(&format!("{name}.pth")))
            .arg(&converted),
    );
    for ckpt in [fixture(&format!("{name}.pth")), converted] {
        let out = dir.join("logits.safetensors");
        stdout_of(
            aum()
                .arg("logits")
                .arg("--checkpoint")
                .arg(&ckpt)
                .arg("--input")
                .arg(fixture(&format!("{name}.io.safetensors")))
                .arg("--output")
                .arg(&out),
        );
        let diff = max_logits_diff(&out, &fixture(&format!("{name}.io.safetensors")));
        assert!(diff <= 1e-4, "{}: {diff}", ckpt.display());
    }
}

#[test]
fn classify_prints_top_k_json_and_a_timeline() {
    let dir = tempdir("classify");
    let ckpt = fixture("aum-v1-d64-l2-t128.weights.safetensors");
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/hello.wav");
    let json = stdout_of(
        aum()
            .arg("classify")
            .arg("--checkpoint")
            .arg(&ckpt)
            .arg("--json")
            .arg("--top-k")
            .arg("3")
            .arg(&clip),
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top = doc[0]["top"].as_array().unwrap();
    assert_eq!(top.len(), 3);
    let scores: Vec<f64> = top.iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]) && scores.iter().all(|s| (0.0..=1.0).contains(s))
    );

    let csv = dir.join("t.csv");
    let png = dir.join("t.png");
    stdout_of(
        aum()
            .arg("classify")
            .arg("--checkpoint")
            .arg(&ckpt)
            .arg(&clip)
            .args(["--window", "1", "--hop", "0.5", "--timeline"])
            .arg(&csv)
            .arg("--plot")
            .arg(&png),
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    // 2.84 s in 1 s windows every 0.5 s: starts 0, 0.5, ... 2.0 (the window reaching the end).
    assert_eq!(text.lines().count(), 1 + 5, "{text}");
    assert!(text.starts_with("file,start,end,0,1,"));
    assert_eq!(&std::fs::read(&png).unwrap()[1..4], b"PNG");

    let out = aum()
        .arg("classify")
        .arg("--checkpoint")
        .arg(&ckpt)
        .arg("--labels")
        .arg("no-such-labels")
        .arg(&clip)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-labels"));
}

#[test]
fn ast_checkpoints_work_with_the_same_commands() {
    let dir = tempdir("ast");
    let ast = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../aum-ast/tests/fixtures/ast")
            .join(name)
    };
    let original = ast("ast-h64-l2-t128-s10.original.safetensors");
    let text = stdout_of(aum().arg("inspect").arg(&original));
    assert!(
        text.contains("Audio Spectrogram Transformer") && text.contains("12 x 12 patches"),
        "{text}"
    );
    let converted = dir.join("ast.safetensors");
    stdout_of(aum().arg("convert").arg(&original).arg(&converted));
    for ckpt in [original, converted] {
        let out = dir.join("logits.safetensors");
        stdout_of(
            aum()
                .arg("logits")
                .arg("--checkpoint")
                .arg(&ckpt)
                .arg("--input")
                .arg(ast("ast-h64-l2-t128-s10.io.safetensors"))
                .arg("--output")
                .arg(&out),
        );
        let diff = max_logits_diff(&out, &ast("ast-h64-l2-t128-s10.io.safetensors"));
        assert!(diff <= 1e-4, "{}: {diff}", ckpt.display());
    }
}
