//! Criterion benches of the selective scan: the fused CPU kernel forward and forward+backward
//! over batch 1, d_state 16, d_inner 384/768/1536, L 512/1024/4096, plus the reference backend
//! and candle's tensor-op step loop (at L 512 only: their cost per token does not depend on L).
//!
//! `scan bidirectional` times AuM's v1 block, a forward and a reverse scan over the same inputs
//! (AuM-Small's and AuM-Base's d_inner at 1024 and 8192 frames): the fused kernel against two
//! scans and a sum.
//!
//! Throughput is in elements = token x channel x state (x 2 directions for the bidirectional
//! group), so criterion's elem/s is the inverse of ns per element and the variants compare
//! directly. Runs are kept short; `aum bench scan` prints the fused matrix as a table of ratios.

use aum_scan::{
    baseline, scan_backward_from_checkpoints, scan_bidirectional, scan_forward,
    scan_forward_with_checkpoints, Backend, Direction, ScanDims, ScanInputs, ScanOptions,
    ScanSlices,
};
use candle_core::{Device, Tensor};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::time::Duration;

const D_STATE: usize = 16;
const D_INNER: [usize; 3] = [384, 768, 1536];
const LEN: [usize; 3] = [512, 1024, 4096];
/// The only length the slow baselines run at.
const BASELINE_LEN: usize = 512;

/// Mamba-like inputs in the crate's token-major layout (batch 1).
struct Problem {
    dims: ScanDims,
    seqs: [Vec<f32>; 4],
    a: Vec<f32>,
    bc: [Vec<f32>; 2],
    vecs: [Vec<f32>; 2],
}

impl Problem {
    fn new(d_inner: usize, len: usize) -> Self {
        let dims = ScanDims {
            batch: 1,
            len,
            d_inner,
            d_state: D_STATE,
            groups: 1,
        };
        let mut state = 0x853c_49e6_748f_ea9b_u64;
        let mut vec = |n: usize, lo: f32, hi: f32| -> Vec<f32> {
            (0..n)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    lo + (hi - lo) * ((state >> 40) as f32 / (1u64 << 24) as f32)
                })
                .collect()
        };
        let seq = dims.seq_elems();
        Self {
            // u, delta, z, grad_y
            seqs: [
                vec(seq, -1.0, 1.0),
                vec(seq, -1.0, 1.0),
                vec(seq, -2.0, 2.0),
                vec(seq, -1.0, 1.0),
            ],
            // S4D-real: A[d, n] = -(n + 1).
            a: (0..d_inner * D_STATE)
                .map(|i| -((i % D_STATE) as f32 + 1.0))
                .collect(),
            bc: [
                vec(dims.bc_elems(), -1.0, 1.0),
                vec(dims.bc_elems(), -1.0, 1.0),
            ],
            // D, delta_bias (dt mostly 0.001 .. 0.1)
            vecs: [vec(d_inner, 0.5, 1.5), vec(d_inner, -6.0, -3.0)],
            dims,
        }
    }

    fn slices(&self) -> ScanSlices<'_> {
        ScanSlices {
            dims: self.dims,
            u: &self.seqs[0],
            delta: &self.seqs[1],
            a: &self.a,
            b: &self.bc[0],
            c: &self.bc[1],
            d: Some(&self.vecs[0]),
            z: Some(&self.seqs[2]),
            delta_bias: Some(&self.vecs[1]),
            h0: None,
        }
    }

    fn elements(&self) -> u64 {
        (self.dims.len * self.dims.d_inner * D_STATE) as u64
    }
}

fn opts(backend: Backend) -> ScanOptions {
    ScanOptions {
        backend,
        ..ScanOptions::default()
    }
}

fn fused(c: &mut Criterion) {
    for (name, backward) in [("scan forward/cpu", false), ("scan fwd+bwd/cpu", true)] {
        let mut group = c.benchmark_group(name);
        group
            .sample_size(10)
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_secs(2));
        for d_inner in D_INNER {
            for len in LEN {
                let p = Problem::new(d_inner, len);
                group.throughput(Throughput::Elements(p.elements()));
                let id = BenchmarkId::from_parameter(format!("d{d_inner}/L{len}"));
                group.bench_with_input(id, &p, |b, p| {
                    b.iter(|| {
                        let (x, o) = (p.slices(), opts(Backend::Cpu));
                        if !backward {
                            return black_box(scan_forward(&x, &o).unwrap());
                        }
                        // As training runs it: the backward from the forward's checkpoints.
                        let (y, saved) = scan_forward_with_checkpoints(&x, &o).unwrap();
                        let g = scan_backward_from_checkpoints(&x, &saved, &p.seqs[3], None, &o);
                        black_box(g.unwrap());
                        black_box(y)
                    })
                });
            }
        }
        group.finish();
    }
}

fn baselines(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan forward/baselines");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    for d_inner in D_INNER {
        let p = Problem::new(d_inner, BASELINE_LEN);
        group.throughput(Throughput::Elements(p.elements()));
        let id = BenchmarkId::new("reference", format!("d{d_inner}/L{BASELINE_LEN}"));
        group.bench_with_input(id, &p, |b, p| {
            b.iter(|| black_box(scan_forward(&p.slices(), &opts(Backend::Reference)).unwrap()))
        });
        let dev = Device::Cpu;
        let seq = (1, BASELINE_LEN, d_inner);
        let bc = (1, BASELINE_LEN, D_STATE);
        let t = |v: &[f32], shape: (usize, usize, usize)| Tensor::from_slice(v, shape, &dev);
        let (u, delta, z) = (
            t(&p.seqs[0], seq).unwrap(),
            t(&p.seqs[1], seq).unwrap(),
            t(&p.seqs[2], seq).unwrap(),
        );
        let (b_t, c_t) = (t(&p.bc[0], bc).unwrap(), t(&p.bc[1], bc).unwrap());
        let a = Tensor::from_slice(&p.a, (d_inner, D_STATE), &dev).unwrap();
        let d = Tensor::from_slice(&p.vecs[0], d_inner, &dev).unwrap();
        let bias = Tensor::from_slice(&p.vecs[1], d_inner, &dev).unwrap();
        let inputs = ScanInputs::new(&u, &delta, &a, &b_t, &c_t)
            .with_d(&d)
            .with_z(&z)
            .with_delta_bias(&bias);
        let id = BenchmarkId::new("candle step loop", format!("d{d_inner}/L{BASELINE_LEN}"));
        group.bench_with_input(id, &inputs, |b, inputs| {
            b.iter(|| black_box(baseline::step_loop(inputs, true).unwrap()))
        });
    }
    group.finish();
}

fn bidirectional(c: &mut Criterion) {
    let mut group = c.benchmark_group("scan bidirectional");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(3));
    for (d_inner, len) in [(768, 513), (768, 4097), (1536, 513), (1536, 4097)] {
        let p = Problem::new(d_inner, len);
        // The reverse direction's own A, as in a trained v1 block.
        let a_rev: Vec<f32> = p.a.iter().map(|a| a * 0.75).collect();
        group.throughput(Throughput::Elements(2 * p.elements()));
        let shape = format!("d{d_inner}/L{len}");
        group.bench_with_input(BenchmarkId::new("two scans + sum", &shape), &p, |b, p| {
            b.iter(|| {
                let x = p.slices();
                let fwd = scan_forward(&x, &opts(Backend::Cpu)).unwrap();
                let reverse = ScanOptions {
                    direction: Direction::Reverse,
                    ..opts(Backend::Cpu)
                };
                let rev = scan_forward(&ScanSlices { a: &a_rev, ..x }, &reverse).unwrap();
                let mut y = fwd.y;
                y.iter_mut().zip(&rev.y).for_each(|(y, r)| *y += r);
                black_box(y)
            })
        });
        group.bench_with_input(BenchmarkId::new("fused", &shape), &p, |b, p| {
            b.iter(|| black_box(scan_bidirectional(&p.slices(), &a_rev, &opts(Backend::Cpu))))
        });
    }
    group.finish();
}

criterion_group!(benches, fused, baselines, bidirectional);
criterion_main!(benches);
