"""Hugging Face CLIPModel forward (get_text_features / get_image_features) in NumPy.

Weights come in as float32 (a {HF key: array} dict); all arithmetic is float64.
Follows transformers' modeling_clip.py:
  * encoder layer (pre-LN):  x = x + out_proj(attn(layer_norm1(x)));  x = x + fc2(act(fc1(layer_norm2(x))))
  * attention: q = q_proj(x) * head_dim**-0.5, k, v; softmax(q k^T + mask) v; heads concatenated
  * act: quick_gelu x * sigmoid(1.702 x) (or exact erf gelu when hidden_act == "gelu")
  * LayerNorm eps from the config (1e-5 for CLIP)
  * text: token + position embeddings, causal mask, final_layer_norm, pooled at argmax(input_ids)
    per row (HF's rule when eos_token_id == 2 and the same position whenever the eos id is the
    largest id in the row, as in CLIP's vocab), text_projection (no bias)
  * vision: patch conv (no bias, stride = patch), class_embedding prepended, position embeddings,
    pre_layrnorm, encoder without mask, token 0, post_layernorm, visual_projection (no bias)
Linear weights are [out, in]: y = x W^T + b.
"""

import math

import numpy as np


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * _f64(w) + _f64(b)


def linear(x, w, b=None):
    y = x @ _f64(w).T
    if b is not None:
        y = y + _f64(b)
    return y


def quick_gelu(x):
    return x / (1.0 + np.exp(-1.702 * x))


def gelu_erf(x):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def activation(name):
    if name == "quick_gelu":
        return quick_gelu
    if name == "gelu":
        return gelu_erf
    raise ValueError(f"unsupported hidden_act {name}")


def softmax(x, axis=-1):
    x = x - x.max(axis=axis, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=axis, keepdims=True)


def attention(x, W, p, n_heads, mask=None):
    """x: [B, L, D]; p: key prefix ending in 'self_attn.'; mask: additive [L, L] or None."""
    B, L, D = x.shape
    hd = D // n_heads
    scale = hd**-0.5
    q = linear(x, W[p + "q_proj.weight"], W[p + "q_proj.bias"]) * scale
    k = linear(x, W[p + "k_proj.weight"], W[p + "k_proj.bias"])
    v = linear(x, W[p + "v_proj.weight"], W[p + "v_proj.bias"])

    def heads(t):
        return t.reshape(B, L, n_heads, hd).transpose(0, 2, 1, 3)  # [B, H, L, hd]

    q, k, v = heads(q), heads(k), heads(v)
    s = q @ k.transpose(0, 1, 3, 2)  # [B, H, L, L]
    if mask is not None:
        s = s + mask
    a = softmax(s) @ v  # [B, H, L, hd]
    a = a.transpose(0, 2, 1, 3).reshape(B, L, D)
    return linear(a, W[p + "out_proj.weight"], W[p + "out_proj.bias"])


def encoder(x, W, prefix, cfg, mask=None):
    act = activation(cfg.get("hidden_act", "quick_gelu"))
    eps = cfg.get("layer_norm_eps", 1e-5)
    for i in range(cfg["num_hidden_layers"]):
        p = f"{prefix}encoder.layers.{i}."
        h = layer_norm(x, W[p + "layer_norm1.weight"], W[p + "layer_norm1.bias"], eps)
        x = x + attention(h, W, p + "self_attn.", cfg["num_attention_heads"], mask)
        h = layer_norm(x, W[p + "layer_norm2.weight"], W[p + "layer_norm2.bias"], eps)
        h = linear(h, W[p + "mlp.fc1.weight"], W[p + "mlp.fc1.bias"])
        h = act(h)
        x = x + linear(h, W[p + "mlp.fc2.weight"], W[p + "mlp.fc2.bias"])
    return x


def text_features(W, tcfg, input_ids):
    """input_ids: int [B, L] -> projected (unnormalised) text embeddings [B, proj]."""
    ids = np.asarray(input_ids, dtype=np.int64)
    B, L = ids.shape
    tok = _f64(W["text_model.embeddings.token_embedding.weight"])[ids]
    pos = _f64(W["text_model.embeddings.position_embedding.weight"])[:L]
    x = tok + pos[None]
    causal = np.triu(np.full((L, L), -np.inf), k=1)  # key j > query i masked
    x = encoder(x, W, "text_model.", tcfg, causal)
    eps = tcfg.get("layer_norm_eps", 1e-5)
    x = layer_norm(
        x, W["text_model.final_layer_norm.weight"], W["text_model.final_layer_norm.bias"], eps
    )
    pooled = x[np.arange(B), ids.argmax(axis=-1)]
    return linear(pooled, W["text_projection.weight"])


def patchify(pixels, p):
    """[B, C, S, S] -> [B, (S/p)^2, C*p*p], patches row-major, each flattened (c, ky, kx)."""
    B, C, S, _ = pixels.shape
    g = S // p
    t = pixels.reshape(B, C, g, p, g, p).transpose(0, 2, 4, 1, 3, 5)  # B, gy, gx, C, ky, kx
    return t.reshape(B, g * g, C * p * p)


def vision_last_hidden_state(W, vcfg, pixel_values):
    """pixel_values: float [B, 3, S, S] -> encoder output [B, (S/p)^2 + 1, D] (before post_layernorm;
    HF's vision_model(...).last_hidden_state)."""
    px = _f64(pixel_values)
    B = px.shape[0]
    p = vcfg["patch_size"]
    D = vcfg["hidden_size"]
    conv = _f64(W["vision_model.embeddings.patch_embedding.weight"]).reshape(D, -1)
    patches = patchify(px, p) @ conv.T  # [B, N, D]
    cls = np.broadcast_to(_f64(W["vision_model.embeddings.class_embedding"]), (B, 1, D))
    x = np.concatenate([cls, patches], axis=1)
    x = x + _f64(W["vision_model.embeddings.position_embedding.weight"])[None, : x.shape[1]]
    eps = vcfg.get("layer_norm_eps", 1e-5)
    x = layer_norm(x, W["vision_model.pre_layrnorm.weight"], W["vision_model.pre_layrnorm.bias"], eps)
    return encoder(x, W, "vision_model.", vcfg, None)


def image_features(W, vcfg, pixel_values):
    """pixel_values: float [B, 3, S, S] -> projected (unnormalised) image embeddings [B, proj]."""
    x = vision_last_hidden_state(W, vcfg, pixel_values)
    eps = vcfg.get("layer_norm_eps", 1e-5)
    pooled = layer_norm(
        x[:, 0], W["vision_model.post_layernorm.weight"], W["vision_model.post_layernorm.bias"], eps
    )
    return linear(pooled, W["visual_projection.weight"])


def l2_normalize(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def clip_shapes(cfg):
    """{HF key: shape} of every tensor a CLIPModel with this config.json dict has."""
    t, v = cfg["text_config"], cfg["vision_config"]
    proj = cfg["projection_dim"]
    shapes = {}

    def enc(prefix, c):
        D, I = c["hidden_size"], c["intermediate_size"]
        for i in range(c["num_hidden_layers"]):
            p = f"{prefix}encoder.layers.{i}."
            for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
                shapes[p + f"self_attn.{n}.weight"] = [D, D]
                shapes[p + f"self_attn.{n}.bias"] = [D]
            for n in ("layer_norm1", "layer_norm2"):
                shapes[p + f"{n}.weight"] = [D]
                shapes[p + f"{n}.bias"] = [D]
            shapes[p + "mlp.fc1.weight"] = [I, D]
            shapes[p + "mlp.fc1.bias"] = [I]
            shapes[p + "mlp.fc2.weight"] = [D, I]
            shapes[p + "mlp.fc2.bias"] = [D]

    Dt = t["hidden_size"]
    shapes["text_model.embeddings.token_embedding.weight"] = [t["vocab_size"], Dt]
    shapes["text_model.embeddings.position_embedding.weight"] = [t["max_position_embeddings"], Dt]
    enc("text_model.", t)
    shapes["text_model.final_layer_norm.weight"] = [Dt]
    shapes["text_model.final_layer_norm.bias"] = [Dt]
    shapes["text_projection.weight"] = [proj, Dt]

    Dv, p, S = v["hidden_size"], v["patch_size"], v["image_size"]
    shapes["vision_model.embeddings.class_embedding"] = [Dv]
    shapes["vision_model.embeddings.patch_embedding.weight"] = [Dv, v.get("num_channels", 3), p, p]
    shapes["vision_model.embeddings.position_embedding.weight"] = [(S // p) ** 2 + 1, Dv]
    shapes["vision_model.pre_layrnorm.weight"] = [Dv]
    shapes["vision_model.pre_layrnorm.bias"] = [Dv]
    enc("vision_model.", v)
    shapes["vision_model.post_layernorm.weight"] = [Dv]
    shapes["vision_model.post_layernorm.bias"] = [Dv]
    shapes["visual_projection.weight"] = [proj, Dv]
    shapes["logit_scale"] = []
    return shapes
