//! Building blocks both models share: a linear layer whose fixed weights are laid out for the
//! CPU's matmul, and a `VarBuilder` that hands a checkpoint's tensors over one by one so that
//! such copies never double the weights' memory.

use std::collections::HashMap;
use std::sync::Mutex;

use candle_core::{
    CpuStorage, CustomOp2, DType, Device, Error, Layout, Module, Result, Shape, Tensor,
};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

/// `y = x · Wᵀ (+ b)` for a weight `W` of shape (out, in), as upstream stores it.
///
/// A weight that no gradient flows to (a loaded checkpoint) on the CPU is kept transposed, as
/// a contiguous (in, out) matrix, which the `gemm` crate multiplies faster than the strided
/// view `Wᵀ` of an (out, in) weight (`cargo bench --bench model -- matmuls`; numbers in
/// docs/benchmarks.md). The copy is made once, at load, and replaces the original. Weights being trained, and weights
/// on a GPU (cuBLAS reads `Wᵀ` natively), stay as they are.
#[derive(Debug, Clone)]
pub struct Dense {
    /// (in, out) contiguous when `transposed`, else (out, in).
    weight: Tensor,
    transposed: bool,
    bias: Option<Tensor>,
}

/// The layer `candle_nn::linear` (with a bias) or `linear_no_bias` builds, as a [`Dense`]:
/// `weight` (out, in) and `bias` under `vb`, with candle's initialisation for fresh models.
pub fn dense(in_dim: usize, out_dim: usize, bias: bool, vb: VarBuilder) -> Result<Dense> {
    let weight = vb.get_with_hints(
        (out_dim, in_dim),
        "weight",
        candle_nn::init::DEFAULT_KAIMING_NORMAL,
    )?;
    let bias = if bias {
        let bound = 1.0 / (in_dim as f64).sqrt();
        let init = Init::Uniform {
            lo: -bound,
            up: bound,
        };
        Some(vb.get_with_hints(out_dim, "bias", init)?)
    } else {
        None
    };
    Dense::new(weight, bias)
}

impl Dense {
    /// The layer for `weight` (out, in) and an optional bias (out).
    pub fn new(weight: Tensor, bias: Option<Tensor>) -> Result<Self> {
        let transposed = weight.device().is_cpu() && !weight.track_op();
        let weight = if transposed {
            transpose_cpu(&weight)?
        } else {
            weight
        };
        Ok(Self {
            weight,
            transposed,
            bias,
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        self.weight.device()
    }
}

/// A 2-D CPU tensor's transpose as a contiguous tensor, in bands of 32 output rows (one rayon
/// task each): each input row gives 32 contiguous reads and one write to each of the band's 32
/// rows, which all advance in step, so reads and writes stream (candle's strided copy reads
/// one element per cache line).
fn transpose_cpu(w: &Tensor) -> Result<Tensor> {
    use rayon::prelude::*;
    const TILE: usize = 32;
    let (rows, cols) = w.dims2()?;
    if w.dtype() != DType::F32 || rows == 0 || cols == 0 {
        return w.t()?.contiguous();
    }
    let w = w.contiguous()?;
    let (storage, layout) = w.storage_and_layout();
    let candle_core::Storage::Cpu(CpuStorage::F32(data)) = &*storage else {
        return w.t()?.contiguous();
    };
    let start = layout.start_offset();
    let src = &data[start..start + rows * cols];
    let mut dst = vec![0f32; rows * cols];
    // Band k holds output rows (input columns) k·TILE .. k·TILE + TILE.
    dst.par_chunks_mut(TILE * rows)
        .enumerate()
        .for_each(|(k, band)| {
            let c0 = k * TILE;
            let width = band.len() / rows;
            for r in 0..rows {
                let row = &src[r * cols + c0..r * cols + c0 + width];
                for (j, &v) in row.iter().enumerate() {
                    band[j * rows + r] = v;
                }
            }
        });
    drop(storage);
    Tensor::from_vec(dst, (cols, rows), w.device())
}

impl Module for Dense {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let w = if self.transposed {
            self.weight.clone()
        } else {
            self.weight.t()?
        };
        let dims = x.dims();
        let y = match dims {
            // Contiguous rows of any shape as one (rows, in) matrix: one matmul.
            [.., k] if dims.len() >= 2 && x.is_contiguous() => {
                let mut out = dims.to_vec();
                *out.last_mut().expect("rank >= 2") = w.dim(1)?;
                let rows = x.reshape((x.elem_count() / k, *k))?;
                let fresh = self.transposed && !x.track_op() && x.dtype() == DType::F32;
                let y = if fresh {
                    rows.apply_op2_no_bwd(&w, &MatMulFresh)?
                } else {
                    rows.matmul(&w)?
                };
                y.reshape(out)?
            }
            _ => x.broadcast_matmul(&w)?,
        };
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// `x · w` for f32 CPU matrices `x` (m, k) and `w` (k, n), both contiguous, by the `gemm`
/// crate (as candle's matmul) straight into a fresh buffer: candle's first zeroes its output,
/// a memset of every activation that the product then overwrites.
/// Inference only: it has no backward, so [`Dense`] takes it for untracked inputs alone.
struct MatMulFresh;

impl CustomOp2 for MatMulFresh {
    fn name(&self) -> &'static str {
        "dense-matmul"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = crate::storage::f32_slice(xs, xl, "dense matmul")?;
        let w = crate::storage::f32_slice(ws, wl, "dense matmul")?;
        let ((m, k), (wk, n)) = (xl.shape().dims2()?, wl.shape().dims2()?);
        if k != wk {
            candle_core::bail!("dense matmul: ({m}, {k}) x ({wk}, {n})");
        }
        if k == 0 {
            return Ok((CpuStorage::F32(vec![0.0; m * n]), Shape::from((m, n))));
        }
        let threads = candle_core::utils::get_num_threads();
        let parallelism = if threads > 1 {
            gemm::Parallelism::Rayon(threads)
        } else {
            gemm::Parallelism::None
        };
        let mut out: Vec<f32> = Vec::with_capacity(m * n);
        // SAFETY: x holds m·k floats with row stride k, w k·n with row stride n, and `out` has
        // room for m·n with row stride n; with `read_dst` false gemm writes every element of
        // the destination without reading it, so all m·n are initialised before `set_len`.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                false,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
            out.set_len(m * n);
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// A `VarBuilder` over `tensors` that gives each one out once and forgets it. A model that
/// keeps a copy of a weight (on the CPU, matmul weights are kept transposed: `Dense`) thereby
/// frees the original before it reads the next, so building it never holds two copies of every
/// weight. Each name can be read once.
pub fn handing_over(tensors: HashMap<String, Tensor>, device: &Device) -> VarBuilder<'static> {
    VarBuilder::from_backend(
        Box::new(HandOver(Mutex::new(tensors))),
        DType::F32,
        device.clone(),
    )
}

struct HandOver(Mutex<HashMap<String, Tensor>>);

impl HandOver {
    fn take(&self, name: &str) -> Result<Tensor> {
        self.0
            .lock()
            .map_err(|_| Error::Msg("weight map poisoned".into()))?
            .remove(name)
            .ok_or_else(|| Error::CannotFindTensor {
                path: name.to_string(),
            })
    }
}

impl SimpleBackend for HandOver {
    fn get(&self, s: Shape, name: &str, _: Init, dtype: DType, dev: &Device) -> Result<Tensor> {
        let tensor = self.take(name)?;
        if tensor.shape() != &s {
            return Err(Error::UnexpectedShape {
                msg: format!("shape mismatch for {name}"),
                expected: s,
                got: tensor.shape().clone(),
            });
        }
        tensor.to_device(dev)?.to_dtype(dtype)
    }

    fn get_unchecked(&self, name: &str, dtype: DType, dev: &Device) -> Result<Tensor> {
        self.take(name)?.to_device(dev)?.to_dtype(dtype)
    }

    fn contains_tensor(&self, name: &str) -> bool {
        self.0.lock().is_ok_and(|m| m.contains_key(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Var;

    #[test]
    fn fixed_and_trained_weights_give_the_same_outputs_and_gradients_flow() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (5, 7), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 5, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 3, 7), &dev).unwrap();
        let want = x
            .broadcast_matmul(&w.t().unwrap())
            .unwrap()
            .broadcast_add(&b)
            .unwrap();

        let fixed = Dense::new(w.clone(), Some(b.clone())).unwrap();
        assert!(fixed.transposed);
        let var = Var::from_tensor(&w).unwrap();
        let trained = Dense::new(var.as_tensor().clone(), Some(b)).unwrap();
        assert!(!trained.transposed);
        // A strided input takes the broadcast path.
        let strided = x.transpose(0, 1).unwrap();
        for (dense, input, want) in [
            (&fixed, &x, want.clone()),
            (&trained, &x, want.clone()),
            (&fixed, &strided, want.transpose(0, 1).unwrap()),
        ] {
            let got = dense.forward(input).unwrap();
            assert_eq!(got.dims(), want.dims());
            let diff = aum_testdata::max_abs_diff(&got, &want).unwrap();
            assert!(diff < 1e-5, "max abs diff {diff}");
        }
        let grads = trained
            .forward(&x)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        // d(sum x·Wᵀ)/dW[o, i] = sum of x[.., i] over rows.
        let want = x.sum((0, 1)).unwrap().broadcast_as((5, 7)).unwrap();
        let got = grads.get(var.as_tensor()).unwrap();
        assert!(aum_testdata::max_abs_diff(got, &want).unwrap() < 1e-4);
    }

    #[test]
    fn handing_over_gives_each_tensor_once_and_checks_shapes() {
        let w = Tensor::arange(0f32, 6.0, &Device::Cpu)
            .unwrap()
            .reshape((2, 3))
            .unwrap();
        let tensors = HashMap::from([("a.w".to_string(), w.clone()), ("b".to_string(), w)]);
        let vb = handing_over(tensors, &Device::Cpu);
        let got = vb.pp("a").get((2, 3), "w").unwrap();
        assert_eq!(
            got.to_vec2::<f32>().unwrap(),
            [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0]]
        );
        let again = vb.pp("a").get((2, 3), "w").unwrap_err().to_string();
        assert!(again.contains("a.w"), "{again}");
        let shape = vb.get((3, 2), "b").unwrap_err().to_string();
        assert!(shape.contains("shape mismatch for b"), "{shape}");
    }
}
