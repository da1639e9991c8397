//! Parity with upstream: every fixture (mamba_ssm `selective_scan_ref` + torch autograd, fp32),
//! for every backend, through the slice API and through candle autograd.

mod common;

use aum_scan::{scan_backward, scan_forward, selective_scan, Backend, ScanInputs, ScanOptions};
use candle_core::{Device, Tensor, Var};
use common::{assert_close, load_fixture, FIXTURES};

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;
const BACKENDS: [Backend; 2] = [Backend::Reference, Backend::Cpu];

/// (name in the fixture, gradient from the scan) pairs.
fn grad_pairs(g: &aum_scan::ScanGrads) -> Vec<(&'static str, Option<&[f32]>)> {
    vec![
        ("grad_u", Some(&g.u)),
        ("grad_delta", Some(&g.delta)),
        ("grad_A", Some(&g.a)),
        ("grad_B", Some(&g.b)),
        ("grad_C", Some(&g.c)),
        ("grad_D", g.d.as_deref()),
        ("grad_z", g.z.as_deref()),
        ("grad_delta_bias", g.delta_bias.as_deref()),
    ]
}

#[test]
fn slices_match_every_fixture() {
    for name in FIXTURES {
        let fx = load_fixture(name);
        let x = fx.problem.slices();
        let grad_out = fx.expected("grad_out").unwrap();
        for backend in BACKENDS {
            let opts = ScanOptions {
                backend,
                ..ScanOptions::default()
            };
            let what = |t: &str| format!("{name}/{}/{t}", backend.name());
            let fwd = scan_forward(&x, &opts).unwrap();
            assert_close(
                &what("out"),
                &fwd.y,
                &fx.expected("out").unwrap(),
                RTOL,
                ATOL,
            );
            let want = fx.expected("last_state").unwrap();
            assert_close(&what("last_state"), &fwd.last_state, &want, RTOL, ATOL);
            let grads = scan_backward(&x, &grad_out, None, &opts).unwrap();
            for (key, got) in grad_pairs(&grads) {
                match (got, fx.expected(key)) {
                    (Some(got), Some(want)) => assert_close(&what(key), got, &want, RTOL, ATOL),
                    (None, None) => {}
                    (got, want) => panic!(
                        "{}: present in output {} / fixture {}",
                        what(key),
                        got.is_some(),
                        want.is_some()
                    ),
                }
            }
        }
    }
}

fn var(data: &[f32], shape: &[usize], dev: &Device) -> Var {
    Var::from_tensor(&Tensor::from_slice(data, shape, dev).unwrap()).unwrap()
}

/// The backends a device runs: both CPU ones on the CPU, the CUDA kernels on a GPU.
fn backends(dev: &Device) -> Vec<Backend> {
    match dev {
        Device::Cpu => BACKENDS.to_vec(),
        _ => vec![Backend::Cuda],
    }
}

aum_testdata::test_device!(autograd_matches_every_fixture);

/// Every fixture through candle's autograd on `dev`: outputs, last state, every gradient.
fn autograd_matches_every_fixture(dev: &Device) {
    for name in FIXTURES {
        let fx = load_fixture(name);
        let p = &fx.problem;
        let s = p.dims;
        let seq = [s.batch, s.len, s.d_inner];
        let bc = [s.batch, s.len, s.d_state];
        let u = var(&p.u, &seq, dev);
        let delta = var(&p.delta, &seq, dev);
        let a = var(&p.a, &[s.d_inner, s.d_state], dev);
        let b = var(&p.b, &bc, dev);
        let c = var(&p.c, &bc, dev);
        let d = p.d.as_ref().map(|v| var(v, &[s.d_inner], dev));
        let z = p.z.as_ref().map(|v| var(v, &seq, dev));
        let bias = p.delta_bias.as_ref().map(|v| var(v, &[s.d_inner], dev));
        let grad_out = Tensor::from_vec(fx.expected("grad_out").unwrap(), &seq, dev).unwrap();
        for backend in backends(dev) {
            let mut inputs = ScanInputs::new(&u, &delta, &a, &b, &c);
            inputs.d = d.as_deref();
            inputs.z = z.as_deref();
            inputs.delta_bias = bias.as_deref();
            let opts = ScanOptions {
                backend,
                ..ScanOptions::default()
            };
            let out = selective_scan(&inputs, &opts).unwrap();
            let what = |t: &str| format!("{name}/{}/autograd/{t}", backend.name());
            let y = common::flat(&out.y);
            assert_close(&what("out"), &y, &fx.expected("out").unwrap(), RTOL, ATOL);
            let last = common::flat(&out.last_state);
            let want = fx.expected("last_state").unwrap();
            assert_close(&what("last_state"), &last, &want, RTOL, ATOL);
            let loss = (&out.y * &grad_out).unwrap().sum_all().unwrap();
            let grads = loss.backward().unwrap();
            let named = [
                ("grad_u", Some(&u)),
                ("grad_delta", Some(&delta)),
                ("grad_A", Some(&a)),
                ("grad_B", Some(&b)),
                ("grad_C", Some(&c)),
                ("grad_D", d.as_ref()),
                ("grad_z", z.as_ref()),
                ("grad_delta_bias", bias.as_ref()),
            ];
            for (key, v) in named {
                if let Some(v) = v {
                    let got = common::flat(grads.get(v).unwrap());
                    let want = fx.expected(key).unwrap();
                    assert_close(&what(key), &got, &want, RTOL, ATOL);
                }
            }
        }
    }
}
