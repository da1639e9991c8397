//! Peak-memory readings for the benchmarks (Linux /proc), and the allocator setting of the CLI.

use anyhow::{Context, Result};

/// Resets the peak resident set size, so the next [`peak_rss_mib`] covers only what follows.
/// Returns false where the kernel does not allow it (the peak is then process-wide).
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Peak resident set size, MiB.
pub fn peak_rss_mib() -> Result<f64> {
    Ok(status_kib("VmHWM")? as f64 / 1024.0)
}

/// A field of /proc/self/status, in KiB.
fn status_kib(field: &str) -> Result<u64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))
}

/// Current resident set size, MiB.
pub fn rss_mib() -> Result<f64> {
    Ok(status_kib("VmRSS")? as f64 / 1024.0)
}

/// Makes glibc's allocator keep freed memory for reuse instead of returning it to the kernel.
///
/// A forward pass frees and allocates activations of a few MiB per op, hundreds of times. With
/// glibc's defaults each such block is mapped fresh (or the heap trimmed and regrown), and every
/// 4 KiB page of it faults and is zeroed on first touch (docs/benchmarks.md). Blocks under
/// 32 MiB come from the heap, which is never trimmed, so a pass reuses the previous one's
/// pages. The process's memory stays at its high-water mark, which is what
/// the peak-RSS readings report anyway. Other allocators and platforms are left alone.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator tunables; it runs first in main, before any other
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}

/// Returns the freed memory the allocator holds to the kernel (glibc's `malloc_trim`), so that
/// a following peak-RSS reading counts what a forward pass itself touches, not a pool that
/// earlier frees left behind (loading frees each weight's original after copying it: see
/// `aum_kernels::Dense`). Elsewhere a no-op.
pub fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages of the heap to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}
