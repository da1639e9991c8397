//! The bidirectional Mamba mixer of one AuM layer (`Mamba.forward`, `vim-mamba_ssm/mamba_ssm/
//! modules/mamba_simple.py` L185-263 at kaistmm/Audio-Mamba-AuM@b0eb85d595c4):
//! in_proj -> (x, z) -> depthwise conv -> SiLU -> x_proj -> (dt, B, C) -> dt_proj -> selective scan, forward and backward in
//! time, combined per [`Variant`], then out_proj.

use aum_scan::{
    selective_scan, selective_scan_bidirectional, Backend, Direction, ScanInputs, ScanOptions,
};
use candle_core::{Module, Result, Tensor};
use candle_nn::{Init, VarBuilder};

use crate::config::{AumConfig, Variant};
use aum_kernels::{conv_silu, ConvSide};
use aum_kernels::{dense, Dense, Precision};

/// Conv, projections and skip of one scan direction (v2 has two; v1 and none one).
#[derive(Debug, Clone)]
struct Branch {
    /// (d_inner, k)
    conv_w: Tensor,
    conv_b: Tensor,
    x_proj: Dense,
    /// Without bias: upstream adds `dt_proj.bias` inside the softplus, as `delta_bias`.
    dt_proj: Dense,
    dt_bias: Tensor,
    d: Tensor,
}

/// The inputs of one scan, computed once per branch.
struct ScanFeed {
    u: Tensor,
    delta: Tensor,
    b: Tensor,
    c: Tensor,
}

impl Branch {
    fn new(cfg: &AumConfig, vb: &VarBuilder, suffix: &str) -> Result<Self> {
        let (di, r, n, k) = (cfg.d_inner(), cfg.dt_rank, cfg.d_state, cfg.d_conv);
        let bound = 1.0 / (k as f64).sqrt();
        let uniform = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let conv = vb.pp(format!("conv1d{suffix}"));
        let conv_w = conv
            .get_with_hints((di, 1, k), "weight", uniform)?
            .reshape((di, k))?;
        let conv_b = conv.get_with_hints(di, "bias", uniform)?;
        let x_proj = dense(di, r + 2 * n, false, vb.pp(format!("x_proj{suffix}")))?;
        let dt = vb.pp(format!("dt_proj{suffix}"));
        let dt_bound = 1.0 / (r as f64).sqrt();
        let dt_w = dt.get_with_hints(
            (di, r),
            "weight",
            Init::Uniform {
                lo: -dt_bound,
                up: dt_bound,
            },
        )?;
        let dt_bias = dt.get_with_hints(di, "bias", Init::Const(0.0))?;
        let d = vb.get_with_hints(di, &format!("D{suffix}"), Init::Const(1.0))?;
        Ok(Self {
            conv_w,
            conv_b,
            x_proj,
            dt_proj: Dense::new(dt_w, None)?,
            dt_bias,
            d,
        })
    }

    fn with_precision(self, p: Precision) -> Result<Self> {
        Ok(Self {
            x_proj: self.x_proj.with_precision(p)?,
            dt_proj: self.dt_proj.with_precision(p)?,
            ..self
        })
    }

    /// Conv, SiLU and projections: u, delta (before bias), B and C for the scan.
    fn feed(&self, x: &Tensor, side: ConvSide, cfg: &AumConfig) -> Result<ScanFeed> {
        let u = conv_silu(x, &self.conv_w, &self.conv_b, side)?;
        let dbc = self.x_proj.forward(&u)?;
        let (r, n) = (cfg.dt_rank, cfg.d_state);
        // contiguous: CUDA matmul rejects the strided narrow that the CPU one accepts.
        let delta = self.dt_proj.forward(&dbc.narrow(2, 0, r)?.contiguous()?)?;
        Ok(ScanFeed {
            u,
            delta,
            b: dbc.narrow(2, r, n)?,
            c: dbc.narrow(2, r + n, n)?,
        })
    }

    fn inputs<'a>(&'a self, f: &'a ScanFeed, a: &'a Tensor, z: &'a Tensor) -> ScanInputs<'a> {
        ScanInputs::new(&f.u, &f.delta, a, &f.b, &f.c)
            .with_d(&self.d)
            .with_z(z)
            .with_delta_bias(&self.dt_bias)
    }

    fn scan(
        &self,
        f: &ScanFeed,
        a: &Tensor,
        z: &Tensor,
        direction: Direction,
        (backend, precision): (Backend, Precision),
    ) -> Result<Tensor> {
        let opts = ScanOptions {
            softplus: true,
            direction,
            backend,
            precision,
        };
        selective_scan(&self.inputs(f, a, z), &opts)
            .map(|o| o.y)
            .map_err(Into::into)
    }

    /// v1: the scan forward with `a` plus the scan in reverse with `a_rev` over this branch's
    /// inputs, summed without halving (one fused pass per direction for inference on the CPU).
    fn scan_both_ways(
        &self,
        f: &ScanFeed,
        (a, a_rev): (&Tensor, &Tensor),
        z: &Tensor,
        (backend, precision): (Backend, Precision),
    ) -> Result<Tensor> {
        let opts = ScanOptions {
            softplus: true,
            direction: Direction::Forward,
            backend,
            precision,
        };
        selective_scan_bidirectional(&self.inputs(f, a, z), a_rev, &opts)
            .map(|o| o.y)
            .map_err(Into::into)
    }
}

/// One layer's mixer, with upstream's parameter names under `layers.{i}.mixer`.
#[derive(Debug, Clone)]
pub struct Mixer {
    /// The two halves of upstream's `in_proj` (x's rows, then z's): two matmuls give two
    /// contiguous outputs, where one matmul and `narrow` would leave both strided and cost a
    /// copy at every consumer (conv, both scans).
    in_x: Dense,
    in_z: Dense,
    out_proj: Dense,
    a_log: Tensor,
    forward: Branch,
    /// v1 and v2: A of the reverse scan.
    a_b_log: Option<Tensor>,
    /// v2 only: the reverse branch's own conv, projections and D.
    backward: Option<Branch>,
    variant: Variant,
}

impl Mixer {
    /// The mixer with its four projections in `p` (conv, scan and skip stay f32).
    pub fn with_precision(self, p: Precision) -> Result<Self> {
        Ok(Self {
            in_x: self.in_x.with_precision(p)?,
            in_z: self.in_z.with_precision(p)?,
            out_proj: self.out_proj.with_precision(p)?,
            forward: self.forward.with_precision(p)?,
            backward: self.backward.map(|b| b.with_precision(p)).transpose()?,
            ..self
        })
    }

    pub fn new(cfg: &AumConfig, vb: VarBuilder) -> Result<Self> {
        let (d, di, n) = (cfg.embed_dim, cfg.d_inner(), cfg.d_state);
        let kaiming = candle_nn::init::DEFAULT_KAIMING_NORMAL;
        let in_proj = vb
            .pp("in_proj")
            .get_with_hints((2 * di, d), "weight", kaiming)?;
        let in_x = Dense::new(in_proj.narrow(0, 0, di)?, None)?;
        let in_z = Dense::new(in_proj.narrow(0, di, di)?, None)?;
        let out_proj = dense(di, d, false, vb.pp("out_proj"))?;
        // Fresh models get upstream's structured initial values from `init::initialize`.
        let a_log = vb.get_with_hints((di, n), "A_log", Init::Const(0.0))?;
        let forward = Branch::new(cfg, &vb, "")?;
        let a_b_log = match cfg.variant {
            Variant::None => None,
            Variant::V1 | Variant::V2 => {
                Some(vb.get_with_hints((di, n), "A_b_log", Init::Const(0.0))?)
            }
        };
        let backward = match cfg.variant {
            Variant::V2 => Some(Branch::new(cfg, &vb, "_b")?),
            _ => None,
        };
        Ok(Self {
            in_x,
            in_z,
            out_proj,
            a_log,
            forward,
            a_b_log,
            backward,
            variant: cfg.variant,
        })
    }

    /// (batch, L, D) -> (batch, L, D).
    pub fn forward(&self, h: &Tensor, cfg: &AumConfig, backend: Backend) -> Result<Tensor> {
        // A bf16 model's scans take bf16-grade decays too.
        let run = (backend, self.in_x.precision());
        let x = self.in_x.forward(h)?;
        let z = self.in_z.forward(h)?;
        let a = self.a_log.exp()?.neg()?;
        let feed = self.forward.feed(&x, ConvSide::Causal, cfg)?;
        let y = match (self.variant, &self.a_b_log, &self.backward) {
            (Variant::V1, Some(a_b_log), _) => {
                // x is only the conv's input: dropped before the scans, it leaves room for
                // their outputs (at thousands of tokens each is d_inner·L·4 bytes).
                drop(x);
                // Same u, delta, B, C, D and z, only A differs.
                let a_b = a_b_log.exp()?.neg()?;
                self.forward.scan_both_ways(&feed, (&a, &a_b), &z, run)?
            }
            (Variant::V2, Some(a_b_log), Some(branch)) => {
                // One branch's inputs alive at a time: x (d_inner wide) outlives the forward
                // scan, where the reverse branch's u and delta (two such buffers) would.
                let y_f = self.forward.scan(&feed, &a, &z, Direction::Forward, run)?;
                drop(feed);
                let feed_b = branch.feed(&x, ConvSide::AntiCausal, cfg)?;
                drop(x);
                let a_b = a_b_log.exp()?.neg()?;
                let y_b = branch.scan(&feed_b, &a_b, &z, Direction::Reverse, run)?;
                half_sum_into(y_f, y_b)?
            }
            _ => {
                drop(x);
                self.forward.scan(&feed, &a, &z, Direction::Forward, run)?
            }
        };
        self.out_proj.forward(&y)
    }
}

/// `(a + b) / 2` (v2): for untracked contiguous f32 CPU tensors in `a`'s memory (one fewer
/// (batch, L, d_inner) buffer alive at the peak), otherwise as candle ops. Both compute
/// `(a + b) · 0.5` in f32, so the results are identical.
fn half_sum_into(a: Tensor, b: Tensor) -> Result<Tensor> {
    let in_place = a.device().is_cpu()
        && !a.track_op()
        && !b.track_op()
        && a.is_contiguous()
        && b.is_contiguous()
        && a.dtype() == candle_core::DType::F32
        && a.dims() == b.dims();
    if in_place {
        a.inplace_op2(&b, &HalfSumInPlace)?;
        return Ok(a);
    }
    (a + b)? * 0.5
}

/// `a = (a + b) · 0.5` on the CPU, for [`half_sum_into`].
struct HalfSumInPlace;

impl candle_core::InplaceOp2 for HalfSumInPlace {
    fn name(&self) -> &'static str {
        "aum-half-sum-in-place"
    }

    fn cpu_fwd(
        &self,
        a: &mut candle_core::CpuStorage,
        la: &candle_core::Layout,
        b: &candle_core::CpuStorage,
        lb: &candle_core::Layout,
    ) -> Result<()> {
        use candle_core::CpuStorage::F32;
        let (Some((a0, a1)), Some((b0, b1))) = (la.contiguous_offsets(), lb.contiguous_offsets())
        else {
            candle_core::bail!("half sum in place: inputs not contiguous")
        };
        let (F32(a), F32(b)) = (a, b) else {
            candle_core::bail!("half sum in place: inputs must be f32")
        };
        let (a, b) = (&mut a[a0..a1], &b[b0..b1]);
        if a.len() != b.len() {
            candle_core::bail!("half sum in place: {} and {} elements", a.len(), b.len());
        }
        a.iter_mut().zip(b).for_each(|(x, y)| *x = (*x + y) * 0.5);
        Ok(())
    }
}
