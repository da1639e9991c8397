//! Building blocks both models share: a linear layer whose fixed weights are laid out for the
//! CPU's matmul, and a `VarBuilder` that hands a checkpoint's tensors over one by one so that
//! such copies never double the weights' memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aum_core::Precision;
use candle_core::{
    CpuStorage, CustomOp1, CustomOp2, DType, Device, Error, Layout, Module, Result, Shape, Tensor,
};
use candle_nn::var_builder::SimpleBackend;
use candle_nn::{Init, VarBuilder};

use crate::PackedBf16;

/// `y = x · Wᵀ (+ b)` for a weight `W` of shape (out, in), as upstream stores it.
///
/// A weight that no gradient flows to (a loaded checkpoint) on the CPU is kept transposed, as
/// a contiguous (in, out) matrix, which the `gemm` crate multiplies faster than the strided
/// view `Wᵀ` of an (out, in) weight (`cargo bench --bench model -- matmuls`; numbers in
/// docs/benchmarks.md). The copy is made once, at load, and replaces the original. Weights being trained, and weights
/// on a GPU (cuBLAS reads `Wᵀ` natively), stay as they are.
///
/// [`Dense::with_precision`] turns a fixed layer to bf16: on the CPU its weight is packed for
/// the bf16 GEMM ([`PackedBf16`], half the memory), on a GPU cast for cuBLAS's bf16 products;
/// inputs are rounded to bf16 on the fly and outputs, sums and bias stay f32.
#[derive(Debug, Clone)]
pub struct Dense {
    weight: Weight,
    bias: Option<Tensor>,
}

#[derive(Debug, Clone)]
enum Weight {
    /// (out, in) as given: being trained, or on a GPU.
    Plain(Tensor),
    /// (in, out), contiguous: fixed, on the CPU.
    Transposed(Tensor),
    /// Fixed, on the CPU, packed in bf16 with the bias as plain floats.
    Packed(Arc<(PackedBf16, Option<Vec<f32>>)>),
    /// (out, in) in bf16: fixed, on a GPU.
    Bf16(Tensor),
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
        let weight = match weight.device().is_cpu() && !weight.track_op() {
            true => Weight::Transposed(transpose_cpu(&weight)?),
            false => Weight::Plain(weight),
        };
        Ok(Self { weight, bias })
    }

    /// The layer in `precision`. bf16 is for fixed weights (inference): a layer being trained
    /// is refused. Turning a bf16 layer back to f32 is refused too: its rounding is done.
    pub fn with_precision(self, precision: Precision) -> Result<Self> {
        let weight = match (precision, self.weight) {
            (Precision::F32, w @ (Weight::Plain(_) | Weight::Transposed(_))) => w,
            (Precision::Bf16, w @ (Weight::Packed(_) | Weight::Bf16(_))) => w,
            (Precision::F32, _) => {
                candle_core::bail!("a bf16 layer cannot return to f32: load the model again")
            }
            (Precision::Bf16, Weight::Transposed(w)) => {
                let (k, n) = w.dims2()?;
                let packed = PackedBf16::from_rows(&w.flatten_all()?.to_vec1::<f32>()?, k, n);
                let bias = self.bias.as_ref().map(|b| b.to_vec1::<f32>()).transpose()?;
                Weight::Packed(Arc::new((packed, bias)))
            }
            (Precision::Bf16, Weight::Plain(w)) if w.track_op() => {
                candle_core::bail!("bf16 layers are for inference: this weight is being trained")
            }
            (Precision::Bf16, Weight::Plain(w)) => Weight::Bf16(w.to_dtype(DType::BF16)?),
        };
        Ok(Self {
            weight,
            bias: self.bias,
        })
    }

    /// The precision the layer multiplies in.
    pub fn precision(&self) -> Precision {
        match self.weight {
            Weight::Plain(_) | Weight::Transposed(_) => Precision::F32,
            Weight::Packed(_) | Weight::Bf16(_) => Precision::Bf16,
        }
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        match &self.weight {
            Weight::Plain(w) | Weight::Transposed(w) | Weight::Bf16(w) => w.device(),
            Weight::Packed(_) => &Device::Cpu,
        }
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
        let (w, transposed) = match &self.weight {
            Weight::Packed(packed) => return packed_forward(packed, x),
            Weight::Transposed(w) => (w.clone(), true),
            Weight::Plain(w) | Weight::Bf16(w) => (w.t()?, false),
        };
        // A GPU's bf16 layer: the same products on bf16 inputs, back to f32 before the bias.
        let bf16 = matches!(self.weight, Weight::Bf16(_));
        let x = &match bf16 {
            true => x.to_dtype(DType::BF16)?,
            false => x.clone(),
        };
        let dims = x.dims();
        let y = match dims {
            // Contiguous rows of any shape as one (rows, in) matrix: one matmul.
            [.., k] if dims.len() >= 2 && x.is_contiguous() => {
                let mut out = dims.to_vec();
                *out.last_mut().expect("rank >= 2") = w.dim(1)?;
                let rows = x.reshape((x.elem_count() / k, *k))?;
                let fresh = transposed && !x.track_op() && x.dtype() == DType::F32;
                let y = if fresh {
                    rows.apply_op2_no_bwd(&w, &MatMulFresh)?
                } else {
                    rows.matmul(&w)?
                };
                y.reshape(out)?
            }
            _ => x.broadcast_matmul(&w)?,
        };
        match bf16 {
            true => self.add_bias(y.to_dtype(DType::F32)?),
            false => self.add_bias(y),
        }
    }
}

impl Dense {
    fn add_bias(&self, y: Tensor) -> Result<Tensor> {
        match &self.bias {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// A packed bf16 layer on `x` (.., in): all rows as one product, the bias added in the kernel.
fn packed_forward(packed: &(PackedBf16, Option<Vec<f32>>), x: &Tensor) -> Result<Tensor> {
    let (w, bias) = packed;
    if x.track_op() {
        candle_core::bail!("bf16 layers are for inference: their input carries gradients");
    }
    let dims = x.dims();
    let Some((&k, lead)) = dims.split_last() else {
        candle_core::bail!("dense bf16: a scalar input");
    };
    if k != w.k() {
        return Err(Error::UnexpectedShape {
            msg: "dense bf16: input features".into(),
            expected: Shape::from(w.k()),
            got: Shape::from(k),
        });
    }
    let rows = x
        .to_dtype(DType::F32)?
        .contiguous()?
        .reshape((x.elem_count() / k.max(1), k))?;
    let y = rows.apply_op1_no_bwd(&PackedMatMul {
        w,
        bias: bias.as_deref(),
    })?;
    let mut out = lead.to_vec();
    out.push(w.n());
    y.reshape(out)
}

/// `x · B + bias` for f32 CPU rows `x` (m, k) by the bf16 GEMM.
struct PackedMatMul<'a> {
    w: &'a PackedBf16,
    bias: Option<&'a [f32]>,
}

impl CustomOp1 for PackedMatMul<'_> {
    fn name(&self) -> &'static str {
        "dense-bf16"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = crate::storage::f32_slice(s, l, "dense bf16")?;
        let (m, _) = l.shape().dims2()?;
        let y = self.w.matmul(x, m, self.bias);
        Ok((CpuStorage::F32(y), Shape::from((m, self.w.n()))))
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
        crate::storage::huge_pages(&mut out);
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
        assert!(matches!(fixed.weight, Weight::Transposed(_)));
        let var = Var::from_tensor(&w).unwrap();
        let trained = Dense::new(var.as_tensor().clone(), Some(b)).unwrap();
        assert!(matches!(trained.weight, Weight::Plain(_)));
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
    fn bf16_layers_match_f32_within_bf16_rounding_and_refuse_training() {
        let dev = Device::Cpu;
        let w = Tensor::randn(0f32, 1.0, (40, 70), &dev).unwrap();
        let b = Tensor::randn(0f32, 1.0, 40, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 5, 70), &dev).unwrap();
        let f32_layer = Dense::new(w.clone(), Some(b.clone())).unwrap();
        let want = f32_layer.forward(&x).unwrap();
        let bf16 = f32_layer.with_precision(Precision::Bf16).unwrap();
        assert_eq!(bf16.precision(), Precision::Bf16);
        // A strided input is made contiguous first.
        for (input, want) in [
            (&x, want.clone()),
            (&x.transpose(0, 1).unwrap(), want.transpose(0, 1).unwrap()),
        ] {
            let got = bf16.forward(input).unwrap();
            assert_eq!(got.dims(), want.dims());
            // |x|·|w| sums over 70 terms of unit normals: about 45; bf16 rounding of both
            // factors moves a product by at most 2^-7 of it.
            let diff = aum_testdata::max_abs_diff(&got, &want).unwrap();
            assert!(
                diff > 0.0 && diff < 45.0 * 2f32.powi(-7),
                "max abs diff {diff}"
            );
        }
        let back = bf16.clone().with_precision(Precision::F32).unwrap_err();
        assert!(back.to_string().contains("cannot return to f32"), "{back}");
        let wrong = bf16.forward(&Tensor::zeros((3, 69), DType::F32, &dev).unwrap());
        assert!(wrong.unwrap_err().to_string().contains("input features"));

        let var = Var::from_tensor(&w).unwrap();
        let trained = Dense::new(var.as_tensor().clone(), None).unwrap();
        let err = trained
            .with_precision(Precision::Bf16)
            .unwrap_err()
            .to_string();
        assert!(err.contains("being trained"), "{err}");
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
