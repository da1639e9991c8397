//! Softmax, exact GELU and residual adds that overwrite a fresh CPU tensor with vectorised
//! math, and the two norms into a fresh one: candle's softmax and GELU call libm's scalar `expf`/`erf` per element, and all three
//! allocate a second tensor (its elementwise ops also run on a pool of spinning threads of its
//! own, beside rayon's). Off the CPU, or on tensors that carry gradients, they are candle's ops.

use candle_core::{Layout, Result, Tensor};

/// Softmax over the last dimension of `t`, computed in its own storage on the CPU (candle's
/// `softmax_last_dim` elsewhere). Takes `t` by value: no other view of it may be read after.
pub fn softmax_last_dim_in_place(t: Tensor) -> Result<Tensor> {
    if !t.device().is_cpu() {
        return candle_nn::ops::softmax_last_dim(&t);
    }
    let t = t.contiguous()?;
    t.inplace_op1(&SoftmaxInPlace)?;
    Ok(t)
}

/// The exact (erf) GELU of `t`, computed in its own storage on the CPU (candle's `gelu_erf`
/// elsewhere). Takes `t` by value: no other view of it may be read after.
pub fn gelu_erf_in_place(t: Tensor) -> Result<Tensor> {
    if !t.device().is_cpu() {
        return t.gelu_erf();
    }
    let t = t.contiguous()?;
    t.inplace_op1(&GeluInPlace)?;
    Ok(t)
}

/// `fresh + other` (same shape), in `fresh`'s storage when both are untracked contiguous f32
/// CPU tensors: the residual adds of both models, where `fresh` is a layer's new output.
/// Takes `fresh` by value: no other view of it may be read after. The sum is the same f32
/// addition as candle's.
pub fn add_in_place(fresh: Tensor, other: &Tensor) -> Result<Tensor> {
    let in_place = fresh.device().is_cpu()
        && !fresh.track_op()
        && !other.track_op()
        && fresh.is_contiguous()
        && other.is_contiguous()
        && fresh.dtype() == candle_core::DType::F32
        && other.dtype() == candle_core::DType::F32
        && fresh.dims() == other.dims();
    if !in_place {
        return fresh.broadcast_add(other);
    }
    fresh.inplace_op2(other, &AddInPlace)?;
    Ok(fresh)
}

struct AddInPlace;

impl candle_core::InplaceOp2 for AddInPlace {
    fn name(&self) -> &'static str {
        "add-in-place"
    }

    fn cpu_fwd(
        &self,
        a: &mut candle_core::CpuStorage,
        la: &Layout,
        b: &candle_core::CpuStorage,
        lb: &Layout,
    ) -> Result<()> {
        use rayon::prelude::*;
        let a = crate::storage::f32_slice_mut(a, la, "add")?;
        let b = crate::storage::f32_slice(b, lb, "add")?;
        a.par_chunks_mut(1 << 15)
            .zip(b.par_chunks(1 << 15))
            .for_each(|(a, b)| a.iter_mut().zip(b).for_each(|(a, b)| *a += b));
        Ok(())
    }
}

/// RMSNorm over the last dimension, `x / sqrt(mean(x²) + eps) · weight`: on untracked
/// contiguous f32 CPU tensors vectorised into a fresh buffer ([`crate::fastmath::rms_norm_rows`],
/// 16-lane sums: within a few ulps of candle's), otherwise candle's `rms_norm`.
pub fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
    let fast = x.device().is_cpu()
        && !x.track_op()
        && !weight.track_op()
        && x.dtype() == candle_core::DType::F32
        && weight.dtype() == candle_core::DType::F32
        && weight.dims1().ok() == x.dims().last().copied();
    if !fast {
        return candle_nn::ops::rms_norm(x, weight, eps);
    }
    x.contiguous()?
        .apply_op2_no_bwd(&weight.contiguous()?, &RmsNorm(eps))
}

/// LayerNorm over the last dimension, as candle's `layer_norm`: on untracked contiguous f32
/// CPU tensors with vectorised sums ([`crate::fastmath::layer_norm_rows`]), otherwise candle's.
pub fn layer_norm(x: &Tensor, weight: &Tensor, bias: &Tensor, eps: f32) -> Result<Tensor> {
    let width = x.dims().last().copied();
    let fast = x.device().is_cpu()
        && !x.track_op()
        && !weight.track_op()
        && !bias.track_op()
        && [x.dtype(), weight.dtype(), bias.dtype()] == [candle_core::DType::F32; 3]
        && weight.dims1().ok() == width
        && bias.dims1().ok() == width;
    if !fast {
        return candle_nn::ops::layer_norm(x, weight, bias, eps);
    }
    let (w, b) = (weight.contiguous()?, bias.contiguous()?);
    x.contiguous()?.apply_op3_no_bwd(&w, &b, &LayerNorm(eps))
}

struct LayerNorm(f32);

impl candle_core::CustomOp3 for LayerNorm {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &candle_core::CpuStorage,
        xl: &Layout,
        ws: &candle_core::CpuStorage,
        wl: &Layout,
        bs: &candle_core::CpuStorage,
        bl: &Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let x = crate::storage::f32_slice(xs, xl, "layer norm")?;
        let w = crate::storage::f32_slice(ws, wl, "layer norm")?;
        let b = crate::storage::f32_slice(bs, bl, "layer norm")?;
        let out = normalise_rows(x, w.len(), |x, o| {
            crate::fastmath::layer_norm_rows(x, (w, b), self.0, o)
        });
        Ok((out, xl.shape().clone()))
    }
}

struct RmsNorm(f32);

impl candle_core::CustomOp2 for RmsNorm {
    fn name(&self) -> &'static str {
        "rms-norm"
    }

    fn cpu_fwd(
        &self,
        xs: &candle_core::CpuStorage,
        xl: &Layout,
        ws: &candle_core::CpuStorage,
        wl: &Layout,
    ) -> Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let x = crate::storage::f32_slice(xs, xl, "rms norm")?;
        let w = crate::storage::f32_slice(ws, wl, "rms norm")?;
        let out = normalise_rows(x, w.len(), |x, o| {
            crate::fastmath::rms_norm_rows(x, w, self.0, o)
        });
        Ok((out, xl.shape().clone()))
    }
}

/// A fresh buffer of `x`'s size filled by `norm(rows, out)` on blocks of 16 rows of `width`
/// (as the softmax's tasks), on the thread pool.
fn normalise_rows(
    x: &[f32],
    width: usize,
    norm: impl Fn(&[f32], &mut [f32]) + Sync,
) -> candle_core::CpuStorage {
    use rayon::prelude::*;
    let mut out = vec![0f32; x.len()];
    let chunk = 16 * width.max(1);
    out.par_chunks_mut(chunk)
        .zip(x.par_chunks(chunk))
        .for_each(|(o, x)| norm(x, o));
    candle_core::CpuStorage::F32(out)
}

/// Softmax over the last dimension of a fresh CPU tensor, in place and with the vectorised
/// `exp` of [`crate::fastmath`]: candle's calls libm's scalar `expf` per score and allocates
/// a second score matrix.
struct SoftmaxInPlace;

impl candle_core::InplaceOp1 for SoftmaxInPlace {
    fn name(&self) -> &'static str {
        "softmax-in-place"
    }

    fn cpu_fwd(&self, storage: &mut candle_core::CpuStorage, layout: &Layout) -> Result<()> {
        use rayon::prelude::*;
        let width = layout.dims().last().copied().unwrap_or(1);
        let data = crate::storage::f32_slice_mut(storage, layout, "softmax")?;
        if data.is_empty() {
            return Ok(());
        }
        // 16 rows per task: enough work to amortise the task, many tasks to balance.
        data.par_chunks_mut(16 * width)
            .for_each(|rows| crate::fastmath::softmax_rows(rows, width));
        Ok(())
    }
}

/// The exact GELU of a fresh CPU tensor, in place and vectorised ([`crate::fastmath`]):
/// candle's calls a scalar `erf` per element, an eighth of the forward pass at 2048 tokens.
struct GeluInPlace;

impl candle_core::InplaceOp1 for GeluInPlace {
    fn name(&self) -> &'static str {
        "gelu-in-place"
    }

    fn cpu_fwd(&self, storage: &mut candle_core::CpuStorage, layout: &Layout) -> Result<()> {
        use rayon::prelude::*;
        let data = crate::storage::f32_slice_mut(storage, layout, "gelu")?;
        data.par_chunks_mut(1 << 14)
            .for_each(crate::fastmath::gelu_erf_in_place);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn match_candle_ops() {
        let x = (Tensor::randn(0f32, 3.0, (3, 5, 37), &Device::Cpu).unwrap() - 1.0).unwrap();
        let want = candle_nn::ops::softmax_last_dim(&x).unwrap();
        let got = softmax_last_dim_in_place(x.copy().unwrap()).unwrap();
        assert!(aum_testdata::max_abs_diff(&got, &want).unwrap() < 1e-6);
        let want = x.gelu_erf().unwrap();
        let got = gelu_erf_in_place(x.copy().unwrap()).unwrap();
        assert!(aum_testdata::max_abs_diff(&got, &want).unwrap() < 1e-5);
        let y = Tensor::randn(0f32, 1.0, (3, 5, 37), &Device::Cpu).unwrap();
        let want = (&x + &y).unwrap();
        let got = add_in_place(x.copy().unwrap(), &y).unwrap();
        assert_eq!(aum_testdata::max_abs_diff(&got, &want).unwrap(), 0.0);
        // Another shape falls back to candle's broadcasting add.
        let row = y.narrow(2, 0, 1).unwrap().contiguous().unwrap();
        let got = add_in_place(x.copy().unwrap(), &row).unwrap();
        let want = x.broadcast_add(&row).unwrap();
        assert_eq!(aum_testdata::max_abs_diff(&got, &want).unwrap(), 0.0);
        let w = Tensor::randn(0f32, 1.0, 37, &Device::Cpu).unwrap();
        let want = candle_nn::ops::rms_norm(&x, &w, 1e-5).unwrap();
        let got = rms_norm(&x, &w, 1e-5).unwrap();
        assert!(aum_testdata::max_abs_diff(&got, &want).unwrap() < 1e-5);
        let b = Tensor::randn(0f32, 1.0, 37, &Device::Cpu).unwrap();
        let want = candle_nn::ops::layer_norm(&x, &w, &b, 1e-5).unwrap();
        let got = layer_norm(&x, &w, &b, 1e-5).unwrap();
        assert!(aum_testdata::max_abs_diff(&got, &want).unwrap() < 1e-5);
    }
}
