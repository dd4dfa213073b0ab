"""References for Pairlab's ResNet / DenseNet backbones and its PyTorch checkpoint reader.

Writes (all small, committed):
  tests/data/reference/backbones.json   torchvision resnet18/resnet50/densenet121 on the
                                        deterministic weights below: pooled features
                                        (L2-normalised) and the first logits, float64
  tests/data/reference/checkpoints/     real torch.save files of small random networks:
    xrv_tiny.pt          a whole torchxrayvision.models.DenseNet (zip format)
    xrv_tiny_legacy.pt   the same, pre-1.6 format (_use_new_zipfile_serialization=False)
    nested_state.pth     {"state_dict": {"module." + key: tensor}, "epoch": 3}, one tensor a
                         transposed (non-contiguous) view
    not_tensors.pt       {"epoch": 3, "names": [...]}: no tensors at all
    xrv_tiny.json        what torchxrayvision computes with them: features2() and forward()
                         (logits), float32
  tests/data/reference/timm_resnet50_config.json   the config.json timm's save_for_hf writes

Needs torch, torchvision, timm, torchxrayvision (see README.md). Deterministic weights:
a tensor named `name` draws u_i in [-1, 1) from splitmix64 seeded with FNV-1a-64(name)
(Rust: `random_weights::backbone_value`); a convolution [o, i, kh, kw] is
sqrt(6 / (i kh kw)) u, a linear [o, i] is u / sqrt(i), and 1-D tensors are batch norm's:
running_var 1 + 0.5 u, running_mean 0.1 u, weight 1 + 0.1 u, bias 0.1 u. Integer buffers
(num_batches_tracked) are left alone.
"""

import json
import math
import os
import sys

import numpy as np
import torch
import torchvision
import timm
import torchxrayvision as xrv

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "data", "reference")


def fnv1a(name):
    h = 0xCBF29CE484222325
    for b in name.encode("utf-8"):
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def units(seed, n):
    """splitmix64 from `seed`, each draw (z >> 40) / 2^24 * 2 - 1 (Rust: SplitMix64::unit)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        z = np.uint64(seed) + i * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float64) / float(1 << 24) * 2.0 - 1.0


def det(name, shape):
    n = int(np.prod(shape)) if len(shape) else 1
    u = units(fnv1a(name), n)
    if len(shape) == 4:
        v = math.sqrt(6.0 / (shape[1] * shape[2] * shape[3])) * u
    elif len(shape) == 2:
        v = (1.0 / math.sqrt(shape[1])) * u
    elif name.endswith("running_var"):
        v = 1.0 + 0.5 * u
    elif name.endswith("running_mean"):
        v = 0.1 * u
    elif name.endswith(".weight"):
        v = 1.0 + 0.1 * u
    else:
        v = 0.1 * u
    return v.astype(np.float32).reshape(shape)


def set_det(model):
    sd = model.state_dict()
    for k, t in sd.items():
        if t.dtype in (torch.int64, torch.int32):
            continue
        sd[k] = torch.from_numpy(det(k, tuple(t.shape)))
    model.load_state_dict(sd)


def pixels(b, c, s):
    p = np.zeros((b, c, s, s), dtype=np.float64)
    for i in range(b):
        for ch in range(c):
            for y in range(s):
                for x in range(s):
                    p[i, ch, y, x] = math.sin((1 + 2 * i) * (0.05 * y + 0.03 * x) + 0.1 * ch + 0.7 * i)
    return p.astype(np.float32)


def r9(a):
    return [[float("%.9g" % v) for v in row] for row in np.asarray(a, dtype=np.float64)]


def backbone_refs():
    x = torch.from_numpy(pixels(2, 3, 64)).double()
    out = {"pixels": "[2,3,64,64], p[b,c,y,x] = sin((1 + 2b)(0.05y + 0.03x) + 0.1c + 0.7b)", "models": {}}
    for name in ["resnet18", "resnet50", "densenet121"]:
        m = getattr(torchvision.models, name)(weights=None)
        set_det(m)
        m = m.double().eval()
        with torch.no_grad():
            if name.startswith("resnet"):
                f = m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(m.maxpool(m.relu(m.bn1(m.conv1(x))))))))).flatten(1)
                logits = m.fc(f)
            else:
                f = torch.nn.functional.adaptive_avg_pool2d(torch.relu(m.features(x)), 1).flatten(1)
                logits = m.classifier(f)
        fn = f / f.norm(dim=1, keepdim=True)
        assert torch.isfinite(f).all()
        spread = (fn[0] - fn[1]).abs().max().item()
        print(name, "features", tuple(f.shape), "max |f0 - f1| normalised", spread, file=sys.stderr)
        out["models"][name] = {
            "features_norm": r9(fn.numpy()),
            "logits_first8": r9(logits[:, :8].numpy()),
        }
    return out


def tiny_xrv():
    torch.manual_seed(7)
    m = xrv.models.DenseNet(growth_rate=4, block_config=(2, 2, 2, 2), num_init_features=8, bn_size=2)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.2, 0.2)
                mod.running_var.uniform_(0.5, 1.5)
                mod.weight.uniform_(0.8, 1.2)
                mod.bias.uniform_(-0.1, 0.1)
    return m.eval()


def checkpoint_files():
    d = os.path.join(OUT, "checkpoints")
    os.makedirs(d, exist_ok=True)
    m = tiny_xrv()
    torch.save(m, os.path.join(d, "xrv_tiny.pt"))
    torch.save(m, os.path.join(d, "xrv_tiny_legacy.pt"), _use_new_zipfile_serialization=False)
    sd = {"module." + k: v for k, v in m.state_dict().items()}
    w = sd["module.classifier.weight"]
    sd["module.classifier.weight"] = w.t().contiguous().t()  # same values, column-major
    assert not sd["module.classifier.weight"].is_contiguous()
    torch.save({"state_dict": sd, "epoch": 3}, os.path.join(d, "nested_state.pth"))
    torch.save({"epoch": 3, "names": ["a", "b"]}, os.path.join(d, "not_tensors.pt"))
    x = torch.from_numpy(pixels(2, 1, 64)) * 1024.0
    with torch.no_grad():
        feats = m.features2(x)
        logits = m(x)
    ref = {
        "pixels": "[2,1,64,64], 1024 * sin((1 + 2b)(0.05y + 0.03x) + 0.1c + 0.7b)",
        "config": {"growth": 4, "blocks": [2, 2, 2, 2], "init_features": 8, "bn_size": 2, "in_channels": 1, "classes": 18},
        "features": r9(feats.numpy()),
        "logits": r9(logits.numpy()),
    }
    with open(os.path.join(d, "xrv_tiny.json"), "w") as f:
        json.dump(ref, f, indent=1)
        f.write("\n")


def timm_config(tmp):
    m = timm.create_model("resnet50", pretrained=False)
    timm.models._hub.save_for_hf(m, tmp, safe_serialization=True)
    with open(os.path.join(tmp, "config.json")) as f:
        cfg = json.load(f)
    with open(os.path.join(OUT, "timm_resnet50_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    torch.set_num_threads(2)
    with open(os.path.join(OUT, "backbones.json"), "w") as f:
        json.dump(backbone_refs(), f)
        f.write("\n")
    checkpoint_files()
    import tempfile

    with tempfile.TemporaryDirectory() as t:
        timm_config(t)
    print("versions: torch", torch.__version__, "torchvision", torchvision.__version__, "timm", timm.__version__, "torchxrayvision", xrv.__version__, file=sys.stderr)
