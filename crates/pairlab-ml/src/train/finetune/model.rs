//! A fine-tuned network as a trainer's model: save, load, predict.

use super::*;

/// A fine-tuned network: backbone, head and preprocessing.
pub struct Finetuned {
    /// The backbone's tensors by checkpoint name (running statistics included).
    pub(super) tensors: Vec<(String, Tensor)>,
    pub(super) net: Net,
    pub(super) head: Linear,
    pub(super) arch: Arch,
    pub(super) pre: Preprocess,
    pub(super) multi_label: bool,
    pub(super) classes: usize,
    pub(super) device: Device,
}

impl Finetuned {
    /// A checkpoint written by [`Model::save`] (a timm-layout folder).
    pub fn load(dir: &Path, device: &Device) -> Result<Self> {
        let (weights, info, arch) = backbone::read(dir, device)?;
        let prefix = format!("{}.", arch.classifier_prefix());
        let tensors = weights
            .iter()
            .filter(|(k, _)| !k.starts_with(&prefix))
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        let net = Net::load(VarBuilder::from_tensors(weights, DType::F32, device), &arch).map_err(
            |e| {
                MlError::bad(
                    dir,
                    format!("the weights do not fit a {}: {e}", arch.name()),
                )
            },
        )?;
        let cfg: serde_json::Value = std::fs::read_to_string(dir.join("config.json"))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        let multi_label = cfg["pairlab"]["multi_label"].as_bool().unwrap_or(false);
        let head = net
            .classifier()
            .cloned()
            .ok_or_else(|| MlError::bad(dir, "the checkpoint has no classifier"))?;
        let classes = arch.classes().unwrap_or(0);
        Ok(Finetuned {
            tensors,
            net,
            head,
            arch,
            pre: info.preprocess,
            multi_label,
            classes,
            device: device.clone(),
        })
    }
}

impl Model for Finetuned {
    fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| MlError::io(dir, e))?;
        let mut tensors = std::collections::HashMap::new();
        let mut put = |name: String, t: &Tensor| -> Result<()> {
            tensors.insert(name, t.to_device(&Device::Cpu)?.contiguous()?);
            Ok(())
        };
        for (name, t) in &self.tensors {
            put(name.clone(), t)?;
        }
        let prefix = self.arch.classifier_prefix();
        put(format!("{prefix}.weight"), self.head.weight())?;
        if let Some(b) = self.head.bias() {
            put(format!("{prefix}.bias"), b)?;
        }
        candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
        let p = &self.pre;
        let mut config = serde_json::json!({
            "architecture": self.arch.name(),
            "num_classes": self.classes,
            "num_features": self.arch.features(),
            "pretrained_cfg": {
                "input_size": [p.channels, p.size, p.size],
                "interpolation": p.interpolation,
                "crop_pct": p.crop_pct,
                "mean": p.mean,
                "std": p.std,
                "xrv_scaling": p.xrv,
            },
            "pairlab": { "trainer": "finetune", "multi_label": self.multi_label },
        });
        // What a ViT's weights do not say (its norms and activation are in its name).
        if let Arch::Vit(c) = &self.arch {
            config["model_args"] = serde_json::json!({ "num_heads": c.heads });
        }
        let text = serde_json::to_string_pretty(&config)
            .map_err(|e| MlError::Unsupported(e.to_string()))?;
        let path = dir.join("config.json");
        std::fs::write(&path, text).map_err(|e| MlError::io(path, e))
    }

    fn predict(&self, x: &[f32]) -> Result<Vec<f32>> {
        let s = self.pre.size as usize;
        let dim = self.pre.channels * s * s;
        let n = x.len() / dim.max(1);
        let mut out = Vec::with_capacity(n * self.classes);
        for rows in x.chunks(16 * dim) {
            let k = rows.len() / dim;
            let mut v = vec![0f32; rows.len()];
            self.pre.normalise(rows, &mut v);
            let t = Tensor::from_vec(v, (k, self.pre.channels, s, s), &self.device)?;
            let z = self.head.forward(&self.net.features(&t)?)?;
            let p = if self.multi_label {
                candle_nn::ops::sigmoid(&z)?
            } else {
                candle_nn::ops::softmax_last_dim(&z)?
            };
            out.extend(p.flatten_all()?.to_vec1::<f32>()?);
        }
        Ok(out)
    }
}
