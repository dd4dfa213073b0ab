#!/usr/bin/env python3
"""Times what FiftyOne does when it ingests a folder of images.

Run with the interpreter of the venv that bench/setup_fiftyone.sh makes:

    "${PAIRLAB_BENCH_VENV:-$HOME/.cache/pairlab/fiftyone-venv}/bin/python" \\
        bench/fiftyone_ingest.py /path/to/images

Steps timed (each separately, and together as the headline figure):

1. import:     fo.Dataset.from_dir(dataset_dir=..., dataset_type=
               fo.types.ImageDirectory, recursive=True)
2. metadata:   dataset.compute_metadata()
3. thumbnails: fiftyone.utils.image.transform_images(dataset,
               max_size=(256, 256), output_field="thumbnail_path",
               output_dir=..., rel_dir=<image dir>), i.e. every image is
               decoded and re-encoded with its longest side at most 256 px
               (FiftyOne's documented thumbnail recipe, with a max-side bound)

Not in the headline figure, but reported: importing the fiftyone module
("module_import_seconds") and starting/connecting to FiftyOne's bundled
MongoDB ("db_startup_seconds"), which includes database setup on the first
run against a fresh database directory.

Prints exactly one JSON line on stdout; everything FiftyOne (or mongod)
prints goes to stderr. The dataset is non-persistent, uniquely named, and
deleted at the end; thumbnails go to a temporary directory that is removed
at the end unless --thumb-dir is given. The database lives in its own
directory (default <venv>/var/fiftyone-db; --fresh-db for a throwaway one),
never in ~/.fiftyone, and ~/.fiftyone/config.json is not read.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import uuid


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("image_dir", help="folder of images (searched recursively)")
    p.add_argument(
        "--thumb-size",
        type=int,
        default=256,
        help="longest side of the thumbnails in px (default 256)",
    )
    p.add_argument(
        "--thumb-dir",
        help="where to write thumbnails (kept); default: a temporary "
        "directory that is removed at the end",
    )
    p.add_argument(
        "--thumb-ext",
        default=None,
        help="re-encode thumbnails to this format, e.g. .jpg or .webp "
        "(default: keep each image's own format, as FiftyOne does)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="num_workers for compute_metadata and transform_images "
        "(default: FiftyOne's own choice, from the CPU count)",
    )
    p.add_argument(
        "--db-dir",
        default=os.path.join(sys.prefix, "var", "fiftyone-db"),
        help="MongoDB data directory (default <venv>/var/fiftyone-db)",
    )
    p.add_argument(
        "--fresh-db",
        action="store_true",
        help="use a new temporary database directory, removed at the end "
        "(db_startup_seconds then includes creating the database)",
    )
    return p.parse_args()


def stop_database(fodb):
    """Disconnects, and stops the mongod this process started (if it did and
    no other FiftyOne process uses it), waiting until it has exited so that
    its data directory can be removed."""
    try:
        fodb._disconnect()  # also makes FiftyOne's atexit cleanup a no-op
    except Exception:
        pass
    service = getattr(fodb, "_db_service", None)
    if service is None:
        return
    child = getattr(service, "child", None)
    attached = getattr(service, "attached", False)  # another process's mongod
    try:
        service.stop()  # closes the service wrapper's stdin
        if child is not None and not attached:
            child.wait(timeout=60)
    except Exception as e:
        print("could not stop mongod cleanly: %s" % e, file=sys.stderr)
    fodb._db_service = None


def main():
    args = parse_args()
    image_dir = os.path.abspath(args.image_dir)
    if not os.path.isdir(image_dir):
        sys.exit("not a directory: %s" % image_dir)

    tmp_root = tempfile.mkdtemp(prefix="pairlab-fo-bench-")
    db_dir = os.path.join(tmp_root, "db") if args.fresh_db else args.db_dir
    os.makedirs(db_dir, exist_ok=True)
    thumb_dir = os.path.abspath(
        args.thumb_dir or os.path.join(tmp_root, "thumbnails")
    )

    # Quiet, non-interactive, nothing phones home, nothing shared with a
    # real FiftyOne install. Must be set before fiftyone is imported.
    os.environ["FIFTYONE_DO_NOT_TRACK"] = "true"
    os.environ["FIFTYONE_DATABASE_ADMIN"] = "true"
    os.environ["FIFTYONE_SHOW_PROGRESS_BARS"] = "false"
    os.environ.setdefault("FIFTYONE_LOGGING_LEVEL", "WARNING")
    os.environ["FIFTYONE_DATABASE_DIR"] = db_dir
    os.environ.pop("FIFTYONE_DATABASE_URI", None)
    os.environ["FIFTYONE_CONFIG_PATH"] = os.path.join(
        tmp_root, "no-config.json"
    )

    # Keep stdout for the one JSON line: route fd 1 (ours and that of any
    # child process, mongod included) to stderr while FiftyOne runs.
    sys.stdout.flush()
    real_stdout = os.dup(1)
    os.dup2(2, 1)

    result = None
    dataset = None
    try:
        t = time.perf_counter()
        import fiftyone as fo
        import fiftyone.core.odm.database as fodb
        import fiftyone.utils.image as foui

        module_import_s = time.perf_counter() - t

        # Start (or reach) the bundled mongod and connect, outside the
        # timed ingest.
        t = time.perf_counter()
        fodb.get_db_conn()
        db_startup_s = time.perf_counter() - t

        name = "pairlab-bench-%s" % uuid.uuid4().hex

        t = time.perf_counter()
        dataset = fo.Dataset.from_dir(
            dataset_dir=image_dir,
            dataset_type=fo.types.ImageDirectory,
            recursive=True,
            name=name,
            persistent=False,
        )
        import_s = time.perf_counter() - t
        n = len(dataset)
        if n == 0:
            sys.exit("no images found under %s" % image_dir)

        t = time.perf_counter()
        dataset.compute_metadata(num_workers=args.workers)
        metadata_s = time.perf_counter() - t

        t = time.perf_counter()
        foui.transform_images(
            dataset,
            max_size=(args.thumb_size, args.thumb_size),
            ext=args.thumb_ext,
            output_field="thumbnail_path",
            output_dir=thumb_dir,
            rel_dir=image_dir,
            num_workers=args.workers,
        )
        thumbs_s = time.perf_counter() - t

        with_metadata = dataset.count("metadata")
        with_thumbs = dataset.count("thumbnail_path")
        total = import_s + metadata_s + thumbs_s

        result = {
            "tool": "fiftyone",
            "images": n,
            "seconds": round(total, 4),
            "per_second": round(n / total, 2) if total > 0 else None,
            "version": fo.__version__,
            "import_seconds": round(import_s, 4),
            "metadata_seconds": round(metadata_s, 4),
            "thumbnails_seconds": round(thumbs_s, 4),
            "module_import_seconds": round(module_import_s, 4),
            "db_startup_seconds": round(db_startup_s, 4),
            "images_with_metadata": with_metadata,
            "thumbnails": with_thumbs,
            "thumb_size": args.thumb_size,
            "workers": args.workers,
            "fresh_db": args.fresh_db,
        }
        if with_metadata != n or with_thumbs != n:
            result["error"] = "not every image got metadata and a thumbnail"
    finally:
        if dataset is not None:
            try:
                dataset.delete()
            except Exception as e:  # report, but still print the result
                print("could not delete dataset: %s" % e, file=sys.stderr)
        if "fodb" in locals():
            stop_database(fodb)
        sys.stdout.flush()
        os.dup2(real_stdout, 1)
        os.close(real_stdout)
        # Holds the fresh db and the default thumbnail dir, if used. mongod
        # (a child service) may still have a fresh db open for a moment.
        shutil.rmtree(tmp_root, ignore_errors=True)

    print(json.dumps(result), flush=True)
    return 0 if "error" not in result else 1


if __name__ == "__main__":
    sys.exit(main())
