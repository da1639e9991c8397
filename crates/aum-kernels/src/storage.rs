//! The f32 data a contiguous CPU layout covers, for the custom ops' CPU paths, and how their
//! large outputs are backed.

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

/// Asks Linux to back a large fresh buffer with transparent huge pages (when THP is in
/// `madvise` mode): blocks above glibc's mmap threshold (32 MiB at most) are mapped fresh on
/// every allocation, and faulting them in 4 KiB pages cost as much as the product itself
/// (AST-Base's MLP at 4098 tokens writes 50 MB per call).
pub(crate) fn huge_pages(buf: &mut Vec<f32>) {
    #[cfg(target_os = "linux")]
    {
        const LARGE: usize = 32 << 20;
        let bytes = buf.capacity() * 4;
        if bytes < LARGE {
            return;
        }
        let start = (buf.as_mut_ptr() as usize).next_multiple_of(4096);
        let end = (buf.as_mut_ptr() as usize + bytes) / 4096 * 4096;
        // SAFETY: the range lies inside the buffer's own allocation; MADV_HUGEPAGE only
        // changes how its pages are backed, never their contents.
        unsafe {
            libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE);
        }
    }
}
