//! What both spectrogram models (AuM and AST) do first: cut the (frames x bins) input into
//! patches, in the frequency-major token order of a PyTorch `Conv2d` over (1, bins, frames).

use candle_core::{Result, Tensor};

/// Patches of `x` (B, T, F) as (B, Fp * Tp, pf * pt), token `f * Tp + t`, each patch flattened
/// [freq][time] like a conv kernel `(D, 1, pf, pt)`; also returns the grid (Fp, Tp). Overlapping
/// strides work the same way. One gather does it all, and `index_select` has a backward pass.
pub fn spectrogram_patches(
    x: &Tensor,
    patch: (usize, usize),
    stride: (usize, usize),
) -> Result<(Tensor, (usize, usize))> {
    let (b, t, f) = x.dims3()?;
    let ((pf, pt), (sf, st)) = (patch, stride);
    let along = |size: usize, p: usize, s: usize| if size < p { 0 } else { (size - p) / s + 1 };
    let (fp, tp) = (along(f, pf, sf), along(t, pt, st));
    if fp == 0 || tp == 0 {
        candle_core::bail!("a {t} x {f} spectrogram holds no {pf} x {pt} patch");
    }
    let mut idx = Vec::with_capacity(fp * tp * pf * pt);
    for fi in 0..fp {
        for ti in 0..tp {
            for kf in 0..pf {
                for kt in 0..pt {
                    idx.push(((ti * st + kt) * f + fi * sf + kf) as u32);
                }
            }
        }
    }
    let idx = Tensor::from_vec(idx, fp * tp * pf * pt, x.device())?;
    let p = x.reshape((b, t * f))?.index_select(&idx, 1)?;
    Ok((p.reshape((b, fp * tp, pf * pt))?, (fp, tp)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// The gather equals a strided Conv2d over (B, 1, F, T) with a one-hot kernel.
    #[test]
    fn patches_match_a_conv_with_overlap() {
        let x = Tensor::arange(0f32, 2.0 * 40.0 * 24.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 40, 24))
            .unwrap();
        let (p, grid) = spectrogram_patches(&x, (16, 16), (4, 10)).unwrap();
        assert_eq!(grid, (3, 3));
        // Kernel picking element (kf, kt) of the patch.
        let img = x
            .transpose(1, 2)
            .unwrap()
            .unsqueeze(1)
            .unwrap()
            .contiguous()
            .unwrap(); // (B,1,F,T)
        for (kf, kt) in [(0, 0), (3, 7), (15, 15)] {
            let mut k = vec![0f32; 256];
            k[kf * 16 + kt] = 1.0;
            let kernel = Tensor::from_vec(k, (1, 1, 16, 16), &Device::Cpu).unwrap();
            // Candle's conv2d has one stride for both axes: check the (4, 4)-strided rows and pick.
            let conv = img.conv2d(&kernel, 0, 1, 1, 1).unwrap(); // (B,1,F-15,T-15)
            for fi in 0..3 {
                for ti in 0..3 {
                    let want = conv
                        .get(1)
                        .unwrap()
                        .get(0)
                        .unwrap()
                        .get(fi * 4)
                        .unwrap()
                        .get(ti * 10)
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap();
                    let got = p
                        .get(1)
                        .unwrap()
                        .get(fi * 3 + ti)
                        .unwrap()
                        .get(kf * 16 + kt)
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap();
                    assert_eq!(got, want);
                }
            }
        }
    }
}
