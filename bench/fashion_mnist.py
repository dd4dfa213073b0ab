#!/usr/bin/env python3
"""Writes Fashion-MNIST (Debian package dataset-fashion-mnist, IDX files) as a folders-layout
corpus: DIR/train/<class>/<n>.png and DIR/test/<class>/<n>.png (8-bit grey PNG, stdlib only).

    python3 bench/fashion_mnist.py DIR [--src /usr/share/datasets/fashion-mnist]
"""
import argparse, gzip, os, struct, zlib

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    dims = magic & 0xFF
    shape = struct.unpack(">" + "I" * dims, data[4:4 + 4 * dims])
    return shape, data[4 + 4 * dims:]


def png(w, h, pixels):
    raw = b"".join(b"\x00" + pixels[y * w:(y + 1) * w] for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--src", default="/usr/share/datasets/fashion-mnist")
    a = ap.parse_args()
    done = os.path.join(a.dir, ".complete")
    if os.path.exists(done):
        print(f"{a.dir}: already written")
        return
    for part, prefix in [("train", "train"), ("test", "t10k")]:
        (n, h, w), pixels = idx(os.path.join(a.src, f"{prefix}-images-idx3-ubyte.gz"))
        _, labels = idx(os.path.join(a.src, f"{prefix}-labels-idx1-ubyte.gz"))
        for c in CLASSES:
            os.makedirs(os.path.join(a.dir, part, c), exist_ok=True)
        for i in range(n):
            img = pixels[i * h * w:(i + 1) * h * w]
            with open(os.path.join(a.dir, part, CLASSES[labels[i]], f"{i:05d}.png"), "wb") as f:
                f.write(png(w, h, img))
        print(f"{part}: {n} images")
    open(done, "w").close()


if __name__ == "__main__":
    main()
