#!/usr/bin/env python3
"""Writes the two Fashion-MNIST corpora of the transfer benchmark (Debian package
dataset-fashion-mnist), folders layout, 8-bit grey PNGs, stdlib only:

  DIR/source/train/<class>/  the first PER_CLASS official training images of classes 0-4
  DIR/source/test/<class>/   the official test images of classes 0-4
  DIR/target/train/<class>/  the first 100 official training images of classes 5-9 (500)
  DIR/target/test/<class>/   the official test images of classes 5-9 (5,000)

    python3 bench/transfer.py DIR [--per-class 2000]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fashion_mnist import CLASSES, idx, png  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--per-class", type=int, default=2000)
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    done = os.path.join(a.dir, f".complete-{a.per_class}")
    if os.path.exists(done):
        print(f"{a.dir}: already written")
        return
    for part, prefix in [("train", "train"), ("test", "t10k")]:
        (n, h, w), pixels = idx(os.path.join(a.src, f"{prefix}-images-idx3-ubyte.gz"))
        _, labels = idx(os.path.join(a.src, f"{prefix}-labels-idx1-ubyte.gz"))
        taken = [0] * 10
        for i in range(n):
            c = labels[i]
            corpus = "source" if c < 5 else "target"
            if part == "train":
                cap = a.per_class if c < 5 else 100
                if taken[c] >= cap:
                    continue
            taken[c] += 1
            d = os.path.join(a.dir, corpus, part, CLASSES[c])
            os.makedirs(d, exist_ok=True)
            with open(os.path.join(d, f"{i:05d}.png"), "wb") as f:
                f.write(png(w, h, pixels[i * h * w:(i + 1) * h * w]))
        print(f"{part}: {dict(zip(CLASSES, taken))}")
    open(done, "w").close()


if __name__ == "__main__":
    main()
