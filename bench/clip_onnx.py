#!/usr/bin/env python3
"""onnxruntime side of the CLIP image-embedding benchmark.

Builds an ONNX graph of the CLIP vision tower + visual projection (exactly as
Hugging Face CLIPVisionModelWithProjection computes it) from a Hugging
Face-layout CLIP folder (config.json + model.safetensors), runs it with
onnxruntime on the CPU in fp32 and reports images/s per batch size.

Needs numpy, onnx and onnxruntime only (bash bench/setup_onnx.sh makes a venv):

  PY="${PAIRLAB_ORT_VENV:-$HOME/.cache/pairlab/ort-venv}/bin/python"
  $PY bench/clip_onnx.py --make-random /tmp/clip-rand-b32 --config vit-b-32
  $PY bench/clip_onnx.py --model /tmp/clip-rand-b32 --batches 1,32 --seconds 10
  $PY bench/clip_onnx.py --model DIR --self-check 2          # ONNX vs NumPy forward
  $PY bench/clip_onnx.py --model DIR --check in.npy --expect out.npy

See bench/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import statistics
import sys
import tempfile
import time

import numpy as np

# ---------------------------------------------------------------------------
# safetensors (read/write with numpy only)

_ST_DTYPES = {
    "F64": np.float64,
    "F32": np.float32,
    "F16": np.float16,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}


def read_safetensors(path: str) -> dict[str, np.ndarray]:
    """All tensors of one .safetensors file: 8-byte LE header length, JSON header, raw data."""
    with open(path, "rb") as f:
        (n,) = np.frombuffer(f.read(8), dtype="<u8")
        header = json.loads(f.read(int(n)))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        raw = data[start:end]
        dt = info["dtype"]
        if dt == "BF16":  # upper half of an f32
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dt in _ST_DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[dt]).newbyteorder("<"))
        else:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
        out[name] = arr.reshape(shape)
    return out


def write_safetensors(path: str, tensors: dict[str, np.ndarray]) -> None:
    rev = {np.dtype(v): k for k, v in _ST_DTYPES.items()}
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    arrays = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {
            "dtype": rev[np.dtype(a.dtype.type)],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
        arrays.append(a)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)  # align the data to 8 bytes
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(np.uint64(len(hb)).astype("<u8").tobytes())
        f.write(hb)
        for a in arrays:
            f.write(a.tobytes())
    os.replace(tmp, path)


def load_weights(model_dir: str) -> dict[str, np.ndarray]:
    """model.safetensors, or the shards listed in model.safetensors.index.json."""
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(single):
        return read_safetensors(single)
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        out: dict[str, np.ndarray] = {}
        for s in shards:
            out.update(read_safetensors(os.path.join(model_dir, s)))
        return out
    raise FileNotFoundError(f"{model_dir}: no model.safetensors (or index)")


def weights_fingerprint(model_dir: str) -> str:
    parts = []
    for name in sorted(os.listdir(model_dir)):
        if name.endswith((".safetensors", ".json")):
            st = os.stat(os.path.join(model_dir, name))
            parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
    return ";".join(parts)


# ---------------------------------------------------------------------------
# config

VISION_DEFAULTS = {  # HF CLIPVisionConfig defaults
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_channels": 3,
    "image_size": 224,
    "patch_size": 32,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}


def vision_config(model_dir: str) -> dict:
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    # CLIPConfig nests it; a CLIPVisionConfig (CLIPVisionModelWithProjection) is flat.
    if "vision_config" in cfg:
        vc = cfg["vision_config"] or {}
    elif "text_config" in cfg:
        vc = {}  # CLIPConfig without vision_config: all defaults
    else:
        vc = cfg
    out = {k: vc.get(k, v) for k, v in VISION_DEFAULTS.items()}
    out["projection_dim"] = vc.get("projection_dim", cfg.get("projection_dim", 512))
    if out["hidden_size"] % out["num_attention_heads"]:
        raise ValueError("hidden_size must be divisible by num_attention_heads")
    if out["hidden_act"] not in ("quick_gelu", "gelu"):
        raise ValueError(f"hidden_act {out['hidden_act']!r} not supported (quick_gelu, gelu)")
    return out


PRESETS = {
    # OpenAI ViT-B/32 shapes.
    "vit-b-32": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12,
                     num_attention_heads=12, image_size=224, patch_size=32, projection_dim=512),
    # For quick tests only.
    "tiny": dict(hidden_size=64, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, image_size=32, patch_size=8, projection_dim=32),
}


def make_random(out_dir: str, preset: str) -> None:
    p = PRESETS[preset]
    D, I, L, P, S = (p["hidden_size"], p["intermediate_size"], p["num_hidden_layers"],
                     p["patch_size"], p["image_size"])
    C, E = 3, p["projection_dim"]
    n_pos = (S // P) ** 2 + 1
    rng = np.random.default_rng(0)

    def normal(*shape):
        return (rng.standard_normal(shape, dtype=np.float32) * np.float32(0.02)).astype(np.float32)

    w: dict[str, np.ndarray] = {}

    def ln(name):
        w[f"{name}.weight"] = np.ones(D, np.float32)
        w[f"{name}.bias"] = np.zeros(D, np.float32)

    def linear(name, n_out, n_in, bias=True):
        w[f"{name}.weight"] = normal(n_out, n_in)
        if bias:
            w[f"{name}.bias"] = normal(n_out)

    vm = "vision_model"
    w[f"{vm}.embeddings.class_embedding"] = normal(D)
    w[f"{vm}.embeddings.patch_embedding.weight"] = normal(D, C, P, P)
    w[f"{vm}.embeddings.position_embedding.weight"] = normal(n_pos, D)
    ln(f"{vm}.pre_layrnorm")
    for i in range(L):
        pre = f"{vm}.encoder.layers.{i}"
        ln(f"{pre}.layer_norm1")
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            linear(f"{pre}.self_attn.{proj}", D, D)
        ln(f"{pre}.layer_norm2")
        linear(f"{pre}.mlp.fc1", I, D)
        linear(f"{pre}.mlp.fc2", D, I)
    ln(f"{vm}.post_layernorm")
    linear("visual_projection", E, D, bias=False)

    config = {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": E,
        "logit_scale_init_value": 2.6592,
        "initializer_factor": 1.0,
        "torch_dtype": "float32",
        "text_config": {
            "model_type": "clip_text_model",
            "vocab_size": 49408,
            "hidden_size": 512,
            "intermediate_size": 2048,
            "num_hidden_layers": 12,
            "num_attention_heads": 8,
            "max_position_embeddings": 77,
            "projection_dim": E,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": D,
            "intermediate_size": I,
            "num_hidden_layers": L,
            "num_attention_heads": p["num_attention_heads"],
            "num_channels": C,
            "image_size": S,
            "patch_size": P,
            "projection_dim": E,
            "hidden_act": "quick_gelu",
            "layer_norm_eps": 1e-5,
        },
    }
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(out_dir, "model.safetensors"), w)
    n_params = sum(a.size for a in w.values())
    print(f"wrote {out_dir}: {preset}, {len(w)} tensors, {n_params / 1e6:.1f}M params (vision + projection)")


# ---------------------------------------------------------------------------
# ONNX graph

OPSET = 17  # LayerNormalization is opset 17


def build_onnx(W: dict[str, np.ndarray], cfg: dict):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    C, S, P, eps = cfg["num_channels"], cfg["image_size"], cfg["patch_size"], cfg["layer_norm_eps"]
    hd = D // H
    vm = "vision_model"
    E = W["visual_projection.weight"].shape[0]

    nodes, inits = [], []
    counter = [0]

    def uniq(base):
        counter[0] += 1
        return f"{base}_{counter[0]}"

    def init(name, arr):
        arr = np.asarray(arr)  # (not ascontiguousarray: that makes 0-d arrays 1-d)
        inits.append(numpy_helper.from_array(arr if arr.flags.c_contiguous else arr.copy(order="C"), name))
        return name

    def get(name):
        if name not in W:
            raise KeyError(f"weight {name} missing from the safetensors")
        a = W[name]
        if a.dtype != np.float32:
            a = a.astype(np.float32)
        return a

    def op(op_type, inputs, name_hint=None, **attrs):
        out = uniq(name_hint or op_type.lower())
        nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out

    def layer_norm(x, prefix):
        return op("LayerNormalization",
                  [x, init(f"{prefix}.weight", get(f"{prefix}.weight")), init(f"{prefix}.bias", get(f"{prefix}.bias"))],
                  prefix, axis=-1, epsilon=float(eps))

    def linear(x, prefix, bias=True):
        # torch Linear weight is [out, in]: y = x @ W^T + b. Stored pre-transposed ([in, out]).
        wt = init(f"{prefix}.weight_T", get(f"{prefix}.weight").T)
        y = op("MatMul", [x, wt], f"{prefix}.matmul")
        if bias:
            y = op("Add", [y, init(f"{prefix}.bias", get(f"{prefix}.bias"))], f"{prefix}.bias_add")
        return y

    def const(name, arr):
        return init(name, np.asarray(arr))

    shape_bthd = const("shape_b_t_h_hd", np.array([0, 0, H, hd], np.int64))
    shape_btd = const("shape_b_t_d", np.array([0, 0, D], np.int64))
    shape_bdn = const("shape_b_d_n", np.array([0, D, -1], np.int64))
    scale = const("attn_scale", np.array(hd ** -0.5, np.float32))
    if cfg["hidden_act"] == "quick_gelu":
        alpha = const("quick_gelu_alpha", np.array(1.702, np.float32))
    else:
        inv_sqrt2 = const("inv_sqrt2", np.array(1 / math.sqrt(2), np.float32))
        half = const("half", np.array(0.5, np.float32))
        one = const("one", np.array(1.0, np.float32))

    # --- embeddings
    x = op("Conv", ["pixel_values", init(f"{vm}.embeddings.patch_embedding.weight",
                                         get(f"{vm}.embeddings.patch_embedding.weight"))],
           "patch_embedding", kernel_shape=[P, P], strides=[P, P])          # [B, D, g, g]
    x = op("Reshape", [x, shape_bdn], "patch_flatten")                      # [B, D, N]
    x = op("Transpose", [x], "patch_transpose", perm=[0, 2, 1])             # [B, N, D]
    batch = op("Shape", ["pixel_values"], "batch_dim", start=0, end=1)      # [1] = B
    cls_shape = op("Concat", [batch, const("one_d", np.array([1, D], np.int64))], "cls_shape", axis=0)
    cls = const(f"{vm}.embeddings.class_embedding", get(f"{vm}.embeddings.class_embedding").reshape(1, 1, D))
    cls = op("Expand", [cls, cls_shape], "cls_expand")                      # [B, 1, D]
    x = op("Concat", [cls, x], "embeddings_concat", axis=1)                 # [B, T, D]
    pos = const(f"{vm}.embeddings.position_embedding.weight",
                get(f"{vm}.embeddings.position_embedding.weight")[None])
    x = op("Add", [x, pos], "position_add")
    x = layer_norm(x, f"{vm}.pre_layrnorm")

    # --- encoder
    for i in range(L):
        pre = f"{vm}.encoder.layers.{i}"
        res = x
        h = layer_norm(x, f"{pre}.layer_norm1")
        q = op("Mul", [linear(h, f"{pre}.self_attn.q_proj"), scale], f"{pre}.q_scale")
        k = linear(h, f"{pre}.self_attn.k_proj")
        v = linear(h, f"{pre}.self_attn.v_proj")
        q = op("Transpose", [op("Reshape", [q, shape_bthd])], f"{pre}.q_heads", perm=[0, 2, 1, 3])  # [B,H,T,hd]
        k = op("Transpose", [op("Reshape", [k, shape_bthd])], f"{pre}.k_heads", perm=[0, 2, 3, 1])  # [B,H,hd,T]
        v = op("Transpose", [op("Reshape", [v, shape_bthd])], f"{pre}.v_heads", perm=[0, 2, 1, 3])  # [B,H,T,hd]
        a = op("Softmax", [op("MatMul", [q, k], f"{pre}.scores")], f"{pre}.softmax", axis=-1)
        a = op("MatMul", [a, v], f"{pre}.context")                                                  # [B,H,T,hd]
        a = op("Reshape", [op("Transpose", [a], perm=[0, 2, 1, 3]), shape_btd], f"{pre}.merge_heads")
        a = linear(a, f"{pre}.self_attn.out_proj")
        x = op("Add", [res, a], f"{pre}.residual1")
        res = x
        h = layer_norm(x, f"{pre}.layer_norm2")
        h = linear(h, f"{pre}.mlp.fc1")
        if cfg["hidden_act"] == "quick_gelu":  # x * sigmoid(1.702 x)
            s = op("Sigmoid", [op("Mul", [h, alpha])])
            h = op("Mul", [h, s], f"{pre}.quick_gelu")
        else:  # exact gelu: 0.5 x (1 + erf(x / sqrt 2))
            e = op("Add", [op("Erf", [op("Mul", [h, inv_sqrt2])]), one])
            h = op("Mul", [op("Mul", [h, half]), e], f"{pre}.gelu")
        h = linear(h, f"{pre}.mlp.fc2")
        x = op("Add", [res, h], f"{pre}.residual2")

    # --- pooled token -> post LN -> projection
    x = op("Gather", [x, const("token0", np.array(0, np.int64))], "pooled", axis=1)  # [B, D]
    x = layer_norm(x, f"{vm}.post_layernorm")
    x = linear(x, "visual_projection", bias=False)
    nodes.append(helper.make_node("Identity", [x], ["image_embeds"], name="image_embeds"))

    graph = helper.make_graph(
        nodes, "clip_vision_with_projection",
        [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT, ["batch", C, S, S])],
        [helper.make_tensor_value_info("image_embeds", TensorProto.FLOAT, ["batch", E])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="pairlab-bench-clip_onnx")
    model.ir_version = 8  # the IR version that goes with opset 17
    onnx.checker.check_model(model, full_check=False)
    return model


def onnx_path_for(model_dir: str, onnx_out: str | None) -> str:
    if onnx_out:
        return onnx_out
    with open(__file__, "rb") as f:
        me = f.read()
    key = hashlib.sha256(
        (os.path.abspath(model_dir) + "|" + weights_fingerprint(model_dir)).encode() + me
    ).hexdigest()[:16]
    cache = os.path.join(tempfile.gettempdir(), "pairlab-clip-onnx")
    return os.path.join(cache, f"clip-vision-{key}.onnx")


def ensure_onnx(model_dir: str, onnx_out: str | None, force: bool) -> tuple[str, dict, dict | None]:
    """Returns (onnx path, vision config, weights if they were loaded)."""
    import onnx

    cfg = vision_config(model_dir)
    path = onnx_path_for(model_dir, onnx_out)
    if os.path.exists(path) and not force and not onnx_out:
        print(f"reusing {path}", file=sys.stderr)
        return path, cfg, None
    W = load_weights(model_dir)
    t = time.perf_counter()
    model = build_onnx(W, cfg)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    onnx.save(model, tmp)
    os.replace(tmp, path)
    print(f"wrote {path} ({os.path.getsize(path) / 2**20:.0f} MiB, {len(model.graph.node)} nodes, "
          f"{time.perf_counter() - t:.1f}s)", file=sys.stderr)
    return path, cfg, W


def make_session(path: str, threads: int):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=so, providers=["CPUExecutionProvider"])


# ---------------------------------------------------------------------------
# NumPy reference forward (float64), for validating the graph

def numpy_forward(W: dict[str, np.ndarray], cfg: dict, pixels: np.ndarray) -> np.ndarray:
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    C, S, P, eps = cfg["num_channels"], cfg["image_size"], cfg["patch_size"], cfg["layer_norm_eps"]
    hd, g = D // H, S // P
    vm = "vision_model"

    def w(name):
        return W[name].astype(np.float64)

    def ln(x, prefix):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + eps) * w(f"{prefix}.weight") + w(f"{prefix}.bias")

    def linear(x, prefix, bias=True):
        y = x @ w(f"{prefix}.weight").T
        return y + w(f"{prefix}.bias") if bias else y

    x = pixels.astype(np.float64)
    B = x.shape[0]
    # Conv with stride == kernel == P, no bias: patchify then matmul.
    patches = x.reshape(B, C, g, P, g, P).transpose(0, 2, 4, 1, 3, 5).reshape(B, g * g, C * P * P)
    x = patches @ w(f"{vm}.embeddings.patch_embedding.weight").reshape(D, C * P * P).T  # [B, N, D]
    cls = np.broadcast_to(w(f"{vm}.embeddings.class_embedding"), (B, 1, D))
    x = np.concatenate([cls, x], axis=1) + w(f"{vm}.embeddings.position_embedding.weight")[None]
    x = ln(x, f"{vm}.pre_layrnorm")
    T = x.shape[1]
    for i in range(L):
        pre = f"{vm}.encoder.layers.{i}"
        h = ln(x, f"{pre}.layer_norm1")
        q = linear(h, f"{pre}.self_attn.q_proj") * hd ** -0.5
        k = linear(h, f"{pre}.self_attn.k_proj")
        v = linear(h, f"{pre}.self_attn.v_proj")
        q, k, v = (t.reshape(B, T, H, hd).transpose(0, 2, 1, 3) for t in (q, k, v))
        s = q @ k.transpose(0, 1, 3, 2)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        a = (s @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        x = x + linear(a, f"{pre}.self_attn.out_proj")
        h = linear(ln(x, f"{pre}.layer_norm2"), f"{pre}.mlp.fc1")
        if cfg["hidden_act"] == "quick_gelu":
            h = h / (1.0 + np.exp(-1.702 * h))
        else:
            h = 0.5 * h * (1.0 + np.frompyfunc(math.erf, 1, 1)(h / math.sqrt(2)).astype(np.float64))
        x = x + linear(h, f"{pre}.mlp.fc2")
    pooled = ln(x[:, 0], f"{vm}.post_layernorm")
    return pooled @ w("visual_projection.weight").T


# ---------------------------------------------------------------------------
# benchmark

def bench(sess, cfg: dict, batch: int, seconds: float) -> dict:
    C, S = cfg["num_channels"], cfg["image_size"]
    x = np.random.default_rng(batch).standard_normal((batch, C, S, S), dtype=np.float32)
    feed = {"pixel_values": x}
    # Warm-up: at least 2 runs and at least ~10% of the measuring time (max 3 s).
    t0 = time.perf_counter()
    n = 0
    while n < 2 or time.perf_counter() - t0 < min(3.0, 0.1 * seconds):
        sess.run(None, feed)
        n += 1
    times = []
    t0 = time.perf_counter()
    while len(times) < 3 or time.perf_counter() - t0 < seconds:
        t = time.perf_counter()
        sess.run(None, feed)
        times.append(time.perf_counter() - t)
    med = statistics.median(times)
    return {"batch": batch, "images_per_s": round(batch / med, 3), "median_s": med,
            "runs": len(times), "mean_images_per_s": round(batch * len(times) / sum(times), 3)}


def max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        raise SystemExit(f"shape mismatch: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="HF-layout CLIP folder (config.json + model.safetensors)")
    ap.add_argument("--threads", type=int, default=default_threads(),
                    help="onnxruntime intra-op threads (default: cores available, %(default)s here)")
    ap.add_argument("--batches", default="1,32", help="comma-separated batch sizes (default 1,32)")
    ap.add_argument("--seconds", type=float, default=10.0, help="measuring time per batch size (default 10)")
    ap.add_argument("--json", metavar="PATH", help="write results as JSON here")
    ap.add_argument("--onnx-out", metavar="PATH",
                    help="where to write the .onnx (default: a cache under $TMPDIR/pairlab-clip-onnx, reused)")
    ap.add_argument("--rebuild", action="store_true", help="rebuild the cached .onnx")
    ap.add_argument("--check", metavar="INPUT.npy", help="run the graph on this [B,3,S,S] float32 input")
    ap.add_argument("--expect", metavar="OUTPUT.npy", help="with --check: print max |onnx - expected|")
    ap.add_argument("--check-out", metavar="PATH.npy", help="with --check: save the onnx output here")
    ap.add_argument("--self-check", type=int, metavar="N",
                    help="compare the graph with a NumPy float64 forward on N random images")
    ap.add_argument("--save-check", metavar="DIR",
                    help="with --self-check: write input.npy, numpy_out.npy, onnx_out.npy here")
    ap.add_argument("--make-random", metavar="DIR", help="write a random-weight CLIP folder and exit")
    ap.add_argument("--config", default="vit-b-32", choices=sorted(PRESETS), help="preset for --make-random")
    args = ap.parse_args()

    if args.make_random:
        make_random(args.make_random, args.config)
        return 0
    if not args.model:
        ap.error("--model (or --make-random) is required")
    if args.expect and not args.check:
        ap.error("--expect needs --check")

    import onnxruntime as ort

    path, cfg, W = ensure_onnx(args.model, args.onnx_out, args.rebuild)
    sess = make_session(path, args.threads)
    print(f"onnxruntime {ort.__version__}, {args.threads} intra-op threads, model {args.model} "
          f"({cfg['num_hidden_layers']} layers, d={cfg['hidden_size']}, {cfg['image_size']}px / "
          f"patch {cfg['patch_size']})", flush=True)

    did_check = False
    if args.check:
        did_check = True
        x = np.load(args.check).astype(np.float32, copy=False)
        if x.ndim == 3:
            x = x[None]
        (y,) = sess.run(None, {"pixel_values": np.ascontiguousarray(x)})
        print(f"check: input {tuple(x.shape)} -> output {tuple(y.shape)}")
        if args.check_out:
            np.save(args.check_out, y)
        if args.expect:
            e = np.load(args.expect)
            print(f"check: max abs diff onnx vs {args.expect}: {max_abs_diff(y, e):.3e} "
                  f"(max |expected| {float(np.max(np.abs(e))):.3e})")

    if args.self_check:
        did_check = True
        if W is None:
            W = load_weights(args.model)
        x = np.random.default_rng(12345).standard_normal(
            (args.self_check, cfg["num_channels"], cfg["image_size"], cfg["image_size"]), dtype=np.float32)
        (y,) = sess.run(None, {"pixel_values": x})
        ref = numpy_forward(W, cfg, x)
        print(f"self-check: {args.self_check} random images, max abs diff onnx (fp32) vs numpy (fp64): "
              f"{max_abs_diff(y, ref):.3e} (max |output| {float(np.max(np.abs(ref))):.3e})")
        if args.save_check:
            os.makedirs(args.save_check, exist_ok=True)
            np.save(os.path.join(args.save_check, "input.npy"), x)
            np.save(os.path.join(args.save_check, "numpy_out.npy"), ref.astype(np.float32))
            np.save(os.path.join(args.save_check, "onnx_out.npy"), y)

    if did_check and args.seconds <= 0:
        return 0
    load0 = os.getloadavg()[0]
    results = []
    for b in [int(s) for s in args.batches.split(",") if s.strip()]:
        r = bench(sess, cfg, b, args.seconds)
        results.append(r)
        print(f"onnxruntime fp32  batch {b}: {r['images_per_s']:.1f} images/s (median of {r['runs']} runs)",
              flush=True)
    load1 = os.getloadavg()[0]
    if max(load0, load1) > 0.5 + (os.cpu_count() or 1):
        print(f"warning: load average {load0:.1f} -> {load1:.1f} on {os.cpu_count()} cores; "
              "other processes were competing for the CPU", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "ort_version": ort.__version__, "model": args.model,
                       "image_size": cfg["image_size"], "loadavg_1m": [load0, load1],
                       "results": results}, f, indent=2)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
