//! The shared-input bidirectional scan (AuM's v1 block) against its definition: the reference
//! scan forward with A plus the reference scan in reverse with A_rev, each gated, summed.

mod common;

use aum_scan::{
    scan_bidirectional, scan_forward, selective_scan_bidirectional, Backend, BiScanResult,
    Direction, Error, ScanDims, ScanInputs, ScanOptions,
};
use candle_core::{Tensor, Var};
use common::{assert_close, flat, random_problem, tensor, Optional, Problem, Rng};
use proptest::prelude::*;

fn opts(backend: Backend, softplus: bool, direction: Direction) -> ScanOptions {
    ScanOptions {
        softplus,
        direction,
        backend,
        ..Default::default()
    }
}

/// A second A, as negative as the problem's.
fn random_a(p: &Problem, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..p.a.len())
        .map(|_| -rng.uniform(-1.0, 2.0).exp())
        .collect()
}

/// The definition, from two reference scans.
fn defined(p: &Problem, a_rev: &[f32], softplus: bool) -> BiScanResult {
    let x = p.slices();
    let reference = |dir| opts(Backend::Reference, softplus, dir);
    let fwd = scan_forward(&x, &reference(Direction::Forward)).unwrap();
    let rev_x = aum_scan::ScanSlices { a: a_rev, ..x };
    let rev = scan_forward(&rev_x, &reference(Direction::Reverse)).unwrap();
    BiScanResult {
        y: fwd.y.iter().zip(&rev.y).map(|(f, r)| f + r).collect(),
        last_state: fwd.last_state,
        last_state_rev: rev.last_state,
    }
}

fn assert_matches(got: &BiScanResult, want: &BiScanResult) {
    assert_close("y", &got.y, &want.y, 1e-4, 1e-5);
    assert_close("last_state", &got.last_state, &want.last_state, 1e-4, 1e-5);
    let rev = (&got.last_state_rev, &want.last_state_rev);
    assert_close("last_state_rev", rev.0, rev.1, 1e-4, 1e-5);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    /// Both backends on shapes with partial channel vectors, groups, every option, and
    /// sequences shorter and longer than the kernel's 64-token chunks.
    #[test]
    fn matches_two_gated_scans(
        batch in 1usize..3, len in 0usize..150, groups in 1usize..3, width in 1usize..40,
        d_state in 1usize..17, flags in 0u8..16, softplus: bool, seed: u64,
    ) {
        let dims = ScanDims { batch, len, d_inner: groups * width, d_state, groups };
        let optional = Optional {
            d: flags & 1 != 0,
            z: flags & 2 != 0,
            delta_bias: flags & 4 != 0,
            h0: flags & 8 != 0,
        };
        let p = random_problem(dims, optional, softplus, seed);
        let a_rev = random_a(&p, seed ^ 0x5EED);
        let want = defined(&p, &a_rev, softplus);
        for backend in [Backend::Reference, Backend::Cpu] {
            let got = scan_bidirectional(&p.slices(), &a_rev, &opts(backend, softplus, Direction::Forward));
            assert_matches(&got.unwrap(), &want);
        }
    }
}

/// The tensor API: untracked inputs take the fused kernel, tracked ones two recorded scans;
/// both give the definition, and gradients reach both A's.
#[test]
fn tensor_api_untracked_and_tracked() {
    let dims = ScanDims {
        batch: 2,
        len: 70,
        d_inner: 24,
        d_state: 4,
        groups: 1,
    };
    let p = random_problem(dims, Optional::ALL, true, 11);
    let a_rev = random_a(&p, 12);
    let want = defined(&p, &a_rev, true);
    let (seq, bc) = ([2, 70, 24], [2, 70, 4]);
    let run = |wrap: &dyn Fn(Tensor) -> Tensor| {
        let t = |data: &[f32], shape: &[usize]| wrap(tensor(data, shape));
        let (u, delta, z) = (
            t(&p.u, &seq),
            t(&p.delta, &seq),
            t(p.z.as_ref().unwrap(), &seq),
        );
        let (a, a_rev) = (t(&p.a, &[24, 4]), t(&a_rev, &[24, 4]));
        let (b, c) = (t(&p.b, &bc), t(&p.c, &bc));
        let (d, bias) = (
            t(p.d.as_ref().unwrap(), &[24]),
            t(p.delta_bias.as_ref().unwrap(), &[24]),
        );
        let h0 = tensor(p.h0.as_ref().unwrap(), &[2, 24, 4]);
        let inputs = ScanInputs::new(&u, &delta, &a, &b, &c)
            .with_d(&d)
            .with_z(&z)
            .with_delta_bias(&bias)
            .with_h0(&h0);
        let out = selective_scan_bidirectional(&inputs, &a_rev, &ScanOptions::default()).unwrap();
        let got = BiScanResult {
            y: flat(&out.y),
            last_state: flat(&out.last_state),
            last_state_rev: flat(&out.last_state_rev),
        };
        assert_matches(&got, &want);
        let grads = out.y.sum_all().unwrap().backward().unwrap();
        (grads.get(&a).is_some(), grads.get(&a_rev).is_some())
    };
    assert!(!run(&|t| t).0, "untracked inputs got gradients");
    let var = |t: Tensor| Var::from_tensor(&t).unwrap().as_tensor().clone();
    assert_eq!(run(&var), (true, true), "gradients must reach A and A_rev");
}

#[test]
fn a_rev_of_the_wrong_shape_is_named() {
    let dims = ScanDims {
        batch: 1,
        len: 5,
        d_inner: 8,
        d_state: 2,
        groups: 1,
    };
    let p = random_problem(dims, Optional::ALL, true, 3);
    let err = scan_bidirectional(&p.slices(), &p.a[..10], &ScanOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Shape { name: "A_rev", .. }), "{err}");
    let (u, a, b) = (
        tensor(&p.u, &[1, 5, 8]),
        tensor(&p.a, &[8, 2]),
        tensor(&p.b, &[1, 5, 2]),
    );
    let wrong = tensor(&p.a, &[2, 8]);
    let inputs = ScanInputs::new(&u, &u, &a, &b, &b);
    let err = selective_scan_bidirectional(&inputs, &wrong, &ScanOptions::default()).unwrap_err();
    match &err {
        Error::Shape { name, actual, .. } => {
            assert_eq!(*name, "A_rev");
            assert_eq!(actual, &vec![2, 8]);
        }
        other => panic!("unexpected error {other}"),
    }
}
