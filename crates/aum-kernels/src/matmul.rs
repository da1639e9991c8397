//! Products of two activations (attention's `q · kᵀ` and `p · v`) in either precision.

use aum_core::Precision;
use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};

use crate::PackedBf16;

/// `a · b` for `a` (.., m, k) and `b` (.., k, n) with the same leading dimensions. In f32 it is
/// candle's matmul; in bf16 both are rounded to bf16 and the products summed in f32: on the CPU
/// by the bf16 GEMM (`b` packed per call, a small cost next to the product), on a GPU by
/// candle's bf16 matmul. Inference only in bf16 (no backward).
pub fn matmul(a: &Tensor, b: &Tensor, precision: Precision) -> Result<Tensor> {
    match precision {
        Precision::F32 => a.matmul(b),
        Precision::Bf16 if a.device().is_cpu() => {
            if a.track_op() || b.track_op() {
                candle_core::bail!("bf16 products are for inference: an input carries gradients");
            }
            let (a, b) = (a.contiguous()?, b.contiguous()?);
            a.apply_op2_no_bwd(&b, &BatchedBf16)
        }
        Precision::Bf16 => {
            let y = a.to_dtype(DType::BF16)?.matmul(&b.to_dtype(DType::BF16)?)?;
            y.to_dtype(DType::F32)
        }
    }
}

struct BatchedBf16;

impl CustomOp2 for BatchedBf16 {
    fn name(&self) -> &'static str {
        "matmul-bf16"
    }

    fn cpu_fwd(
        &self,
        sa: &CpuStorage,
        la: &Layout,
        sb: &CpuStorage,
        lb: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let a = crate::storage::f32_slice(sa, la, "matmul bf16")?;
        let b = crate::storage::f32_slice(sb, lb, "matmul bf16")?;
        let (da, db) = (la.shape().dims(), lb.shape().dims());
        let shapes_match = da.len() >= 2
            && da.len() == db.len()
            && da[..da.len() - 2] == db[..db.len() - 2]
            && da[da.len() - 1] == db[db.len() - 2];
        if !shapes_match {
            candle_core::bail!("matmul bf16: shapes {da:?} and {db:?} do not multiply");
        }
        let (m, k, n) = (da[da.len() - 2], da[da.len() - 1], db[db.len() - 1]);
        let batches: usize = da[..da.len() - 2].iter().product();
        let mut y = Vec::with_capacity(batches * m * n);
        for i in 0..batches {
            let packed = PackedBf16::from_rows(&b[i * k * n..(i + 1) * k * n], k, n);
            y.extend(packed.matmul(&a[i * m * k..(i + 1) * m * k], m, None));
        }
        let mut dims = da.to_vec();
        *dims.last_mut().expect("rank >= 2") = n;
        Ok((CpuStorage::F32(y), Shape::from(dims)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn bf16_products_match_f32_and_check_shapes() {
        let dev = Device::Cpu;
        let a = Tensor::randn(0f32, 1.0, (2, 3, 37, 64), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, (2, 3, 64, 50), &dev).unwrap();
        let want = matmul(&a, &b, Precision::F32).unwrap();
        // A transposed view is made contiguous first.
        let bt = b
            .transpose(2, 3)
            .unwrap()
            .contiguous()
            .unwrap()
            .transpose(2, 3)
            .unwrap();
        let got = matmul(&a, &bt, Precision::Bf16).unwrap();
        assert_eq!(got.dims(), [2, 3, 37, 50]);
        // Sums of 64 products of unit normals (|.| sums about 41) moved by 2^-7 at most.
        let diff = aum_testdata::max_abs_diff(&got, &want).unwrap();
        assert!(
            diff > 0.0 && diff < 41.0 * 2f32.powi(-7),
            "max abs diff {diff}"
        );
        let c = Tensor::zeros((2, 3, 63, 50), DType::F32, &dev).unwrap();
        let err = matmul(&a, &c, Precision::Bf16).unwrap_err().to_string();
        assert!(err.contains("do not multiply"), "{err}");
    }
}
