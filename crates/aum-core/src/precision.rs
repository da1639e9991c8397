//! The number format a model's matrix products run in.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// The precision of a model's linear layers and attention products.
///
/// `F32` (the default) is bit-faithful to the official PyTorch models. `Bf16` holds the
/// weights in bfloat16 (half the memory) and multiplies in bf16 with f32 sums — AMX tiles or
/// AVX512-BF16 on CPUs that have them, tensor cores on CUDA — while norms, residuals, softmax
/// and the selective scan's state stay f32, as PyTorch's bf16 autocast and mamba_ssm keep them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub enum Precision {
    /// 32-bit floats throughout.
    #[default]
    F32,
    /// bfloat16 matrix products with f32 accumulation.
    Bf16,
}

impl Precision {
    /// `f32` or `bf16`, as the CLI takes and prints it.
    pub fn name(self) -> &'static str {
        match self {
            Precision::F32 => "f32",
            Precision::Bf16 => "bf16",
        }
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl FromStr for Precision {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s {
            "f32" => Ok(Precision::F32),
            "bf16" => Ok(Precision::Bf16),
            other => Err(Error::InvalidInput(format!(
                "precision `{other}`: expected f32 or bf16"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for p in [Precision::F32, Precision::Bf16] {
            assert_eq!(p.name().parse::<Precision>().unwrap(), p);
        }
        assert_eq!(Precision::default(), Precision::F32);
        let err = "fp16".parse::<Precision>().unwrap_err().to_string();
        assert!(err.contains("fp16") && err.contains("bf16"), "{err}");
    }
}
