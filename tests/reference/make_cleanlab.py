"""Cleanlab 2.9.0's label issues on fixed arrays, for the parity test of
pairlab-ml's `label_issues` (tests/data/reference/cleanlab.json).

    python3 -m venv /tmp/clvenv && /tmp/clvenv/bin/pip install cleanlab==2.9.0
    /tmp/clvenv/bin/python tests/reference/make_cleanlab.py

Deterministic: the arrays come from a seeded NumPy generator and are written with
`repr` precision, so the Rust test reads exactly the float64 values Cleanlab saw.

Calibrating the confident joint rounds counts with `argsort`, and equal remainders are
common (equal counts in a row). NumPy's default sort is not stable (with AVX-512 kernels
its order of ties depends on the CPU), so Cleanlab's result on such arrays depends on the
machine. The cases without ties pin Cleanlab down as it runs; the `ties` case is made with
NumPy's argsort made stable, which is the order Pairlab follows.
"""
import contextlib
import json
import pathlib
import warnings

import cleanlab
import numpy as np
from cleanlab.filter import find_label_issues
from cleanlab.multilabel_classification.filter import find_label_issues as find_multilabel

FILTERS = ["prune_by_noise_rate", "prune_by_class", "both", "confident_learning", "predicted_neq_given"]
OUT = pathlib.Path(__file__).resolve().parents[1] / "data" / "reference" / "cleanlab.json"


def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def rounding_ties(labels, probs):
    """Whether calibrating the confident joint meets a tie that decides which count is
    rounded up: NumPy's argsort leaves the order of equal keys unspecified (it depends on
    the CPU's sort kernels), so such arrays cannot pin the result down."""
    from cleanlab.count import compute_confident_joint

    k = probs.shape[1]
    cj = compute_confident_joint(labels, probs, calibrate=False)
    counts = np.bincount(labels, minlength=k)
    cal = (cj.T / np.clip(cj.sum(axis=1), 1e-100, None) * counts).T
    cal = cal / np.clip(np.sum(cal), 1e-100, None) * sum(counts)
    for row in cal:
        ints = row.round()
        need = int(np.sum(row).round() - np.sum(ints).round())
        if need == 0:
            continue
        rest = np.sort(row - ints)
        rest = rest[::-1] if need > 0 else rest
        m = abs(need)
        if m < len(rest) and rest[m - 1] == rest[m]:
            return True
    return False


def multi_class(rng, n, k, noise):
    while True:
        case = draw_multi_class(rng, n, k, noise)
        if case is not None:
            return case


def draw(rng, n, k, noise):
    """Given labels (a `noise` fraction moved to another class) and softmax probabilities."""
    truth = rng.integers(0, k, n)
    logits = rng.normal(0, 1.0, (n, k))
    logits[np.arange(n), truth] += 2.0
    probs = softmax(logits)
    given = truth.copy()
    flip = rng.random(n) < noise
    given[flip] = (truth[flip] + rng.integers(1, k, flip.sum())) % k
    return given, probs


def draw_multi_class(rng, n, k, noise):
    given, probs = draw(rng, n, k, noise)
    if rounding_ties(given, probs):
        return None
    case = {"name": f"mc_n{n}_k{k}", "k": k, "labels": given.tolist(), "probs": probs.tolist(), "issues": {}}
    for f in FILTERS:
        mask = find_label_issues(given, probs, filter_by=f, n_jobs=1)
        case["issues"][f] = np.flatnonzero(mask).tolist()
    case["ranked_self_confidence"] = find_label_issues(
        given, probs, return_indices_ranked_by="self_confidence", n_jobs=1
    ).tolist()
    return case


@contextlib.contextmanager
def stable_argsort(up_earlier_first=False):
    """NumPy's argsort with a stable sort, for Cleanlab's calls too; with
    `up_earlier_first`, rounding up in Cleanlab's `round_preserving_sum` takes equal
    remainders in index order instead (what a stable sort reversed does not)."""
    import cleanlab.internal.util as util

    orig, orig_rps = np.argsort, util.round_preserving_sum
    np.argsort = lambda a, axis=-1, kind=None, order=None, **kw: orig(a, axis=axis, kind="stable", order=order, **kw)

    def rps(iterable):
        floats = np.asarray(iterable, dtype=float)
        ints = floats.round()
        orig_sum, int_sum = np.sum(floats).round(), np.sum(ints).round()
        while abs(int_sum - orig_sum) > 1e-6:
            diff = np.round(orig_sum - int_sum)
            increment = -1 if diff < 0 else 1
            changes = min(int(abs(diff)), len(floats))
            rest = floats - ints
            keys = sorted(range(len(rest)), key=lambda i: (-increment * rest[i], i))
            for i in keys[:changes]:
                ints[i] += increment
            int_sum = np.sum(ints).round()
        return ints.astype(int)

    if up_earlier_first:
        util.round_preserving_sum = rps
    try:
        yield
    finally:
        np.argsort, util.round_preserving_sum = orig, orig_rps


def with_ties(rng, n, k, noise):
    """A multi-class case whose calibration meets rounding ties that change the flags,
    under a stable argsort."""
    while True:
        given, probs = draw(rng, n, k, noise)
        if not rounding_ties(given, probs):
            continue
        with stable_argsort(up_earlier_first=True):
            other = find_label_issues(given, probs, n_jobs=1)
        with stable_argsort():
            if (find_label_issues(given, probs, n_jobs=1) == other).all():
                continue
        case = {"name": f"ties_n{n}_k{k}", "k": k, "labels": given.tolist(), "probs": probs.tolist(),
                "issues": {}, "stable_sort": True}
        with stable_argsort():
            for f in FILTERS:
                mask = find_label_issues(given, probs, filter_by=f, n_jobs=1)
                case["issues"][f] = np.flatnonzero(mask).tolist()
            case["ranked_self_confidence"] = find_label_issues(
                given, probs, return_indices_ranked_by="self_confidence", n_jobs=1
            ).tolist()
        return case


def multi_label(rng, n, k, noise):
    truth = rng.random((n, k)) < 0.3
    logits = rng.normal(0, 1.2, (n, k)) + np.where(truth, 1.5, -1.5)
    probs = 1 / (1 + np.exp(-logits))
    given = truth ^ (rng.random((n, k)) < noise)
    labels = [np.flatnonzero(row).tolist() for row in given]
    case = {"name": f"ml_n{n}_k{k}", "k": k, "labels": labels, "probs": probs.tolist(), "issues": {}}
    for f in FILTERS:
        mask = find_multilabel(labels, probs, filter_by=f, n_jobs=1)
        case["issues"][f] = np.flatnonzero(mask).tolist()
    return case


def main():
    warnings.simplefilter("ignore")
    rng = np.random.default_rng(20261207)
    cases = {
        "cleanlab": cleanlab.__version__,
        "numpy": np.__version__,
        "multi_class": [multi_class(rng, 300, 4, 0.15), multi_class(rng, 120, 3, 0.3), multi_class(rng, 60, 6, 0.1)],
        "multi_label": [multi_label(rng, 200, 3, 0.1), multi_label(rng, 80, 5, 0.2)],
    }
    # Drawn after the others, so that theirs stay the same.
    cases["multi_class"].append(with_ties(rng, 150, 10, 0.2))
    OUT.write_text(json.dumps(cases) + "\n")
    for c in cases["multi_class"] + cases["multi_label"]:
        print(c["name"], {f: len(v) for f, v in c["issues"].items()})


if __name__ == "__main__":
    main()
