//! Criterion benches of the Audio Mamba forward pass (batch 1, random weights): Tiny and Small at
//! 1024 frames. Base and longer clips: `aum bench model` (one run of those takes seconds).
//!
//! Also AuM-Base's three largest matmul shapes at 513 tokens (`in_proj` halves, `out_proj`,
//! `x_proj`) through candle's `Linear` (the strided view `Wᵀ` of an (out, in) weight) and
//! through `aum_kernels::Dense` (the weight kept transposed, the product written into a fresh
//! buffer), the two ways a layer can run them; and AST-Base's attention matmuls at 4098 tokens
//! for a 16 MiB chunk of scores, as one head's 1023 query rows (what `aum-ast` runs) or as the
//! 85 rows that all 12 heads' chunk of the same size would give each head.

use aum::kernels::Dense;
use aum_model::{AumConfig, AumModel};
use candle_core::{Device, Module, ModuleT, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn model(c: &mut Criterion) {
    for (name, cfg) in [("tiny", AumConfig::tiny()), ("small", AumConfig::small())] {
        let m = aum_model::random_untracked(&Device::Cpu, |vb| Ok(AumModel::new(cfg.clone(), vb)?))
            .unwrap();
        let x = Tensor::randn(0f32, 1.0, (1, 1024, 128), &Device::Cpu).unwrap();
        c.bench_function(&format!("aum-{name} forward, 1024 frames"), |b| {
            b.iter(|| m.forward_t(&x, false).unwrap())
        });
    }
}

fn dense(c: &mut Criterion) {
    const TOKENS: usize = 513;
    let mut group = c.benchmark_group("aum-base matmuls, 513 tokens");
    for (inp, out) in [(768, 1536), (1536, 768), (1536, 80)] {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (1, TOKENS, inp), &dev).unwrap();
        let w = Tensor::randn(0f32, 0.02, (out, inp), &dev).unwrap();
        let linear = candle_nn::Linear::new(w.clone(), None);
        let dense = Dense::new(w, None).unwrap();
        group.throughput(Throughput::Elements((2 * TOKENS * inp * out) as u64));
        let shape = format!("{inp}->{out}");
        group.bench_with_input(BenchmarkId::new("Linear (W^T view)", &shape), &x, |b, x| {
            b.iter(|| linear.forward(x).unwrap())
        });
        group.bench_with_input(
            BenchmarkId::new("Dense (transposed)", &shape),
            &x,
            |b, x| b.iter(|| dense.forward(x).unwrap()),
        );
    }
    group.finish();
}

fn attention(c: &mut Criterion) {
    const TOKENS: usize = 4098;
    const HEAD: usize = 64;
    let dev = Device::Cpu;
    let kt = Tensor::randn(0f32, 1.0, (HEAD, TOKENS), &dev).unwrap();
    let v = Tensor::randn(0f32, 1.0, (TOKENS, HEAD), &dev).unwrap();
    let mut group = c.benchmark_group("ast-base attention matmuls, 4098 tokens");
    for rows in [85, 1023] {
        let q = Tensor::randn(0f32, 1.0, (rows, HEAD), &dev).unwrap();
        let p = Tensor::randn(0f32, 1.0, (rows, TOKENS), &dev).unwrap();
        group.throughput(Throughput::Elements((2 * rows * HEAD * TOKENS) as u64));
        group.bench_with_input(BenchmarkId::new("scores q.kT", rows), &q, |b, q| {
            b.iter(|| q.matmul(&kt).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("probs.v", rows), &p, |b, p| {
            b.iter(|| p.matmul(&v).unwrap())
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(8));
    targets = model, dense, attention
}
criterion_main!(benches);
