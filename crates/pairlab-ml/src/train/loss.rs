//! Losses: masked binary cross-entropy (blank and, under U-Ignore, uncertain labels give no
//! loss) and cross-entropy over the labelled samples.

use candle_core::{D, Result, Tensor};

use super::Uncertain;

/// Targets and mask for masked BCE from label values (1, 0, −1, NaN).
pub fn bce_targets(values: &[f32], policy: Uncertain) -> (Vec<f32>, Vec<f32>) {
    values
        .iter()
        .map(|&v| {
            if v.is_nan() {
                (0.0, 0.0)
            } else if v < 0.0 {
                match policy {
                    Uncertain::Ignore => (0.0, 0.0),
                    Uncertain::Zeros => (0.0, 1.0),
                    Uncertain::Ones => (1.0, 1.0),
                }
            } else {
                (if v > 0.5 { 1.0 } else { 0.0 }, 1.0)
            }
        })
        .unzip()
}

/// Mean binary cross-entropy with logits over the entries where `mask` is 1 (0 when none),
/// in the numerically stable form max(z, 0) − z·y + log(1 + e^−|z|).
pub fn masked_bce(logits: &Tensor, targets: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let per =
        ((logits.relu()? - (logits * targets)?)? + (logits.abs()?.neg()?.exp()? + 1.0)?.log()?)?;
    let total = (per * mask)?.sum_all()?;
    let count = mask.sum_all()?.clamp(1.0, f64::INFINITY)?;
    total.div(&count)
}

/// Mean cross-entropy of `[n, c]` logits against `[n]` u32 class indices.
pub fn cross_entropy(logits: &Tensor, classes: &Tensor) -> Result<Tensor> {
    let logp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    candle_nn::loss::nll(&logp, classes)
}

/// [`cross_entropy`] on plain values, with its gradient: the mean loss of `[n, classes]`
/// logits `z` against class indices `y`, and d loss / d z.
pub fn cross_entropy_grad(z: &[f32], classes: usize, y: &[u32]) -> (f64, Vec<f32>) {
    let n = y.len().max(1) as f64;
    let mut grad = vec![0f32; z.len()];
    let mut total = 0f64;
    for ((row, g), &t) in z.chunks(classes).zip(grad.chunks_mut(classes)).zip(y) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f64 = row.iter().map(|&v| f64::from(v - max).exp()).sum();
        let lse = f64::from(max) + sum.ln();
        for (k, (gk, &v)) in g.iter_mut().zip(row).enumerate() {
            let target = k == t as usize;
            if target {
                total += lse - f64::from(v);
            }
            *gk = (((f64::from(v) - lse).exp() - f64::from(u8::from(target))) / n) as f32;
        }
    }
    (total / n, grad)
}

/// [`masked_bce`] on plain values, with its gradient: the loss of logits `z` against
/// `targets` where `mask` is 1, and d loss / d z.
pub fn masked_bce_grad(z: &[f32], targets: &[f32], mask: &[f32]) -> (f64, Vec<f32>) {
    let count = mask.iter().map(|&m| f64::from(m)).sum::<f64>().max(1.0);
    let mut total = 0f64;
    let grad = z
        .iter()
        .zip(targets)
        .zip(mask)
        .map(|((&z, &t), &m)| {
            let (z, t, m) = (f64::from(z), f64::from(t), f64::from(m));
            total += m * (z.max(0.0) - z * t + (-z.abs()).exp().ln_1p());
            (m * (1.0 / (1.0 + (-z).exp()) - t) / count) as f32
        })
        .collect();
    (total / count, grad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn policies_map_uncertain_labels() {
        let v = [1.0, 0.0, -1.0, f32::NAN];
        assert_eq!(
            bce_targets(&v, Uncertain::Ignore),
            (vec![1.0, 0.0, 0.0, 0.0], vec![1.0, 1.0, 0.0, 0.0])
        );
        assert_eq!(
            bce_targets(&v, Uncertain::Zeros),
            (vec![1.0, 0.0, 0.0, 0.0], vec![1.0, 1.0, 1.0, 0.0])
        );
        assert_eq!(
            bce_targets(&v, Uncertain::Ones),
            (vec![1.0, 0.0, 1.0, 0.0], vec![1.0, 1.0, 1.0, 0.0])
        );
    }

    #[test]
    fn masked_bce_matches_hand_values_and_policies_change_the_loss() -> Result<()> {
        let d = Device::Cpu;
        // logits 2, −1, 0.5 for labels 1, 0, uncertain.
        let logits = Tensor::new(&[2f32, -1.0, 0.5], &d)?;
        let l = |p: Uncertain| -> Result<f32> {
            let (t, m) = bce_targets(&[1.0, 0.0, -1.0], p);
            masked_bce(&logits, &Tensor::new(t, &d)?, &Tensor::new(m, &d)?)?.to_scalar::<f32>()
        };
        let sp = |x: f64| (1.0 + x.exp()).ln(); // softplus
        // BCE(z, 1) = softplus(−z); BCE(z, 0) = softplus(z)
        let ignore = (sp(-2.0) + sp(-1.0)) / 2.0;
        let zeros = (sp(-2.0) + sp(-1.0) + sp(0.5)) / 3.0;
        let ones = (sp(-2.0) + sp(-1.0) + sp(-0.5)) / 3.0;
        assert!((f64::from(l(Uncertain::Ignore)?) - ignore).abs() < 1e-6);
        assert!((f64::from(l(Uncertain::Zeros)?) - zeros).abs() < 1e-6);
        assert!((f64::from(l(Uncertain::Ones)?) - ones).abs() < 1e-6);
        assert!(
            l(Uncertain::Zeros)? > l(Uncertain::Ones)?,
            "a positive logit favours U-Ones"
        );
        // Nothing labelled: zero loss, not NaN.
        let z = masked_bce(
            &logits,
            &Tensor::zeros(3, candle_core::DType::F32, &d)?,
            &Tensor::zeros(3, candle_core::DType::F32, &d)?,
        )?;
        assert_eq!(z.to_scalar::<f32>()?, 0.0);
        Ok(())
    }

    #[test]
    fn cross_entropy_matches_hand_value() -> Result<()> {
        let d = Device::Cpu;
        let logits = Tensor::new(&[[1f32, 2.0, 3.0], [0.0, 0.0, 0.0]], &d)?;
        let y = Tensor::new(&[2u32, 0], &d)?;
        let got = cross_entropy(&logits, &y)?.to_scalar::<f32>()?;
        let lse = (1f64.exp() + 2f64.exp() + 3f64.exp()).ln();
        let want = ((lse - 3.0) + 3f64.ln()) / 2.0;
        assert!((f64::from(got) - want).abs() < 1e-6);
        Ok(())
    }
}
