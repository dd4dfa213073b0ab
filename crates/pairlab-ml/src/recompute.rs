//! Gradient checkpointing: a stage of a network whose activations are not kept for the
//! backward pass but computed again there. The forward pass keeps only the stage's input
//! and output; the backward pass runs the stage once more with a graph, takes the
//! gradient of its input (handed on down the network) and of its own weights (kept in a
//! [`WeightGrads`], added to the step's gradients after `backward`). Memory then holds one
//! stage's graph at a time instead of every stage's, for one more forward pass of each.
//!
//! The stage must compute the same thing twice (no dropout drawn anew). CPU f32 only.

use std::sync::{Arc, Mutex};

use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor, Var};

/// A stage: its input to its output, with the stage's weights as variables.
pub type Stage = Arc<dyn Fn(&Tensor) -> Result<Tensor> + Send + Sync>;

/// The weights' gradients that recomputed stages found during one `backward`.
#[derive(Clone, Default)]
pub struct WeightGrads {
    found: Arc<Mutex<Vec<(Tensor, Tensor)>>>,
    delivered: Arc<std::sync::atomic::AtomicUsize>,
}

impl WeightGrads {
    /// Adds what the recomputed stages found into the step's gradients (and forgets it).
    pub fn add_into(&self, grads: &mut GradStore) -> Result<()> {
        let found = std::mem::take(&mut *self.found.lock().map_err(poisoned)?);
        self.delivered
            .fetch_add(found.len(), std::sync::atomic::Ordering::Relaxed);
        for (w, g) in found {
            let sum = match grads.remove(&w) {
                Some(have) => (have + g)?,
                None => g,
            };
            grads.insert(&w, sum);
        }
        Ok(())
    }

    /// How many weight gradients recomputed stages have delivered so far.
    pub fn delivered(&self) -> usize {
        self.delivered.load(std::sync::atomic::Ordering::Relaxed)
    }
}

fn poisoned<T>(_: std::sync::PoisonError<T>) -> candle_core::Error {
    candle_core::Error::Msg("a recomputed stage's gradients were left half-written".into())
}

struct Recompute {
    /// The stage's output, computed before the op is applied (handed over once).
    out: Mutex<Option<Tensor>>,
    stage: Stage,
    weights: Vec<Var>,
    found: WeightGrads,
}

impl CustomOp1 for Recompute {
    fn name(&self) -> &'static str {
        "recompute"
    }

    fn cpu_fwd(&self, _: &CpuStorage, _: &Layout) -> Result<(CpuStorage, Shape)> {
        let out = self
            .out
            .lock()
            .map_err(poisoned)?
            .take()
            .ok_or_else(|| candle_core::Error::Msg("a recomputed stage ran twice".into()))?;
        let shape = out.shape().clone();
        Ok((CpuStorage::F32(out.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> Result<Option<Tensor>> {
        let x = Var::from_tensor(&arg.detach())?;
        let y = (self.stage)(x.as_tensor())?;
        let grads = (y * grad_res.detach())?.sum_all()?.backward()?;
        let mut found = self.found.found.lock().map_err(poisoned)?;
        for w in &self.weights {
            if let Some(g) = grads.get(w.as_tensor()) {
                found.push((w.as_tensor().clone(), g.clone()));
            }
        }
        Ok(grads.get(x.as_tensor()).cloned())
    }
}

/// Runs `stage` on `x` keeping no activations for the backward pass, which recomputes
/// them; `weights` are the stage's trained variables, whose gradients go to `found`. `x`
/// must carry a gradient (the output of a trained stage below): otherwise the backward
/// pass never reaches this one, so such a stage runs plainly.
pub fn run(x: &Tensor, stage: Stage, weights: Vec<Var>, found: &WeightGrads) -> Result<Tensor> {
    if !x.device().is_cpu() || x.dtype() != DType::F32 {
        return stage(x);
    }
    let out = stage(&x.detach())?.detach();
    x.apply_op1(Recompute {
        out: Mutex::new(Some(out)),
        stage,
        weights,
        found: found.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Module};
    use candle_nn::{VarBuilder, VarMap};

    /// Two stages, the second recomputed: the same loss and the same gradient for every
    /// weight and for the input as without recomputing.
    #[test]
    fn gradients_equal_the_plain_graphs() -> Result<()> {
        let dev = Device::Cpu;
        let vars = VarMap::new();
        let vb = VarBuilder::from_varmap(&vars, DType::F32, &dev);
        let a = candle_nn::linear(6, 8, vb.pp("a"))?;
        let b = Arc::new(candle_nn::linear(8, 5, vb.pp("b"))?);
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (4, 6), &dev)?)?;
        let b_weights: Vec<Var> = {
            let data = vars.data().lock().expect("vars");
            let mut named: Vec<(&String, &Var)> =
                data.iter().filter(|(n, _)| n.starts_with("b.")).collect();
            named.sort_by(|p, q| p.0.cmp(q.0));
            named.into_iter().map(|(_, v)| v.clone()).collect()
        };
        let second = {
            let b = b.clone();
            Arc::new(move |h: &Tensor| b.forward(h)?.gelu_erf()?.sqr()) as Stage
        };
        let plain = second(&a.forward(x.as_tensor())?.tanh()?)?.sum_all()?;
        let want = plain.backward()?;
        let found = WeightGrads::default();
        let h = a.forward(x.as_tensor())?.tanh()?;
        let loss = run(&h, second, b_weights, &found)?.sum_all()?;
        let mut got = loss.backward()?;
        found.add_into(&mut got)?;
        assert_eq!(found.delivered(), 2, "b's weight and bias");
        let diff = |p: &Tensor, q: &Tensor| -> Result<f32> {
            (p - q)?.abs()?.max_all()?.to_scalar::<f32>()
        };
        assert!(diff(&loss, &plain)? < 1e-6);
        let every: Vec<Var> = vars.all_vars();
        assert_eq!(every.len(), 4);
        for v in every.iter().chain([&x]) {
            let (w, g) = (want.get(v).expect("plain"), got.get(v).expect("recomputed"));
            assert!(diff(w, g)? < 1e-5, "{:?}", v.shape());
        }
        Ok(())
    }
}
