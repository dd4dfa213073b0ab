#!/usr/bin/env python3
"""Generate scikit-learn reference values for the metrics tests.

Writes tests/data/reference/sklearn_metrics.json and crates/pairlab-ml/src/sklearn_fixture.rs (Rust
consts, compiled only into the tests). The Rust file is wrapped here and is
skipped by rustfmt (`#[rustfmt::skip]` on its `mod` line), which would put
each long float on a line of its own.

Setup:  python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn numpy
Run:    /tmp/skvenv/bin/python make_sklearn_fixture.py   (from anywhere)
"""

import json
import pathlib
import textwrap

import numpy as np
import sklearn
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]  # the workspace root
rng = np.random.RandomState(20240601)


def best_threshold_f1(scores, labels):
    """Highest-F1 threshold (predict s >= t); ties keep the higher threshold."""
    best_f1, best_t = 0.0, float("inf")
    for t in sorted(set(scores.tolist()), reverse=True):
        f1 = f1_score(labels, scores >= t, zero_division=0)
        if f1 > best_f1:
            best_f1, best_t = f1, t
    return best_t


def binary_case(name, scores, labels):
    scores = scores.astype(np.float32)
    labels = labels.astype(bool)
    fpr, tpr, roc_t = roc_curve(labels, scores)
    prec, rec, pr_t = precision_recall_curve(labels, scores)
    return {
        "name": name,
        "scores": scores.tolist(),
        "labels": labels.tolist(),
        "roc_auc": float(roc_auc_score(labels, scores)),
        "average_precision": float(average_precision_score(labels, scores)),
        "roc_fpr": fpr.tolist(),
        "roc_tpr": tpr.tolist(),
        "roc_thresholds": roc_t.tolist(),
        # sklearn order: increasing threshold, then the (precision 1, recall 0) end point.
        "pr_precision": prec.tolist(),
        "pr_recall": rec.tolist(),
        "pr_thresholds": pr_t.tolist(),
        "best_threshold_f1": float(best_threshold_f1(scores, labels)),
    }


def multiclass_case(name, truth, pred, k):
    labels = list(range(k))
    p, r, f, s = precision_recall_fscore_support(
        truth, pred, labels=labels, average=None, zero_division=0
    )
    mp, mr, mf, _ = precision_recall_fscore_support(
        truth, pred, labels=labels, average="macro", zero_division=0
    )
    up, ur, uf, _ = precision_recall_fscore_support(
        truth, pred, labels=labels, average="micro", zero_division=0
    )
    return {
        "name": name,
        "truth": truth.tolist(),
        "pred": pred.tolist(),
        "confusion": confusion_matrix(truth, pred, labels=labels).tolist(),
        "precision": p.tolist(),
        "recall": r.tolist(),
        "f1": f.tolist(),
        "support": s.tolist(),
        "macro_precision": float(mp),
        "macro_recall": float(mr),
        "macro_f1": float(mf),
        "micro_precision": float(up),
        "micro_recall": float(ur),
        "micro_f1": float(uf),
        "accuracy": float(np.mean(truth == pred)),
    }


def binary_counts_case(name, pred, truth):
    p, r, f, _ = precision_recall_fscore_support(
        truth, pred, average="binary", zero_division=0
    )
    return {
        "name": name,
        "pred": pred.tolist(),
        "truth": truth.tolist(),
        "counts": confusion_matrix(truth, pred, labels=[False, True]).tolist(),
        "precision": float(p),
        "recall": float(r),
        "f1": float(f),
    }


# Binary scores: ties everywhere (scores rounded), one imbalanced case.
y = rng.rand(50) < 0.5
binary = [binary_case("n50_ties", np.round(0.3 * y + 0.7 * rng.rand(50), 1), y)]
y = rng.rand(200) < 0.4
binary.append(binary_case("n200_ties", np.round(rng.normal(y * 1.0, 1.0), 1), y))
y = rng.rand(200) < 0.08
binary.append(
    binary_case("n200_imbalanced", np.round(rng.beta(2, 5, 200) + 0.25 * y, 2), y)
)

# Multi-class: 3 classes, 30% of predictions random; and one with class 2
# never predicted (zero division in its precision).
truth = rng.randint(0, 3, 60)
pred = np.where(rng.rand(60) < 0.3, rng.randint(0, 3, 60), truth)
multiclass = [multiclass_case("mc3", truth, pred, 3)]
truth = rng.randint(0, 3, 45)
pred = np.where(rng.rand(45) < 0.4, rng.randint(0, 3, 45), truth)
pred = np.where(pred == 2, 0, pred)
multiclass.append(multiclass_case("mc3_never_pred_2", truth, pred, 3))

truth = rng.rand(40) < 0.35
pred = np.where(rng.rand(40) < 0.25, ~truth, truth)
counts = [binary_counts_case("binary40", pred, truth)]

data = {
    "sklearn_version": sklearn.__version__,
    "numpy_version": np.__version__,
    "binary": binary,
    "multiclass": multiclass,
    "binary_counts": counts,
}
(ROOT / "tests/data/reference" / "sklearn_metrics.json").write_text(json.dumps(data, indent=1) + "\n")


# ---- Rust consts --------------------------------------------------------
def field(key, value, width=100):
    """`        key: value,` for a struct literal; long `&[...]` values are
    broken at commas onto 12-space indented lines."""
    line = f"        {key}: {value},"
    if len(line) <= width or not value.startswith("&["):
        return [line]
    body = textwrap.wrap(value[2:-1], width - 12, break_long_words=False, break_on_hyphens=False)
    return [f"        {key}: &["] + ["            " + b for b in body] + ["        ],"]


def entry(name, fields):
    lines = [f"    {name} {{"]
    for key, value in fields:
        lines += field(key, value)
    return lines + ["    },"]


def f32s(xs):
    out = []
    for x in xs:
        if np.isinf(x):
            out.append("f32::INFINITY" if x > 0 else "f32::NEG_INFINITY")
        else:
            out.append(str(np.float32(x)))  # shortest repr that round-trips in f32
    return "&[" + ", ".join(out) + "]"


def f64s(xs):
    return "&[" + ", ".join(repr(float(x)) for x in xs) + "]"


def ints(xs):
    return "&[" + ", ".join(str(int(x)) for x in xs) + "]"


def bools(xs):
    return "&[" + ", ".join("true" if x else "false" for x in xs) + "]"


rs = [
    "//! scikit-learn reference values, generated by `make_sklearn_fixture.py`",
    f"//! (scikit-learn {sklearn.__version__}, numpy {np.__version__}). Do not edit by hand.",
    "",
    "/// Binary scores with sklearn's ranking metrics and curves.",
    "pub struct BinaryCase {",
    "    pub name: &'static str,",
    "    pub scores: &'static [f32],",
    "    pub labels: &'static [bool],",
    "    pub roc_auc: f64,",
    "    pub average_precision: f64,",
    "    pub roc_fpr: &'static [f64],",
    "    pub roc_tpr: &'static [f64],",
    "    pub roc_thresholds: &'static [f32],",
    "    /// sklearn order: increasing threshold, then the (1, 0) end point.",
    "    pub pr_precision: &'static [f64],",
    "    pub pr_recall: &'static [f64],",
    "    pub pr_thresholds: &'static [f32],",
    "    pub best_threshold_f1: f32,",
    "}",
    "",
    "/// Multi-class predictions with sklearn's confusion matrix and scores.",
    "pub struct MultiClassCase {",
    "    pub name: &'static str,",
    "    pub truth: &'static [usize],",
    "    pub pred: &'static [usize],",
    "    pub confusion: &'static [&'static [u64]],",
    "    pub precision: &'static [f64],",
    "    pub recall: &'static [f64],",
    "    pub f1: &'static [f64],",
    "    pub support: &'static [u64],",
    "    pub macro_precision: f64,",
    "    pub macro_recall: f64,",
    "    pub macro_f1: f64,",
    "    pub micro_precision: f64,",
    "    pub micro_recall: f64,",
    "    pub micro_f1: f64,",
    "    pub accuracy: f64,",
    "}",
    "",
    "/// Binary predictions with sklearn's counts and average='binary' scores.",
    "pub struct BinaryCountsCase {",
    "    pub name: &'static str,",
    "    pub pred: &'static [bool],",
    "    pub truth: &'static [bool],",
    "    pub counts: [[u64; 2]; 2],",
    "    pub precision: f64,",
    "    pub recall: f64,",
    "    pub f1: f64,",
    "}",
    "",
    "pub const BINARY: &[BinaryCase] = &[",
]
for c in binary:
    rs += entry(
        "BinaryCase",
        [
            ("name", json.dumps(c["name"])),
            ("scores", f32s(c["scores"])),
            ("labels", bools(c["labels"])),
            ("roc_auc", repr(c["roc_auc"])),
            ("average_precision", repr(c["average_precision"])),
            ("roc_fpr", f64s(c["roc_fpr"])),
            ("roc_tpr", f64s(c["roc_tpr"])),
            ("roc_thresholds", f32s(c["roc_thresholds"])),
            ("pr_precision", f64s(c["pr_precision"])),
            ("pr_recall", f64s(c["pr_recall"])),
            ("pr_thresholds", f32s(c["pr_thresholds"])),
            ("best_threshold_f1", f32s([c["best_threshold_f1"]])[2:-1]),
        ],
    )
rs += ["];", "", "pub const MULTICLASS: &[MultiClassCase] = &["]
for c in multiclass:
    fields = [("name", json.dumps(c["name"])), ("truth", ints(c["truth"])), ("pred", ints(c["pred"]))]
    fields.append(("confusion", "&[" + ", ".join(ints(r) for r in c["confusion"]) + "]"))
    fields += [(k, f64s(c[k])) for k in ("precision", "recall", "f1")]
    fields.append(("support", ints(c["support"])))
    keys = ("macro_precision", "macro_recall", "macro_f1", "micro_precision", "micro_recall")
    fields += [(k, repr(c[k])) for k in keys + ("micro_f1", "accuracy")]
    rs += entry("MultiClassCase", fields)
rs += ["];", "", "pub const BINARY_COUNTS: &[BinaryCountsCase] = &["]
for c in counts:
    (tn, fp), (fn_, tp) = c["counts"]
    rs += entry(
        "BinaryCountsCase",
        [
            ("name", json.dumps(c["name"])),
            ("pred", bools(c["pred"])),
            ("truth", bools(c["truth"])),
            ("counts", f"[[{tn}, {fp}], [{fn_}, {tp}]]"),
            ("precision", repr(c["precision"])),
            ("recall", repr(c["recall"])),
            ("f1", repr(c["f1"])),
        ],
    )
rs += ["];", ""]
out = ROOT / "crates/pairlab-ml/src" / "sklearn_fixture.rs"
out.write_text("\n".join(rs))
print(f"wrote {out} and tests/data/reference/sklearn_metrics.json")
