"""The same export written the way a script does it today: rows read from the library's
SQLite file and written with Hugging Face `datasets` (`Dataset.from_generator` with the
same features, then `to_parquet` per split). Prints one JSON line: seconds, rows.

Usage: export_datasets.py LIBRARY_DIR OUT_DIR {path|thumbnail}
"""

import json
import sqlite3
import sys
import time
from pathlib import Path

import datasets

lib, out, mode = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
start = time.time()
db = sqlite3.connect(lib / "pairlab.db")
classes = [r[0] for r in db.execute(
    "SELECT c.name FROM schema_classes c JOIN schemas s ON s.id = c.schema_id "
    "WHERE s.name = 'chexpert' ORDER BY c.position")]
schema_id = db.execute("SELECT id FROM schemas WHERE name = 'chexpert'").fetchone()[0]
split_id = db.execute("SELECT id FROM splits WHERE name = 'synthetic'").fetchone()[0]
# Paths only: a string column (datasets' Image feature looks for the file, and the
# synthetic library has none); thumbnails: the Image feature with the bytes.
features = datasets.Features({
    "image": datasets.Image() if mode == "thumbnail" else datasets.Value("string"),
    "pair_id": datasets.Value("int64"),
    "patient_id": datasets.Value("string"),
    "study_id": datasets.Value("string"),
    "image_path": datasets.Value("string"),
    "report": datasets.Value("string"),
    **{c: datasets.Value("int8") for c in classes},
    "label_sources": {c: datasets.Value("string") for c in classes},
})


def rows(part):
    conn = sqlite3.connect(lib / "pairlab.db")
    cur = conn.execute(
        "SELECT p.id, c.root, i.path, i.thumb, pt.key, st.key, r.text FROM split_members m "
        "JOIN pairs p ON p.id = m.pair_id JOIN images i ON i.id = p.image_id "
        "JOIN corpora c ON c.id = p.corpus_id LEFT JOIN patients pt ON pt.id = p.patient_id "
        "LEFT JOIN studies st ON st.id = p.study_id LEFT JOIN reports r ON r.id = p.report_id "
        "WHERE m.split_id = ? AND m.part = ? ORDER BY p.id", (split_id, part))
    labels = conn.cursor()
    for pair, root, path, thumb, patient, study, report in cur:
        values, sources = {c: None for c in classes}, {c: None for c in classes}
        for cls, value, source in labels.execute(
                "SELECT class, value, source FROM labels WHERE pair_id = ? AND schema_id = ? "
                "ORDER BY (source = 'human') DESC, COALESCE(confidence, 1.0) DESC, source",
                (pair, schema_id)):
            if values[cls] is None:
                values[cls], sources[cls] = value, source
        if mode == "thumbnail":
            image = {"bytes": (lib / "thumbs" / thumb).read_bytes(), "path": None}
        else:
            image = f"{root}/{path}"
        yield {"image": image, "pair_id": pair, "patient_id": patient, "study_id": study,
               "image_path": path, "report": report, **values, "label_sources": sources}


n = 0
parts = [r[0] for r in db.execute(
    "SELECT DISTINCT part FROM split_members WHERE split_id = ?", (split_id,))]
(out / "data").mkdir(parents=True, exist_ok=True)
for part in parts:
    ds = datasets.Dataset.from_generator(rows, gen_kwargs={"part": part}, features=features,
                                         cache_dir=str(out / "cache"), keep_in_memory=False)
    ds.to_parquet(str(out / "data" / f"{part}.parquet"))
    n += len(ds)
print(json.dumps({"rows": n, "seconds": time.time() - start}))
