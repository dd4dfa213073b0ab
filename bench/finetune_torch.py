"""PyTorch's fine-tuning throughput, the recipe of `pairlab bench finetune`: a torchvision
ResNet/DenseNet or a timm ViT (random weights) with a new 2-class head, everything trained, batch norm in
training mode, random images, cross-entropy, AdamW (backbone at lr/10), on N threads; one
warm-up step, then the timed steps. Prints one JSON line.

    python bench/finetune_torch.py --arch resnet50 --size 224 --batch 16 --steps 3
"""
import argparse
import json
import resource
import time

import torch
import torchvision

p = argparse.ArgumentParser()
p.add_argument("--arch", default="resnet50")
p.add_argument("--size", type=int, default=224)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--steps", type=int, default=3)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
if a.arch.startswith("vit"):
    import timm

    m = timm.create_model(a.arch, num_classes=2)
    head = list(m.head.parameters())
    body = [p for n, p in m.named_parameters() if not n.startswith("head.")]
else:
    m = getattr(torchvision.models, a.arch)(weights=None)
if a.arch.startswith("vit"):
    pass
elif a.arch.startswith("resnet"):
    m.fc = torch.nn.Linear(m.fc.in_features, 2)
    head = list(m.fc.parameters())
    body = [p for n, p in m.named_parameters() if not n.startswith("fc.")]
else:
    m.classifier = torch.nn.Linear(m.classifier.in_features, 2)
    head = list(m.classifier.parameters())
    body = [p for n, p in m.named_parameters() if not n.startswith("classifier.")]
m.train()
opt = torch.optim.AdamW([{"params": body, "lr": 1e-4}, {"params": head, "lr": 1e-3}], weight_decay=1e-4)
x = torch.rand(a.batch, 3, a.size, a.size) * 4 - 2
y = torch.arange(a.batch) % 2
for k in range(a.steps + 1):
    if k == 1:
        t = time.perf_counter()
    loss = torch.nn.functional.cross_entropy(m(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
secs = time.perf_counter() - t
print(json.dumps({
    "arch": a.arch, "size": a.size, "batch": a.batch, "steps": a.steps,
    "images_per_s": a.steps * a.batch / secs, "seconds_per_step": secs / a.steps,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    "torch": torch.__version__, "threads": torch.get_num_threads(),
}))
