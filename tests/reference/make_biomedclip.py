"""A small BiomedCLIP-architecture open_clip model, saved as the Hugging Face hub folder of
microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224 is laid out: open_clip_config.json
(BiomedCLIP's own, with embed_dim, image_size and context_length made small),
open_clip_pytorch_model.bin (torch.save of open_clip's CLIP state dict: `visual.trunk.*` a
timm VisionTransformer, `visual.head.proj` its linear projection, `text.transformer.*` a
Hugging Face BertModel, `text.proj.*` the two-layer MLP projection) and the BERT tokenizer
files (tokenizer.json, tokenizer_config.json) — and what open_clip computes with it.

The timm trunk is BiomedCLIP's `vit_base_patch16_224` with its size made small when timm
builds it (embed_dim 128 = 2 heads of 64, depth 2, mlp_ratio 2, patch 8, image 32); the BERT
is 128 wide, 2 heads, 1 layer, intermediate 256, 64 positions, a 100-word vocabulary.
Weights: open_clip's initialisation at torch.manual_seed(11), every parameter then moved by
0.02·N(0, 1) so that no layer is an identity.

Writes tests/data/reference/biomedclip_tiny/ and biomedclip_tiny.json: normalised image
features of two [3, 32, 32] images (p[b, c, y, x] = sin((1 + 2b)(0.05y + 0.03x) + 0.1c +
0.7b)), and for three texts open_clip's HFTokenizer ids (context 64, padding dropped) and
normalised text features — with BiomedCLIP's pooling (the [CLS] token's last hidden state)
and, from the same weights, with open_clip's mean_pooler.
"""
import json
import math
import os
import tempfile

import numpy as np
import open_clip
import timm
import torch
from transformers import BertConfig, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "reference")
DIR = os.path.join(OUT, "biomedclip_tiny")

WORDS = (
    "no acute cardiopulmonary process the heart size is normal lungs are clear there is a "
    "small left right pleural effusion mild cardiomegaly pneumothorax consolidation edema "
    "opacity atelectasis of and with in stable unchanged compared to prior exam , . - 1 2 3"
).split()

TEXTS = [
    "No acute cardiopulmonary process.",
    "There is a small left pleural effusion with mild cardiomegaly, unchanged compared to the prior exam.",
    "   lungs   are CLEAR  ",
]

CONFIG = {
    "model_cfg": {
        "embed_dim": 64,
        "vision_cfg": {
            "timm_model_name": "vit_base_patch16_224",
            "timm_model_pretrained": False,
            "timm_pool": "",
            "timm_proj": "linear",
            "image_size": 32,
        },
        "text_cfg": {
            "hf_model_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
            "hf_tokenizer_name": "microsoft/BiomedNLP-BiomedBERT-base-uncased-abstract",
            "hf_proj_type": "mlp",
            "hf_pooler_type": "cls_last_hidden_state_pooler",
            "context_length": 64,
        },
    },
    "preprocess_cfg": {
        "mean": [0.48145466, 0.4578275, 0.40821073],
        "std": [0.26862954, 0.26130258, 0.27577711],
    },
}


def small_timm():
    real = timm.create_model

    def create(name, **kw):
        kw.update(embed_dim=128, depth=2, num_heads=2, mlp_ratio=2.0, patch_size=8, img_size=32)
        return real(name, **kw)

    open_clip.timm_model.timm.create_model = create


def main():
    os.makedirs(DIR, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
    vocab += ["##s", "##ed", "##al", "##ion", "##y"] + list("abcdefghijklmnopqrstuvwxyz")
    vocab += ["##" + c for c in "abcdefghijklmnopqrstuvwxyz"][: 100 - len(vocab)]
    assert len(vocab) == 100, len(vocab)
    with tempfile.TemporaryDirectory() as bert_dir:
        tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True)
        tok.save_pretrained(bert_dir)
        BertConfig(
            vocab_size=len(vocab), hidden_size=128, num_hidden_layers=1, num_attention_heads=2,
            intermediate_size=256, max_position_embeddings=64,
        ).save_pretrained(bert_dir)
        tok.save_pretrained(DIR)
        small_timm()
        cfg = json.loads(json.dumps(CONFIG["model_cfg"]))
        cfg["text_cfg"]["hf_model_name"] = bert_dir
        cfg["text_cfg"]["hf_tokenizer_name"] = bert_dir
        cfg["text_cfg"]["hf_model_pretrained"] = False
        torch.manual_seed(11)
        m = open_clip.CustomTextCLIP(**cfg).eval()
        with torch.no_grad():
            for p in m.parameters():
                p.add_(torch.randn_like(p) * 0.02)
        tokenizer = open_clip.tokenizer.HFTokenizer(bert_dir, context_length=64)
        ids = tokenizer(TEXTS)
    torch.save(m.state_dict(), os.path.join(DIR, "open_clip_pytorch_model.bin"))
    with open(os.path.join(DIR, "open_clip_config.json"), "w") as f:
        json.dump(CONFIG, f, indent=4)
        f.write("\n")
    px = np.zeros((2, 3, 32, 32), dtype=np.float64)
    for b in range(2):
        for c in range(3):
            for y in range(32):
                for x in range(32):
                    px[b, c, y, x] = math.sin((1 + 2 * b) * (0.05 * y + 0.03 * x) + 0.1 * c + 0.7 * b)
    with torch.no_grad():
        img = m.encode_image(torch.from_numpy(px.astype(np.float32)), normalize=True)
        txt = m.encode_text(ids, normalize=True)
        m.text.pooler = open_clip.hf_model.MeanPooler()
        txt_mean = m.encode_text(ids, normalize=True)
    r9 = lambda a: [[float("%.9g" % v) for v in row] for row in a.numpy().astype(np.float64)]
    ids_kept = [[int(v) for v in row if v != 0] for row in ids]
    with open(os.path.join(OUT, "biomedclip_tiny.json"), "w") as f:
        json.dump(
            {"texts": TEXTS, "ids": ids_kept, "image_features": r9(img), "text_features": r9(txt),
             "text_features_mean_pooler": r9(txt_mean)},
            f, indent=1,
        )
        f.write("\n")
    print("keys", [k for k in m.state_dict()][:6], "...", len(m.state_dict()))
    print("ids", ids_kept)
    print("image", img[:, :4], "text", txt[:, :4])


if __name__ == "__main__":
    main()
