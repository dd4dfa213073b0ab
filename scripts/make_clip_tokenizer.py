#!/usr/bin/env python3
r"""Build a Hugging Face `tokenizers`-format tokenizer.json for the OpenAI CLIP BPE tokenizer.

Usage: make_clip_tokenizer.py BPE_SIMPLE_VOCAB_16E6_TXT_GZ OUT_TOKENIZER_JSON

Input is `open_clip/bpe_simple_vocab_16e6.txt.gz` as shipped in the `open_clip_torch`
wheel on PyPI (the same file as OpenAI's `clip/bpe_simple_vocab_16e6.txt.gz`).
Pure stdlib (json, gzip). The output is deterministic (same input -> same bytes), so
scripts/fetch-fixtures.sh can pin its sha256.

The vocabulary is built exactly like CLIP's SimpleTokenizer:
  * the 256 bytes_to_unicode() characters (ids 0..255),
  * the same characters + '</w>' (ids 256..511),
  * the first 49152-256-2 = 48894 merges, each joined (ids 512..49405),
  * '<|startoftext|>' = 49406, '<|endoftext|>' = 49407.
The JSON layout follows openai/clip-vit-base-patch32's tokenizer.json.

Verified with the Python `tokenizers` 0.23.3 library (Tokenizer.from_file(out).encode(s).ids),
open_clip_torch 2.32.0's bpe_simple_vocab_16e6.txt.gz; every list below also equals the output
of a copy of OpenAI CLIP's SimpleTokenizer (ftfy + html.unescape + regex, same merges file) and
of open_clip 2.32.0's own SimpleTokenizer (whose special tokens are spelled "<start_of_text>" /
"<end_of_text>", so a literal "<|endoftext|>" inside text is only special here):
  "a photo of a cat"
      -> [49406, 320, 1125, 539, 320, 2368, 49407]
  "Right-sided pleural effusion."
      -> [49406, 1155, 268, 21061, 926, 33948, 1490, 9364, 269, 49407]
         (right</w> -</w> sided</w> ple ural</w> ef fusion</w> .</w>)
  "A   PHOTO\tof a Cat!!"
      -> [49406, 320, 1125, 539, 320, 2368, 748, 49407]
  "There are 2 nodules, 12mm & 3.5cm."
      -> [49406, 997, 631, 273, 578, 691, 840, 267, 272, 273, 2848, 261, 274, 269, 276, 3741, 269, 49407]
  "it's the patient's x-ray (PA/lateral)?"
      -> [49406, 585, 568, 518, 6262, 568, 343, 268, 3077, 263, 2217, 270, 26646, 18765, 49407]
  "No acute cardiopulmonary process."
      -> [49406, 871, 19734, 6211, 39858, 749, 856, 4078, 269, 49407]
  "CT chest w/o contrast: 1.2 cm RUL nodule; f/u in 3-6 months."
      -> [49406, 1122, 10563, 342, 270, 334, 18501, 281, 272, 269, 273, 3741, 681, 331, 578, 691,
          579, 282, 325, 270, 340, 530, 274, 268, 277, 3109, 269, 49407]
  "café naïve résumé"
      -> [49406, 15304, 1097, 35689, 563, 29106, 7054, 4166, 49407]
  "😀 emoji ünïcödé ß"
      -> [49406, 7334, 16327, 6522, 77, 35689, 66, 7255, 67, 4166, 127, 509, 49407]
  "" -> [49406, 49407]
Digits are split one per token ([\p{N}]), as in CLIP. Note: the ByteLevel decoder (as in HF's
file) leaves the '</w>' suffixes in decoded text ("a</w>photo</w>..."); transformers'
CLIPTokenizerFast replaces '</w>' with ' ' itself after decoding, so a Rust caller must too.
"""

import gzip
import json
import sys

N_MERGES = 49152 - 256 - 2
BOS = "<|startoftext|>"
EOS = "<|endoftext|>"

SPLIT_REGEX = (
    r"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"
)


def bytes_to_unicode():
    """CLIP's / GPT-2's reversible byte -> printable unicode character table."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build(bpe_gz_path):
    with gzip.open(bpe_gz_path) as f:
        lines = f.read().decode("utf-8").split("\n")
    # line 0 is the "#version" header
    merges = [tuple(m.split()) for m in lines[1 : N_MERGES + 1]]
    if len(merges) != N_MERGES or any(len(m) != 2 for m in merges):
        raise SystemExit(f"unexpected merges file: {len(merges)} merges")
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    for m in merges:
        vocab.append("".join(m))
    vocab.extend([BOS, EOS])
    if len(vocab) != 49408 or len(set(vocab)) != 49408:
        raise SystemExit("vocab construction failed")
    vocab_map = {tok: i for i, tok in enumerate(vocab)}

    def added(tok_id, content):
        return {
            "id": tok_id,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }

    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [added(49406, BOS), added(49407, EOS)],
        "normalizer": {
            "type": "Sequence",
            "normalizers": [
                {"type": "NFC"},
                {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
                {"type": "Lowercase"},
            ],
        },
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": SPLIT_REGEX},
                    "behavior": "Removed",
                    "invert": True,
                },
                {
                    "type": "ByteLevel",
                    "add_prefix_space": False,
                    "trim_offsets": True,
                    "use_regex": False,
                },
            ],
        },
        "post_processor": {
            "type": "RobertaProcessing",
            "sep": [EOS, 49407],
            "cls": [BOS, 49406],
            "trim_offsets": False,
            "add_prefix_space": False,
        },
        "decoder": {
            "type": "ByteLevel",
            "add_prefix_space": True,
            "trim_offsets": True,
            "use_regex": True,
        },
        "model": {
            "type": "BPE",
            "dropout": None,
            "unk_token": EOS,
            "continuing_subword_prefix": "",
            "end_of_word_suffix": "</w>",
            "fuse_unk": False,
            "byte_fallback": False,
            "vocab": vocab_map,
            # "a b" strings: readable by every tokenizers version (old and new).
            "merges": [" ".join(m) for m in merges],
        },
    }


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__.strip().splitlines()[2])
    tok = build(sys.argv[1])
    with open(sys.argv[2], "w", encoding="utf-8", newline="\n") as f:
        json.dump(tok, f, ensure_ascii=False, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
