//! `--checkpoint hf:OWNER/REPO[...]` against a local HTTP server that answers as the hub does
//! (`/{repo}/resolve/{revision}/{file}` with `x-repo-commit`, `etag` and `Content-Range`): the
//! first load downloads into `HF_HOME`'s hub cache, the second is served from it with the server
//! stopped (and with `HF_HUB_OFFLINE=1`), and a missing file is a clear error.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

mod common;
use common::aum;

const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// A hub stand-in serving `files` (URL path -> bytes) until dropped.
struct Hub {
    url: String,
    requests: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hub {
    fn serve(files: HashMap<String, Vec<u8>>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (requests, stop) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicBool::new(false)),
        );
        let (r, s) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        r.fetch_add(1, Ordering::SeqCst);
                        answer(stream, &files);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Self {
            url,
            requests,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

/// Answers one request: a ranged GET of a file, or 404.
fn answer(stream: TcpStream, files: &HashMap<String, Vec<u8>>) {
    stream.set_nonblocking(false).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut start = 0usize;
    let mut end: Option<usize> = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
            break;
        }
        if let Some(range) = h.to_ascii_lowercase().strip_prefix("range: bytes=") {
            let (a, b) = range.trim().split_once('-').unwrap();
            start = a.parse().unwrap();
            end = b.parse().ok();
        }
    }
    let mut out = stream;
    let Some(body) = files.get(&path) else {
        let msg = "Entry not found";
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{msg}",
            msg.len()
        );
        return;
    };
    let last = end.unwrap_or(body.len() - 1).min(body.len() - 1);
    let part = &body[start..=last];
    let etag = format!(
        "{:016x}",
        body.iter().fold(0xcbf29ce484222325u64, |h, &b| {
            (h ^ b as u64).wrapping_mul(0x100000001b3)
        })
    );
    let _ = write!(
        out,
        "HTTP/1.1 206 Partial Content\r\nContent-Length: {}\r\nContent-Range: bytes {start}-{last}/{}\r\n\
         x-repo-commit: {COMMIT}\r\netag: \"{etag}\"\r\nConnection: close\r\n\r\n",
        part.len(),
        body.len()
    );
    let _ = out.write_all(part);
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../aum-ast/tests/fixtures/ast")
        .join(name)
}

/// `aum classify --json` with the hub environment; (success, stdout, stderr).
fn classify(
    home: &Path,
    endpoint: &str,
    ckpt: &str,
    extra_env: &[(&str, &str)],
) -> (bool, String, String) {
    let clip = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/hello.wav");
    let out = aum()
        .env("HF_HOME", home)
        .env("HF_ENDPOINT", endpoint)
        .env_remove("HF_HUB_OFFLINE")
        .envs(extra_env.iter().copied())
        .args(["classify", "--json", "--top-k", "5", "--checkpoint", ckpt])
        .arg(clip)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn models_by_name_download_once_then_come_from_the_cache() {
    let home = std::env::temp_dir().join(format!("aum-hub-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&home);
    let weights = std::fs::read(fixture("ast-h64-l2-t128-s10.hf.safetensors")).unwrap();
    let labels = ["alpha", "beta", "gamma", "delta", "epsilon"];
    let id2label: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), serde_json::Value::from(*l)))
        .collect();
    let config = serde_json::json!({
        "model_type": "audio-spectrogram-transformer",
        "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 128, "patch_size": 16, "frequency_stride": 10, "time_stride": 10,
        "max_length": 128, "num_mel_bins": 128, "layer_norm_eps": 1e-12,
        "id2label": id2label,
    });
    let repo = "/test-org/tiny-ast/resolve/main";
    let files = HashMap::from([
        (format!("{repo}/model.safetensors"), weights),
        (
            format!("{repo}/config.json"),
            config.to_string().into_bytes(),
        ),
    ]);
    let hub = Hub::serve(files);
    let endpoint = hub.url.clone();

    let (ok, first, err) = classify(&home, &endpoint, "hf:test-org/tiny-ast", &[]);
    assert!(ok, "{err}");
    assert!(
        hub.requests.load(Ordering::SeqCst) >= 2,
        "nothing was downloaded"
    );
    let doc: serde_json::Value = serde_json::from_str(&first).unwrap();
    let top = doc[0]["top"].as_array().unwrap();
    assert!(
        top.iter()
            .all(|t| labels.contains(&t["label"].as_str().unwrap())),
        "labels come from config.json's id2label: {first}"
    );
    // The hub's cache layout: the blob, the snapshot of the commit, the ref.
    let cache = home.join("hub/models--test-org--tiny-ast");
    assert!(cache
        .join(format!("snapshots/{COMMIT}/model.safetensors"))
        .exists());
    assert_eq!(
        std::fs::read_to_string(cache.join("refs/main"))
            .unwrap()
            .trim(),
        COMMIT
    );

    // A file the repository does not have: a clear error naming it.
    let (ok, _, err) = classify(
        &home,
        &endpoint,
        "hf:test-org/tiny-ast:nope.safetensors",
        &[],
    );
    assert!(
        !ok && err.contains("hf:test-org/tiny-ast") && err.contains("nope.safetensors"),
        "{err}"
    );

    drop(hub);
    for env in [&[][..], &[("HF_HUB_OFFLINE", "1")][..]] {
        let (ok, again, err) = classify(&home, &endpoint, "hf:test-org/tiny-ast", env);
        assert!(
            ok,
            "served from the cache with the server stopped ({env:?}): {err}"
        );
        assert_eq!(again, first);
    }
    let (ok, _, err) = classify(
        &home,
        &endpoint,
        "hf:test-org/other",
        &[("HF_HUB_OFFLINE", "1")],
    );
    assert!(!ok && err.contains("HF_HUB_OFFLINE"), "{err}");
    std::fs::remove_dir_all(&home).unwrap();
}
