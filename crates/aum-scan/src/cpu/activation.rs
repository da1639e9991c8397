//! The gate's `sigmoid`, vectorised over a slice with the scan's fast `exp`, for the other
//! elementwise work around the scan (the model's fused conv + SiLU), where libm's scalar `expf`
//! would cost more than the arithmetic around it.

use super::Isa;
use crate::fastmath::{self, Madd, Plain};

/// `out[i] = sigmoid(x[i])` (about 2e-7 relative); `out` and `x` have the same length.
pub(crate) fn sigmoid_into(x: &[f32], out: &mut [f32]) {
    assert_eq!(x.len(), out.len(), "sigmoid_into: lengths differ");
    match Isa::detect() {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::detect` found AVX-512F, AVX2 and FMA on this CPU.
        Isa::Avx512 => unsafe { sigmoid_avx512(x, out) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU.
        Isa::Avx2Fma => unsafe { sigmoid_avx2(x, out) },
        Isa::Portable => sigmoid_loop::<Plain>(x, out),
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
fn sigmoid_avx512(x: &[f32], out: &mut [f32]) {
    sigmoid_loop::<fastmath::Fused>(x, out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn sigmoid_avx2(x: &[f32], out: &mut [f32]) {
    sigmoid_loop::<fastmath::Fused>(x, out)
}

#[inline(always)]
fn sigmoid_loop<M: Madd>(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = fastmath::sigmoid::<M>(v);
    }
}
