//! Adam and AdamW exactly as PyTorch defines them (`torch.optim.Adam` with L2 weight decay
//! added to the gradient, `AdamW` with decoupled decay), with their state as named tensors so a
//! checkpoint can carry it and a resumed run continues bit for bit; and global-norm gradient
//! clipping (`clip_grad_norm_`).

use std::collections::HashMap;

use candle_core::{backprop::GradStore, Result, Tensor, Var};
use serde::{Deserialize, Serialize};

/// How weight decay enters the update.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// `torch.optim.Adam`: `g += wd * p` before the moments (the official recipes).
    Adam,
    /// `torch.optim.AdamW`: `p *= 1 - lr * wd` before the update.
    AdamW,
}

/// Adam(W) hyper-parameters, as PyTorch names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdamConfig {
    /// Adam (L2 decay) or AdamW (decoupled decay).
    pub kind: OptimizerKind,
    /// Decay rate of the first moment.
    pub beta1: f64,
    /// Decay rate of the second moment.
    pub beta2: f64,
    /// Added to the bias-corrected `sqrt(v)` in the denominator.
    pub eps: f64,
    /// Weight-decay factor (0 disables it).
    pub weight_decay: f64,
}

/// Adam(W) over named variables. Variables are kept in name order.
pub struct Adam {
    /// Kind and hyper-parameters (the learning rate is passed to each step).
    pub config: AdamConfig,
    params: Vec<(String, Var)>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    /// Updates done so far (PyTorch's per-parameter `step`; equal for all parameters here).
    pub steps: u64,
}

impl Adam {
    /// An optimiser over `params` with zero moments and no steps taken.
    pub fn new(mut params: Vec<(String, Var)>, config: AdamConfig) -> Result<Self> {
        params.sort_by(|a, b| a.0.cmp(&b.0));
        let zeros = |p: &Var| p.as_tensor().zeros_like();
        let m = params
            .iter()
            .map(|(_, p)| zeros(p))
            .collect::<Result<_>>()?;
        let v = params
            .iter()
            .map(|(_, p)| zeros(p))
            .collect::<Result<_>>()?;
        Ok(Self {
            config,
            params,
            m,
            v,
            steps: 0,
        })
    }

    /// The optimised variables with their names, sorted by name.
    pub fn params(&self) -> &[(String, Var)] {
        &self.params
    }

    /// One update at learning rate `lr`. A parameter without a gradient is left alone (its
    /// moments too), as in PyTorch.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.steps += 1;
        let c = &self.config;
        let t = self.steps as i32;
        let bias1 = 1.0 - c.beta1.powi(t);
        let bias2_sqrt = (1.0 - c.beta2.powi(t)).sqrt();
        for (i, (_, p)) in self.params.iter().enumerate() {
            let Some(g) = grads.get(p.as_tensor()) else {
                continue;
            };
            let mut theta = p.as_tensor().detach();
            let g = match c.kind {
                OptimizerKind::Adam if c.weight_decay != 0.0 => (g + (&theta * c.weight_decay)?)?,
                _ => g.clone(),
            };
            if c.kind == OptimizerKind::AdamW && c.weight_decay != 0.0 {
                theta = (theta * (1.0 - lr * c.weight_decay))?;
            }
            let m = ((&self.m[i] * c.beta1)? + (&g * (1.0 - c.beta1))?)?;
            let v = ((&self.v[i] * c.beta2)? + (g.sqr()? * (1.0 - c.beta2))?)?;
            let denom = ((v.sqrt()? / bias2_sqrt)? + c.eps)?;
            let update = ((&m / denom)? * (lr / bias1))?;
            p.set(&(theta - update)?)?;
            self.m[i] = m;
            self.v[i] = v;
        }
        Ok(())
    }

    /// The moments by name (`m.NAME`, `v.NAME`), for checkpoints.
    pub fn state(&self) -> HashMap<String, Tensor> {
        let mut s = HashMap::new();
        for (i, (name, _)) in self.params.iter().enumerate() {
            s.insert(format!("m.{name}"), self.m[i].clone());
            s.insert(format!("v.{name}"), self.v[i].clone());
        }
        s
    }

    /// Restores moments saved by [`Adam::state`] and the step count.
    pub fn load_state(&mut self, state: &HashMap<String, Tensor>, steps: u64) -> Result<()> {
        for (i, (name, p)) in self.params.iter().enumerate() {
            for (key, slot) in [
                (format!("m.{name}"), &mut self.m[i]),
                (format!("v.{name}"), &mut self.v[i]),
            ] {
                let t = state.get(&key).ok_or_else(|| {
                    candle_core::Error::Msg(format!("optimizer state has no `{key}`"))
                })?;
                if t.dims() != p.dims() {
                    candle_core::bail!(
                        "optimizer state `{key}` has shape {:?}, the parameter {:?}",
                        t.dims(),
                        p.dims()
                    );
                }
                *slot = t.to_device(p.device())?;
            }
        }
        self.steps = steps;
        Ok(())
    }
}

/// Scales all gradients so their global L2 norm is at most `max_norm` (`clip_grad_norm_`:
/// factor `max_norm / (norm + 1e-6)` when above). Returns the norm before clipping.
pub fn clip_grad_norm(
    grads: &mut GradStore,
    params: &[(String, Var)],
    max_norm: f64,
) -> Result<f64> {
    let mut total = 0f64;
    for (_, p) in params {
        if let Some(g) = grads.get(p.as_tensor()) {
            total += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
    }
    let norm = total.sqrt();
    let scale = max_norm / (norm + 1e-6);
    if scale < 1.0 {
        for (_, p) in params {
            if let Some(g) = grads.get(p.as_tensor()) {
                let scaled = (g * scale)?;
                grads.insert(p.as_tensor(), scaled);
            }
        }
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn one_param(x: f32) -> (Var, Vec<(String, Var)>) {
        let v = Var::new(&[x], &Device::Cpu).unwrap();
        (v.clone(), vec![("w".into(), v)])
    }

    fn value(v: &Var) -> f32 {
        v.as_tensor().to_vec1::<f32>().unwrap()[0]
    }

    #[test]
    fn adam_steps_by_hand() {
        // loss = w^2 / 2 -> grad = w. Step 1 of Adam moves by lr * sign(g) (m̂ = g, v̂ = g²).
        let cfg = AdamConfig {
            kind: OptimizerKind::Adam,
            beta1: 0.9,
            beta2: 0.999,
            eps: 0.0,
            weight_decay: 0.0,
        };
        let (w, params) = one_param(2.0);
        let mut opt = Adam::new(params, cfg.clone()).unwrap();
        let grads = (w.as_tensor().sqr().unwrap() * 0.5)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        opt.step(&grads, 0.1).unwrap();
        assert!((value(&w) - 1.9).abs() < 1e-6);
        // Step 2: g = 1.9; m = .9*.2 + .1*1.9 = .37 -> m̂ = .37/.19; v = .999*.004 + .001*3.61
        // = .007606 -> v̂ = .007606/.001999.
        let grads = (w.as_tensor().sqr().unwrap() * 0.5)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        opt.step(&grads, 0.1).unwrap();
        let want = 1.9 - 0.1 * (0.37 / 0.19) / (0.007606f64 / 0.001999).sqrt();
        assert!(
            (value(&w) as f64 - want).abs() < 1e-6,
            "{} {want}",
            value(&w)
        );

        // With loss = w (g = 1) and weight decay 0.5 at w = 2: Adam's L2 term enters the
        // gradient (g = 1 + 1 = 2), and step 1 is still lr * sign(g): 2 - 0.1 = 1.9.
        let (w, params) = one_param(2.0);
        let mut opt = Adam::new(
            params,
            AdamConfig {
                weight_decay: 0.5,
                ..cfg.clone()
            },
        )
        .unwrap();
        let grads = w.as_tensor().sum_all().unwrap().backward().unwrap();
        opt.step(&grads, 0.1).unwrap();
        assert!((value(&w) - 1.9).abs() < 1e-6, "{}", value(&w));
        // AdamW decays the weight itself, 2 (1 - 0.1 * 0.5) = 1.9, then steps by lr: 1.8.
        let (w, params) = one_param(2.0);
        let mut opt = Adam::new(
            params,
            AdamConfig {
                kind: OptimizerKind::AdamW,
                weight_decay: 0.5,
                ..cfg
            },
        )
        .unwrap();
        let grads = w.as_tensor().sum_all().unwrap().backward().unwrap();
        opt.step(&grads, 0.1).unwrap();
        assert!((value(&w) - 1.8).abs() < 1e-6, "{}", value(&w));
    }

    #[test]
    fn clipping_by_hand() {
        let a = Var::new(&[3.0f32], &Device::Cpu).unwrap();
        let b = Var::new(&[4.0f32], &Device::Cpu).unwrap();
        let params = vec![("a".into(), a.clone()), ("b".into(), b.clone())];
        // loss = (a^2 + b^2) / 2: grads 3 and 4, norm 5.
        let loss =
            ((a.as_tensor().sqr().unwrap() + b.as_tensor().sqr().unwrap()).unwrap() * 0.5).unwrap();
        let mut grads = loss.sum_all().unwrap().backward().unwrap();
        let norm = clip_grad_norm(&mut grads, &params, 1.0).unwrap();
        assert!((norm - 5.0).abs() < 1e-6);
        let ga = grads.get(a.as_tensor()).unwrap().to_vec1::<f32>().unwrap()[0];
        assert!((ga as f64 - 3.0 / (5.0 + 1e-6)).abs() < 1e-6);
    }
}
