//! Resampling the positional embedding to another patch grid, as the official loader does
//! (`resample_abs_pos_embed`: bilinear, `antialias=True`, `align_corners=False`), so a model
//! trained on one clip length runs on, or is fine-tuned for, another.

use candle_core::{Result, Tensor};

/// Resamples `pos` (1, 1 + Fo*To, D), whose row 0 is the CLS row, from grid `from` to grid
/// `to`. The CLS row is kept as it is.
pub fn resample_pos_embed(
    pos: &Tensor,
    from: (usize, usize),
    to: (usize, usize),
) -> Result<Tensor> {
    if from == to {
        return Ok(pos.clone());
    }
    let d = pos.dim(2)?;
    let cls = pos.narrow(1, 0, 1)?;
    let grid = pos
        .narrow(1, 1, from.0 * from.1)?
        .reshape((from.0, from.1, d))?;
    // Separable: resample along frequency (dim 0), then along time (dim 1).
    let wf = Tensor::from_vec(
        aum_kernels::bilinear_matrix(from.0, to.0),
        (to.0, from.0),
        pos.device(),
    )?;
    let wt = Tensor::from_vec(
        aum_kernels::bilinear_matrix(from.1, to.1),
        (to.1, from.1),
        pos.device(),
    )?;
    let g = wf.matmul(&grid.reshape((from.0, from.1 * d))?)?; // (to.0, from.1 * d)
    let g = g
        .reshape((to.0, from.1, d))?
        .transpose(0, 1)?
        .contiguous()?; // (from.1, to.0, d)
    let g = wt.matmul(&g.reshape((from.1, to.0 * d))?)?; // (to.1, to.0 * d)
    let g = g.reshape((to.1, to.0, d))?.transpose(0, 1)?.contiguous()?; // (to.0, to.1, d)
    Tensor::cat(&[cls, g.reshape((1, to.0 * to.1, d))?], 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn same_grid_is_identity_and_cls_row_is_kept() {
        let pos = Tensor::randn(0f32, 1.0, (1, 1 + 8 * 4, 3), &Device::Cpu).unwrap();
        let same = resample_pos_embed(&pos, (8, 4), (8, 4)).unwrap();
        assert_eq!(
            same.to_vec3::<f32>().unwrap(),
            pos.to_vec3::<f32>().unwrap()
        );
        let out = resample_pos_embed(&pos, (8, 4), (8, 2)).unwrap();
        assert_eq!(out.dims(), &[1, 17, 3]);
        let cls_in = pos
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let cls_out = out
            .narrow(1, 0, 1)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(cls_in, cls_out);
    }

    #[test]
    fn a_constant_grid_stays_constant() {
        // A constant grid stays constant.
        let pos = Tensor::ones((1, 1 + 8 * 64, 2), candle_core::DType::F32, &Device::Cpu).unwrap();
        let out = resample_pos_embed(&pos, (8, 64), (8, 8)).unwrap();
        let v = out.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| (x - 1.0).abs() < 1e-6));
    }
}
