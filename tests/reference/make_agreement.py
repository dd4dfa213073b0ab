"""Inter-annotator agreement references for pairlab-ml's `agreement`
(tests/data/reference/agreement.json): scikit-learn's `cohen_kappa_score` on pairs of
annotators' labels and statsmodels' `fleiss_kappa` on count tables.

    python3 -m venv /tmp/clvenv && /tmp/clvenv/bin/pip install scikit-learn statsmodels
    /tmp/clvenv/bin/python tests/reference/make_agreement.py
"""
import json
import pathlib

import numpy as np
import sklearn
import statsmodels
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import aggregate_raters, fleiss_kappa

OUT = pathlib.Path(__file__).resolve().parents[1] / "data" / "reference" / "agreement.json"


def noisy_copy(rng, a, cats, p):
    b = a.copy()
    flip = rng.random(len(a)) < p
    b[flip] = rng.choice(cats, flip.sum())
    return b


def main():
    rng = np.random.default_rng(20261207)
    cohen = []
    for name, n, cats, p in [("binary", 200, [0, 1], 0.2), ("three", 150, [1, 0, -1], 0.35),
                             ("skewed", 120, [0, 1], 0.1), ("disagree", 60, [0, 1], 0.9)]:
        weights = [0.8, 0.2] if name == "skewed" else None
        a = rng.choice(cats, n, p=weights)
        b = noisy_copy(rng, a, cats, p)
        cohen.append({"name": name, "a": a.tolist(), "b": b.tolist(), "kappa": float(cohen_kappa_score(a, b))})
    fleiss = []
    for name, n, raters, cats, p in [("three_raters", 100, 3, [1, 0, -1], 0.3), ("five_raters", 80, 5, [0, 1], 0.25)]:
        truth = rng.choice(cats, n)
        ratings = np.stack([noisy_copy(rng, truth, cats, p) for _ in range(raters)], axis=1)
        table, cats_seen = aggregate_raters(ratings, n_cat=None)
        fleiss.append({"name": name, "table": table.tolist(), "kappa": float(fleiss_kappa(table, method="fleiss"))})
    out = {"scikit-learn": sklearn.__version__, "statsmodels": statsmodels.__version__, "cohen": cohen, "fleiss": fleiss}
    OUT.write_text(json.dumps(out) + "\n")
    for c in cohen + fleiss:
        print(c["name"], round(c["kappa"], 4))


if __name__ == "__main__":
    main()
