"""A small CLIP in OpenAI's checkpoint format (what CheXzero and OpenAI's own `.pt` files
are: a state dict with `visual.conv1`, `visual.transformer.resblocks.N.attn.in_proj_weight`,
`visual.proj`, `token_embedding`, `text_projection`, …), made with open_clip, and what
open_clip computes with it.

Writes tests/data/reference/checkpoints/openai_clip_tiny.pt (random weights, torch.manual_seed
5: vision width 64 = 1 head of 64 as OpenAI's build_model derives it, 2 layers, patch 16,
image 64; text width 64, 1 layer, vocabulary 300, context 77; embedding 32; quick GELU) and
openai_clip_tiny.json: normalised image features of two [3, 64, 64] images (p[b, c, y, x] =
sin((1 + 2b)(0.05y + 0.03x) + 0.1c + 0.7b)) and normalised text features of two id rows
(pooled at their largest id, as OpenAI CLIP does).
"""
import json
import math
import os

import numpy as np
import torch
from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "reference", "checkpoints")


def main():
    torch.manual_seed(5)
    m = CLIP(
        embed_dim=32,
        vision_cfg=CLIPVisionCfg(layers=2, width=64, head_width=64, patch_size=16, image_size=64, mlp_ratio=4.0),
        text_cfg=CLIPTextCfg(context_length=77, vocab_size=300, width=64, heads=1, layers=1),
        quick_gelu=True,
    ).eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    torch.save(m.state_dict(), os.path.join(OUT, "openai_clip_tiny.pt"))
    px = np.zeros((2, 3, 64, 64), dtype=np.float64)
    for b in range(2):
        for c in range(3):
            for y in range(64):
                for x in range(64):
                    px[b, c, y, x] = math.sin((1 + 2 * b) * (0.05 * y + 0.03 * x) + 0.1 * c + 0.7 * b)
    ids = torch.zeros((2, 77), dtype=torch.long)
    ids[0, :6] = torch.tensor([298, 5, 17, 42, 3, 299])
    ids[1, :3] = torch.tensor([298, 60, 299])
    with torch.no_grad():
        img = m.encode_image(torch.from_numpy(px.astype(np.float32)), normalize=True)
        txt = m.encode_text(ids, normalize=True)
    r9 = lambda a: [[float("%.9g" % v) for v in row] for row in a.numpy().astype(np.float64)]
    with open(os.path.join(OUT, "openai_clip_tiny.json"), "w") as f:
        json.dump({"ids": ids[:, :8].tolist(), "image_features": r9(img), "text_features": r9(txt)}, f, indent=1)
        f.write("\n")
    print("image", img[:, :4], "text", txt[:, :4])


if __name__ == "__main__":
    main()
