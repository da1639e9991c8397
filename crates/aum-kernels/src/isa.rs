//! The one CPU dispatcher of the workspace: every hand-vectorised kernel (fastmath, conv+SiLU,
//! the selective scan, the bf16 GEMM) asks [`Isa::detect`] which instruction set to run, so
//! that one environment variable, `AUM_ISA`, caps all of them for testing and timing the slower
//! paths.

use std::sync::OnceLock;

/// The instruction sets the kernels are compiled for, best first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// Whatever the compilation target allows (SSE2 on default x86-64), without FMA.
    Portable,
    /// 256-bit vectors with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// 512-bit vectors (AVX-512F and DQ) with FMA.
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// [`Isa::Avx512`] and AVX512-BF16's bf16 pair dot products (`VDPBF16PS`).
    #[cfg(target_arch = "x86_64")]
    Avx512Bf16,
    /// [`Isa::Avx512Bf16`] and AMX-BF16's tile matrix products (`TDPBF16PS`), with the tile
    /// data permission granted by Linux.
    #[cfg(target_arch = "x86_64")]
    Amx,
}

/// The environment variable that caps [`Isa::detect`]: `amx`, `avx512bf16`, `avx512`, `avx2` or
/// `portable`.
pub const ISA_ENV: &str = "AUM_ISA";

impl Isa {
    /// The best instruction set this CPU has, capped by [`ISA_ENV`] (read once per process).
    /// A value other than the five names is reported on stderr and ignored.
    pub fn detect() -> Self {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            if std::env::var_os("AUM_SCAN_ISA").is_some() {
                eprintln!("warning: AUM_SCAN_ISA is ignored; {ISA_ENV} caps every CPU kernel now");
            }
            let best = Self::best_available();
            let cap = std::env::var(ISA_ENV).unwrap_or_default();
            if cap.is_empty() {
                return best;
            }
            match Self::parse(&cap) {
                Some(c) => c.min(best),
                None => {
                    eprintln!(
                        "warning: {ISA_ENV}={cap} ignored (expected amx, avx512bf16, avx512, avx2 or portable)"
                    );
                    best
                }
            }
        })
    }

    /// The instruction set named `amx`, `avx512bf16`, `avx512`, `avx2` or `portable`. On other
    /// architectures than x86-64 every name is [`Isa::Portable`], the only one there.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            #[cfg(target_arch = "x86_64")]
            "amx" => Some(Isa::Amx),
            #[cfg(target_arch = "x86_64")]
            "avx512bf16" => Some(Isa::Avx512Bf16),
            #[cfg(target_arch = "x86_64")]
            "avx512" => Some(Isa::Avx512),
            #[cfg(target_arch = "x86_64")]
            "avx2" => Some(Isa::Avx2Fma),
            #[cfg(not(target_arch = "x86_64"))]
            "amx" | "avx512bf16" | "avx512" | "avx2" => Some(Isa::Portable),
            "portable" => Some(Isa::Portable),
            _ => None,
        }
    }

    /// What the CPU supports, ignoring the cap.
    fn best_available() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let fma = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
            let avx512 =
                is_x86_feature_detected!("avx512f") && is_x86_feature_detected!("avx512dq");
            if fma && avx512 {
                if !is_x86_feature_detected!("avx512bf16") {
                    return Isa::Avx512;
                }
                return match crate::bf16::amx::available() {
                    true => Isa::Amx,
                    false => Isa::Avx512Bf16,
                };
            }
            if fma {
                return Isa::Avx2Fma;
            }
        }
        Isa::Portable
    }

    /// A short name for reports: `amx-bf16`, `avx512-bf16`, `avx512f+fma`, `avx2+fma` or
    /// `portable`.
    pub fn name(self) -> &'static str {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Amx => "amx-bf16",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512Bf16 => "avx512-bf16",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => "avx512f+fma",
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2Fma => "avx2+fma",
            Isa::Portable => "portable",
        }
    }
}

/// Calls `body(args)`, a generic `body::<M: Madd>` that must be `#[inline(always)]`, compiled
/// for the instruction set [`Isa::detect`] picks, so LLVM vectorises it with the widest
/// registers allowed. Only code inlined into the wrappers gets their instruction set, and
/// `Fused`'s `mul_add` outside them is a slow library call, hence `Plain` on the portable path.
macro_rules! dispatch {
    ($body:ident($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx512f,avx512dq,avx2,fma")]
            unsafe fn avx512<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            #[target_feature(enable = "avx2,fma")]
            unsafe fn avx2<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            match crate::Isa::detect() {
                // SAFETY: `Isa::detect` found AVX-512F, AVX-512DQ, AVX2 and FMA on this CPU.
                crate::Isa::Amx | crate::Isa::Avx512Bf16 | crate::Isa::Avx512 => {
                    return unsafe { avx512(|| $body::<crate::fastmath::Fused>($($arg),*)) }
                }
                // SAFETY: `Isa::detect` found AVX2 and FMA on this CPU.
                crate::Isa::Avx2Fma => {
                    return unsafe { avx2(|| $body::<crate::fastmath::Fused>($($arg),*)) }
                }
                crate::Isa::Portable => {}
            }
        }
        $body::<crate::fastmath::Plain>($($arg),*)
    }};
}
pub(crate) use dispatch;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_order() {
        assert_eq!(Isa::parse("portable"), Some(Isa::Portable));
        assert_eq!(Isa::parse("sse"), None);
        #[cfg(target_arch = "x86_64")]
        {
            assert!(Isa::Amx > Isa::Avx512Bf16 && Isa::Avx512Bf16 > Isa::Avx512);
            assert!(Isa::Avx512 > Isa::Avx2Fma && Isa::Avx2Fma > Isa::Portable);
            assert_eq!(Isa::parse("avx512bf16"), Some(Isa::Avx512Bf16));
            assert_eq!(Isa::parse("avx2"), Some(Isa::Avx2Fma));
        }
        assert!(Isa::detect() <= Isa::best_available());
    }
}
