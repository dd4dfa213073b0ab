//! DenseNet (Huang et al. 2017) as torchvision, timm and torchxrayvision build it, with
//! their weight names (`features.conv0`, `features.denseblockB.denselayerL.{norm1,conv1,
//! norm2,conv2}`, `features.transitionB.{norm,conv}`, `features.norm5`, `classifier`).
//! Growth rate, block sizes, initial width, bottleneck size and input channels are read
//! off the weights: DenseNet-121 is (32, [6, 12, 24, 16], 64, 4); torchxrayvision's takes
//! one grey channel.
//!
//! Five stages for fine-tuning: the stem, then each dense block with the transition after
//! it (the last with `norm5`).

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::batchnorm::BatchNorm;

use crate::conv2d::{Conv2d, conv2d};

use crate::checkpoint::Weights;
use crate::resnet::{bn, max_pool_3s2};

/// The shape of a DenseNet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub growth: usize,
    pub blocks: Vec<usize>,
    pub init_features: usize,
    pub bn_size: usize,
    pub in_channels: usize,
    /// Outputs of `classifier`, when the weights have it.
    pub classes: Option<usize>,
}

impl Config {
    pub fn densenet121() -> Self {
        Config {
            growth: 32,
            blocks: vec![6, 12, 24, 16],
            init_features: 64,
            bn_size: 4,
            in_channels: 3,
            classes: Some(1000),
        }
    }

    pub fn name(&self) -> String {
        let standard = self.growth == 32 && self.init_features == 64 && self.bn_size == 4;
        match (standard, self.blocks.as_slice()) {
            (true, [6, 12, 24, 16]) => "densenet121".into(),
            (true, [6, 12, 32, 32]) => "densenet169".into(),
            (true, [6, 12, 48, 32]) => "densenet201".into(),
            _ => format!(
                "densenet(growth {}, blocks {:?}, width {})",
                self.growth, self.blocks, self.init_features
            ),
        }
    }

    /// Channels after each block and its transition; the last is the pooled features' length.
    pub fn features(&self) -> usize {
        let mut c = self.init_features;
        for (i, n) in self.blocks.iter().enumerate() {
            c += n * self.growth;
            if i + 1 < self.blocks.len() {
                c /= 2;
            }
        }
        c
    }

    /// The shape the weights describe, if they are a DenseNet's (`features.conv0`,
    /// `features.denseblock1`).
    pub fn from_weights(w: &Weights) -> Option<Config> {
        let stem = w.get("features.conv0.weight")?.dims().to_vec();
        let first = w
            .get("features.denseblock1.denselayer1.conv2.weight")?
            .dims()
            .to_vec();
        let bottleneck = w
            .get("features.denseblock1.denselayer1.conv1.weight")?
            .dims()
            .to_vec();
        if stem.len() != 4 || first.len() != 4 || bottleneck.len() != 4 || first[0] == 0 {
            return None;
        }
        let mut blocks = Vec::new();
        loop {
            let b = blocks.len() + 1;
            let mut n = 0;
            while {
                let p = format!("features.denseblock{b}.denselayer{}.", n + 1);
                w.keys().any(|k| k.starts_with(&p))
            } {
                n += 1;
            }
            if n == 0 {
                break;
            }
            blocks.push(n);
        }
        Some(Config {
            growth: first[0],
            blocks,
            init_features: stem[0],
            bn_size: bottleneck[0] / first[0],
            in_channels: stem[1],
            classes: w
                .get("classifier.weight")
                .and_then(|t| t.dims().first().copied()),
        })
    }
}

/// 2×2 average pooling, stride 2. PyTorch's drops an odd last row and column; cropping
/// them first gives the same values and a gradient that goes to the right places (candle's
/// pooling gradient is a nearest upsampling, shifted on odd sizes).
fn avg_pool2(y: &Tensor) -> Result<Tensor> {
    let (_, _, h, w) = y.dims4()?;
    y.narrow(2, 0, h / 2 * 2)?
        .narrow(3, 0, w / 2 * 2)?
        .avg_pool2d(2)
}

struct Layer {
    norm1: BatchNorm,
    conv1: Conv2d,
    norm2: BatchNorm,
    conv2: Conv2d,
}

impl Layer {
    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let y = self
            .conv1
            .forward(&self.norm1.forward_t(x, train)?.relu()?)?;
        self.conv2
            .forward(&self.norm2.forward_t(&y, train)?.relu()?)
    }
}

struct Stage {
    layers: Vec<Layer>,
    /// The transition after the block (norm, conv, 2×2 average pool), or `norm5`.
    transition: Option<(BatchNorm, Conv2d)>,
    norm5: Option<BatchNorm>,
}

/// A DenseNet with its weights.
pub struct DenseNet {
    stem: (Conv2d, BatchNorm),
    stages: Vec<Stage>,
    classifier: Option<candle_nn::Linear>,
    cfg: Config,
}

impl DenseNet {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let f = vb.pp("features");
        let stem = (
            conv2d(&f, cfg.in_channels, cfg.init_features, 7, 2, 3, "conv0")?,
            bn(&f, cfg.init_features, "norm0")?,
        );
        let mut c = cfg.init_features;
        let mut stages = Vec::with_capacity(cfg.blocks.len());
        for (i, &n) in cfg.blocks.iter().enumerate() {
            let bv = f.pp(format!("denseblock{}", i + 1));
            let mut layers = Vec::with_capacity(n);
            for l in 0..n {
                let lv = bv.pp(format!("denselayer{}", l + 1));
                let cin = c + l * cfg.growth;
                let mid = cfg.bn_size * cfg.growth;
                layers.push(Layer {
                    norm1: bn(&lv, cin, "norm1")?,
                    conv1: conv2d(&lv, cin, mid, 1, 1, 0, "conv1")?,
                    norm2: bn(&lv, mid, "norm2")?,
                    conv2: conv2d(&lv, mid, cfg.growth, 3, 1, 1, "conv2")?,
                });
            }
            c += n * cfg.growth;
            let last = i + 1 == cfg.blocks.len();
            let (transition, norm5) = if last {
                (None, Some(bn(&f, c, "norm5")?))
            } else {
                let tv = f.pp(format!("transition{}", i + 1));
                let t = (bn(&tv, c, "norm")?, conv2d(&tv, c, c / 2, 1, 1, 0, "conv")?);
                c /= 2;
                (Some(t), None)
            };
            stages.push(Stage {
                layers,
                transition,
                norm5,
            });
        }
        let classifier = match cfg.classes {
            Some(n) => Some(candle_nn::linear(c, n, vb.pp("classifier"))?),
            None => None,
        };
        Ok(DenseNet {
            stem,
            stages,
            classifier,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Stages: the stem, then one per dense block.
    pub fn stages(&self) -> usize {
        1 + self.stages.len()
    }

    /// Runs stage `k` (0 = the stem) on `x`.
    pub fn stage(&self, k: usize, x: &Tensor, train: bool) -> Result<Tensor> {
        if k == 0 {
            let (c, n) = &self.stem;
            return max_pool_3s2(&n.forward_t(&c.forward(x)?, train)?.relu()?);
        }
        let s = &self.stages[k - 1];
        let mut feats = x.clone();
        for l in &s.layers {
            let new = l.forward(&feats, train)?;
            feats = Tensor::cat(&[&feats, &new], 1)?;
        }
        if let Some((n, c)) = &s.transition {
            let y = c.forward(&n.forward_t(&feats, train)?.relu()?)?;
            return avg_pool2(&y);
        }
        match &s.norm5 {
            Some(n) => n.forward_t(&feats, train),
            None => Ok(feats),
        }
    }

    /// ReLU, then global average pooling: `[n, features]`.
    pub fn pool(&self, x: &Tensor) -> Result<Tensor> {
        x.relu()?.mean((2, 3))
    }

    pub fn classifier(&self) -> Option<&candle_nn::Linear> {
        self.classifier.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    /// On an odd size each kept input gets a quarter of its window's gradient and the
    /// dropped last row and column get none.
    #[test]
    fn pooling_gradients_go_to_their_windows_on_odd_sizes() -> Result<()> {
        let x =
            Var::from_tensor(&Tensor::arange(0f32, 25.0, &Device::Cpu)?.reshape((1, 1, 5, 5))?)?;
        let y = avg_pool2(x.as_tensor())?;
        assert_eq!(y.dims(), [1, 1, 2, 2]);
        assert_eq!(y.flatten_all()?.to_vec1::<f32>()?, [3.0, 5.0, 13.0, 15.0]);
        let w = Tensor::new(&[[[[1f32, 2.0], [3.0, 4.0]]]], &Device::Cpu)?;
        let g = (y * w)?.sum_all()?.backward()?;
        let g = g
            .get(x.as_tensor())
            .expect("grad")
            .reshape((5, 5))?
            .to_vec2::<f32>()?;
        for (r, row) in g.iter().enumerate() {
            for (c, v) in row.iter().enumerate() {
                let want = if r < 4 && c < 4 {
                    [1.0, 2.0, 3.0, 4.0][(r / 2) * 2 + c / 2] / 4.0
                } else {
                    0.0
                };
                assert_eq!(*v, want, "({r}, {c})");
            }
        }
        Ok(())
    }
}
