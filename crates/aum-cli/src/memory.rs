//! Peak-memory readings for the benchmarks (Linux /proc).

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
