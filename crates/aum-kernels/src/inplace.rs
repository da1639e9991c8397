//! Softmax, exact GELU and residual adds that overwrite a fresh CPU tensor with vectorised
//! math: candle's softmax and GELU call libm's scalar `expf`/`erf` per element, and all three
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
    }
}
