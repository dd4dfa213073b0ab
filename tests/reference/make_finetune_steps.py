"""PyTorch's loss over 20 fine-tuning steps, for Pairlab's `finetune` trainer to match.

Writes tests/data/reference/finetune_steps.json. The recipe, which the Rust test
(crates/pairlab-ml/src/train/finetune_tests.rs) follows through the trainer itself:

- the network: tests/data/reference/checkpoints/xrv_tiny.pt (a whole torchxrayvision
  DenseNet), its classifier replaced by a 2-class linear head whose weight is
  u / sqrt(16) with u drawn from splitmix64 seeded with seed ^ 0xF17E7E (row-major), bias 0;
- everything trains (`--unfreeze all`): batch norm on batch statistics, the backbone at
  lr / 10 and the head at lr, AdamW (betas 0.9 / 0.999, eps 1e-8, weight decay 1e-4);
- 160 grey 32-px images, value v[i, y, x] = 127.5 + 100 sin(0.37 i + 0.21 y (1 + i mod 3)
  + 0.13 x), plus 40 on the left half when i is odd (class i mod 2), clamped to 0..255,
  scaled as torchxrayvision does ((2 v / 255 - 1) 1024); no augmentation;
- one epoch of 20 batches of 8 in the order of a Fisher-Yates shuffle of 0..160 with
  splitmix64 seeded with seed ^ 0x5EED (j = (next * (i + 1)) >> 64 for i = 159 … 1);
- cross-entropy, mean over the batch; the loss of each step before its update.

`vit_losses`: the same recipe on a ViT — the timm trunk of tests/data/reference/biomedclip_tiny
(open_clip's `visual.trunk`, 128 wide, 2 blocks, patch 8, 32 px), its 2-class head's weight
u / sqrt(128) drawn the same way; the images on three channels (the grey value on each),
scaled v / 255 and normalised with BiomedCLIP's (CLIP's) mean and std.
"""

import json
import math
import os

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "reference")
MASK = (1 << 64) - 1
SEED, LR, BATCH, STEPS, N, S = 11, 1e-2, 8, 20, 160, 32


class SplitMix:
    def __init__(self, seed):
        self.s = seed & MASK

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
        return z ^ (z >> 31)

    def below(self, n):
        return (self.next() * n) >> 64

    def unit(self):
        return (self.next() >> 40) / float(1 << 24) * 2.0 - 1.0


def images():
    x = np.zeros((N, 1, S, S), dtype=np.float64)
    for i in range(N):
        for y in range(S):
            for xx in range(S):
                v = 127.5 + 100.0 * math.sin(0.37 * i + 0.21 * y * (1 + i % 3) + 0.13 * xx)
                if i % 2 == 1 and xx < S // 2:
                    v += 40.0
                x[i, 0, y, xx] = min(255.0, max(0.0, v))
    return x.astype(np.float32), np.array([i % 2 for i in range(N)])


def trajectory(features, backbone, width, batches):
    """Losses of STEPS AdamW steps of `features` + a seeded 2-class head."""
    head = torch.nn.Linear(width, 2)
    rng = SplitMix(SEED ^ 0xF17E7E)
    w = [rng.unit() * (1.0 / math.sqrt(width)) for _ in range(2 * width)]
    with torch.no_grad():
        head.weight.copy_(torch.tensor(np.array(w, dtype=np.float64).astype(np.float32).reshape(2, width)))
        head.bias.zero_()
    opt = torch.optim.AdamW(
        [{"params": backbone, "lr": LR * 0.1}, {"params": list(head.parameters()), "lr": LR}],
        betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4,
    )
    losses = []
    for xb, yb in batches:
        loss = torch.nn.functional.cross_entropy(head(features(xb)), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float("%.9g" % loss.item()))
    return losses


def vit_losses(x, y, order):
    import open_clip
    import open_clip.timm_model
    import timm

    real = timm.create_model

    def create(name, **kw):
        kw.update(embed_dim=128, depth=2, num_heads=2, mlp_ratio=2.0, patch_size=8, img_size=32)
        return real(name, **kw)

    open_clip.timm_model.timm.create_model = create
    trunk = open_clip.timm_model.TimmModel("vit_base_patch16_224", 64, image_size=32, pool="", proj="linear").trunk
    sd = torch.load(os.path.join(OUT, "biomedclip_tiny", "open_clip_pytorch_model.bin"))
    trunk.load_state_dict({k[len("visual.trunk."):]: v for k, v in sd.items() if k.startswith("visual.trunk.")})
    trunk.train()
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
    batches = []
    for step in range(STEPS):
        idx = order[step * BATCH:(step + 1) * BATCH]
        xb = torch.from_numpy(x[idx]).repeat(1, 3, 1, 1) / 255.0
        batches.append(((xb - mean) / std, torch.from_numpy(y[idx])))
    return trajectory(trunk, list(trunk.parameters()), 128, batches)


def main():
    torch.set_num_threads(1)
    m = torch.load(os.path.join(OUT, "checkpoints", "xrv_tiny.pt"), weights_only=False)
    head = torch.nn.Linear(16, 2)
    rng = SplitMix(SEED ^ 0xF17E7E)
    w = [rng.unit() * (1.0 / math.sqrt(16)) for _ in range(2 * 16)]
    with torch.no_grad():
        head.weight.copy_(torch.tensor(np.array(w, dtype=np.float64).astype(np.float32).reshape(2, 16)))
        head.bias.zero_()
    m.classifier = head
    m.train()
    backbone = [p for n, p in m.named_parameters() if not n.startswith("classifier")]
    opt = torch.optim.AdamW(
        [{"params": backbone, "lr": LR * 0.1}, {"params": list(head.parameters()), "lr": LR}],
        betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-4,
    )
    x, y = images()
    order = list(range(N))
    rng = SplitMix(SEED ^ 0x5EED)
    for i in range(N - 1, 0, -1):
        j = rng.below(i + 1)
        order[i], order[j] = order[j], order[i]
    losses = []
    for step in range(STEPS):
        idx = order[step * BATCH:(step + 1) * BATCH]
        xb = torch.from_numpy((2.0 * x[idx] / 255.0 - 1.0) * 1024.0)
        yb = torch.from_numpy(y[idx])
        z = m.classifier(m.features2(xb))
        loss = torch.nn.functional.cross_entropy(z, yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float("%.9g" % loss.item()))
    vit = vit_losses(x, y, order)
    print("vit", vit)
    with open(os.path.join(OUT, "finetune_steps.json"), "w") as f:
        json.dump({"seed": SEED, "lr": LR, "batch": BATCH, "losses": losses, "vit_losses": vit,
                   "torch": torch.__version__}, f, indent=1)
        f.write("\n")
    print(losses)


if __name__ == "__main__":
    main()
