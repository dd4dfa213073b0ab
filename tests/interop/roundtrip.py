"""Pairlab's exports read back by their real consumers (datasets, pandas).

Usage: roundtrip.py PAIRLAB_BINARY WORK_DIR. Makes a demo library, adds a multi-class
schema through `import-labels`, exports every format and checks what `datasets` and pandas
read: row counts per split, features (Image, ClassLabel names, int8 label columns), images
that decode at their stored size, and the same labels as `pairlab label show`.
"""

import json
import math
import subprocess
import sys
import traceback
from pathlib import Path

import datasets
import pandas as pd

BIN, WORK = sys.argv[1], Path(sys.argv[2])
LIB = WORK / "lib"
SPLIT = "demo-by-patient"
CHEXPERT = ["No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity",
            "Lung Lesion", "Edema", "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax",
            "Pleural Effusion", "Pleural Other", "Fracture", "Support Devices"]
datasets.disable_progress_bars()


def pairlab(*args):
    out = subprocess.run([BIN, "--library", str(LIB), *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"pairlab {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout


def pairlab_json(*args):
    return json.loads(pairlab(*args, "--json"))


def export(fmt, name, *extra):
    out = WORK / name
    if "--schema" not in extra:
        extra = (*extra, "--schema", "chexpert")
    summary = pairlab_json("export", "--format", fmt, "--out", str(out), "--split", SPLIT, *extra)
    assert summary["rows"] > 0, summary
    return out, summary


_labels = {}


def labels_of(pair, schema):
    """class -> value as `pairlab label show` says (best labels)."""
    key = (pair, schema)
    if key not in _labels:
        shown = pairlab_json("label", "show", str(pair), "--schema", schema)
        _labels[key] = {l["class"]: l["value"] for l in shown["labels"]}
    return _labels[key]


def parts(summary):
    """Rows per split as `datasets` names them (`val` is `validation`)."""
    name = {"val": "validation", "valid": "validation"}
    return {name.get(p["part"], p["part"]): p["rows"] for p in summary["parts"] if p["rows"]}


def check_parquet_multilabel():
    out, summary = export("hf-parquet", "hf")
    for ds in (datasets.load_dataset("parquet", data_dir=str(out / "data")),
               datasets.load_dataset(str(out))):
        assert {k: len(v) for k, v in ds.items()} == parts(summary), (ds, summary["parts"])
        train = ds["train"]
        f = train.features
        assert isinstance(f["image"], datasets.Image), f["image"]
        for c in CHEXPERT:
            assert f[c] == datasets.Value("int8"), (c, f[c])
        assert set(f["label_sources"]) == set(CHEXPERT)
        for row in train.select(range(0, len(train), 7)):
            assert row["image"].size == (row["width"], row["height"]), (row["pair_id"], row["image"].size)
            shown = labels_of(row["pair_id"], "chexpert")
            got = {c: row[c] for c in CHEXPERT if row[c] is not None}
            assert got == shown, (row["pair_id"], got, shown)
    return "hf-parquet (multi-label) through load_dataset('parquet') and the README card"


def check_parquet_embeddings():
    # A small SigLIP (the committed reference fixture) embeds every image first.
    fixture = Path(__file__).resolve().parents[1] / "data" / "reference" / "siglip_tiny"
    pairlab("model", "add", str(fixture), "--name", "sig")
    pairlab("embed", "--model", "sig", "--what", "images")
    out, summary = export("hf-parquet", "hf-emb", "--images", "path", "--embeddings", "sig")
    ds = datasets.load_dataset(str(out))
    f = ds["train"].features["embedding"]
    dim = len(ds["train"][0]["embedding"])
    assert isinstance(f, datasets.List) and f.length == dim and f.feature == datasets.Value("float32"), f
    norms = [sum(x * x for x in row["embedding"]) for row in ds["test"]]
    assert all(abs(n - 1.0) < 1e-4 for n in norms), norms[:3]
    return f"hf-parquet with a {dim}-d embedding column (datasets List of fixed length)"


def check_parquet_multiclass():
    out, summary = export("hf-parquet", "hf-view", "--schema", "view", "--images", "path")
    ds = datasets.load_dataset(str(out))
    label = ds["train"].features["label"]
    assert isinstance(label, datasets.ClassLabel) and label.names == ["AP", "PA", "lateral"], label
    assert {k: len(v) for k, v in ds.items()} == parts(summary)
    n = 0
    for split in ds.values():
        for row in split:
            shown = labels_of(row["pair_id"], "view")
            want = next((c for c, v in shown.items() if v == 1), None)
            got = None if row["label"] is None else label.int2str(row["label"])
            assert got == want, (row["pair_id"], got, want)
            n += 1
    assert n == summary["rows"]
    return "hf-parquet (multi-class ClassLabel, image paths)"


def check_imagefolder():
    out, summary = export("imagefolder", "folder-view", "--schema", "view")
    ds = datasets.load_dataset("imagefolder", data_dir=str(out))
    names = ds["train"].features["label"].names
    assert names == ["AP", "PA"], names  # the classes with images: folder names
    assert {k: len(v) for k, v in ds.items()} == parts(summary), (ds, summary["parts"])
    out2, summary2 = export("imagefolder", "folder-chexpert", "--schema", "chexpert")
    ds2 = datasets.load_dataset("imagefolder", data_dir=str(out2))
    assert {k: len(v) for k, v in ds2.items()} == parts(summary2), (ds2, summary2["parts"])
    for c in CHEXPERT:
        assert ds2["train"].features[c] == datasets.Value("int8"), (c, ds2["train"].features[c])
    row = ds2["train"][0]
    shown = labels_of(row["pair_id"], "chexpert")
    got = {c: row[c] for c in CHEXPERT if row[c] is not None}
    assert got == shown, (got, shown)
    assert row["image"].size == (row["width"], row["height"])
    return "imagefolder (class folders; images + metadata.parquet)"


def check_chexpert_csv():
    out, summary = export("chexpert-csv", "chexpert")
    for part in summary["parts"]:
        df = pd.read_csv(out / f"{part['part']}.csv")
        n = part["rows"]
        assert list(df.columns) == ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT], list(df.columns)
        assert len(df) == n
        values = {v for v in pd.unique(df[CHEXPERT].values.ravel()) if not math.isnan(v)}
        assert values <= {1.0, 0.0, -1.0}, values
    df = pd.read_csv(out / "train.csv")
    jl = pd.read_json(export("jsonl", "jsonl")[0] / "train.jsonl", lines=True)
    assert len(jl) == len(df)
    for i in range(0, len(df), 9):
        pair = int(jl.loc[i, "pair_id"])
        assert df.loc[i, "Path"] == jl.loc[i, "image"]
        shown = labels_of(pair, "chexpert")
        got = {c: int(df.loc[i, c]) for c in CHEXPERT if not math.isnan(df.loc[i, c])}
        assert got == shown, (pair, got, shown)
    return "chexpert-csv and jsonl through pandas"


def check_csv():
    out, summary = export("csv", "csv")
    df = pd.read_csv(out / "test.csv")
    assert len(df) == parts(summary)["test"]
    for c in ("pair_id", "split", "image", "patient_id", "study_id", "report", *CHEXPERT):
        assert c in df.columns, c
    return "csv through pandas"


def main():
    pairlab("demo", "--n", "30")
    schema = WORK / "view.toml"
    schema.write_text('name = "view"\nkind = "multi-class"\nclasses = ["AP", "PA", "lateral"]\n')
    pairlab("schema", "add", str(schema))
    # Every pair's projection from its image name (`-AP`, `-PA`, else lateral), imported.
    jl = pd.read_json(export("jsonl", "all", "--schema", "chexpert")[0] / "train.jsonl", lines=True)
    view = WORK / "view.csv"
    with view.open("w") as f:
        f.write("pair_id,label\n")
        for pair, path in zip(jl["pair_id"], jl["image_path"]):
            name = path.rsplit("/", 1)[-1].upper()
            cls = "AP" if "-AP" in name else "PA" if "-PA" in name else "lateral"
            f.write(f"{pair},{cls}\n")
    imported = pairlab_json("import-labels", str(view), "--schema", "view")
    assert imported["matched"] == len(jl) and imported["unmatched"] == 0, imported
    checks = [check_parquet_multilabel, check_parquet_multiclass, check_parquet_embeddings, check_imagefolder,
              check_chexpert_csv, check_csv]
    passed = failed = 0
    for check in checks:
        try:
            what = check()
            print(f"test {check.__name__} ... ok ({what})")
            passed += 1
        except Exception:  # noqa: BLE001 - every failure is reported, the rest still run
            print(f"test {check.__name__} ... FAILED")
            traceback.print_exc()
            failed += 1
    status = "ok" if failed == 0 else "FAILED"
    print(f"test result: {status}. {passed} passed; {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
