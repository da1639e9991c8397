//! Shared helpers: fixture loading, random problems, comparisons.
#![allow(dead_code)] // each test binary uses a different subset

use aum_scan::ScanDims;
use candle_core::{Device, Tensor};
use std::collections::HashMap;
use std::path::PathBuf;

pub const FIXTURES: [&str; 4] = ["small", "medium", "long-2500", "no-z-no-D-no-bias"];

/// Owned inputs of one problem, in the crate's token-major layout.
pub type Problem = aum_scan::ScanData;

/// A fixture converted to the crate's layout, with its expected results.
pub struct Fixture {
    pub problem: Problem,
    pub tensors: HashMap<String, Tensor>,
}

impl Fixture {
    /// An expected tensor in the crate's layout (sequence tensors transposed to token-major).
    pub fn expected(&self, name: &str) -> Option<Vec<f32>> {
        self.tensors.get(name).map(|t| match name {
            "out" | "grad_out" | "grad_u" | "grad_delta" | "grad_z" | "grad_B" | "grad_C" => {
                token_major(t)
            }
            _ => flat(t),
        })
    }
}

pub fn fixture_path(name: &str) -> PathBuf {
    aum_testdata::fixture_dir(env!("CARGO_MANIFEST_DIR"), "scan")
        .join(format!("{name}.safetensors"))
}

/// A CPU tensor of `shape` holding `data`.
pub fn tensor(data: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_slice(data, shape, &Device::Cpu).unwrap()
}

/// The elements of `t`, on the host, in order.
pub fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

/// (batch, X, L) -> (batch, L, X), flattened.
pub fn token_major(t: &Tensor) -> Vec<f32> {
    flat(&t.transpose(1, 2).unwrap().contiguous().unwrap())
}

pub fn load_fixture(name: &str) -> Fixture {
    let tensors = candle_core::safetensors::load(fixture_path(name), &Device::Cpu).unwrap();
    let (batch, d_inner, len) = tensors["u"].dims3().unwrap();
    let d_state = tensors["A"].dims2().unwrap().1;
    let dims = ScanDims {
        batch,
        len,
        d_inner,
        d_state,
        groups: 1,
    };
    let problem = Problem {
        dims,
        u: token_major(&tensors["u"]),
        delta: token_major(&tensors["delta"]),
        a: flat(&tensors["A"]),
        b: token_major(&tensors["B"]),
        c: token_major(&tensors["C"]),
        d: tensors.get("D").map(flat),
        z: tensors.get("z").map(token_major),
        delta_bias: tensors.get("delta_bias").map(flat),
        h0: None,
    };
    Fixture { problem, tensors }
}

/// Asserts |got - want| <= rtol·|want| + atol element-wise.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let mut worst = (0.0f32, 0usize);
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        let excess = (g - w).abs() - (rtol * w.abs() + atol);
        if worst.0.is_nan() {
            break;
        }
        if excess.is_nan() || excess > worst.0 {
            worst = (excess, i);
        }
    }
    if worst.0 > 0.0 || worst.0.is_nan() {
        let i = worst.1;
        panic!(
            "{what}: element {i} is {} but expected {} (|diff| {:e}, allowed {:e})",
            got[i],
            want[i],
            (got[i] - want[i]).abs(),
            rtol * want[i].abs() + atol
        );
    }
}

/// A tiny deterministic generator (SplitMix64), so random problems depend only on a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let unit = (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32;
        lo + (hi - lo) * unit
    }

    pub fn vec(&mut self, n: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi)).collect()
    }
}

/// Which optional inputs a random problem has.
#[derive(Clone, Copy, Debug)]
pub struct Optional {
    pub d: bool,
    pub z: bool,
    pub delta_bias: bool,
    pub h0: bool,
}

impl Optional {
    /// D, z, delta_bias and h0 all present.
    pub const ALL: Optional = Optional {
        d: true,
        z: true,
        delta_bias: true,
        h0: true,
    };
}

/// A random problem with Mamba-like magnitudes. With `softplus`, delta is a raw pre-activation;
/// without, it is already a positive step size (and the bias keeps it positive).
pub fn random_problem(dims: ScanDims, opt: Optional, softplus: bool, seed: u64) -> Problem {
    let mut rng = Rng::new(seed);
    let seq = dims.seq_elems();
    let delta = if softplus {
        rng.vec(seq, -3.0, 1.0)
    } else {
        rng.vec(seq, 0.01, 0.6)
    };
    let a = (0..dims.a_elems())
        .map(|_| -rng.uniform(-1.0, 2.0).exp())
        .collect();
    Problem {
        dims,
        u: rng.vec(seq, -1.0, 1.0),
        delta,
        a,
        b: rng.vec(dims.bc_elems(), -1.0, 1.0),
        c: rng.vec(dims.bc_elems(), -1.0, 1.0),
        d: opt.d.then(|| rng.vec(dims.d_inner, -1.0, 1.0)),
        z: opt.z.then(|| rng.vec(seq, -2.0, 2.0)),
        // Without softplus, keep dt = delta + bias positive so that the recurrence decays.
        delta_bias: opt.delta_bias.then(|| {
            let (lo, hi) = if softplus { (-1.0, 0.5) } else { (0.0, 0.3) };
            rng.vec(dims.d_inner, lo, hi)
        }),
        h0: opt.h0.then(|| rng.vec(dims.state_elems(), -1.0, 1.0)),
    }
}
