//! ResNet (He et al. 2015) as torchvision and timm build it, with their weight names
//! (`conv1`, `bn1`, `layer1.0.conv1`, …, `layerK.0.downsample.{0,1}`, `fc`): basic blocks
//! for ResNet-18/34, bottlenecks with the stride on the 3×3 convolution (v1.5) for
//! ResNet-50/101/152. The depth is read off the weights, so any block counts load.
//!
//! The network is five stages (the stem, then `layer1`‥`layer4`) so that fine-tuning can
//! train the last N of them; batch norm runs on batch statistics in training and on its
//! running statistics otherwise.

use candle_core::{Module, Result, Tensor};
use candle_nn::VarBuilder;

use crate::batchnorm::BatchNorm;

use crate::conv2d::{Conv2d, conv2d};

use crate::checkpoint::Weights;

/// The shape of a ResNet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Blocks in `layer1`‥`layer4`.
    pub blocks: [usize; 4],
    /// Bottleneck blocks (1×1, 3×3, 1×1 with 4× expansion) rather than basic ones.
    pub bottleneck: bool,
    pub in_channels: usize,
    /// Outputs of `fc`, when the weights have it.
    pub classes: Option<usize>,
}

impl Config {
    pub fn resnet18() -> Self {
        Self::new([2, 2, 2, 2], false)
    }

    pub fn resnet34() -> Self {
        Self::new([3, 4, 6, 3], false)
    }

    pub fn resnet50() -> Self {
        Self::new([3, 4, 6, 3], true)
    }

    fn new(blocks: [usize; 4], bottleneck: bool) -> Self {
        Config {
            blocks,
            bottleneck,
            in_channels: 3,
            classes: Some(1000),
        }
    }

    /// The usual name (`resnet50`), or a description of unusual block counts.
    pub fn name(&self) -> String {
        let named = [
            ([2, 2, 2, 2], false, "resnet18"),
            ([3, 4, 6, 3], false, "resnet34"),
            ([3, 4, 6, 3], true, "resnet50"),
            ([3, 4, 23, 3], true, "resnet101"),
            ([3, 8, 36, 3], true, "resnet152"),
        ];
        named
            .iter()
            .find(|(b, bt, _)| *b == self.blocks && *bt == self.bottleneck)
            .map(|(_, _, n)| (*n).to_string())
            .unwrap_or_else(|| {
                format!(
                    "resnet{:?}{}",
                    self.blocks,
                    if self.bottleneck { "-bottleneck" } else { "" }
                )
            })
    }

    /// Length of the pooled features.
    pub fn features(&self) -> usize {
        if self.bottleneck { 2048 } else { 512 }
    }

    /// The shape the weights describe, if they are a ResNet's (`conv1` and `layer1.0`).
    pub fn from_weights(w: &Weights) -> Option<Config> {
        let stem = w.get("conv1.weight")?.dims().to_vec();
        if stem.len() != 4 || !w.contains_key("layer1.0.conv1.weight") {
            return None;
        }
        // A block is there when any of its weights is (a missing one is named later).
        let mut blocks = [0usize; 4];
        for (k, b) in blocks.iter_mut().enumerate() {
            while {
                let p = format!("layer{}.{}.", k + 1, *b);
                w.keys().any(|n| n.starts_with(&p))
            } {
                *b += 1;
            }
        }
        Some(Config {
            blocks,
            bottleneck: w.contains_key("layer1.0.conv3.weight"),
            in_channels: stem[1],
            classes: w.get("fc.weight").and_then(|t| t.dims().first().copied()),
        })
    }
}

fn conv(
    vb: &VarBuilder,
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    name: &str,
) -> Result<Conv2d> {
    conv2d(vb, cin, cout, k, stride, k / 2, name)
}

pub(crate) fn bn(vb: &VarBuilder, c: usize, name: &str) -> Result<BatchNorm> {
    crate::batchnorm::batch_norm(vb, c, name)
}

/// Max pooling 3×3, stride 2, padding 1, on values that are ≥ 0 (after a ReLU), where
/// zero padding gives the same maxima as PyTorch's −∞ padding. Written as the maximum of
/// nine strided views so that it has a gradient (candle's own pooling has none for
/// overlapping windows) on every device.
pub(crate) fn max_pool_3s2(x: &Tensor) -> Result<Tensor> {
    let (n, c, h, w) = x.dims4()?;
    let (ho, wo) = ((h - 1) / 2 + 1, (w - 1) / 2 + 1);
    let (hp, wp) = (2 * ho + 2, 2 * wo + 2);
    let xp = x
        .pad_with_zeros(2, 1, hp - h - 1)?
        .pad_with_zeros(3, 1, wp - w - 1)?;
    let mut out: Option<Tensor> = None;
    for dy in 0..3 {
        // Rows dy, dy + 2, …: pairs of rows, the first of each pair.
        let rows = xp
            .narrow(2, dy, 2 * ho)?
            .reshape((n, c, ho, 2, wp))?
            .narrow(3, 0, 1)?
            .squeeze(3)?;
        for dx in 0..3 {
            let v = rows
                .narrow(3, dx, 2 * wo)?
                .reshape((n, c, ho, wo, 2))?
                .narrow(4, 0, 1)?
                .squeeze(4)?;
            out = Some(match out {
                None => v,
                Some(m) => m.maximum(&v)?,
            });
        }
    }
    out.ok_or_else(|| candle_core::Error::Msg("empty pooling window".into()))
}

struct Block {
    convs: Vec<(Conv2d, BatchNorm)>,
    downsample: Option<(Conv2d, BatchNorm)>,
}

impl Block {
    fn load(
        vb: &VarBuilder,
        cin: usize,
        width: usize,
        stride: usize,
        bottleneck: bool,
    ) -> Result<(Block, usize)> {
        let (convs, cout) = if bottleneck {
            let out = width * 4;
            (
                vec![
                    (conv(vb, cin, width, 1, 1, "conv1")?, bn(vb, width, "bn1")?),
                    (
                        conv(vb, width, width, 3, stride, "conv2")?,
                        bn(vb, width, "bn2")?,
                    ),
                    (conv(vb, width, out, 1, 1, "conv3")?, bn(vb, out, "bn3")?),
                ],
                out,
            )
        } else {
            (
                vec![
                    (
                        conv(vb, cin, width, 3, stride, "conv1")?,
                        bn(vb, width, "bn1")?,
                    ),
                    (
                        conv(vb, width, width, 3, 1, "conv2")?,
                        bn(vb, width, "bn2")?,
                    ),
                ],
                width,
            )
        };
        let downsample = if stride != 1 || cin != cout {
            let d = vb.pp("downsample");
            Some((conv(&d, cin, cout, 1, stride, "0")?, bn(&d, cout, "1")?))
        } else {
            None
        };
        Ok((Block { convs, downsample }, cout))
    }

    fn forward(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut y = x.clone();
        let last = self.convs.len() - 1;
        for (i, (c, n)) in self.convs.iter().enumerate() {
            y = n.forward_t(&c.forward(&y)?, train)?;
            if i < last {
                y = y.relu()?;
            }
        }
        let skip = match &self.downsample {
            Some((c, n)) => n.forward_t(&c.forward(x)?, train)?,
            None => x.clone(),
        };
        (y + skip)?.relu()
    }
}

/// A ResNet with its weights.
pub struct ResNet {
    stem: (Conv2d, BatchNorm),
    layers: Vec<Vec<Block>>,
    fc: Option<candle_nn::Linear>,
    cfg: Config,
}

impl ResNet {
    pub fn load(vb: VarBuilder, cfg: &Config) -> Result<Self> {
        let stem = (
            conv(&vb, cfg.in_channels, 64, 7, 2, "conv1")?,
            bn(&vb, 64, "bn1")?,
        );
        let mut cin = 64;
        let mut layers = Vec::with_capacity(4);
        for (k, &n) in cfg.blocks.iter().enumerate() {
            let width = 64 << k;
            let lv = vb.pp(format!("layer{}", k + 1));
            let mut blocks = Vec::with_capacity(n);
            for i in 0..n {
                let stride = if i == 0 && k > 0 { 2 } else { 1 };
                let (b, cout) =
                    Block::load(&lv.pp(i.to_string()), cin, width, stride, cfg.bottleneck)?;
                cin = cout;
                blocks.push(b);
            }
            layers.push(blocks);
        }
        let fc = match cfg.classes {
            Some(n) => Some(candle_nn::linear(cin, n, vb.pp("fc"))?),
            None => None,
        };
        Ok(ResNet {
            stem,
            layers,
            fc,
            cfg: cfg.clone(),
        })
    }

    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Stages: the stem, then `layer1`‥`layer4`.
    pub const STAGES: usize = 5;

    /// Runs stage `k` (0 = the stem) on `x`.
    pub fn stage(&self, k: usize, x: &Tensor, train: bool) -> Result<Tensor> {
        if k == 0 {
            let (c, n) = &self.stem;
            return max_pool_3s2(&n.forward_t(&c.forward(x)?, train)?.relu()?);
        }
        let mut x = x.clone();
        for b in &self.layers[k - 1] {
            x = b.forward(&x, train)?;
        }
        Ok(x)
    }

    /// Global average pooling of the last stage's output: `[n, features]`.
    pub fn pool(&self, x: &Tensor) -> Result<Tensor> {
        x.mean((2, 3))
    }

    /// The classifier's logits, when the weights have one.
    pub fn classifier(&self) -> Option<&candle_nn::Linear> {
        self.fc.as_ref()
    }
}
