//! The candle-tensor API: validation, dtypes, groups, h0 and gradients through last_state.

mod common;

use aum_scan::{
    checkpoint_len, scan_backward, scan_backward_from_checkpoints, scan_forward,
    scan_forward_with_checkpoints, selective_scan, Backend, Error, ScanDims, ScanInputs,
    ScanOptions,
};
use candle_core::{DType, Tensor, Var};
use common::{assert_close, flat, random_problem, tensor, Optional};

#[test]
fn shape_errors_name_the_tensor() {
    let dims = ScanDims {
        batch: 1,
        len: 4,
        d_inner: 3,
        d_state: 2,
        groups: 1,
    };
    let p = random_problem(dims, Optional::ALL, true, 1);
    let u = tensor(&p.u, &[1, 4, 3]);
    let a = tensor(&p.a, &[3, 2]);
    let b = tensor(&p.b, &[1, 4, 2]);
    let c = tensor(&p.c, &[1, 4, 2]);
    let wrong_delta = tensor(&p.delta, &[1, 3, 4]);
    let err = selective_scan(
        &ScanInputs::new(&u, &wrong_delta, &a, &b, &c),
        &ScanOptions::default(),
    )
    .unwrap_err();
    match &err {
        Error::Shape { name, actual, .. } => {
            assert_eq!(*name, "delta");
            assert_eq!(actual, &vec![1, 3, 4]);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        err.to_string().contains("(batch=1, L=4, d_inner=3)"),
        "{err}"
    );
    let wrong_d = tensor(&p.d.clone().unwrap()[..2], &[2]);
    let err = selective_scan(
        &ScanInputs::new(&u, &u, &a, &b, &c).with_d(&wrong_d),
        &ScanOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Shape { name: "D", .. }), "{err}");
    // B with a group count that does not divide d_inner.
    let b2 = tensor(&[0.0; 16], &[1, 4, 2, 2]);
    let err = selective_scan(
        &ScanInputs::new(&u, &u, &a, &b2, &b2),
        &ScanOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::Dims(_)), "{err}");
    // Slices too.
    let mut x = p.slices();
    x.b = &p.b[1..];
    let err = scan_forward(&x, &ScanOptions::default()).unwrap_err();
    assert!(matches!(err, Error::Shape { name: "B", .. }), "{err}");
}

/// Checkpoints of another length (another problem's, or none where the kernel keeps some) are
/// refused by name, with the length expected.
#[test]
fn checkpoints_of_the_wrong_length_are_an_error() {
    let dims = ScanDims {
        batch: 1,
        len: 40,
        d_inner: 20,
        d_state: 4,
        groups: 1,
    };
    let p = random_problem(dims, Optional::ALL, true, 3);
    let opts = ScanOptions::default();
    let (_, mut checkpoints) = scan_forward_with_checkpoints(&p.slices(), &opts).unwrap();
    let want = checkpoint_len(&dims, &opts);
    assert_eq!(checkpoints.len(), want);
    checkpoints.push(0.0);
    let gy = vec![1.0; dims.seq_elems()];
    let err =
        scan_backward_from_checkpoints(&p.slices(), &checkpoints, &gy, None, &opts).unwrap_err();
    match &err {
        Error::Shape { name, actual, .. } => {
            assert_eq!(*name, "checkpoints");
            assert_eq!(actual, &vec![want + 1]);
        }
        other => panic!("unexpected error {other}"),
    }
    assert!(
        err.to_string().contains(&format!("{want} elements")),
        "{err}"
    );
    // The reference keeps none and takes none.
    let reference = ScanOptions {
        backend: Backend::Reference,
        ..opts
    };
    assert_eq!(checkpoint_len(&dims, &reference), 0);
    let err = scan_backward_from_checkpoints(&p.slices(), &[0.0], &gy, None, &reference);
    assert!(matches!(
        err,
        Err(Error::Shape {
            name: "checkpoints",
            ..
        })
    ));
}

/// The slice API runs on the host: without the `cuda` feature the error says the kernel is not
/// built, with it that CUDA tensors must go through `selective_scan`.
#[test]
fn cuda_backend_on_the_slice_api_is_a_clear_error() {
    let dims = ScanDims {
        batch: 1,
        len: 2,
        d_inner: 2,
        d_state: 2,
        groups: 1,
    };
    let p = random_problem(
        dims,
        Optional {
            d: false,
            z: false,
            delta_bias: false,
            h0: false,
        },
        true,
        2,
    );
    let opts = ScanOptions {
        backend: Backend::Cuda,
        ..ScanOptions::default()
    };
    let err = scan_forward(&p.slices(), &opts).unwrap_err().to_string();
    let expected = if cfg!(feature = "cuda") {
        "call selective_scan with CUDA tensors"
    } else {
        "built without the cuda feature"
    };
    assert!(err.contains(expected), "{err}");
    assert_eq!("cuda".parse::<Backend>().unwrap(), Backend::Cuda);
    assert!("gpu".parse::<Backend>().is_err());
}

/// Groups, h0, f64 inputs and a loss on both y and last_state, through candle autograd,
/// against the slice API.
#[test]
fn autograd_with_groups_h0_and_last_state() {
    let dims = ScanDims {
        batch: 2,
        len: 9,
        d_inner: 6,
        d_state: 3,
        groups: 3,
    };
    let p = random_problem(dims, Optional::ALL, true, 3);
    let mut rng = common::Rng::new(4);
    let wy = rng.vec(dims.seq_elems(), -1.0, 1.0);
    let wl = rng.vec(dims.state_elems(), -1.0, 1.0);
    let seq = [2, 9, 6];
    let bc = [2, 9, 3, 3];
    let var = |data: &[f32], shape: &[usize]| {
        Var::from_tensor(&tensor(data, shape).to_dtype(DType::F64).unwrap()).unwrap()
    };
    let u = var(&p.u, &seq);
    let delta = var(&p.delta, &seq);
    let a = var(&p.a, &[6, 3]);
    let b = var(&p.b, &bc);
    let c = var(&p.c, &bc);
    let d = var(p.d.as_ref().unwrap(), &[6]);
    let z = var(p.z.as_ref().unwrap(), &seq);
    let bias = var(p.delta_bias.as_ref().unwrap(), &[6]);
    let h0 = tensor(p.h0.as_ref().unwrap(), &[2, 6, 3]);
    let inputs = ScanInputs::new(&u, &delta, &a, &b, &c)
        .with_d(&d)
        .with_z(&z)
        .with_delta_bias(&bias)
        .with_h0(&h0);
    let out = scan_like_the_slices(&inputs, &p);
    assert_eq!(out.last_state.dims(), &[2, 6, 3]);

    let wy_t = tensor(&wy, &seq).to_dtype(DType::F64).unwrap();
    let wl_t = tensor(&wl, &[2, 6, 3]);
    let loss = ((&out.y * &wy_t).unwrap().sum_all().unwrap()
        + (&out.last_state * &wl_t)
            .unwrap()
            .sum_all()
            .unwrap()
            .to_dtype(DType::F64)
            .unwrap())
    .unwrap();
    let grads = loss.backward().unwrap();
    let want = scan_backward(&p.slices(), &wy, Some(&wl), &ScanOptions::default()).unwrap();
    let got = |v: &Var| flat(&grads.get(v).unwrap().to_dtype(DType::F32).unwrap());
    assert_close("du", &got(&u), &want.u, 1e-6, 1e-6);
    assert_close("ddelta", &got(&delta), &want.delta, 1e-6, 1e-6);
    assert_close("dA", &got(&a), &want.a, 1e-6, 1e-6);
    assert_close("dB", &got(&b), &want.b, 1e-6, 1e-6);
    assert_close("dC", &got(&c), &want.c, 1e-6, 1e-6);
    assert_close("dD", &got(&d), want.d.as_ref().unwrap(), 1e-6, 1e-6);
    assert_close("dz", &got(&z), want.z.as_ref().unwrap(), 1e-6, 1e-6);
    assert_close(
        "dbias",
        &got(&bias),
        want.delta_bias.as_ref().unwrap(),
        1e-6,
        1e-6,
    );
}

/// The benchmark baseline computes the same thing as the kernels.
#[test]
fn step_loop_baseline_matches_reference() {
    let dims = ScanDims {
        batch: 2,
        len: 7,
        d_inner: 5,
        d_state: 4,
        groups: 1,
    };
    let p = random_problem(dims, Optional::ALL, true, 5);
    let seq = [2, 7, 5];
    let (u, delta, z) = (
        tensor(&p.u, &seq),
        tensor(&p.delta, &seq),
        tensor(p.z.as_ref().unwrap(), &seq),
    );
    let (a, b, c) = (
        tensor(&p.a, &[5, 4]),
        tensor(&p.b, &[2, 7, 4]),
        tensor(&p.c, &[2, 7, 4]),
    );
    let (d, bias) = (
        tensor(p.d.as_ref().unwrap(), &[5]),
        tensor(p.delta_bias.as_ref().unwrap(), &[5]),
    );
    let h0 = tensor(p.h0.as_ref().unwrap(), &[2, 5, 4]);
    let inputs = ScanInputs::new(&u, &delta, &a, &b, &c)
        .with_d(&d)
        .with_z(&z)
        .with_delta_bias(&bias)
        .with_h0(&h0);
    let got = aum_scan::baseline::step_loop(&inputs, true).unwrap();
    let opts = ScanOptions {
        backend: Backend::Reference,
        ..ScanOptions::default()
    };
    let want = scan_forward(&p.slices(), &opts).unwrap();
    assert_close("y", &flat(&got.y), &want.y, 1e-5, 1e-6);
    assert_close(
        "last_state",
        &flat(&got.last_state),
        &want.last_state,
        1e-5,
        1e-6,
    );
}

/// Untracked tensors (inference) skip the op's packing: same results, f64 and strided inputs
/// (B and C narrowed out of a wider tensor, as the model's x_proj output) included.
#[test]
fn untracked_tensors_scan_like_the_slices() {
    let dims = ScanDims {
        batch: 2,
        len: 11,
        d_inner: 20,
        d_state: 4,
        groups: 1,
    };
    let p = random_problem(dims, Optional::ALL, true, 7);
    let seq = [2, 11, 20];
    let f64_of = |data: &[f32], shape: &[usize]| tensor(data, shape).to_dtype(DType::F64).unwrap();
    let (u, delta, z) = (
        f64_of(&p.u, &seq),
        f64_of(&p.delta, &seq),
        f64_of(p.z.as_ref().unwrap(), &seq),
    );
    let bc = Tensor::cat(&[tensor(&p.b, &[2, 11, 4]), tensor(&p.c, &[2, 11, 4])], 2).unwrap();
    let (b, c) = (bc.narrow(2, 0, 4).unwrap(), bc.narrow(2, 4, 4).unwrap());
    let (a, d) = (tensor(&p.a, &[20, 4]), tensor(p.d.as_ref().unwrap(), &[20]));
    let bias = tensor(p.delta_bias.as_ref().unwrap(), &[20]);
    let h0 = tensor(p.h0.as_ref().unwrap(), &[2, 20, 4]);
    let inputs = ScanInputs::new(&u, &delta, &a, &b, &c)
        .with_d(&d)
        .with_z(&z)
        .with_delta_bias(&bias)
        .with_h0(&h0);
    scan_like_the_slices(&inputs, &p);
}

/// Scans f64 tensor inputs and checks y (in f64) and last_state against the slice API on the
/// same problem.
fn scan_like_the_slices(inputs: &ScanInputs<'_>, p: &common::Problem) -> aum_scan::ScanOutput {
    let out = selective_scan(inputs, &ScanOptions::default()).unwrap();
    assert_eq!(out.y.dtype(), DType::F64);
    let want = scan_forward(&p.slices(), &ScanOptions::default()).unwrap();
    let y32 = flat(&out.y.to_dtype(DType::F32).unwrap());
    assert_close("y", &y32, &want.y, 1e-6, 1e-7);
    assert_close(
        "last_state",
        &flat(&out.last_state),
        &want.last_state,
        1e-6,
        1e-7,
    );
    out
}

/// bf16 models' scans take bf16-grade decays: the outputs stay within 1e-3 of the f32 scan's
/// (relative to the largest), in both directions and the shared-input bidirectional scan.
#[test]
fn bf16_grade_decays_stay_close_to_f32() {
    let dims = ScanDims {
        batch: 2,
        len: 300,
        d_inner: 40,
        d_state: 16,
        groups: 1,
    };
    let all = Optional {
        d: true,
        z: true,
        delta_bias: true,
        h0: false,
    };
    let p = random_problem(dims, all, true, 7);
    let x = p.slices();
    for direction in [aum_scan::Direction::Forward, aum_scan::Direction::Reverse] {
        let exact = ScanOptions {
            direction,
            ..ScanOptions::default()
        };
        let short = ScanOptions {
            precision: aum_scan::Precision::Bf16,
            ..exact
        };
        let (a, b) = (
            scan_forward(&x, &exact).unwrap().y,
            scan_forward(&x, &short).unwrap().y,
        );
        let scale = a.iter().fold(0f32, |m, v| m.max(v.abs()));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 1e-3 * scale, "{direction:?}: {diff} of {scale}");
        let bi = |o: &ScanOptions| aum_scan::scan_bidirectional(&x, x.a, o).unwrap().y;
        let (a, b) = (bi(&exact), bi(&short));
        let diff = a
            .iter()
            .zip(&b)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(diff <= 2e-3 * scale, "bidirectional: {diff} of {scale}");
    }
}
