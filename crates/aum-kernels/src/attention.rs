//! Multi-head scaled dot-product attention for inference on the CPU, fused: each task takes
//! one head's block of query rows through `q · kᵀ`, the softmax and `· v` on its own thread,
//! reading the heads straight out of the (batch, tokens, width) projections and writing its
//! block of the (batch, tokens, width) result. Nothing is split, transposed or concatenated, and
//! each product runs whole on one core: per-product thread hand-offs would cost more than a
//! head's products take (0.07 ms in bf16 at 514 tokens).

use aum_core::Precision;
use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use crate::bf16::Out;
use crate::PackedBf16;

/// Most score floats one task holds. In bf16, 512 KiB: a block's scores, probabilities and
/// their bf16 copy stay in the L2 cache between the two products and the softmax (blocks of
/// 4 MiB at 4098 tokens made the pass memory-bound: 3.1 s against 2.8 s for AST-Base's forward).
/// In f32, 4 MiB: the `gemm` crate packs kᵀ and v again for every call, which small blocks
/// would repeat (8.3 s against 5.9 s).
fn score_floats(precision: Precision) -> usize {
    match precision {
        Precision::F32 => 1 << 20,
        Precision::Bf16 => 1 << 17,
    }
}
/// Tasks per thread at least, so that heads split into row blocks when they are few.
const TASKS_PER_THREAD: usize = 4;

/// `softmax(q_h · k_hᵀ / sqrt(dh)) · v_h` for each of `heads` heads `h` (columns
/// `h·dh .. (h+1)·dh` of the width), for `q`, `k` and `v` (batch, tokens, width) f32 on the
/// CPU, without gradients. In f32 the products are the `gemm` crate's (as candle's matmul); in
/// bf16 both operands of each product are rounded to bf16 and summed in f32 by the bf16 GEMM.
/// The softmax is f32 in both.
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    heads: usize,
    precision: Precision,
) -> Result<Tensor> {
    let (q, k, v) = (q.contiguous()?, k.contiguous()?, v.contiguous()?);
    q.apply_op3_no_bwd(&k, &v, &Attention { heads, precision })
}

struct Attention {
    heads: usize,
    precision: Precision,
}

/// One task: batch item, head, and its block of query rows.
struct Task {
    batch: usize,
    head: usize,
    rows: std::ops::Range<usize>,
}

impl CustomOp3 for Attention {
    fn name(&self) -> &'static str {
        "attention"
    }

    fn cpu_fwd(
        &self,
        sq: &CpuStorage,
        lq: &Layout,
        sk: &CpuStorage,
        lk: &Layout,
        sv: &CpuStorage,
        lv: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let q = crate::storage::f32_slice(sq, lq, "attention")?;
        let k = crate::storage::f32_slice(sk, lk, "attention")?;
        let v = crate::storage::f32_slice(sv, lv, "attention")?;
        let (b, l, d) = lq.shape().dims3()?;
        if lk.shape() != lq.shape() || lv.shape() != lq.shape() {
            candle_core::bail!(
                "attention: q {:?}, k {:?} and v {:?} must have one shape",
                lq.shape(),
                lk.shape(),
                lv.shape()
            );
        }
        if self.heads == 0 || !d.is_multiple_of(self.heads) {
            candle_core::bail!(
                "attention: width {d} is not a multiple of {} heads",
                self.heads
            );
        }
        let dh = d / self.heads;
        let mut out: Vec<f32> = Vec::with_capacity(b * l * d);
        // Rows are (batch item, token) pairs, columns the width.
        let dst = Out::new(out.as_mut_ptr(), b * l, d);
        // Blocks of whole 32-row tiles where possible, as even as the count allows.
        let per_head = (TASKS_PER_THREAD * rayon::current_num_threads()).div_ceil(b * self.heads);
        let most = (score_floats(self.precision) / l.max(1) / 32 * 32).max(32);
        let blocks = l.div_ceil(most).max(per_head).min(l.max(1));
        let rows = l.div_ceil(blocks).next_multiple_of(32).min(l).max(1);
        let tasks: Vec<Task> = (0..b)
            .flat_map(|batch| (0..self.heads).map(move |head| (batch, head)))
            .flat_map(|(batch, head)| {
                (0..l).step_by(rows).map(move |r0| Task {
                    batch,
                    head,
                    rows: r0..(r0 + rows).min(l),
                })
            })
            .collect();
        let scale = 1.0 / (dh as f32).sqrt();
        let geometry = Geometry { l, d, dh, scale };
        // bf16: each (batch item, head)'s kᵀ and v packed once, shared by its row blocks.
        let packed: Vec<(PackedBf16, PackedBf16)> = match self.precision {
            Precision::F32 => Vec::new(),
            Precision::Bf16 => (0..b * self.heads)
                .into_par_iter()
                .map(|bh| {
                    let base = (bh / self.heads) * l * d + (bh % self.heads) * dh;
                    (
                        PackedBf16::from_rows_of_transpose_strided(&k[base..], (l, dh, d), false),
                        PackedBf16::from_rows_strided(&v[base..], (l, dh, d), false),
                    )
                })
                .collect(),
        };
        tasks.par_iter().for_each(|t| {
            // Offset of the task's batch item and head in q, k, v and out.
            let base = t.batch * l * d + t.head * dh;
            let at = base + t.rows.start * d;
            let (k, v) = (&k[base..], &v[base..]);
            // SAFETY: rows `t.rows` of batch item `t.batch`, columns of head `t.head`, lie in
            // the b·l·d output, and no other task writes them.
            let dst = dst.at(t.batch * l + t.rows.start, t.head * dh);
            match self.precision {
                Precision::F32 => f32_block(&geometry, &q[at..], k, v, t.rows.len(), dst),
                Precision::Bf16 => {
                    let (kt, vp) = &packed[t.batch * self.heads + t.head];
                    bf16_block(&geometry, &q[at..], (kt, vp), t.rows.len(), dst)
                }
            }
        });
        // SAFETY: the tasks cover every (batch, row, head) once and write all dh columns.
        unsafe { out.set_len(b * l * d) };
        Ok((CpuStorage::F32(out), Shape::from((b, l, d))))
    }
}

/// Tokens, width, head width and score scale.
struct Geometry {
    l: usize,
    d: usize,
    dh: usize,
    scale: f32,
}

/// `n` query rows from `q` (row stride d) against all of `k` and `v` (row stride d), into
/// `dst` (row stride d), by the `gemm` crate on this thread.
fn f32_block(g: &Geometry, q: &[f32], k: &[f32], v: &[f32], n: usize, dst: *mut f32) {
    let (l, d, dh) = (g.l, g.d, g.dh);
    let mut scores: Vec<f32> = Vec::with_capacity(n * l);
    let (d, l_) = (d as isize, l as isize);
    // SAFETY: q has n rows of d floats (the head's dh first), k and v l rows; `scores` has
    // room for n x l; with `read_dst` false gemm writes every destination element before any
    // read, and the second product writes the n x dh block of `dst` (row stride d).
    unsafe {
        // scores = scale · q · kᵀ, kᵀ read in place (element (c, j) at j·d + c).
        gemm::gemm(
            n,
            l,
            dh,
            scores.as_mut_ptr(),
            1,
            l_,
            false,
            q.as_ptr(),
            1,
            d,
            k.as_ptr(),
            d,
            1,
            0.0,
            g.scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
        scores.set_len(n * l);
        crate::fastmath::softmax_rows(&mut scores, l);
        gemm::gemm(
            n,
            dh,
            l,
            dst,
            1,
            d,
            false,
            scores.as_ptr(),
            1,
            l_,
            v.as_ptr(),
            1,
            d,
            0.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// [`f32_block`] on the bf16 GEMM, with the head's packed kᵀ and v: q and the probabilities
/// are rounded on the way in.
fn bf16_block(
    g: &Geometry,
    q: &[f32],
    (kt, vp): (&PackedBf16, &PackedBf16),
    n: usize,
    dst: *mut f32,
) {
    let (l, d, dh) = (g.l, g.d, g.dh);
    let mut scores = kt.matmul_serial(q, n, d);
    for s in scores.iter_mut() {
        *s *= g.scale;
    }
    crate::fastmath::softmax_rows(&mut scores, l);
    let o = vp.matmul_serial(&scores, n, l);
    for (i, row) in o.chunks_exact(dh).enumerate() {
        // SAFETY: row i of the task's block, dh floats from the head's first column.
        unsafe { std::ptr::copy_nonoverlapping(row.as_ptr(), dst.add(i * d), dh) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, D};

    /// The attention of candle ops, per head.
    fn reference(q: &Tensor, k: &Tensor, v: &Tensor, heads: usize) -> Tensor {
        let (b, l, d) = q.dims3().unwrap();
        let dh = d / heads;
        let split = |t: &Tensor| {
            t.reshape((b, l, heads, dh))
                .unwrap()
                .transpose(1, 2)
                .unwrap()
                .contiguous()
                .unwrap()
        };
        let (q, k, v) = (split(q), split(k), split(v));
        let s = (q.matmul(&k.t().unwrap()).unwrap() / (dh as f64).sqrt()).unwrap();
        let p = candle_nn::ops::softmax(&s, D::Minus1).unwrap();
        p.matmul(&v)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .reshape((b, l, d))
            .unwrap()
    }

    #[test]
    fn fused_attention_matches_candle_ops_in_both_precisions() {
        let dev = Device::Cpu;
        for (b, l, d, heads) in [(2, 37, 48, 3), (1, 130, 128, 2), (1, 5, 64, 1)] {
            let rnd = || Tensor::randn(0f32, 1.0, (b, l, d), &dev).unwrap();
            let (q, k, v) = (rnd(), rnd(), rnd());
            let want = reference(&q, &k, &v, heads);
            let f32_out = attention(&q, &k, &v, heads, Precision::F32).unwrap();
            let diff = aum_testdata::max_abs_diff(&f32_out, &want).unwrap();
            assert!(
                diff < 1e-5,
                "f32 ({b}, {l}, {d}, {heads}): max abs diff {diff}"
            );
            // Outputs are averages of unit normals; bf16 rounding of scores' factors (sums of
            // up to 64 products) and of the probabilities moves them by a few hundredths.
            let bf16_out = attention(&q, &k, &v, heads, Precision::Bf16).unwrap();
            let diff = aum_testdata::max_abs_diff(&bf16_out, &want).unwrap();
            assert!(
                diff > 0.0 && diff < 0.1,
                "bf16 ({b}, {l}, {d}, {heads}): max abs diff {diff}"
            );
        }
        let q = Tensor::zeros((1, 4, 6), candle_core::DType::F32, &dev).unwrap();
        let err = attention(&q, &q, &q, 4, Precision::F32)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a multiple of 4 heads"), "{err}");
    }
}
