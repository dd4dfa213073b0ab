"""A small SigLIP in the Hugging Face layout (transformers' `save_pretrained`: config.json +
model.safetensors, random weights, torch.manual_seed 9) and its image features, for Pairlab's
SigLIP image tower (candle-transformers' `siglip`, run through `Encoder`).

Writes tests/data/reference/siglip_tiny/{config.json, model.safetensors} and
tests/data/reference/siglip_tiny.json: `get_image_features` (the attention-pooled output)
L2-normalised, for two [3, 64, 64] images p[b, c, y, x] = sin((1 + 2b)(0.05y + 0.03x) +
0.1c + 0.7b).
"""
import json
import math
import os

import numpy as np
import torch
from transformers import SiglipConfig, SiglipModel

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "reference")


def main():
    torch.manual_seed(9)
    cfg = SiglipConfig(
        text_config=dict(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=16),
        vision_config=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                           image_size=64, patch_size=16),
    )
    m = SiglipModel(cfg).eval()
    d = os.path.join(OUT, "siglip_tiny")
    m.save_pretrained(d, safe_serialization=True)
    px = np.zeros((2, 3, 64, 64), dtype=np.float64)
    for b in range(2):
        for c in range(3):
            for y in range(64):
                for x in range(64):
                    px[b, c, y, x] = math.sin((1 + 2 * b) * (0.05 * y + 0.03 * x) + 0.1 * c + 0.7 * b)
    with torch.no_grad():
        f = m.get_image_features(pixel_values=torch.from_numpy(px.astype(np.float32)))
        if not isinstance(f, torch.Tensor):
            f = f.pooler_output
        f = f / f.norm(dim=-1, keepdim=True)
    with open(os.path.join(OUT, "siglip_tiny.json"), "w") as fh:
        json.dump({"image_features": [[float("%.9g" % v) for v in row] for row in f.numpy().astype(np.float64)]}, fh, indent=1)
        fh.write("\n")
    print(f[:, :4])


if __name__ == "__main__":
    main()
