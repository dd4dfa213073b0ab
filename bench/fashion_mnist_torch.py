#!/usr/bin/env python3
"""The same network, data, augmentation, optimiser and epochs as Pairlab's `cnn` trainer,
in PyTorch on the CPU, for bench/fashion_mnist.sh's time comparison. Reads the IDX files of
dataset-fashion-mnist directly (Pairlab's side also decodes and caches 70k PNGs, which is
counted in its time, not here).

    python bench/fashion_mnist_torch.py --epochs 8 --threads 2
"""
import argparse, math, os, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


from fashion_mnist import idx as read_idx  # the corpus writer's IDX reader, same folder


def idx(path):
    shape, data = read_idx(path)
    return np.frombuffer(data, dtype=np.uint8).reshape(shape)


class Net(nn.Module):
    """Three 3x3 convolutions (16, 32, 64), max-pool after the first two, one linear layer
    on the flattened 7x7x64 feature map: Pairlab's `cnn` with width 16 at 28 px."""

    def __init__(self, w=16, classes=10, size=28):
        super().__init__()
        self.c0 = nn.Conv2d(1, w, 3, padding=1)
        self.c1 = nn.Conv2d(w, 2 * w, 3, padding=1)
        self.c2 = nn.Conv2d(2 * w, 4 * w, 3, padding=1)
        self.fc = nn.Linear((size // 4) ** 2 * 4 * w, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c0(x)), 2)
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.relu(self.c2(x)).flatten(1)
        return self.fc(x)


def augment(x, g, flip=True):
    """Random horizontal flip and a shift of up to 2 px with zero fill, per image, as one
    batched gather (no per-image Python loop, so PyTorch's side is not slowed by it)."""
    n, _, s, _ = x.shape
    flips = torch.randint(0, 2, (n,), generator=g).bool()
    shifts = torch.randint(-2, 3, (n, 2), generator=g)
    if flip:
        x = torch.where(flips[:, None, None, None], x.flip(-1), x)
    xp = F.pad(x, (2, 2, 2, 2))
    ar = torch.arange(s)
    rows = ar[None, :] + 2 - shifts[:, 1:2]  # out[y] = in[y - dy]
    cols = ar[None, :] + 2 - shifts[:, 0:1]  # out[x] = in[x - dx]
    out = xp[torch.arange(n)[:, None, None], 0, rows[:, :, None], cols[:, None, :]]
    return out.unsqueeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=0.001)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--no-flip", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(int(os.environ.get("SEED", 0)))
    g = torch.Generator().manual_seed(0)
    norm = lambda v: (torch.from_numpy(v.astype(np.float32)) / 255.0 - 0.5) / 0.25
    xtr = norm(idx(f"{a.src}/train-images-idx3-ubyte.gz")).unsqueeze(1)
    ytr = torch.from_numpy(idx(f"{a.src}/train-labels-idx1-ubyte.gz").astype(np.int64))
    xte = norm(idx(f"{a.src}/t10k-images-idx3-ubyte.gz")).unsqueeze(1)
    yte = torch.from_numpy(idx(f"{a.src}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    perm = torch.randperm(len(xtr), generator=g)
    val, tr = perm[: len(perm) // 10], perm[len(perm) // 10:]
    net = Net(w=a.width)
    opt = torch.optim.AdamW(net.parameters(), lr=a.lr, weight_decay=1e-4)
    started = time.time()
    best, best_state = float("inf"), None
    for epoch in range(a.epochs):
        lr = a.lr / 100 + 0.5 * (a.lr - a.lr / 100) * (1 + math.cos(math.pi * epoch / a.epochs))
        for group in opt.param_groups:
            group["lr"] = lr
        net.train()
        order = tr[torch.randperm(len(tr), generator=g)]
        for k in range(0, len(order), a.batch):
            b = order[k:k + a.batch]
            loss = F.cross_entropy(net(augment(xtr[b], g, not a.no_flip)), ytr[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.no_grad():
            vl = F.cross_entropy(net(xtr[val]), ytr[val]).item()
        if vl < best:
            best, best_state = vl, {k: v.clone() for k, v in net.state_dict().items()}
        print(f"torch epoch {epoch + 1}: val loss {vl:.4f} ({time.time() - started:.1f} s)", flush=True)
    train_s = time.time() - started
    net.load_state_dict(best_state)
    with torch.no_grad():
        acc = (net(xte).argmax(1) == yte).float().mean().item()
    print(f"pytorch {torch.__version__} cnn: {a.epochs} epochs, train wall time {train_s:.1f} s, "
          f"test accuracy {acc:.4f} ({a.threads} threads)")


if __name__ == "__main__":
    main()
