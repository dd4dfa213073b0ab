"""A classical baseline for report classification on real radiology reports: TF-IDF +
logistic regression (scikit-learn), one binary model per class, scored on a held-out file.
It is the reference that Pairlab's `text` trainer (a fine-tuned BERT-family encoder) is
compared with on the same development / held-out split.

Inputs are two CSV files in the CheXpert labeler layout: a header
`Reports,No Finding,Enlarged Cardiomediastinum,...,Support Devices` (14 class columns), one
row per report, gold cells `1.0`, `0.0` or empty. An empty cell (or any other value, e.g.
an uncertain `-1.0`, counted and reported) leaves the class out for that report: that
report is neither trained on nor scored for that class.

Protocol, per class in --classes (default: No Finding, Cardiomegaly, Pleural Effusion,
Atelectasis, Edema, Pneumothorax):
- Pipeline TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True,
  lowercase=True) -> LogisticRegression(C, class_weight="balanced", max_iter=2000), on the
  dev reports that have a 1.0/0.0 gold for the class (the vectorizer is refitted inside
  each fold, so cross-validation sees no vocabulary or IDF from its validation fold).
- C from {0.1, 1, 10, 100} by the mean AUROC over stratified 5-fold cross-validation on dev
  (shuffled, seed 0; fewer folds when a class has fewer than 5 positives or negatives;
  ties go to the smaller C).
- The decision threshold: the one with the best F1 on the dev out-of-fold probabilities of
  the chosen C.
- The model refitted on all those dev reports; then the held-out reports with a 1.0/0.0
  gold for the class are scored: AUROC, average precision, precision / recall / F1 at the
  dev threshold, support (positives, and n for all scored rows).
- Normal vs abnormal: the No Finding model's probability (normal = No Finding 1.0,
  abnormal = 0.0): accuracy at No Finding's dev threshold, and AUROC.
Nothing is fitted or chosen on the held-out file: it is read only to be scored.
macro_auroc is the mean over the scored classes other than No Finding (the five common
findings with the default --classes); macro_auroc_six includes No Finding too.

    /tmp/textvenv/bin/python bench/text_real.py --dev /tmp/iu-csv/dev_gold.csv \\
        --heldout /tmp/iu-csv/heldout_gold.csv            # table on stdout
    /tmp/textvenv/bin/python bench/text_real.py --dev DEV.csv --heldout HELD.csv --json
        # table on stderr, one JSON object on stdout:
        # {"classes":[{"class","auroc","ap","precision","recall","f1","support","n",
        #   "threshold","C","cv_auroc","n_dev","dev_positives"}], "macro_auroc",
        #   "macro_auroc_six", "normal_vs_abnormal":{"accuracy","auroc","n"}, "sklearn", ...}
    # smoke test only (no held-out file yet): the dev file split in two in memory,
    # alternate rows, the even rows as dev and the odd ones as "held-out"
    /tmp/textvenv/bin/python bench/text_real.py --dev /tmp/iu-csv/dev_gold.csv --smoke-split

Data licence: the IU X-ray reports (Open-i / NLM, as shipped in the torchxrayvision
wheel) are CC BY-NC-ND 4.0. Read them where they lie (e.g. /tmp/iu-csv or Pairlab's fixture
cache); never copy them, or anything derived from them (gold files, predictions,
vocabularies, per-report output), into the repository. This script writes nothing but its
summary figures.

Needs scikit-learn and numpy (e.g. the venv above: pip install scikit-learn numpy).
"""
import argparse
import csv
import json
import math
import sys

import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (accuracy_score, average_precision_score, f1_score,
                             precision_recall_curve, precision_score, recall_score,
                             roc_auc_score)
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline

DEFAULT_CLASSES = "No Finding,Cardiomegaly,Pleural Effusion,Atelectasis,Edema,Pneumothorax"
C_GRID = (0.1, 1.0, 10.0, 100.0)
NO_FINDING = "No Finding"


def read_gold(path):
    """(texts, header, rows as dicts) from a CheXpert-layout CSV."""
    csv.field_size_limit(sys.maxsize)
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.DictReader(f)
        if not r.fieldnames or r.fieldnames[0] != "Reports":
            sys.exit(f"{path}: the first column must be 'Reports' (CheXpert labeler layout)")
        rows = list(r)
    return rows, r.fieldnames


def labels(rows, cls):
    """(indices with a 1.0/0.0 gold, their 0/1 labels, count of other non-empty values)."""
    idx, y, other = [], [], 0
    for i, row in enumerate(rows):
        v = (row.get(cls) or "").strip()
        if v in ("1.0", "1"):
            idx.append(i)
            y.append(1)
        elif v in ("0.0", "0"):
            idx.append(i)
            y.append(0)
        elif v:
            other += 1
    return np.array(idx, dtype=int), np.array(y, dtype=int), other


def model(c):
    return make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, lowercase=True),
        LogisticRegression(C=c, class_weight="balanced", max_iter=2000),
    )


def best_f1_threshold(y, p):
    prec, rec, thr = precision_recall_curve(y, p)
    prec, rec = prec[:-1], rec[:-1]  # the last point (recall 0) has no threshold
    f1 = np.where(prec + rec > 0, 2 * prec * rec / np.maximum(prec + rec, 1e-12), 0.0)
    k = int(np.argmax(f1))
    return float(thr[k]), float(f1[k])


def fit_class(texts, y):
    """Choose C by cross-validated AUROC and the threshold on out-of-fold probabilities,
    then refit on all of them. Dev data only."""
    folds = min(5, int(y.sum()), int(len(y) - y.sum()))
    if folds < 2:
        return None
    skf = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    best = None
    for c in C_GRID:
        oof = np.zeros(len(y))
        aucs = []
        for tr, va in skf.split(texts, y):
            m = model(c).fit([texts[i] for i in tr], y[tr])
            oof[va] = m.predict_proba([texts[i] for i in va])[:, 1]
            aucs.append(roc_auc_score(y[va], oof[va]))
        auc = float(np.mean(aucs))
        if best is None or auc > best[1] + 1e-12:
            best = (c, auc, oof)
    c, cv_auc, oof = best
    thr, dev_f1 = best_f1_threshold(y, oof)
    m = model(c).fit(texts, y)
    return {"model": m, "C": c, "cv_auroc": cv_auc, "threshold": thr, "dev_oof_f1": dev_f1,
            "folds": folds}


def nan_to_none(x):
    return None if isinstance(x, float) and math.isnan(x) else x


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dev", required=True, help="development CSV: all fitting and choosing")
    ap.add_argument("--heldout", help="held-out CSV: scored only")
    ap.add_argument("--smoke-split", action="store_true",
                    help="no held-out file: split --dev in two in memory (a smoke test only)")
    ap.add_argument("--classes", default=DEFAULT_CLASSES)
    ap.add_argument("--json", action="store_true",
                    help="one JSON object on stdout (the table goes to stderr)")
    a = ap.parse_args()
    if bool(a.heldout) == a.smoke_split:
        ap.error("give exactly one of --heldout CSV and --smoke-split")

    dev_rows, dev_head = read_gold(a.dev)
    if a.smoke_split:
        held_rows, held_head = dev_rows[1::2], dev_head
        dev_rows = dev_rows[0::2]
    else:
        held_rows, held_head = read_gold(a.heldout)
    classes = [c.strip() for c in a.classes.split(",") if c.strip()]
    for c in classes:
        for name, head in (("dev", dev_head), ("held-out", held_head)):
            if c not in head:
                sys.exit(f"class {c!r} is not a column of the {name} file")
    dev_texts = [r["Reports"] or "" for r in dev_rows]
    held_texts = [r["Reports"] or "" for r in held_rows]

    out = sys.stderr if a.json else sys.stdout
    notes = []
    if a.smoke_split:
        notes.append("SMOKE TEST: dev file split in two in memory; not held-out figures")
    results, nf = [], None
    for cls in classes:
        di, dy, d_other = labels(dev_rows, cls)
        hi, hy, h_other = labels(held_rows, cls)
        if d_other or h_other:
            notes.append(f"{cls}: {d_other} dev / {h_other} held-out cells neither 1.0, 0.0 "
                         "nor empty, left out")
        f = fit_class([dev_texts[i] for i in di], dy)
        row = {"class": cls, "n_dev": int(len(dy)), "dev_positives": int(dy.sum()),
               "support": int(hy.sum()), "n": int(len(hy))}
        if f is None:
            notes.append(f"{cls}: too few dev positives or negatives to fit; skipped")
            row.update(auroc=None, ap=None, precision=None, recall=None, f1=None,
                       threshold=None, C=None, cv_auroc=None)
            results.append(row)
            continue
        if f["folds"] < 5:
            notes.append(f"{cls}: {f['folds']}-fold cross-validation (few dev examples)")
        p = f["model"].predict_proba([held_texts[i] for i in hi])[:, 1] if len(hi) else np.zeros(0)
        pred = (p >= f["threshold"]).astype(int)
        both = len(hy) > 0 and 0 < hy.sum() < len(hy)
        if not both:
            notes.append(f"{cls}: held-out rows are all one class; AUROC/AP undefined")
        row.update(
            auroc=float(roc_auc_score(hy, p)) if both else None,
            ap=float(average_precision_score(hy, p)) if both else None,
            precision=float(precision_score(hy, pred, zero_division=0)) if len(hy) else None,
            recall=float(recall_score(hy, pred, zero_division=0)) if len(hy) else None,
            f1=float(f1_score(hy, pred, zero_division=0)) if len(hy) else None,
            threshold=f["threshold"], C=f["C"], cv_auroc=f["cv_auroc"],
        )
        results.append(row)
        if cls == NO_FINDING:
            nf = (hy, p, pred, both)

    normal = None
    if nf is not None:
        hy, p, pred, both = nf
        normal = {"accuracy": float(accuracy_score(hy, pred)) if len(hy) else None,
                  "auroc": float(roc_auc_score(hy, p)) if both else None,
                  "n": int(len(hy)), "normal": int(hy.sum()), "abnormal": int(len(hy) - hy.sum())}

    def macro(rows):
        v = [r["auroc"] for r in rows if r["auroc"] is not None]
        return float(np.mean(v)) if v else None

    macro5 = macro([r for r in results if r["class"] != NO_FINDING])
    macro6 = macro(results)

    def fmt(x, w=6):
        return f"{x:{w}.3f}" if isinstance(x, float) else f"{'-':>{w}}"

    print(f"TF-IDF + logistic regression (scikit-learn {sklearn.__version__}); "
          f"dev {a.dev} ({len(dev_rows)} reports), held-out "
          f"{'(in-memory half of dev)' if a.smoke_split else a.heldout} ({len(held_rows)} reports)",
          file=out)
    print(f"{'class':<18} {'AUROC':>6} {'AP':>6} {'prec':>6} {'recall':>6} {'F1':>6} "
          f"{'pos/n':>9} {'thr':>6} {'C':>5} {'cvAUROC':>7} {'dev pos/n':>10}", file=out)
    for r in results:
        print(f"{r['class']:<18} {fmt(r['auroc'])} {fmt(r['ap'])} {fmt(r['precision'])} "
              f"{fmt(r['recall'])} {fmt(r['f1'])} {str(r['support']) + '/' + str(r['n']):>9} "
              f"{fmt(r['threshold'])} {r['C'] if r['C'] is not None else '-':>5} "
              f"{fmt(r['cv_auroc'], 7)} {str(r['dev_positives']) + '/' + str(r['n_dev']):>10}",
              file=out)
    print(f"macro AUROC (without No Finding): {fmt(macro5)}   with it: {fmt(macro6)}", file=out)
    if normal:
        print(f"normal vs abnormal: accuracy {fmt(normal['accuracy'])} at the dev threshold, "
              f"AUROC {fmt(normal['auroc'])} ({normal['normal']} normal / "
              f"{normal['abnormal']} abnormal)", file=out)
    for n in notes:
        print(f"note: {n}", file=out)

    if a.json:
        print(json.dumps({
            "classes": [{k: nan_to_none(v) for k, v in r.items()} for r in results],
            "macro_auroc": macro5, "macro_auroc_six": macro6,
            "normal_vs_abnormal": normal, "sklearn": sklearn.__version__,
            "n_dev": len(dev_rows), "n_heldout": len(held_rows),
            "smoke_test": a.smoke_split, "notes": notes,
        }))


if __name__ == "__main__":
    main()
