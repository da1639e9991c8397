//! Properties of the scan on random problems: the backends agree, the state carries across a
//! split, reverse is forward on flipped inputs, and gradients match finite differences.

mod common;

use aum_scan::{
    checkpoint_len, scan_backward, scan_backward_from_checkpoints, scan_forward,
    scan_forward_with_checkpoints, Backend, Direction, ScanDims, ScanGrads, ScanOptions,
};
use common::{assert_close, random_problem, Optional, Problem, Rng};
use proptest::prelude::*;

fn opts(backend: Backend, softplus: bool, direction: Direction) -> ScanOptions {
    ScanOptions {
        softplus,
        direction,
        backend,
        ..Default::default()
    }
}

fn optional(flags: u8) -> Optional {
    Optional {
        d: flags & 1 != 0,
        z: flags & 2 != 0,
        delta_bias: flags & 4 != 0,
        h0: flags & 8 != 0,
    }
}

fn direction(reverse: bool) -> Direction {
    if reverse {
        Direction::Reverse
    } else {
        Direction::Forward
    }
}

/// (name, gradient) for every gradient present.
fn named(g: &ScanGrads) -> Vec<(&'static str, &[f32])> {
    let mut v: Vec<(&'static str, &[f32])> = vec![
        ("u", &g.u),
        ("delta", &g.delta),
        ("A", &g.a),
        ("B", &g.b),
        ("C", &g.c),
    ];
    v.extend(g.d.as_deref().map(|x| ("D", x)));
    v.extend(g.z.as_deref().map(|x| ("z", x)));
    v.extend(g.delta_bias.as_deref().map(|x| ("delta_bias", x)));
    v
}

/// Copies tokens `t0..t1` of every per-token tensor; the other inputs are kept.
fn take_tokens(p: &Problem, t0: usize, t1: usize, h0: Option<Vec<f32>>) -> Problem {
    let s = p.dims;
    let rows = |v: &[f32], width: usize| -> Vec<f32> {
        (0..s.batch)
            .flat_map(|b| v[(b * s.len + t0) * width..(b * s.len + t1) * width].to_vec())
            .collect()
    };
    let bc = s.groups * s.d_state;
    Problem {
        dims: ScanDims { len: t1 - t0, ..s },
        u: rows(&p.u, s.d_inner),
        delta: rows(&p.delta, s.d_inner),
        b: rows(&p.b, bc),
        c: rows(&p.c, bc),
        z: p.z.as_ref().map(|z| rows(z, s.d_inner)),
        h0,
        ..p.clone()
    }
}

/// Reverses the token order of a (batch, L, width) tensor.
fn flip(v: &[f32], dims: &ScanDims, width: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(v.len());
    for b in 0..dims.batch {
        for t in (0..dims.len).rev() {
            let at = (b * dims.len + t) * width;
            out.extend_from_slice(&v[at..at + width]);
        }
    }
    out
}

fn flip_problem(p: &Problem) -> Problem {
    let s = p.dims;
    let bc = s.groups * s.d_state;
    Problem {
        u: flip(&p.u, &s, s.d_inner),
        delta: flip(&p.delta, &s, s.d_inner),
        b: flip(&p.b, &s, bc),
        c: flip(&p.c, &s, bc),
        z: p.z.as_ref().map(|z| flip(z, &s, s.d_inner)),
        ..p.clone()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// The fused kernel against the oracle, forward and backward, on shapes that exercise
    /// partial channel blocks (widths not a multiple of 8 or 64), groups and every option.
    #[test]
    fn cpu_matches_reference(
        batch in 1usize..3, len in 0usize..45, groups in 1usize..4, width in 1usize..80,
        d_state in 1usize..19, flags in 0u8..16, softplus: bool, reverse: bool, seed: u64,
    ) {
        let dims = ScanDims { batch, len, d_inner: groups * width, d_state, groups };
        let p = random_problem(dims, optional(flags), softplus, seed);
        let x = p.slices();
        let dir = direction(reverse);
        let want = scan_forward(&x, &opts(Backend::Reference, softplus, dir)).unwrap();
        let got = scan_forward(&x, &opts(Backend::Cpu, softplus, dir)).unwrap();
        assert_close("y", &got.y, &want.y, 1e-4, 1e-5);
        assert_close("last_state", &got.last_state, &want.last_state, 1e-4, 1e-5);
        let mut rng = Rng::new(seed ^ 0xABCD);
        let gy = rng.vec(dims.seq_elems(), -1.0, 1.0);
        let gl = rng.vec(dims.state_elems(), -1.0, 1.0);
        let want = scan_backward(&x, &gy, Some(&gl), &opts(Backend::Reference, softplus, dir)).unwrap();
        let got = scan_backward(&x, &gy, Some(&gl), &opts(Backend::Cpu, softplus, dir)).unwrap();
        for ((name, g), (_, w)) in named(&got).into_iter().zip(named(&want)) {
            // Sums over many tokens (A, D, bias, B, C over a group) cancel: allow an absolute
            // error relative to the largest gradient.
            let scale = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            assert_close(name, g, w, 1e-4, 1e-5 + 1e-5 * scale);
        }
    }

    /// The training path, a forward that keeps its checkpoints and a backward from them, gives
    /// the same bits as the forward and the backward that re-runs the recurrence, over several
    /// chunks of both kernels (64 and 32 tokens) and several tasks of channel vectors.
    #[test]
    fn backward_from_checkpoints_equals_recomputing(
        batch in 1usize..3, len in 0usize..140, groups in 1usize..3, width in 1usize..70,
        d_state in 1usize..19, flags in 0u8..16, softplus: bool, reverse: bool, seed: u64,
    ) {
        let dims = ScanDims { batch, len, d_inner: groups * width, d_state, groups };
        let p = random_problem(dims, optional(flags), softplus, seed);
        let x = p.slices();
        let o = opts(Backend::Cpu, softplus, direction(reverse));
        let (fwd, checkpoints) = scan_forward_with_checkpoints(&x, &o).unwrap();
        prop_assert_eq!(checkpoints.len(), checkpoint_len(&dims, &o));
        prop_assert_eq!(&fwd, &scan_forward(&x, &o).unwrap());
        let mut rng = Rng::new(seed ^ 0x5EED);
        let gy = rng.vec(dims.seq_elems(), -1.0, 1.0);
        let gl = rng.vec(dims.state_elems(), -1.0, 1.0);
        let got = scan_backward_from_checkpoints(&x, &checkpoints, &gy, Some(&gl), &o).unwrap();
        prop_assert_eq!(got, scan_backward(&x, &gy, Some(&gl), &o).unwrap());
    }

    /// Scanning the first half, then the second half from the first half's last state, equals
    /// one scan of the whole sequence.
    #[test]
    fn state_carries_across_a_split(
        len in 2usize..60, width in 1usize..70, d_state in 1usize..9, flags in 0u8..16,
        split_at in 0.0f64..1.0, reverse: bool, reference: bool, seed: u64,
    ) {
        let dims = ScanDims { batch: 2, len, d_inner: width, d_state, groups: 1 };
        let p = random_problem(dims, optional(flags), true, seed);
        let backend = if reference { Backend::Reference } else { Backend::Cpu };
        let o = opts(backend, true, direction(reverse));
        let whole = scan_forward(&p.slices(), &o).unwrap();
        let mid = ((len as f64 * split_at) as usize).clamp(1, len - 1);
        // In scan order, the reverse direction visits the later tokens first.
        let (first, second) = if reverse { ((mid, len), (0, mid)) } else { ((0, mid), (mid, len)) };
        let p1 = take_tokens(&p, first.0, first.1, p.h0.clone());
        let r1 = scan_forward(&p1.slices(), &o).unwrap();
        let p2 = take_tokens(&p, second.0, second.1, Some(r1.last_state.clone()));
        let r2 = scan_forward(&p2.slices(), &o).unwrap();
        let whole_first = take_tokens(&Problem { u: whole.y.clone(), ..p.clone() }, first.0, first.1, None).u;
        let whole_second = take_tokens(&Problem { u: whole.y.clone(), ..p.clone() }, second.0, second.1, None).u;
        assert_close("first part", &r1.y, &whole_first, 1e-6, 1e-7);
        assert_close("second part", &r2.y, &whole_second, 1e-6, 1e-7);
        assert_close("last_state", &r2.last_state, &whole.last_state, 1e-6, 1e-7);
    }

    /// Reverse equals flip · forward · flip, for outputs and gradients.
    #[test]
    fn reverse_is_flipped_forward(
        len in 1usize..40, width in 1usize..70, d_state in 1usize..9, flags in 0u8..16,
        reference: bool, seed: u64,
    ) {
        let dims = ScanDims { batch: 2, len, d_inner: width, d_state, groups: 1 };
        let p = random_problem(dims, optional(flags), true, seed);
        let backend = if reference { Backend::Reference } else { Backend::Cpu };
        let rev = opts(backend, true, Direction::Reverse);
        let fwd = opts(backend, true, Direction::Forward);
        let flipped = flip_problem(&p);
        let r = scan_forward(&p.slices(), &rev).unwrap();
        let f = scan_forward(&flipped.slices(), &fwd).unwrap();
        assert_close("y", &r.y, &flip(&f.y, &dims, width), 1e-6, 1e-7);
        assert_close("last_state", &r.last_state, &f.last_state, 1e-6, 1e-7);
        let gy = Rng::new(seed ^ 7).vec(dims.seq_elems(), -1.0, 1.0);
        let gr = scan_backward(&p.slices(), &gy, None, &rev).unwrap();
        let gf = scan_backward(&flipped.slices(), &flip(&gy, &dims, width), None, &fwd).unwrap();
        let bc = d_state;
        assert_close("du", &gr.u, &flip(&gf.u, &dims, width), 1e-5, 1e-6);
        assert_close("ddelta", &gr.delta, &flip(&gf.delta, &dims, width), 1e-5, 1e-6);
        assert_close("dB", &gr.b, &flip(&gf.b, &dims, bc), 1e-5, 1e-6);
        assert_close("dC", &gr.c, &flip(&gf.c, &dims, bc), 1e-5, 1e-6);
        assert_close("dA", &gr.a, &gf.a, 1e-5, 1e-5);
    }

    /// Analytic gradients (of y and of last_state) against central differences of the
    /// reference forward, on small problems.
    #[test]
    fn gradients_match_finite_differences(
        batch in 1usize..3, len in 1usize..7, groups in 1usize..3, width in 1usize..4,
        d_state in 1usize..4, flags in 0u8..16, softplus: bool, reverse: bool, seed: u64,
    ) {
        let dims = ScanDims { batch, len, d_inner: groups * width, d_state, groups };
        let p = random_problem(dims, optional(flags), softplus, seed);
        let dir = direction(reverse);
        let mut rng = Rng::new(seed ^ 99);
        let wy = rng.vec(dims.seq_elems(), -1.0, 1.0);
        let wl = rng.vec(dims.state_elems(), -1.0, 1.0);
        let loss = |q: &Problem| -> f64 {
            let r = scan_forward(&q.slices(), &opts(Backend::Reference, softplus, dir)).unwrap();
            let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>();
            dot(&r.y, &wy) + dot(&r.last_state, &wl)
        };
        type Field = fn(&mut Problem) -> Option<&mut Vec<f32>>;
        let fields: [(&str, Field); 8] = [
            ("u", |q| Some(&mut q.u)),
            ("delta", |q| Some(&mut q.delta)),
            ("A", |q| Some(&mut q.a)),
            ("B", |q| Some(&mut q.b)),
            ("C", |q| Some(&mut q.c)),
            ("D", |q| q.d.as_mut()),
            ("z", |q| q.z.as_mut()),
            ("delta_bias", |q| q.delta_bias.as_mut()),
        ];
        let eps = 3e-3f32;
        for backend in [Backend::Reference, Backend::Cpu] {
            let g = scan_backward(&p.slices(), &wy, Some(&wl), &opts(backend, softplus, dir)).unwrap();
            let analytic: std::collections::HashMap<_, _> = named(&g).into_iter().collect();
            for (name, field) in fields {
                // Present exactly when the optional input is.
                let Some(grad) = analytic.get(name) else { continue };
                let mut q = p.clone();
                for (i, &an) in grad.iter().enumerate() {
                    let orig = field(&mut q).unwrap()[i];
                    field(&mut q).unwrap()[i] = orig + eps;
                    let up = loss(&q);
                    field(&mut q).unwrap()[i] = orig - eps;
                    let down = loss(&q);
                    field(&mut q).unwrap()[i] = orig;
                    let fd = (up - down) / (2.0 * eps as f64);
                    let an = an as f64;
                    prop_assert!(
                        (fd - an).abs() <= 2e-3 + 1e-2 * an.abs(),
                        "{}: d{}[{}]: finite difference {} vs analytic {}", backend.name(), name, i, fd, an
                    );
                }
            }
        }
    }
}

/// The fused kernel against the oracle on sequences longer than the kernels' token chunks (64
/// forward, 32 backward; the last chunk partial) with many channel vectors per task, so the
/// state carries across chunks while a task's vectors share them.
#[test]
fn cpu_matches_reference_over_many_chunks() {
    for (len, reverse, seed) in [(150, false, 1), (203, true, 2), (64, false, 3)] {
        let dims = ScanDims {
            batch: 2,
            len,
            d_inner: 2 * 40,
            d_state: 16,
            groups: 2,
        };
        let p = random_problem(dims, optional(15), true, seed);
        let x = p.slices();
        let dir = direction(reverse);
        let want = scan_forward(&x, &opts(Backend::Reference, true, dir)).unwrap();
        let got = scan_forward(&x, &opts(Backend::Cpu, true, dir)).unwrap();
        assert_close("y", &got.y, &want.y, 1e-4, 1e-5);
        assert_close("last_state", &got.last_state, &want.last_state, 1e-4, 1e-5);
        let gy = Rng::new(seed).vec(dims.seq_elems(), -1.0, 1.0);
        let want = scan_backward(&x, &gy, None, &opts(Backend::Reference, true, dir)).unwrap();
        let cpu = opts(Backend::Cpu, true, dir);
        let (_, checkpoints) = scan_forward_with_checkpoints(&x, &cpu).unwrap();
        let recomputed = scan_backward(&x, &gy, None, &cpu).unwrap();
        let saved = scan_backward_from_checkpoints(&x, &checkpoints, &gy, None, &cpu).unwrap();
        for got in [recomputed, saved] {
            for ((name, g), (_, w)) in named(&got).into_iter().zip(named(&want)) {
                let scale = w.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                assert_close(name, g, w, 1e-4, 1e-5 + 1e-5 * scale);
            }
        }
    }
}
