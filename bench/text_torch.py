"""PyTorch's fine-tuning speed for the `text` trainer's recipe: a BERT-family encoder
(default all-MiniLM-L6-v2, a Hugging Face BERT folder) loaded with transformers'
AutoModel (BertModel, no pooler), mean pooling over the attention mask, a new
nn.Linear(hidden, classes) head, masked multi-label binary cross-entropy
(BCEWithLogits) against random 0/1 targets, AdamW (head at 1e-3, encoder at 3e-5 as a
second parameter group, weight decay 0.01 as Pairlab's), forward + backward + step per
step, on N threads. One warm-up step, then --steps timed steps. Prints one JSON line.

The encoder runs in train mode with dropout set to 0 (hidden_dropout_prob and
attention_probs_dropout_prob), so the arithmetic equals Pairlab's. Attention is
transformers' "eager" implementation where the installed version accepts it (the JSON's
"attn" says which one ran). Inputs: every row exactly --len tokens, [CLS]=101, random ids
in [1000, vocab), [SEP]=102, attention mask all ones, token types all 0.

--unfreeze all trains everything; --unfreeze head runs the encoder's forward under
torch.no_grad every step and trains only the head. (Pairlab's `head` mode computes the
pooled vectors once and trains the head on them, so per step it does less than this.)

    python3 -m venv /tmp/textvenv
    /tmp/textvenv/bin/pip install torch transformers scikit-learn numpy safetensors
    /tmp/textvenv/bin/python bench/text_torch.py --unfreeze all  --batch 16 --len 256 --steps 5
    /tmp/textvenv/bin/python bench/text_torch.py --unfreeze head --batch 16 --len 256 --steps 5

Only random token ids are used: no report text, so no data licence applies here (the
MiniLM weights are Apache-2.0). Run on an otherwise idle machine with the same thread
count as the Pairlab side; a machine shared with a build gives meaningless timings (the
JSON records the 1-minute load average).
"""
import argparse
import json
import os
import resource
import time

import torch
import transformers
from transformers import AutoConfig, AutoModel

p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
p.add_argument("--model", default=os.path.expanduser("~/.cache/pairlab/fixtures/minilm"))
p.add_argument("--batch", type=int, default=16)
p.add_argument("--len", type=int, default=256, dest="seq_len")
p.add_argument("--classes", type=int, default=14)
p.add_argument("--steps", type=int, default=5)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--unfreeze", choices=["all", "head"], default="all")
a = p.parse_args()
if a.seq_len < 2:
    p.error("--len must be at least 2 ([CLS] and [SEP])")

torch.set_num_threads(a.threads)
torch.set_num_interop_threads(a.threads)
torch.manual_seed(0)

cfg = AutoConfig.from_pretrained(a.model, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
try:
    enc = AutoModel.from_pretrained(a.model, config=cfg, add_pooling_layer=False, attn_implementation="eager")
except (TypeError, ValueError):
    enc = AutoModel.from_pretrained(a.model, config=cfg, add_pooling_layer=False)
attn = getattr(enc.config, "_attn_implementation", None) or "unknown"
enc.train()
head = torch.nn.Linear(enc.config.hidden_size, a.classes)
head.train()

if a.unfreeze == "all":
    groups = [{"params": list(head.parameters()), "lr": 1e-3},
              {"params": list(enc.parameters()), "lr": 3e-5}]
else:
    for q in enc.parameters():
        q.requires_grad_(False)
    groups = [{"params": list(head.parameters()), "lr": 1e-3}]
opt = torch.optim.AdamW(groups, weight_decay=0.01)

vocab = enc.config.vocab_size
ids = torch.randint(1000, vocab, (a.batch, a.seq_len))
ids[:, 0] = 101
ids[:, -1] = 102
mask = torch.ones(a.batch, a.seq_len, dtype=torch.long)
types = torch.zeros(a.batch, a.seq_len, dtype=torch.long)
y = torch.randint(0, 2, (a.batch, a.classes)).float()
# Every target is scored here; the mask is kept so that the loss is the masked one.
y_mask = torch.ones(a.batch, a.classes)


def pooled():
    h = enc(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state
    m = mask.unsqueeze(-1).to(h.dtype)
    return (h * m).sum(1) / m.sum(1).clamp(min=1.0)


def step():
    if a.unfreeze == "all":
        v = pooled()
    else:
        with torch.no_grad():
            v = pooled()
    logits = head(v)
    per = torch.nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="none")
    loss = (per * y_mask).sum() / y_mask.sum().clamp(min=1.0)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


step()  # warm-up
t = time.perf_counter()
for _ in range(a.steps):
    step()
secs = time.perf_counter() - t
print(json.dumps({
    "batch": a.batch, "len": a.seq_len, "steps": a.steps, "threads": torch.get_num_threads(),
    "unfreeze": a.unfreeze, "seconds_per_step": secs / a.steps,
    "tokens_per_s": a.steps * a.batch * a.seq_len / secs,
    "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
    "torch": torch.__version__, "transformers": transformers.__version__, "attn": attn,
    "load_avg_1m": os.getloadavg()[0],
}))
