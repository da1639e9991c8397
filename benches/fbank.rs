//! Criterion benches of the audio front end: fbank of a 10 s 16 kHz clip (single-threaded),
//! resampling 44.1 kHz -> 16 kHz, and batch extraction.

use aum_fbank::{KaldiFbank, Resampler};
use criterion::{criterion_group, criterion_main, Criterion};

fn clip(rate: usize, seconds: usize) -> Vec<f32> {
    (0..rate * seconds)
        .map(|i| {
            let t = i as f32 / rate as f32;
            0.4 * (2.0 * std::f32::consts::PI * (200.0 + 300.0 * t) * t).sin()
                + 0.01 * ((i * 7919 % 1000) as f32 / 1000.0 - 0.5)
        })
        .collect()
}

fn fbank(c: &mut Criterion) {
    let signal = clip(16_000, 10);
    let fb = KaldiFbank::aum(16_000).unwrap();
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    c.bench_function("fbank 10 s 16 kHz, 1 thread", |b| {
        b.iter(|| one.install(|| fb.compute(&signal)))
    });
    let batch: Vec<&[f32]> = (0..16).map(|_| signal.as_slice()).collect();
    c.bench_function("fbank batch 16 x 10 s, all threads", |b| {
        b.iter(|| fb.compute_batch(&batch))
    });
    let hi = clip(44_100, 10);
    let rs = Resampler::new(44_100, 16_000).unwrap();
    c.bench_function("resample 10 s 44.1 -> 16 kHz", |b| {
        b.iter(|| rs.process(&hi))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = fbank
}
criterion_main!(benches);
