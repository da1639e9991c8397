//! Tensor files as the workspace reads and writes them: PyTorch `torch.save` zips and
//! safetensors in, safetensors with our metadata out, and every write atomic (temporary
//! sibling, then rename) so that a crash never leaves a half-written checkpoint or output.

mod atomic;
mod legacy;
mod tensors;

pub use atomic::write_atomic;
pub use tensors::{
    check_layout, family, meta, read_safetensors_bytes, read_tensors, save_safetensors,
};
