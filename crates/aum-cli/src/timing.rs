//! The one way the CLI times things (the benchmarks, `aum scan`): a warm-up call, then timed calls that each end with
//! the device synchronised (a no-op on the CPU), reported as the median or the best run.

use std::time::Instant;

use anyhow::Result;
use candle_core::Device;

/// Wall times of repeated runs, seconds.
pub struct Runs(pub Vec<f64>);

impl Runs {
    /// The median run.
    pub fn median(&self) -> f64 {
        let mut t = self.0.clone();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    }

    /// The fastest run.
    pub fn best(&self) -> f64 {
        self.0.iter().copied().fold(f64::INFINITY, f64::min)
    }
}

/// One timed call of `f` on `dev`: its result and its seconds, synchronisation included.
pub fn once<T>(dev: &Device, f: impl FnOnce() -> Result<T>) -> Result<(T, f64)> {
    let start = Instant::now();
    let out = f()?;
    dev.synchronize()?;
    Ok((out, start.elapsed().as_secs_f64()))
}

/// `iters` (at least one) timed calls of `f` after one untimed warm-up.
pub fn runs<T>(dev: &Device, iters: usize, mut f: impl FnMut() -> Result<T>) -> Result<Runs> {
    once(dev, &mut f)?;
    let mut t = Vec::with_capacity(iters.max(1));
    for _ in 0..iters.max(1) {
        t.push(once(dev, &mut f)?.1);
    }
    Ok(Runs(t))
}

/// Timed calls of `f` and `g`, alternated after one warm-up each: on a shared host the load
/// changes over seconds, and alternating lets both see the same.
pub fn alternating(
    dev: &Device,
    iters: usize,
    mut f: impl FnMut() -> Result<()>,
    mut g: impl FnMut() -> Result<()>,
) -> Result<(Runs, Runs)> {
    once(dev, &mut f)?;
    once(dev, &mut g)?;
    let (mut tf, mut tg) = (Vec::new(), Vec::new());
    for _ in 0..iters.max(1) {
        tf.push(once(dev, &mut f)?.1);
        tg.push(once(dev, &mut g)?.1);
    }
    Ok((Runs(tf), Runs(tg)))
}
