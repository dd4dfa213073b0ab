"""Makes the `fusion` benchmark's corpus out of a `pairlab demo` corpus (bench/fusion_demo.sh).

Reads the demo's truth.csv and writes manifest.csv beside it: every image with its report,
its patient and study, a train / val / test split by patient (60 / 20 / 20, seeded), and as
labels the image truth of the five findings the demo draws (Cardiomegaly, Pleural Effusion,
Pneumothorax, Lung Lesion, Support Devices). One study in three gets a report that is
silent on everything ("limited study, no definite acute findings") while its images still
show what they show: the report alone cannot know those, the image alone is noisy, both
together should do best. Standard library only.

    python3 bench/fusion_demo_manifest.py CORPUS_DIR
"""
import csv
import hashlib
import sys
from pathlib import Path

CLASSES = ["Cardiomegaly", "Pleural Effusion", "Pneumothorax", "Lung Lesion", "Support Devices"]
SILENT = "FINDINGS: Limited portable study.\nIMPRESSION: No definite acute cardiopulmonary findings.\n"


def bucket(key: str, n: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % n


def main() -> None:
    root = Path(sys.argv[1])
    rows = list(csv.DictReader((root / "truth.csv").open()))
    out = (root / "manifest.csv").open("w", newline="")
    w = csv.writer(out)
    w.writerow(["image", "report_path", "patient_id", "study_id", "split", *CLASSES])
    silent = 0
    for r in rows:
        image = r["path"]
        study_dir = Path(image).parent
        report = study_dir.with_suffix(".txt")
        if bucket(r["study_id"], 3) == 0:
            quiet = study_dir.parent / f"{study_dir.name}-silent.txt"
            (root / quiet).write_text(SILENT)
            report = quiet
            silent += 1
        b = bucket(r["patient_id"], 10)
        split = "train" if b < 6 else "val" if b < 8 else "test"
        labels = [r[f"{c} (image)"] for c in CLASSES]
        w.writerow([image, str(report), r["patient_id"], r["study_id"], split, *labels])
    out.close()
    print(f"{len(rows)} images, {silent} with a silent report", file=sys.stderr)


if __name__ == "__main__":
    main()
