#!/usr/bin/env python3
"""Run in the FiftyOne 1.11.0 venv by test_fiftyone_take.py: asks the real FiftyOne what
the reference generator would select, and loads the subsets subsetter wrote.

    FIFTYONE_DATABASE_URI=... FIFTYONE_DATABASE_NAME=... VENV/bin/python \
        fiftyone_take_check.py SPEC.json

SPEC: {"source": NAME, "ks": [K, ...],
       "subsets": [{"name": NAME, "classes": [...], "n": N, "seed": S}, ...]}
Prints one JSON object on stdout; FiftyOne's own output goes to stderr. Any failure ends
the script with a traceback and a non-zero exit status.
"""
import contextlib
import json
import sys


def sample_count_for_num_classes(class_counts, num_classes):
    counts = list(class_counts.values())
    if len(counts) < num_classes:
        return None
    counts.sort(reverse=True)
    return counts[num_classes - 1]


def check(spec):
    import fiftyone as fo
    from fiftyone import ViewField as F

    full = fo.load_dataset(spec["source"])
    # the reference generator's view of the single-label samples
    single = full.match(F("positive_labels.classifications").exists()
                        & (F("positive_labels.classifications").length() == 1))
    class_counts = single.count_values("ground_truth.label")
    out = {
        "fiftyone_version": fo.__version__,
        "source_len": len(full),
        "single_len": len(single),
        "with_ground_truth": len(full.exists("ground_truth")),
        "class_counts": class_counts,
        "balanced": {str(k): sample_count_for_num_classes(class_counts, k) for k in spec["ks"]},
        "subsets": {},
    }
    for s in spec["subsets"]:
        takes, ref_takes = {}, {}
        for c in s["classes"]:
            takes[c] = [x.id for x in full.match(F("ground_truth.label") == c)
                        .take(s["n"], seed=s["seed"])]
            ref_takes[c] = single.match(F("ground_truth.label") == c).take(
                s["n"], seed=s["seed"]).values("id")
        ds = fo.load_dataset(s["name"])
        samples = [{"id": x.id, "label": x.ground_truth.label, "filepath": x.filepath,
                    "positives": [p.label for p in x.positive_labels.classifications]}
                   for x in ds.iter_samples()]
        out["subsets"][s["name"]] = {
            "take": takes,
            "reference_take": ref_takes,
            "persistent": ds.persistent,
            "len": len(ds),
            "media_type": ds.media_type,
            "count_values": ds.count_values("ground_truth.label"),
            "samples": samples,
            "field_schema": sorted(ds.get_field_schema()),
        }
    out["datasets"] = fo.list_datasets()
    return out


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    stdout = sys.stdout
    # FiftyOne's logging binds sys.stdout at import time: keep stdout for the result only.
    with contextlib.redirect_stdout(sys.stderr):
        result = check(spec)
    json.dump(result, stdout, ensure_ascii=False)
    stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
