//! Upstream's structured initialisation for training from scratch (`vim-mamba_ssm/mamba_ssm/
//! modules/mamba_simple.py` L94-165 and `src/models/mamba_models.py` L143-187, L323-339 at
//! kaistmm/Audio-Mamba-AuM@b0eb85d595c4; Mamba, arXiv 2312.00752, §3.6). A fresh
//! [`crate::AumModel`] built on a `VarMap` only gets simple per-tensor hints; the selective
//! scan trains well only from the S4D-real `A`, `D = 1`, a log-uniform step size in
//! [1e-3, 1e-1] and residual outputs scaled down by the depth, so [`initialize`] sets every
//! parameter as the official code does, from a seed (reproducible runs).

use candle_core::{Result, Tensor};
use candle_nn::VarMap;

use crate::config::AumConfig;

/// SplitMix64: a tiny seeded generator, enough for initial weights.
struct SplitMix(u64);

impl SplitMix {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let u1 = 1.0 - self.uniform();
        let u2 = self.uniform();
        (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
    }

    /// `U(-bound, bound)`.
    fn symmetric(&mut self, bound: f64) -> f32 {
        ((self.uniform() * 2.0 - 1.0) * bound) as f32
    }

    /// Normal(0, std) redrawn outside ±2 std (timm's `trunc_normal_` with a = -2 std, b = 2 std).
    fn trunc_normal(&mut self, std: f64) -> f32 {
        loop {
            let x = self.normal();
            if x.abs() <= 2.0 {
                return (x * std) as f32;
            }
        }
    }
}

/// How one parameter is initialised.
enum Rule {
    Const(f32),
    Uniform(f64),
    TruncNormal(f64),
    /// `ln(1..=d_state)` in every row.
    ALog,
    /// softplus⁻¹ of a log-uniform step in [1e-3, 1e-1] (clamped at 1e-4), per channel.
    DtBias,
}

fn rule(name: &str, cfg: &AumConfig) -> Rule {
    let (d, di, r, k) = (
        cfg.embed_dim as f64,
        cfg.d_inner() as f64,
        cfg.dt_rank as f64,
        cfg.d_conv as f64,
    );
    // PyTorch's default Linear/Conv init (kaiming_uniform, a = √5) is U(±1/√fan_in).
    let default = |fan_in: f64| Rule::Uniform(1.0 / fan_in.sqrt());
    let leaf = name.rsplit_once("mixer.").map_or(name, |(_, l)| l);
    match leaf {
        "A_log" | "A_b_log" => Rule::ALog,
        "D" | "D_b" => Rule::Const(1.0),
        "in_proj.weight" => default(d),
        "x_proj.weight" | "x_proj_b.weight" => default(di),
        "conv1d.weight" | "conv1d.bias" | "conv1d_b.weight" | "conv1d_b.bias" => default(k),
        "dt_proj.weight" | "dt_proj_b.weight" => Rule::Uniform(r.powf(-0.5)),
        "dt_proj.bias" => Rule::DtBias,
        // Upstream's `_init_weights` zeroes every Linear bias not marked `_no_reinit`, which
        // catches the v2 reverse branch's dt bias (softplus(0) = 0.693).
        "dt_proj_b.bias" => Rule::Const(0.0),
        // kaiming_uniform(a = √5) then ÷ √depth (`rescale_prenorm_residual`).
        "out_proj.weight" => Rule::Uniform(1.0 / di.sqrt() / (cfg.depth as f64).sqrt()),
        _ if name.ends_with("norm.weight") || name == "norm_f.weight" => Rule::Const(1.0),
        "patch_embed.proj.weight" => {
            // timm lecun_normal_: truncated normal whose std after truncation is 1/√fan_in.
            let fan_in = (cfg.patch.0 * cfg.patch.1) as f64;
            Rule::TruncNormal((1.0 / fan_in).sqrt() / 0.879_625_661_034_239_8)
        }
        "pos_embed.pos_embed" | "cls_token" | "head.weight" => Rule::TruncNormal(0.02),
        _ => Rule::Const(0.0), // patch_embed.proj.bias, head.bias
    }
}

/// Sets every parameter of an Audio Mamba `varmap` (built with `cfg`) to upstream's initial
/// values, drawing the random ones from `seed`. Parameters are visited in name order, so a seed
/// always gives the same model.
pub fn initialize(varmap: &VarMap, cfg: &AumConfig, seed: u64) -> Result<()> {
    let data = varmap
        .data()
        .lock()
        .map_err(|_| candle_core::Error::Msg("weight map poisoned".into()))?;
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    let mut rng = SplitMix(seed ^ 0xA0A0_5EED);
    for name in names {
        let var = &data[name];
        let dims = var.dims().to_vec();
        let n = var.elem_count();
        let values: Vec<f32> = match rule(name, cfg) {
            Rule::Const(c) => vec![c; n],
            Rule::Uniform(b) => (0..n).map(|_| rng.symmetric(b)).collect(),
            Rule::TruncNormal(s) => (0..n).map(|_| rng.trunc_normal(s)).collect(),
            Rule::ALog => {
                let states = dims.last().copied().unwrap_or(1).max(1);
                (0..n).map(|i| ((i % states) as f32 + 1.0).ln()).collect()
            }
            Rule::DtBias => (0..n)
                .map(|_| {
                    let (lo, hi) = (1e-3f64.ln(), 1e-1f64.ln());
                    let dt = (rng.uniform() * (hi - lo) + lo).exp().max(1e-4);
                    // softplus⁻¹(dt) = dt + ln(-expm1(-dt))
                    (dt + (-(-dt).exp_m1()).ln()) as f32
                })
                .collect(),
        };
        var.set(&Tensor::from_vec(values, dims, var.device())?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AumModel;
    use candle_core::{DType, Device};
    use candle_nn::VarBuilder;

    fn small() -> AumConfig {
        AumConfig {
            embed_dim: 32,
            depth: 4,
            dt_rank: 2,
            frames: 32,
            num_classes: 3,
            variant: crate::Variant::V2,
            ..AumConfig::tiny()
        }
    }

    fn get(vm: &VarMap, name: &str) -> Vec<f32> {
        vm.data().lock().unwrap()[name]
            .as_tensor()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap()
    }

    #[test]
    fn upstream_values() {
        let cfg = small();
        let vm = VarMap::new();
        AumModel::new(
            cfg.clone(),
            VarBuilder::from_varmap(&vm, DType::F32, &Device::Cpu),
        )
        .unwrap();
        initialize(&vm, &cfg, 1).unwrap();
        let a = get(&vm, "layers.0.mixer.A_log");
        assert_eq!(a.len(), 64 * 16);
        assert!((a[17] - 2f32.ln()).abs() < 1e-7 && a[15] == 16f32.ln());
        assert!(get(&vm, "layers.1.mixer.D_b").iter().all(|&v| v == 1.0));
        assert!(get(&vm, "layers.1.mixer.dt_proj_b.bias")
            .iter()
            .all(|&v| v == 0.0));
        // softplus(bias) is the step, in [1e-3, 1e-1].
        for b in get(&vm, "layers.2.mixer.dt_proj.bias") {
            let dt = (b as f64).exp().ln_1p();
            assert!((0.99e-3..=1.01e-1).contains(&dt), "{dt}");
        }
        let bound = 1.0 / 64f32.sqrt() / 2.0; // 1/√di / √depth
        let out = get(&vm, "layers.3.mixer.out_proj.weight");
        assert!(out.iter().all(|v| v.abs() <= bound));
        assert!(out.iter().map(|v| v.abs()).fold(0.0, f32::max) > 0.9 * bound);
        let head = get(&vm, "head.weight");
        assert!(head.iter().all(|v| v.abs() <= 0.04));
        assert!(get(&vm, "head.bias").iter().all(|&v| v == 0.0));
        assert!(get(&vm, "norm_f.weight").iter().all(|&v| v == 1.0));
        // Same seed, same model; another seed, another one.
        let vm2 = VarMap::new();
        AumModel::new(
            cfg.clone(),
            VarBuilder::from_varmap(&vm2, DType::F32, &Device::Cpu),
        )
        .unwrap();
        initialize(&vm2, &cfg, 1).unwrap();
        assert_eq!(
            get(&vm2, "pos_embed.pos_embed"),
            get(&vm, "pos_embed.pos_embed")
        );
        initialize(&vm2, &cfg, 2).unwrap();
        assert_ne!(
            get(&vm2, "pos_embed.pos_embed"),
            get(&vm, "pos_embed.pos_embed")
        );
    }
}
