#!/usr/bin/env python3
"""Loads a dataset with the real FiftyOne and prints one JSON object about it.

    FIFTYONE_DATABASE_URI=mongodb://127.0.0.1:PORT FIFTYONE_DATABASE_NAME=DB \
        VENV/bin/python tests/fiftyone/check_fiftyone.py DATASET_NAME

VENV is the venv made by tests/fiftyone/install. Only the JSON object goes to
stdout; FiftyOne's own log lines and progress bars go to stderr. Any failure
(dataset missing, unreadable document, failing query) ends the script with the
Python traceback on stderr and a non-zero exit status.
"""
import contextlib
import json
import os
import sys


def _jsonable(value):
    """Sample.to_dict() values made JSON-safe (ObjectId, datetime, bytes...)."""
    from bson import json_util

    return json.loads(json_util.dumps(value))


def _label_counts(ds, schema, field):
    """count_values of FIELD.classifications.label, or None if FIELD is not a
    Classifications field of the dataset."""
    import fiftyone.core.fields as fof
    import fiftyone.core.labels as fol

    f = schema.get(field)
    if not (
        isinstance(f, fof.EmbeddedDocumentField)
        and issubclass(f.document_type, fol.Classifications)
    ):
        return None
    counts = ds.count_values(field + ".classifications.label")
    # None is a valid key (labels without a label); JSON keys must be strings
    return {("null" if k is None else str(k)): v for k, v in sorted(counts.items(), key=lambda kv: str(kv[0]))}


def check(name):
    import fiftyone as fo
    from fiftyone import ViewField as F

    ds = fo.load_dataset(name)
    schema = ds.get_field_schema()
    tags = sorted(ds.distinct("tags"))
    first = ds.first() if len(ds) else None
    first_dict = _jsonable(first.to_dict()) if first is not None else None

    if "train" in tags:
        train_take3 = [s.id for s in ds.match(F("tags").contains("train")).take(3, seed=42)]
    else:
        train_take3 = None

    return {
        "name": ds.name,
        "len": len(ds),
        "persistent": ds.persistent,
        "media_type": ds.media_type,
        "version": ds.version,
        "tags": tags,
        "positive_labels": _label_counts(ds, schema, "positive_labels"),
        "negative_labels": _label_counts(ds, schema, "negative_labels"),
        "field_schema": list(schema.keys()),
        "field_types": {k: type(v).__name__ for k, v in schema.items()},
        "first_id": first.id if first is not None else None,
        "first_fields": sorted(first_dict.keys()) if first_dict else None,
        "first": first_dict,
        "take5_ids": [s.id for s in ds.take(5, seed=42)],
        "train_take3_ids": train_take3,
        "fiftyone_version": fo.__version__,
        "datasets_in_db": fo.list_datasets(),
    }


def main():
    if len(sys.argv) != 2:
        print("usage: check_fiftyone.py DATASET_NAME", file=sys.stderr)
        return 2
    if not os.environ.get("FIFTYONE_DATABASE_URI"):
        # without it FiftyOne would try to start a mongod of its own
        print("check_fiftyone.py: FIFTYONE_DATABASE_URI is not set", file=sys.stderr)
        return 2
    os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
    os.environ.setdefault("FIFTYONE_SHOW_PROGRESS_BARS", "false")

    stdout = sys.stdout
    # FiftyOne's logging handler binds sys.stdout at import time: import it
    # (and do all the work) while stdout points at stderr.
    with contextlib.redirect_stdout(sys.stderr):
        result = check(sys.argv[1])
    json.dump(result, stdout, indent=2, sort_keys=False)
    stdout.write("\n")
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
