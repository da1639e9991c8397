//! The f32 data a contiguous CPU layout covers, for the custom ops' CPU paths.

use candle_core::{CpuStorage, Layout, Result};

/// The floats of `storage` that the contiguous `layout` covers; `op` names the op in errors.
pub(crate) fn f32_slice<'a>(
    storage: &'a CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a [f32]> {
    let (start, end) = offsets(layout, op)?;
    match storage {
        CpuStorage::F32(data) => Ok(&data[start..end]),
        _ => candle_core::bail!("{op}: input must be f32"),
    }
}

/// [`f32_slice`], writable.
pub(crate) fn f32_slice_mut<'a>(
    storage: &'a mut CpuStorage,
    layout: &Layout,
    op: &str,
) -> Result<&'a mut [f32]> {
    let (start, end) = offsets(layout, op)?;
    match storage {
        CpuStorage::F32(data) => Ok(&mut data[start..end]),
        _ => candle_core::bail!("{op}: input must be f32"),
    }
}

fn offsets(layout: &Layout, op: &str) -> Result<(usize, usize)> {
    layout
        .contiguous_offsets()
        .ok_or_else(|| candle_core::Error::Msg(format!("{op}: input not contiguous")))
}
