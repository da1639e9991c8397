//! Learning-rate schedules of the recipes: upstream's stepwise warm-up over the first
//! iterations and `MultiStepLR` with milestones `start, start + step, ...` stepped per epoch.

use serde::{Deserialize, Serialize};

/// Linear stepwise warm-up, then a constant lr decayed at epoch milestones.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    /// Peak learning rate, after warm-up and before decay.
    pub lr: f64,
    /// Iterations of warm-up (0: none). Upstream: 1000.
    pub warmup_steps: usize,
    /// The warm-up lr is updated every this many iterations (upstream: 50), to
    /// `lr * (step rounded down) / warmup_steps`, so it starts at 0.
    pub warmup_every: usize,
    /// First epoch whose lr is multiplied by `decay`, and the spacing of later milestones.
    pub decay_start: usize,
    /// Epochs between milestones (0: no decay).
    pub decay_every: usize,
    /// Factor the lr is multiplied by at each milestone.
    pub decay: f64,
}

impl Schedule {
    /// The lr of iteration `step` (global, from 0) in `epoch` (from 0).
    pub fn lr(&self, epoch: usize, step: usize) -> f64 {
        let milestones = if epoch >= self.decay_start && self.decay_every > 0 {
            (epoch - self.decay_start) / self.decay_every + 1
        } else {
            0
        };
        let warm = if step < self.warmup_steps {
            let every = self.warmup_every.max(1);
            (step - step % every) as f64 / self.warmup_steps as f64
        } else {
            1.0
        };
        self.lr * warm * self.decay.powi(milestones as i32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_and_multistep_by_hand() {
        // Speech Commands-like: start 5, step 1, decay 0.85; AS-20K-like warm-up.
        let s = Schedule {
            lr: 1e-3,
            warmup_steps: 1000,
            warmup_every: 50,
            decay_start: 5,
            decay_every: 2,
            decay: 0.5,
        };
        assert_eq!(s.lr(0, 0), 0.0);
        assert_eq!(s.lr(0, 49), 0.0);
        assert!((s.lr(0, 50) - 0.05e-3).abs() < 1e-15);
        assert!((s.lr(0, 999) - 0.95e-3).abs() < 1e-15);
        assert_eq!(s.lr(4, 5000), 1e-3);
        assert_eq!(s.lr(5, 5000), 0.5e-3);
        assert_eq!(s.lr(6, 5000), 0.5e-3);
        assert_eq!(s.lr(7, 5000), 0.25e-3);
    }
}
