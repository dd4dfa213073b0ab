//! A model being fine-tuned: its variables, forward pass, steps, epochs and memory plan.

use super::*;

use super::memory::{budget, estimate, gib};
use super::model::Finetuned;

/// What an epoch runs over: the training rows in this epoch's order, the chunk size, the
/// run's configuration and the variables that train.
pub(super) struct Pass<'a> {
    pub(super) data: &'a Data<'a>,
    pub(super) order: &'a [usize],
    pub(super) chunk: usize,
    pub(super) cfg: &'a FinetuneConfig,
    pub(super) vars: &'a [Var],
}

/// A model being fine-tuned: the backbone's and the head's variables.
pub(super) struct Tuner {
    pub(super) net: Net,
    pub(super) net_vars: VarMap,
    pub(super) head: Linear,
    pub(super) head_vars: VarMap,
    pub(super) arch: Arch,
    pub(super) pre: Preprocess,
    /// Stages below this one are frozen.
    pub(super) cut: usize,
    pub(super) multi_label: bool,
    pub(super) classes: usize,
    pub(super) device: Device,
}

impl Tuner {
    pub(super) fn build(
        path: &Path,
        pre: &Preprocess,
        targets: &Targets,
        cfg: &FinetuneConfig,
        device: &Device,
    ) -> Result<Self> {
        let (weights, _, arch) = backbone::read(path, device)?;
        let arch = arch.with_classes(None);
        let net_vars = VarMap::new();
        let net = Net::load(
            VarBuilder::from_varmap(&net_vars, DType::F32, device),
            &arch,
        )?;
        {
            let data = net_vars.data().lock().map_err(lock_err)?;
            let mut missing = Vec::new();
            for (name, var) in data.iter() {
                match weights.get(name) {
                    Some(t) if t.dims() == var.dims() => var.set(t)?,
                    _ => missing.push(name.clone()),
                }
            }
            if !missing.is_empty() {
                missing.sort();
                return Err(MlError::bad(
                    path,
                    format!(
                        "weights missing or of the wrong shape: {}",
                        missing.join(", ")
                    ),
                ));
            }
        }
        let classes = targets.classes();
        let head_vars = VarMap::new();
        let hb = VarBuilder::from_varmap(&head_vars, DType::F32, device);
        let prefix = arch.classifier_prefix();
        let head = candle_nn::linear(arch.features(), classes, hb.pp(prefix))?;
        // A seeded start (candle's own initialisation draws from an unseeded generator).
        let bound = 1.0 / (arch.features() as f64).sqrt();
        let mut rng = SplitMix64(cfg.seed ^ 0xF1_7E_7E);
        let w: Vec<f32> = (0..classes * arch.features())
            .map(|_| (bound * f64::from(rng.unit())) as f32)
            .collect();
        {
            let data = head_vars.data().lock().map_err(lock_err)?;
            for (name, var) in data.iter() {
                if name.ends_with("weight") {
                    var.set(&Tensor::from_vec(
                        w.clone(),
                        (classes, arch.features()),
                        device,
                    )?)?;
                } else {
                    var.set(&var.zeros_like()?)?;
                }
            }
        }
        let stages = net.stages();
        let cut = cfg.unfreeze.cut(stages);
        Ok(Tuner {
            net,
            net_vars,
            head,
            head_vars,
            arch,
            pre: pre.clone(),
            cut,
            multi_label: matches!(targets, Targets::MultiLabel { .. }),
            classes,
            device: device.clone(),
        })
    }

    /// AdamW for the head (at `lr`) and for the backbone's trained variables (at
    /// `lr × backbone_lr_factor`), and every variable that trains.
    pub(super) fn optimizers(&self, cfg: &FinetuneConfig) -> Result<(AdamW, AdamW, Vec<Var>)> {
        let params = |lr| ParamsAdamW {
            lr,
            weight_decay: cfg.weight_decay,
            ..Default::default()
        };
        let head_vars = self.head_vars.all_vars();
        let net_vars = self.trained_vars()?;
        let opt_head = AdamW::new(head_vars.clone(), params(cfg.lr))?;
        let opt_net = AdamW::new(net_vars.clone(), params(cfg.lr * cfg.backbone_lr_factor))?;
        let all = head_vars.into_iter().chain(net_vars).collect();
        Ok((opt_head, opt_net, all))
    }

    /// The backbone variables that train (not batch norm's running statistics).
    pub(super) fn trained_vars(&self) -> Result<Vec<Var>> {
        let data = self.net_vars.data().lock().map_err(lock_err)?;
        let mut named: Vec<(&String, &Var)> = data
            .iter()
            .filter(|(n, _)| !n.contains("running_"))
            .filter(|(n, _)| stage_of(&self.arch, n) >= self.cut)
            .collect();
        named.sort_by(|a, b| a.0.cmp(b.0));
        Ok(named.into_iter().map(|(_, v)| v.clone()).collect())
    }

    /// Raw rows into the network's input tensor.
    pub(super) fn input(&self, raw: &[f32], n: usize) -> Result<Tensor> {
        let s = self.pre.size as usize;
        let mut x = vec![0f32; raw.len()];
        self.pre.normalise(raw, &mut x);
        Ok(Tensor::from_vec(
            x,
            (n, self.pre.channels, s, s),
            &self.device,
        )?)
    }

    /// Logits; the frozen stages run without gradients, the others in training mode when
    /// `train`.
    pub(super) fn logits(&self, x: &Tensor, train: bool) -> Result<Tensor> {
        let mut h = x.clone();
        for k in 0..self.net.stages() {
            let trains = train && k >= self.cut;
            h = self.net.stage(k, &h, trains)?;
            // A stage that is not trained keeps no graph beyond itself.
            if !trains {
                h = h.detach();
            }
        }
        let mut f = self.net.pool(&h)?;
        if self.cut >= self.net.stages() {
            f = f.detach();
        }
        Ok(self.head.forward(&f)?)
    }

    pub(super) fn snapshot(&self) -> Result<Vec<(Var, Tensor)>> {
        crate::train::snapshot(&[&self.net_vars, &self.head_vars])
    }

    pub(super) fn fit(
        self,
        train: Part,
        val: Part,
        dim: usize,
        cfg: &FinetuneConfig,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<Fitted> {
        let tr = Data {
            x: train.x,
            dim,
            targets: train.targets,
            policy: cfg.uncertain,
        };
        let va = Data {
            x: val.x,
            dim,
            targets: val.targets,
            policy: cfg.uncertain,
        };
        let mut order = tr.useful();
        if order.is_empty() {
            return Err(MlError::Unsupported("no labelled training samples".into()));
        }
        let chunk = self.plan(cfg)?;
        let val_rows = va.useful();
        let (mut opt_head, mut opt_net, all) = self.optimizers(cfg)?;
        let mut rng = SplitMix64(cfg.seed ^ 0x5EED);
        let mut stop = EarlyStop::new(cfg.patience);
        let mut snap = self.snapshot()?;
        for epoch in 1..=cfg.epochs.max(1) {
            let started = Instant::now();
            let lr = cosine_lr(cfg.lr, epoch - 1, cfg.epochs);
            opt_head.set_learning_rate(lr);
            opt_net.set_learning_rate(lr * cfg.backbone_lr_factor);
            for i in (1..order.len()).rev() {
                order.swap(i, rng.below(i + 1));
            }
            let aug = SplitMix64(rng.next_u64());
            let pass = Pass {
                data: &tr,
                order: &order,
                chunk,
                cfg,
                vars: &all,
            };
            let train_loss = self.epoch(&pass, [&mut opt_head, &mut opt_net], aug, observe)?;
            let v = if val_rows.is_empty() {
                None
            } else {
                Some(self.evaluate(&va, &val_rows, chunk.max(8))?)
            };
            let verdict = stop.record((epoch, lr, started), train_loss, v, observe)?;
            if verdict.improved {
                snap = self.snapshot()?;
            }
            if verdict.stop {
                break;
            }
        }
        for (v, t) in &snap {
            v.set(t)?;
        }
        Ok(Fitted {
            model: Box::new(self.into_model()?),
            history: stop.history,
            best_epoch: stop.best_epoch,
        })
    }

    /// The fine-tuned network as a model (its variables as they are now).
    pub(super) fn into_model(self) -> Result<Finetuned> {
        let tensors = {
            let data = self.net_vars.data().lock().map_err(lock_err)?;
            data.iter()
                .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
                .collect()
        };
        Ok(Finetuned {
            tensors,
            net: self.net,
            head: self.head,
            arch: self.arch,
            pre: self.pre,
            multi_label: self.multi_label,
            classes: self.classes,
            device: self.device,
        })
    }

    /// One pass over the shuffled training rows; answers the mean batch loss.
    pub(super) fn epoch(
        &self,
        pass: &Pass,
        opts: [&mut AdamW; 2],
        mut aug: SplitMix64,
        observe: &mut dyn FnMut(Event) -> bool,
    ) -> Result<f64> {
        let batch = pass.cfg.batch.max(1);
        let skipped = usize::from(batch > 1 && pass.order.len() % batch == 1);
        let total = pass.order.len().div_ceil(batch) - skipped;
        let (mut sum, mut batches) = (0.0, 0usize);
        let [opt_head, opt_net] = opts;
        for idx in pass.order.chunks(batch) {
            // A trailing batch of one image (batch norm cannot train on it) waits for the
            // next epoch's shuffle.
            if idx.len() == 1 && batch > 1 {
                continue;
            }
            let (loss, grads) =
                self.step(pass.data, idx, pass.chunk, pass.cfg, pass.vars, &mut aug)?;
            opt_head.step(&grads)?;
            opt_net.step(&grads)?;
            sum += loss;
            batches += 1;
            if !observe(Event::Batch {
                done: batches,
                total,
                loss: sum / batches as f64,
            }) {
                return Err(MlError::Cancelled);
            }
        }
        Ok(sum / batches.max(1) as f64)
    }

    /// One optimiser step's gradients over the batch `idx`, in chunks of `chunk` images
    /// whose losses are weighted by their share of the batch, so the sum is the batch's.
    pub(super) fn step(
        &self,
        data: &Data,
        idx: &[usize],
        chunk: usize,
        cfg: &FinetuneConfig,
        vars: &[Var],
        rng: &mut SplitMix64,
    ) -> Result<(f64, GradStore)> {
        let s = cfg.size;
        let mut total: Option<GradStore> = None;
        let mut loss_sum = 0.0;
        // Each chunk's mean loss weighs by its share of the batch's loss terms, so that the
        // summed gradient is the batch's (masked BCE averages over labelled entries).
        let terms = data.loss_terms(idx);
        for part in even_chunks(idx, chunk) {
            let share = data.loss_terms(part) / terms.max(1.0);
            if share == 0.0 {
                continue;
            }
            let mut raw = data.gather(part, None);
            if let Some(a) = &cfg.augment {
                let mut aug = Vec::with_capacity(raw.len());
                for row in raw.chunks(data.dim) {
                    aug.extend(a.apply(row, self.pre.channels, s, rng));
                }
                raw = aug;
            }
            let x = self.input(&raw, part.len())?;
            let z = self.logits(&x, true)?;
            let loss = (data.loss_of(&z, part)? * share)?;
            loss_sum += f64::from(loss.to_scalar::<f32>()?);
            let grads = loss.backward()?;
            total = Some(match total {
                None => grads,
                Some(mut acc) => {
                    for v in vars {
                        if let Some(g) = grads.get(v.as_tensor()) {
                            let sum = match acc.get(v.as_tensor()) {
                                Some(a) => (a + g)?,
                                None => g.clone(),
                            };
                            acc.insert(v.as_tensor(), sum);
                        }
                    }
                    acc
                }
            });
        }
        let grads = total.ok_or_else(|| MlError::Unsupported("an empty batch".into()))?;
        Ok((loss_sum, grads))
    }

    pub(super) fn evaluate(
        &self,
        data: &Data,
        rows: &[usize],
        chunk: usize,
    ) -> Result<crate::train::fit::ValScore> {
        let mut zs = Vec::with_capacity(rows.len());
        for part in rows.chunks(chunk) {
            let x = self.input(&data.gather(part, None), part.len())?;
            zs.push(self.logits(&x, false)?.detach());
        }
        let z = Tensor::cat(&zs, 0)?;
        data.score(&z, rows)
    }

    /// The chunk size (images per forward/backward pass) that fits the memory budget, or
    /// why nothing does.
    pub(super) fn plan(&self, cfg: &FinetuneConfig) -> Result<usize> {
        let est = estimate(
            &self.net,
            &self.net_vars,
            self.pre.channels,
            cfg.size,
            self.cut,
        )?;
        let budget = budget(cfg);
        let fixed = est.fixed_bytes;
        let per = est.per_image_bytes.max(1);
        let fits = budget.saturating_sub(fixed) / per;
        if fits == 0 {
            return Err(MlError::setting(
                "size",
                format!(
                    "this run needs about {:.1} GiB even one image at a time ({:.1} GiB of \
                     weights and optimiser state, {:.2} GiB per image) but {:.1} GiB are \
                     available: {}",
                    gib(fixed + per),
                    gib(fixed),
                    gib(per),
                    gib(budget),
                    super::memory::what_to_lower(&self.net)
                ),
            ));
        }
        Ok((fits as usize).min(cfg.batch.max(1)))
    }
}

/// `idx` in pieces of at most `chunk`, as even as possible (no piece of one image unless
/// `chunk` is 1: batch norm in training needs two values per channel).
pub(super) fn even_chunks(idx: &[usize], chunk: usize) -> impl Iterator<Item = &[usize]> {
    let pieces = idx.len().div_ceil(chunk.max(1)).max(1);
    let (base, extra) = (idx.len() / pieces, idx.len() % pieces);
    let mut at = 0;
    (0..pieces).map(move |i| {
        let len = base + usize::from(i < extra);
        let piece = &idx[at..at + len];
        at += len;
        piece
    })
}
