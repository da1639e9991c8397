//! `aum classify`'s labels and activations, `--aggregate`, and `aum embed`, end to end.

use std::path::{Path, PathBuf};

mod common;
use common::{aum, stdout_of};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../aum-model/tests/fixtures/aum")
        .join(name)
}

fn asset(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../assets")
        .join(name)
}

fn tempdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aum-scores-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// (label, score) of every class, best first, from `aum classify --json`.
fn classify_json(args: &[&str], file: &Path) -> Vec<(String, f64)> {
    let json = stdout_of(aum().arg("classify").arg("--json").args(args).arg(file));
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    doc[0]["top"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["label"].as_str().unwrap().to_string(),
                t["score"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn activations_follow_the_model_and_the_flags() {
    let seven = asset("seven.wav");
    // The bundled digits model was trained with cross-entropy: softmax, scores sum to 1.
    let all = classify_json(&["--top-k", "10"], &seven);
    let sum: f64 = all.iter().map(|t| t.1).sum();
    assert!((sum - 1.0).abs() < 1e-4, "{all:?}");
    assert_eq!(all[0].0, "7");
    // --sigmoid scores each class on its own: the same order, no longer a distribution.
    let sig = classify_json(&["--top-k", "10", "--sigmoid"], &seven);
    assert_eq!(sig[0].0, "7");
    assert!(
        (sig.iter().map(|t| t.1).sum::<f64>() - 1.0).abs() > 1e-2,
        "{sig:?}"
    );
    assert!(aum()
        .args(["classify", "--softmax", "--sigmoid"])
        .arg(&seven)
        .output()
        .unwrap()
        .status
        .code()
        .is_some_and(|c| c != 0));
}

#[test]
fn official_checkpoints_get_their_datasets_labels() {
    let hello = asset("hello.wav");
    // 527 classes: AudioSet's names, said on stderr, scored with sigmoids.
    let ckpt = fixture("aum-v1-d192-l4-t1024.weights.safetensors");
    let out = aum()
        .args(["classify", "--json", "--top-k", "527", "--checkpoint"])
        .arg(&ckpt)
        .arg(&hello)
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("labels of audioset assumed"), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let top = doc[0]["top"].as_array().unwrap();
    let labels: Vec<&str> = top.iter().map(|t| t["label"].as_str().unwrap()).collect();
    assert!(
        labels.contains(&"Speech") && labels.contains(&"Cat"),
        "{labels:?}"
    );
    let sum: f64 = top.iter().map(|t| t["score"].as_f64().unwrap()).sum();
    assert!(sum > 1.5, "sigmoid scores of 527 classes sum to {sum}");
    // 35 classes: Speech Commands' words, softmax.
    let sc = classify_json(
        &[
            "--top-k",
            "35",
            "--checkpoint",
            fixture("aum-v2-d64-l2-t256.weights.safetensors")
                .to_str()
                .unwrap(),
        ],
        &hello,
    );
    assert!(sc.iter().any(|t| t.0 == "backward"), "{sc:?}");
    assert!((sc.iter().map(|t| t.1).sum::<f64>() - 1.0).abs() < 1e-4);
    // --labels takes a shipped set by name.
    let named = classify_json(
        &[
            "--labels",
            "speechcommands",
            "--checkpoint",
            fixture("aum-v2-d64-l2-t256.weights.safetensors")
                .to_str()
                .unwrap(),
        ],
        &hello,
    );
    assert_eq!(named[0].0, sc[0].0);
}

#[test]
fn windows_aggregate_to_one_answer() {
    let dir = tempdir("aggregate");
    let hello = asset("hello.wav");
    let timeline = dir.join("t.json");
    let json = stdout_of(
        aum()
            .args([
                "classify", "--json", "--top-k", "10", "--window", "1", "--hop", "0.5",
            ])
            .args(["--aggregate", "max", "--timeline"])
            .arg(&timeline)
            .arg(&hello),
    );
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    let top = doc[0]["top"].as_array().unwrap();
    let windows: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&timeline).unwrap()).unwrap();
    let labels = windows["labels"].as_array().unwrap();
    let windows = windows["windows"].as_array().unwrap();
    assert_eq!(windows.len(), 5);
    for t in top {
        let class = labels.iter().position(|l| l == &t["label"]).unwrap();
        let max = windows
            .iter()
            .map(|w| w["scores"][class].as_f64().unwrap())
            .fold(f64::MIN, f64::max);
        assert!((t["score"].as_f64().unwrap() - max).abs() < 1e-6);
    }
}

#[test]
fn embeddings_of_tensors_files_and_npy() {
    let dir = tempdir("embed");
    // Tensor mode: the official code's CLS features.
    let name = "aum-v1-d64-l2-t128";
    let out = dir.join("e.safetensors");
    stdout_of(
        aum()
            .args(["embed", "--checkpoint"])
            .arg(fixture(&format!("{name}.pth")))
            .arg("--input")
            .arg(fixture(&format!("{name}.io.safetensors")))
            .arg("--output")
            .arg(&out),
    );
    let load = |p: &Path| candle_core::safetensors::load(p, &candle_core::Device::Cpu).unwrap();
    let ours = load(&out);
    let io = load(&fixture(&format!("{name}.io.safetensors")));
    let diff = aum_testdata::max_abs_diff(&ours["embedding"], &io["cls_features"]).unwrap();
    assert!(diff <= 1e-4, "{diff}");

    // Files: one row each, names in the metadata; a broken file is reported and skipped.
    let broken = dir.join("broken.wav");
    std::fs::write(&broken, b"RIFF....WAVEnot really").unwrap();
    let rows = dir.join("rows.safetensors");
    let run = aum()
        .args(["embed", "--frames", "auto", "--out"])
        .arg(&rows)
        .arg(asset("seven.wav"))
        .arg(&broken)
        .arg(asset("hello.wav"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("broken.wav"));
    let bytes = std::fs::read(&rows).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(st.tensor("embedding").unwrap().shape(), &[2, 64]);
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let files = &header.metadata().as_ref().unwrap()["aum.files"];
    assert!(
        files.contains("seven.wav") && files.contains("hello.wav") && !files.contains("broken")
    );

    let npy = dir.join("rows.npy");
    stdout_of(
        aum()
            .args(["embed", "--out"])
            .arg(&npy)
            .arg(asset("seven.wav")),
    );
    let bytes = std::fs::read(&npy).unwrap();
    assert_eq!(&bytes[..6], b"\x93NUMPY");
    assert!(String::from_utf8_lossy(&bytes[..128]).contains("'shape': (1, 64)"));
    assert_eq!(bytes.len(), 128 + 64 * 4);
}

#[test]
fn folders_threads_and_streamed_formats() {
    let dir = tempdir("folders");
    let nested = dir.join("more/deeper");
    std::fs::create_dir_all(&nested).unwrap();
    std::fs::copy(asset("seven.wav"), dir.join("b-seven.wav")).unwrap();
    std::fs::copy(asset("hello.wav"), dir.join("a-hello.WAV")).unwrap();
    std::fs::copy(asset("seven.wav"), nested.join("c-seven.wav")).unwrap();
    std::fs::write(dir.join("notes.txt"), "not audio").unwrap();
    std::fs::write(dir.join("broken.wav"), b"RIFF\x04\x00\x00\x00WAVE").unwrap();

    let run = |extra: &[&str]| {
        aum()
            .arg("classify")
            .args(extra)
            .arg(&dir)
            .output()
            .unwrap()
    };
    // JSON lines, in sorted path order, the broken file reported and skipped.
    let out = run(&["--jsonl", "--threads", "2"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("broken.wav"));
    let two_threads = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<serde_json::Value> = two_threads
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let files: Vec<&str> = lines.iter().map(|d| d["file"].as_str().unwrap()).collect();
    assert_eq!(files.len(), 3, "{files:?}");
    assert!(files[0].ends_with("a-hello.WAV") && files[1].ends_with("b-seven.wav"));
    assert!(files[2].ends_with("more/deeper/c-seven.wav"));
    assert_eq!(lines[1]["top"][0]["label"], "7");
    // Batched scores are the scores of one file at a time, whatever the thread count.
    let one = classify_json(&["--top-k", "10"], &asset("seven.wav"));
    let batched = lines[1]["top"].as_array().unwrap();
    assert_eq!(batched[0]["label"], one[0].0);
    assert!((batched[0]["score"].as_f64().unwrap() - one[0].1).abs() < 1e-6);
    let single = run(&["--jsonl", "--threads", "1"]);
    assert_eq!(String::from_utf8(single.stdout).unwrap(), two_threads);
    // CSV rows: file, rank, label, score.
    let csv = String::from_utf8(run(&["--csv", "--top-k", "2"]).stdout).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows[0], "file,rank,label,score");
    assert_eq!(rows.len(), 1 + 3 * 2, "{csv}");
    assert!(rows[3].contains("b-seven.wav,1,7,"), "{csv}");
}
