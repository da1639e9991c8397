//! Criterion bench of the Audio Mamba forward pass (batch 1, random weights): Tiny and Small at
//! 1024 frames. Base and longer clips: `aum bench model` (one run of those takes seconds).

use aum_model::{AudioMamba, Config, Mode};
use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, Criterion};

fn model(c: &mut Criterion) {
    for (name, cfg) in [("tiny", Config::tiny()), ("small", Config::small())] {
        let m = aum_model::random_untracked(|vb| AudioMamba::new(cfg.clone(), vb)).unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 1024, 128), &Device::Cpu).unwrap();
        c.bench_function(&format!("aum-{name} forward, 1024 frames"), |b| {
            b.iter(|| m.forward_mode(&x, Mode::Inference).unwrap())
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(8));
    targets = model
}
criterion_main!(benches);
