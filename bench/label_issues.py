#!/usr/bin/env python3
"""Planted label noise on Fashion-MNIST, for `bench/label_issues.sh`.

    label_issues.py plant DIR --rate 0.2 [--n 10000] [--seed 0]
        Writes the first N training images of Debian's dataset-fashion-mnist as a
        folders-layout corpus DIR/train/<class>/<n>.png, a seeded fraction RATE of them in
        the folder of a confusable class (class-conditional noise: t-shirt↔shirt,
        pullover↔coat, sandal↔sneaker, …), and the truth in DIR.truth.csv (never inside the
        corpus).
    label_issues.py score DIR LIBRARY REPORT.json
        Precision / recall / F1 of Pairlab's flagged pairs against the planted errors; and
        Cleanlab 2.9 run on Pairlab's own out-of-fold probabilities (read from the library),
        whose flags must be the same (an end-to-end parity check).
    label_issues.py baseline DIR
        What a Cleanlab user does first: 5-fold out-of-fold probabilities from
        scikit-learn's logistic regression on the pixels, then cleanlab.filter.
        find_label_issues (default filter); precision / recall / F1 and wall time.

`score` and `baseline` need numpy, scikit-learn and cleanlab==2.9.0 (a throwaway venv).
"""
import argparse, csv, gzip, json, os, random, sqlite3, struct, sys, time, zlib

sys.path.insert(0, os.path.dirname(__file__))
from fashion_mnist import CLASSES, idx, png  # noqa: E402

# Each class's confusable class (where its planted errors go).
CONFUSABLE = {
    "t-shirt": "shirt", "shirt": "t-shirt", "pullover": "coat", "coat": "pullover",
    "dress": "coat", "trouser": "dress", "sandal": "sneaker", "sneaker": "sandal",
    "ankle-boot": "sneaker", "bag": "pullover",
}
SRC = "/usr/share/datasets/fashion-mnist"


def plant(a):
    (n, h, w), pixels = idx(os.path.join(SRC, "train-images-idx3-ubyte.gz"))
    _, labels = idx(os.path.join(SRC, "train-labels-idx1-ubyte.gz"))
    n = min(n, a.n)
    rng = random.Random(a.seed)
    flip = set(rng.sample(range(n), round(a.rate * n)))
    for c in CLASSES:
        os.makedirs(os.path.join(a.dir, "train", c), exist_ok=True)
    with open(a.dir.rstrip("/") + ".truth.csv", "w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["file", "true", "given"])
        for i in range(n):
            true = CLASSES[labels[i]]
            given = CONFUSABLE[true] if i in flip else true
            name = f"{i:05d}.png"
            with open(os.path.join(a.dir, "train", given, name), "wb") as g:
                g.write(png(w, h, pixels[i * h * w:(i + 1) * h * w]))
            out.writerow([name, true, given])
    print(f"planted {len(flip)} of {n} labels wrong ({a.rate:.0%})")


def truth(dir):
    with open(dir.rstrip("/") + ".truth.csv") as f:
        return {r["file"]: (r["true"], r["given"]) for r in csv.DictReader(f)}


def prf(flagged, wrong):
    tp = len(flagged & wrong)
    p = tp / len(flagged) if flagged else 0.0
    r = tp / len(wrong) if wrong else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


def score(a):
    import numpy as np
    from cleanlab.filter import find_label_issues
    t = truth(a.dir)
    wrong = {f for f, (true, given) in t.items() if true != given}
    rep = json.load(open(a.report))
    db = sqlite3.connect(os.path.join(a.library, "pairlab.db"))
    file_of = {pid: os.path.basename(path) for pid, path in db.execute(
        "SELECT p.id, i.path FROM pairs p JOIN images i ON i.id = p.image_id")}
    flagged = {file_of[x["pair_id"]] for x in rep["issues"]}
    p, r, f1 = prf(flagged, wrong)
    print(f"pairlab: flagged {len(flagged)} of {len(t)} ({len(wrong)} planted): "
          f"precision {p:.3f} recall {r:.3f} F1 {f1:.3f} in {rep['seconds']:.1f} s "
          f"({len(rep['folds'])} fold runs)")
    # Cleanlab on Pairlab's own out-of-fold probabilities: the same flags?
    classes = json.loads(db.execute("SELECT classes FROM runs WHERE id = ?", (rep["folds"][0],)).fetchone()[0])
    rows = []
    for run in rep["folds"]:
        rows += db.execute("SELECT pair_id, probs FROM run_predictions WHERE run_id = ? AND part = 'test'",
                           (run,)).fetchall()
    rows.sort()
    pairs = [pid for pid, _ in rows]
    probs = np.array([np.frombuffer(b, dtype="<f4") for _, b in rows], dtype=np.float64)
    probs /= probs.sum(axis=1, keepdims=True)
    labels = np.array([classes.index(t[file_of[pid]][1]) for pid in pairs])
    # NumPy's default argsort is not stable (its order of ties depends on the CPU's sort
    # kernels), and calibration meets ties often; Pairlab breaks them as a stable sort does.
    orig = np.argsort
    np.argsort = lambda a, axis=-1, kind=None, order=None, **kw: orig(a, axis=axis, kind="stable", order=order, **kw)
    try:
        mask = find_label_issues(labels, probs, filter_by=rep["filter"])
    finally:
        np.argsort = orig
    theirs = {file_of[pid] for pid, m in zip(pairs, mask) if m}
    same = theirs == flagged
    print(f"cleanlab 2.9 (stable argsort) on pairlab's out-of-fold probabilities ({rep['filter']}): "
          f"flags {len(theirs)}, {'the same' if same else 'DIFFERENT'} "
          f"(only pairlab {len(flagged - theirs)}, only cleanlab {len(theirs - flagged)})")
    plain = {file_of[pid] for pid, m in zip(pairs, find_label_issues(labels, probs, filter_by=rep["filter"])) if m}
    print(f"  (with NumPy's default argsort on this CPU: {len(plain ^ flagged)} flags differ)")
    acc = float((probs.argmax(axis=1) == np.array([classes.index(t[file_of[pid]][0]) for pid in pairs])).mean())
    print(f"pairlab out-of-fold accuracy against the truth: {acc:.4f}")
    json.dump({"precision": p, "recall": r, "f1": f1, "flagged": len(flagged), "planted": len(wrong),
               "seconds": rep["seconds"], "cleanlab_same": same, "oof_accuracy": acc},
              open(a.report.replace(".json", "-score.json"), "w"))
    if not same:
        sys.exit(1)


def baseline(a):
    import warnings
    warnings.simplefilter("ignore")
    import numpy as np
    from cleanlab.filter import find_label_issues
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    t = truth(a.dir)
    files = sorted(t)
    x = []
    for f in files:
        given = t[f][1]
        x.append(read_png(os.path.join(a.dir, "train", given, f)))
    x = np.array(x, dtype=np.float64) / 255.0
    y = np.array([CLASSES.index(t[f][1]) for f in files])
    wrong = {f for f in files if t[f][0] != t[f][1]}
    start = time.time()
    probs = cross_val_predict(LogisticRegression(max_iter=200), x, y, method="predict_proba",
                              cv=StratifiedKFold(5, shuffle=True, random_state=0), n_jobs=1)
    mask = find_label_issues(y, probs)
    secs = time.time() - start
    flagged = {f for f, m in zip(files, mask) if m}
    p, r, f1 = prf(flagged, wrong)
    print(f"cleanlab 2.9 + sklearn LogisticRegression (5-fold OOF on pixels): flagged {len(flagged)}: "
          f"precision {p:.3f} recall {r:.3f} F1 {f1:.3f} in {secs:.1f} s")


def read_png(path):
    data = open(path, "rb").read()
    pos, idat, w, h = 8, b"", 0, 0
    while pos < len(data):
        ln, = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + ln]
        if kind == b"IHDR":
            w, h = struct.unpack(">II", body[:8])
        elif kind == b"IDAT":
            idat += body
        pos += 12 + ln
    raw = zlib.decompress(idat)
    # Written by fashion_mnist.png: filter byte 0 on every row.
    return [b for y in range(h) for b in raw[y * (w + 1) + 1:(y + 1) * (w + 1)]]


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("plant")
    p.add_argument("dir")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--n", type=int, default=10000)
    p.add_argument("--seed", type=int, default=0)
    s = sub.add_parser("score")
    s.add_argument("dir")
    s.add_argument("library")
    s.add_argument("report")
    b = sub.add_parser("baseline")
    b.add_argument("dir")
    a = ap.parse_args()
    {"plant": plant, "score": score, "baseline": baseline}[a.cmd](a)


if __name__ == "__main__":
    main()
