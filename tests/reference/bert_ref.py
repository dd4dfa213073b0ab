"""Hugging Face BertModel encoder + sentence-transformers mean pooling in NumPy.

Weights come in as float32 ({HF key: array}; a "bert." prefix, as in BertFor* checkpoints, is
stripped); all arithmetic is float64. Follows transformers' modeling_bert.py (post-LN):
  * embeddings: word + position (0..L-1) + token_type, then embeddings.LayerNorm
  * attention: q/k/v with bias, scores = q k^T / sqrt(head_dim) + mask, where padded keys
    (attention_mask == 0) get -1e30 (HF uses float32 min; same result), softmax
  * x = LayerNorm(x + attention.output.dense(attn));  x = LayerNorm(x + output.dense(gelu(intermediate.dense(x))))
  * gelu: exact erf form; LayerNorm eps = config["layer_norm_eps"]
Sentence embedding (all-MiniLM-L6-v2's Pooling + Normalize modules): mean of the last hidden
states over positions with attention_mask == 1, then divided by its L2 norm.
"""

import math

import numpy as np

from clip_ref import layer_norm, linear, softmax

_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def strip_prefix(W):
    """Accept both BertModel keys and "bert."-prefixed ones."""
    if any(k.startswith("bert.") for k in W):
        return {k[len("bert.") :]: v for k, v in W.items() if k.startswith("bert.")}
    return W


def bert_last_hidden_state(W, cfg, input_ids, attention_mask=None, token_type_ids=None):
    """input_ids int [B, L] -> last_hidden_state float64 [B, L, D]."""
    W = strip_prefix(W)
    ids = np.asarray(input_ids, dtype=np.int64)
    B, L = ids.shape
    mask = np.ones((B, L)) if attention_mask is None else np.asarray(attention_mask, np.float64)
    tt = np.zeros((B, L), np.int64) if token_type_ids is None else np.asarray(token_type_ids, np.int64)
    eps = cfg["layer_norm_eps"]
    H = cfg["num_attention_heads"]
    D = cfg["hidden_size"]
    hd = D // H
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError("only hidden_act == 'gelu' (erf) is implemented")

    x = (
        np.asarray(W["embeddings.word_embeddings.weight"], np.float64)[ids]
        + np.asarray(W["embeddings.position_embeddings.weight"], np.float64)[:L][None]
        + np.asarray(W["embeddings.token_type_embeddings.weight"], np.float64)[tt]
    )
    x = layer_norm(x, W["embeddings.LayerNorm.weight"], W["embeddings.LayerNorm.bias"], eps)
    add_mask = ((1.0 - mask) * -1e30)[:, None, None, :]  # [B, 1, 1, L] over keys

    def heads(t):
        return t.reshape(B, L, H, hd).transpose(0, 2, 1, 3)

    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        a = p + "attention.self."
        q = heads(linear(x, W[a + "query.weight"], W[a + "query.bias"]))
        k = heads(linear(x, W[a + "key.weight"], W[a + "key.bias"]))
        v = heads(linear(x, W[a + "value.weight"], W[a + "value.bias"]))
        s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + add_mask
        ctx = (softmax(s) @ v).transpose(0, 2, 1, 3).reshape(B, L, D)
        o = p + "attention.output."
        x = layer_norm(
            x + linear(ctx, W[o + "dense.weight"], W[o + "dense.bias"]),
            W[o + "LayerNorm.weight"],
            W[o + "LayerNorm.bias"],
            eps,
        )
        h = gelu_erf(linear(x, W[p + "intermediate.dense.weight"], W[p + "intermediate.dense.bias"]))
        x = layer_norm(
            x + linear(h, W[p + "output.dense.weight"], W[p + "output.dense.bias"]),
            W[p + "output.LayerNorm.weight"],
            W[p + "output.LayerNorm.bias"],
            eps,
        )
    return x


def mean_pool_normalize(hidden, attention_mask):
    m = np.asarray(attention_mask, np.float64)[:, :, None]
    summed = (hidden * m).sum(axis=1)
    pooled = summed / np.clip(m.sum(axis=1), 1e-9, None)
    return pooled / np.clip(np.linalg.norm(pooled, axis=-1, keepdims=True), 1e-12, None)


def sentence_embeddings(W, cfg, input_ids, attention_mask, token_type_ids=None):
    h = bert_last_hidden_state(W, cfg, input_ids, attention_mask, token_type_ids)
    return mean_pool_normalize(h, attention_mask)


def bert_shapes(cfg):
    """{HF key: shape} of a BertModel's encoder weights (no pooler, no position_ids)."""
    D, I = cfg["hidden_size"], cfg["intermediate_size"]
    s = {
        "embeddings.word_embeddings.weight": [cfg["vocab_size"], D],
        "embeddings.position_embeddings.weight": [cfg["max_position_embeddings"], D],
        "embeddings.token_type_embeddings.weight": [cfg["type_vocab_size"], D],
        "embeddings.LayerNorm.weight": [D],
        "embeddings.LayerNorm.bias": [D],
    }
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            s[p + f"attention.self.{n}.weight"] = [D, D]
            s[p + f"attention.self.{n}.bias"] = [D]
        s[p + "attention.output.dense.weight"] = [D, D]
        s[p + "attention.output.dense.bias"] = [D]
        s[p + "attention.output.LayerNorm.weight"] = [D]
        s[p + "attention.output.LayerNorm.bias"] = [D]
        s[p + "intermediate.dense.weight"] = [I, D]
        s[p + "intermediate.dense.bias"] = [I]
        s[p + "output.dense.weight"] = [D, I]
        s[p + "output.dense.bias"] = [D]
        s[p + "output.LayerNorm.weight"] = [D]
        s[p + "output.LayerNorm.bias"] = [D]
    return s
