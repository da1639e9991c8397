//! `aum train`, `aum eval` and the bundled model end to end: a one-epoch run on synthetic tones
//! writes its checkpoints, log and plots and can be evaluated; `classify` and `eval` work
//! without a checkpoint.

use std::path::Path;

use aum_testdata::shared_data;

mod common;
use common::{aum, stdout_of};

/// A 16 kHz PCM16 mono WAV of a tone.
fn write_tone(path: &Path, hz: f32, secs: f32) {
    let n = (16_000.0 * secs) as usize;
    let data: Vec<u8> = (0..n)
        .flat_map(|i| {
            let x = 0.4 * (2.0 * std::f32::consts::PI * hz * i as f32 / 16_000.0).sin();
            ((x * 32_767.0) as i16).to_le_bytes()
        })
        .collect();
    let mut wav = b"RIFF".to_vec();
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    for v in [16u32, 1 | (1 << 16), 16_000, 32_000, 2 | (16 << 16)] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap();
}

/// A folder per class, `low` and `high`, of four tones of `secs` seconds each.
fn tone_folder(dir: &Path, secs: f32) {
    for (class, hz) in [("low", 300.0), ("high", 3000.0)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..4 {
            write_tone(
                &dir.join(format!("{class}/{i}.wav")),
                hz + 20.0 * i as f32,
                secs,
            );
        }
    }
}

#[test]
fn classify_uses_the_bundled_model_without_flags() {
    let seven = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/seven.wav");
    let text = stdout_of(aum().arg("classify").arg(&seven).args(["--top-k", "3"]));
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), 3, "{text}");
    assert!(
        rows.iter()
            .all(|r| r.split_whitespace().nth(1).is_some_and(|l| l.len() == 1)),
        "{text}"
    );
}

#[test]
fn train_one_epoch_then_eval() {
    let d = std::env::temp_dir().join(format!("aum-cli-train-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    tone_folder(&d.join("data"), 0.3);
    let out = d.join("run");
    let status = aum()
        .args([
            "train", "--recipe", "fsdd", "--epochs", "1", "--dim", "16", "--depth", "1",
        ])
        .args(["--split", "all", "--val-split", "all", "--data"])
        .arg(d.join("data"))
        .arg("--out")
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    for f in [
        "best.safetensors",
        "last.safetensors",
        "metrics.jsonl",
        "curves.png",
        "confusion.png",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    let eval = |file: &str| -> serde_json::Value {
        let json = stdout_of(
            aum()
                .args(["eval", "--split", "all", "--json", "--checkpoint"])
                .arg(out.join(file))
                .arg("--data")
                .arg(d.join("data")),
        );
        serde_json::from_str(&json).unwrap()
    };
    let v = eval("best.safetensors");
    assert_eq!(v["clips"], 8);
    assert!(v["accuracy"].as_f64().is_some() && v["auc"].as_f64().is_some());
    // After one epoch the resumable state holds the best epoch's weights: the same scores.
    assert_eq!(eval("last.safetensors"), v);
    std::fs::remove_dir_all(&d).unwrap();
}

/// The bundled model on the FSDD test split, in f32 and in bf16: bf16 keeps the accuracy
/// within half a point.
#[test]
fn bundled_model_scores_the_fsdd_test_split_in_both_precisions() {
    let Some(fsdd) = shared_data("fsdd") else {
        return;
    };
    let accuracy = |precision: &str| {
        let json = stdout_of(
            aum()
                .args([
                    "eval",
                    "--split",
                    "test",
                    "--json",
                    "--precision",
                    precision,
                ])
                .arg("--data")
                .arg(&fsdd),
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["clips"], 300);
        v["accuracy"].as_f64().unwrap()
    };
    let (f32, bf16) = (accuracy("f32"), accuracy("bf16"));
    eprintln!("FSDD test accuracy: f32 {f32}, bf16 {bf16}");
    assert!(f32 >= 0.95, "f32 accuracy {f32}");
    assert!((bf16 - f32).abs() <= 0.005, "bf16 {bf16} against f32 {f32}");
}

/// A folder no recipe was made for trains without `--recipe`: the settings are read off the
/// clips, printed, and stored with the model (measured normalisation, softmax for one label).
#[test]
fn a_folder_trains_without_a_recipe() {
    let d = std::env::temp_dir().join(format!("aum-cli-auto-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    tone_folder(&d.join("data"), 0.5);
    let out = d.join("run");
    let run = aum()
        .args(["train", "--epochs", "1", "--dim", "16", "--depth", "1"])
        .args(["--split", "all", "--val-split", "all", "--data"])
        .arg(d.join("data"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{log}");
    assert!(
        log.contains("recipe auto: loss Ce, metric Accuracy, 48 frames")
            && log.contains("normalisation measured mean"),
        "{log}"
    );
    let bytes = std::fs::read(out.join("best.safetensors")).unwrap();
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    assert_eq!(meta["aum.activation"], "softmax");
    let front_end: serde_json::Value = serde_json::from_str(&meta["aum.frontend"]).unwrap();
    assert_eq!(front_end["frames"], 48);
    // Not a preset's statistics: measured on the tones.
    let mean = front_end["mean"].as_f64().unwrap();
    assert!(
        mean.is_finite() && (mean - -6.845978).abs() > 0.1,
        "{front_end}"
    );
    std::fs::remove_dir_all(&d).unwrap();
}
