//! End-to-end training on a tiny synthetic dataset (tones of three pitches, one corrupt file):
//! a few steps lower the loss, an interrupted and resumed run ends with exactly the weights of
//! an uninterrupted one, and the corrupt file is reported and skipped.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use aum_data::{open, prepare, Augment, PrepareOptions, Prepared, Split};
use aum_model::ModelConfig;
use aum_train::{evaluate, Event, Finish, Loss, Net, Recipe, Trainer, BEST, LAST};
use candle_core::Device;

/// A 16 kHz PCM16 WAV of `secs` of a tone at `hz` with a little deterministic noise.
fn write_tone(path: &Path, hz: f32, secs: f32, seed: u32) {
    let n = (16_000.0 * secs) as usize;
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let mut data = Vec::with_capacity(n * 2);
    for i in 0..n {
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let noise = (state as f32 / u32::MAX as f32 - 0.5) * 0.05;
        let x = 0.4 * (2.0 * std::f32::consts::PI * hz * i as f32 / 16_000.0).sin() + noise;
        data.extend_from_slice(&((x * 32_767.0) as i16).to_le_bytes());
    }
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&16_000u32.to_le_bytes());
    wav.extend_from_slice(&32_000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).unwrap();
}

/// low/ mid/ high/ folders of 6 tones each, plus one corrupt file in mid/.
fn dataset(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("aum-train-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    for (class, hz) in [("low", 300.0), ("mid", 1200.0), ("high", 4000.0)] {
        std::fs::create_dir_all(d.join(class)).unwrap();
        for i in 0..6 {
            write_tone(
                &d.join(format!("{class}/{i}.wav")),
                hz * (1.0 + 0.05 * i as f32),
                0.3,
                i,
            );
        }
    }
    std::fs::write(
        d.join("mid/corrupt.wav"),
        b"RIFF\x10\x00\x00\x00WAVEjunkjunk",
    )
    .unwrap();
    d
}

/// A recipe small enough to run in seconds: 32 frames, batch 6, no augmentation but masks.
fn tiny_recipe(epochs: usize) -> Recipe {
    let mut r = Recipe::named("fsdd").unwrap();
    r.frames = 32;
    r.epochs = epochs;
    r.batch_size = 6;
    r.eval_batch_size = 9;
    r.schedule.warmup_steps = 2;
    r.augment = Augment {
        mixup: 0.0,
        freqm: 8,
        timem: 4,
        noise: true,
    };
    r
}

fn prepared(dir: &Path, r: &Recipe) -> (Prepared, aum_core::LabelSet) {
    let list = open(dir, &Split::All, None).unwrap();
    let data = prepare(
        &list,
        &r.front_end().unwrap(),
        &PrepareOptions::default(),
        &mut |_, _| {},
    );
    (data, list.labels)
}

fn tiny_net(r: &Recipe) -> Net {
    tiny_model("aum-tiny", r)
}

/// A 2-block model of width 16 (AST: one head of 16) for 3 classes.
fn tiny_model(name: &str, r: &Recipe) -> Net {
    let spec = ModelConfig::preset(name, 3, r.frames, Some(16), Some(2)).unwrap();
    Net::new(spec, r.seed, &Device::Cpu).unwrap()
}

#[test]
fn corrupt_file_is_reported_and_skipped() {
    let dir = dataset("corrupt");
    let (data, labels) = prepared(&dir, &tiny_recipe(1));
    assert_eq!(labels.names(), vec!["high", "low", "mid"]);
    assert_eq!(data.len(), 18);
    assert_eq!(data.skipped.len(), 1);
    assert!(
        data.skipped[0].source.ends_with("corrupt.wav"),
        "{:?}",
        data.skipped
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Trains a tiny `name` model for 8 epochs at lr 1e-2 on the tones in `dir` (no augmentation);
/// returns the loss on them before and after, the trainer and the labels.
fn train_tiny(name: &str, dir: &Path) -> (f64, f64, Trainer, aum_core::LabelSet) {
    let mut r = tiny_recipe(8);
    r.schedule.lr = 1e-2;
    r.augment = Augment::none();
    let (data, labels) = prepared(dir, &r);
    let net = tiny_model(name, &r);
    let before = evaluate(&net, &data, 9, Loss::Ce, 1).unwrap().metrics.loss;
    let mut t = Trainer::new(
        r,
        net,
        &labels,
        data.clone(),
        Some(data.clone()),
        &dir.join("run"),
    )
    .unwrap();
    let never = AtomicBool::new(false);
    assert_eq!(t.run(&never, &mut |_| {}).unwrap(), Finish::Completed);
    let after = evaluate(&t.net, &data, 9, Loss::Ce, 1)
        .unwrap()
        .metrics
        .loss;
    (before, after, t, labels)
}

#[test]
fn a_few_steps_lower_the_loss() {
    let dir = dataset("loss");
    let (before, after, t, labels) = train_tiny("aum-tiny", &dir);
    assert!(after < before * 0.8, "loss {before} -> {after}");
    assert_eq!(t.progress.history.len(), 8);
    let out = dir.join("run");
    assert!(out.join(BEST).is_file() && out.join(LAST).is_file());
    // The best checkpoint is an ordinary inference checkpoint with labels and front end.
    let ck = aum_model::AumCheckpoint::load(out.join(BEST)).unwrap();
    assert_eq!(ck.labels().unwrap(), labels.names());
    assert_eq!(ck.front_end().frames, Some(32));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_few_steps_lower_the_loss_of_an_ast_too() {
    let dir = dataset("ast-loss");
    let (before, after, ..) = train_tiny("ast-tiny", &dir);
    assert!(after < before * 0.8, "loss {before} -> {after}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn interrupted_and_resumed_equals_uninterrupted() {
    let dir = dataset("resume");
    let r = tiny_recipe(2);
    let (data, labels) = prepared(&dir, &r);
    let never = AtomicBool::new(false);

    let mut whole = Trainer::new(
        r.clone(),
        tiny_net(&r),
        &labels,
        data.clone(),
        Some(data.clone()),
        &dir.join("a"),
    )
    .unwrap();
    whole.run(&never, &mut |_| {}).unwrap();

    // Stop after the second step of the first epoch (3 batches per epoch), as Ctrl-C would.
    let stop = AtomicBool::new(false);
    let mut first = Trainer::new(
        r.clone(),
        tiny_net(&r),
        &labels,
        data.clone(),
        Some(data.clone()),
        &dir.join("b"),
    )
    .unwrap();
    let finish = first
        .run(&stop, &mut |e| {
            if let Event::Step { batch: 1, .. } = e {
                stop.store(true, Ordering::Relaxed);
            }
        })
        .unwrap();
    assert_eq!(finish, Finish::Interrupted);
    assert_eq!((first.progress.epoch, first.progress.batch), (0, 2));
    drop(first);
    let mut resumed =
        Trainer::resume(&dir.join("b"), data.clone(), Some(data), &Device::Cpu).unwrap();
    assert_eq!(resumed.run(&never, &mut |_| {}).unwrap(), Finish::Completed);

    let a = whole.net.tensors().unwrap();
    let b = resumed.net.tensors().unwrap();
    for (name, ta) in &a {
        let diff = aum_testdata::max_abs_diff(ta, &b[name]).unwrap();
        assert_eq!(diff, 0.0, "{name} differs");
    }
    assert_eq!(whole.progress.history.len(), resumed.progress.history.len());
    assert_eq!(
        whole.progress.history.last().unwrap().val,
        resumed.progress.history.last().unwrap().val
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
