"""FiftyOne's own Open Images V7 importer, for scripts/bench/ingest. Runs in the fiftyone
venv (tests/fiftyone/install VENV), never in the project's .venv.

  fo_import.py prepare MIRROR SPLIT OUT
      lays SPLIT of MIRROR (a scripts/make-mirror directory, or a subset of one with the
      same relative paths) out as FiftyOne's zoo keeps open-images-v7 on disk, in OUT/SPLIT:
        data/<ImageID>.jpg            empty files (the importer reports has_image_metadata
                                      False and never opens them)
        labels/classifications.csv    the split's human image-level label file
        metadata/image_ids.csv        the split's image list
        metadata/classes.csv          the boxable class file
        metadata/hierarchy.json       the hierarchy renamed to display names, as FiftyOne's
                                      own _get_hierarchy() writes it (root "Entity")
      Prints {"images", "label_rows", "seconds"}.

  fo_import.py import OUT SPLIT NAME
      what fiftyone.zoo.load_zoo_dataset("open-images-v7", split=SPLIT,
      label_types=["classifications"]) does once the files are on disk: build the
      OpenImagesV7Dataset importer on OUT/SPLIT, dataset.add_importer(..., tags=[SPLIT]),
      set default_classes. Only that is timed: not `import fiftyone`, not the first
      connection (made before the clock starts). Prints {"samples", "seconds",
      "setup_seconds" (the importer's setup(): pandas reads the CSVs), "samples_per_s",
      "positives", "negatives", "max_rss_mib"}.

Environment: FIFTYONE_DATABASE_URI (required), FIFTYONE_DATABASE_NAME, and whatever else
the caller sets (the benchmark sets FIFTYONE_DO_NOT_TRACK and
FIFTYONE_DATABASE_VALIDATION=false)."""
import csv
import json
import os
import resource
import shutil
import sys
import time

HERE = os.path.dirname(os.path.realpath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

from oimirror import layout  # noqa: E402  (pure Python: the mirror's relative paths)


def prepare(mirror, split, out):
    t0 = time.monotonic()
    import eta.core.serial as etas
    import fiftyone.utils.openimages as fouo

    split_dir = os.path.join(out, split)
    data = os.path.join(split_dir, "data")
    meta = os.path.join(split_dir, "metadata")
    labels = os.path.join(split_dir, "labels")
    for d in (data, meta, labels):
        os.makedirs(d, exist_ok=True)
    shutil.copyfile(os.path.join(mirror, layout.LABELS[split]),
                    os.path.join(labels, "classifications.csv"))
    shutil.copyfile(os.path.join(mirror, layout.IMAGE_LISTS[split]),
                    os.path.join(meta, "image_ids.csv"))
    shutil.copyfile(os.path.join(mirror, layout.CLASSES), os.path.join(meta, "classes.csv"))

    images = 0
    with open(os.path.join(meta, "image_ids.csv"), newline="", encoding="utf-8") as f:
        rows = csv.reader(f)
        col = next(rows).index("ImageID")
        for row in rows:
            open(os.path.join(data, row[col] + ".jpg"), "wb").close()
            images += 1
    with open(os.path.join(labels, "classifications.csv"), "rb") as f:
        label_rows = sum(1 for _ in f) - 1

    # The hierarchy with display names, exactly as FiftyOne's _get_hierarchy() writes it
    # after a download: its own class-file parser, its own renaming, its own JSON writer.
    classes_map, _ = fouo._get_classes_map(split_dir, download=False)
    names = {"/m/0bl9f": "Entity"}
    names.update(classes_map)
    hierarchy = etas.load_json(os.path.join(mirror, layout.HIERARCHY))
    etas.write_json(fouo._rename_subcategories(hierarchy, names),
                    os.path.join(meta, "hierarchy.json"))
    print(json.dumps({"images": images, "label_rows": label_rows,
                      "seconds": round(time.monotonic() - t0, 3)}))


def import_split(out, split, name):
    import fiftyone as fo
    import fiftyone.utils.data as foud

    # Connect (and let FiftyOne set up its database) before the clock starts.
    if name in fo.list_datasets():
        fo.delete_dataset(name)

    timing = {}
    t0 = time.monotonic()
    # As fiftyone.zoo.datasets.load_zoo_dataset() does for each split.
    dataset = fo.Dataset(name)
    importer, _ = foud.build_dataset_importer(
        fo.types.OpenImagesV7Dataset, dataset_dir=os.path.join(out, split),
        label_types=["classifications"])
    setup = importer.setup

    def timed_setup():
        s0 = time.monotonic()
        setup()
        timing["setup"] = time.monotonic() - s0

    importer.setup = timed_setup
    dataset.add_importer(importer, label_field=None, tags=[split])
    info = dataset.info
    if info.get("classes") and not dataset.default_classes:
        dataset.default_classes = info["classes"]
    seconds = time.monotonic() - t0

    samples = len(dataset)
    pos = dataset.count("positive_labels.classifications")
    neg = dataset.count("negative_labels.classifications")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"samples": samples, "seconds": round(seconds, 3),
                      "setup_seconds": round(timing.get("setup", 0.0), 3),
                      "samples_per_s": round(samples / seconds, 1) if seconds > 0 else None,
                      "positives": pos, "negatives": neg, "max_rss_mib": round(rss, 1),
                      "fiftyone_version": fo.__version__}))


def main(argv):
    if len(argv) == 4 and argv[0] == "prepare":
        prepare(*argv[1:])
    elif len(argv) == 4 and argv[0] == "import":
        import_split(*argv[1:])
    else:
        sys.exit("usage: fo_import.py prepare MIRROR SPLIT OUT | import OUT SPLIT NAME")


if __name__ == "__main__":
    main(sys.argv[1:])
