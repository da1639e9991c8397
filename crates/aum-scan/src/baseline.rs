//! The tensor-op step loop that candle-transformers' Mamba runs, kept as a benchmark baseline.
//!
//! One token at a time, about fifteen candle ops per token, each allocating a (batch, d_inner,
//! d_state) tensor: broadcast `dt` and A, `exp(dt·A)`, `h = h·dA + dt·B·u`, `y = h @ C`. It is
//! what the fused kernel is compared against in `aum bench scan` and `benches/scan.rs`; it is
//! differentiable through candle's autograd (slowly), so it also serves as a training baseline.

use crate::{Error, ScanInputs, ScanOutput};
use candle_core::{DType, Tensor};

/// Runs the scan forward in time with tensor ops. Supports the Mamba-1 case only: B and C of
/// shape (batch, L, d_state). Softplus is `ln(e^x + 1)` without a threshold, as in
/// candle-transformers.
pub fn step_loop(x: &ScanInputs<'_>, softplus: bool) -> crate::Result<ScanOutput> {
    let (batch, len, d_inner) = x.u.dims3()?;
    let (_, d_state) = x.a.dims2()?;
    if x.b.rank() != 3 {
        return Err(Error::Dims(
            "the step-loop baseline supports B and C of shape (batch, L, d_state) only".into(),
        ));
    }
    let a = x.a.unsqueeze(0)?;
    let mut h = match x.h0 {
        Some(h0) => h0.clone(),
        None => Tensor::zeros((batch, d_inner, d_state), DType::F32, x.u.device())?,
    };
    let mut ys = Vec::with_capacity(len);
    for t in 0..len {
        let u_t = x.u.narrow(1, t, 1)?.squeeze(1)?;
        let mut dt = x.delta.narrow(1, t, 1)?.squeeze(1)?;
        if let Some(bias) = x.delta_bias {
            dt = dt.broadcast_add(bias)?;
        }
        if softplus {
            dt = (dt.exp()? + 1.0)?.log()?;
        }
        let decay = dt.unsqueeze(2)?.broadcast_mul(&a)?.exp()?;
        let b_t = x.b.narrow(1, t, 1)?;
        let input = (&dt * &u_t)?.unsqueeze(2)?.broadcast_mul(&b_t)?;
        h = ((h * decay)? + input)?;
        let c_t = x.c.narrow(1, t, 1)?.transpose(1, 2)?;
        let mut y = h.matmul(&c_t)?.squeeze(2)?;
        if let Some(d) = x.d {
            y = (y + u_t.broadcast_mul(d)?)?;
        }
        if let Some(z) = x.z {
            y = (y * z.narrow(1, t, 1)?.squeeze(1)?.silu()?)?;
        }
        ys.push(y);
    }
    let y = if ys.is_empty() {
        Tensor::zeros((batch, 0, d_inner), DType::F32, x.u.device())?
    } else {
        Tensor::stack(&ys, 1)?
    };
    Ok(ScanOutput { y, last_state: h })
}
