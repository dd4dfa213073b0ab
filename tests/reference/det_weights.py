"""Deterministic weights for tiny test models (re-implemented bit-for-bit in Rust).

For a tensor with full Hugging Face key `name` (e.g. "text_model.encoder.layers.0.mlp.fc1.weight"),
shape `shape` (numel n; a scalar of shape [] has n = 1) and flattened row-major index i in 0..n:

    phase = 0.01 * sum(name.encode("utf-8"))          # sum of the key's UTF-8 bytes, as float64
    v[i]  = 0.05 * sin(phase + 0.7 * i)               # float64 arithmetic, i as float64
    if "norm" in name.lower() and name.endswith(".weight"):
        v[i] += 1.0                                   # LayerNorm gains start around 1
    value = float32(v[i])                             # one cast at the end (round to nearest)

All of it in float64, the cast to float32 last. In Rust:
    let phase = 0.01 * name.bytes().map(|b| b as f64).sum::<f64>();
    let mut x = 0.05 * (phase + 0.7 * i as f64).sin();
    if is_norm_gain { x += 1.0 }
    x as f32

Note that "norm" also matches CLIP's "pre_layrnorm"/"post_layernorm", BERT's "LayerNorm"
and CLIP's "layer_norm1/2", "final_layer_norm"; biases of norms get no +1.0.
"""

import math

import numpy as np


def det_tensor(name, shape):
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    phase = 0.01 * float(sum(name.encode("utf-8")))
    is_norm_gain = "norm" in name.lower() and name.endswith(".weight")
    # math.sin (the C library's sin, as Rust's f64::sin) rather than np.sin, whose SIMD
    # float64 paths may differ in the last bit.
    v = np.empty(n, dtype=np.float64)
    for i in range(n):
        x = 0.05 * math.sin(phase + 0.7 * float(i))
        if is_norm_gain:
            x += 1.0
        v[i] = x
    return v.astype(np.float32).reshape(shape)


def det_weights(shapes):
    """{name: shape} -> {name: float32 array}."""
    return {name: det_tensor(name, shape) for name, shape in shapes.items()}
