#!/usr/bin/env python3
"""Writes the reference dumps of tests/fiftyone/reference-dumps/.

Run with the FiftyOne venv's python (see tests/fiftyone/install), against a
scratch database:

    FIFTYONE_DATABASE_URI=mongodb://127.0.0.1:PORT \
    FIFTYONE_DATABASE_NAME=fo_reference \
    FIFTYONE_DO_NOT_TRACK=true \
        VENV/bin/python tests/fiftyone/make_reference_dumps.py OUTDIR

It DROPS the database FIFTYONE_DATABASE_NAME first. Datasets are created by
the real fiftyone code in a child process, loaded again by `fo.load_dataset`
in a second child process, and every document is read back with plain
pymongo before and after the load, so the dumps show exactly what FiftyOne
writes and what a load changes. ObjectIds, dates and paths differ per run.
"""
import json
import os
import subprocess
import sys
import tempfile

CLASSES = {  # Open Images MID -> display name (as in metadata/classes.csv)
    "/m/01yrx": "Cat",
    "/m/0bt9lr": "Dog",
    "/m/0k4j": "Car",
    "/m/015p6": "Bird",
}

# ImageID,Source,LabelName,Confidence (labels/classifications.csv)
CLS_ROWS = {
    "train": [
        ("000a1b2c3d4e5f60", "verification", "/m/01yrx", 1),
        ("000a1b2c3d4e5f60", "verification", "/m/0k4j", 0),
        ("000a1b2c3d4e5f61", "verification", "/m/0bt9lr", 1),
        ("000a1b2c3d4e5f61", "crowdsource-verification", "/m/015p6", 1),
        ("000a1b2c3d4e5f62", "verification", "/m/0bt9lr", 0),
    ],
    "validation": [
        ("100a1b2c3d4e5f60", "verification", "/m/015p6", 1),
        ("100a1b2c3d4e5f60", "verification", "/m/01yrx", 0),
        ("100a1b2c3d4e5f61", "verification", "/m/0k4j", 1),
    ],
}


def make_openimages_dir(root):
    """A tiny Open Images V7 split layout, as the zoo leaves it on disk."""
    from PIL import Image

    for split, rows in CLS_ROWS.items():
        d = os.path.join(root, split)
        for sub in ("data", "labels", "metadata"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for i, image_id in enumerate(sorted({r[0] for r in rows})):
            Image.new("RGB", (32 + i, 24), (10 * i, 80, 160)).save(
                os.path.join(d, "data", image_id + ".jpg")
            )
        with open(os.path.join(d, "metadata", "classes.csv"), "w") as f:
            for mid, name in CLASSES.items():
                f.write("%s,%s\n" % (mid, name))
        with open(os.path.join(d, "metadata", "hierarchy.json"), "w") as f:
            json.dump(
                {
                    "LabelName": "Entity",
                    "Subcategory": [{"LabelName": n} for n in CLASSES.values()],
                },
                f,
            )
        with open(os.path.join(d, "labels", "classifications.csv"), "w") as f:
            f.write("ImageID,Source,LabelName,Confidence\n")
            for r in rows:
                f.write("%s,%s,%s,%d\n" % r)


def phase_create(oi_root):
    import fiftyone as fo
    import fiftyone.core.labels as fol
    import fiftyone.utils.openimages as fouo

    # 1. exactly what fo.zoo.load_zoo_dataset("open-images-v7",
    #    label_types=["classifications"], splits=[...], persistent=True) does
    #    once the files are on disk
    ds = fo.Dataset("oi-importer", persistent=True)
    for split in ("train", "validation"):
        importer = fouo.OpenImagesV7DatasetImporter(
            os.path.join(oi_root, split), label_types=["classifications"]
        )
        ds.add_importer(importer, tags=[split])
    ds.default_classes = sorted(CLASSES.values())  # zoo: info.classes

    # 2. the same label shapes, built by hand, plus ground_truth and custom
    #    scalar fields (what a C writer is most likely to emulate)
    ds2 = fo.Dataset("oi-custom", persistent=True)
    samples = []
    for split, rows in CLS_ROWS.items():
        d = os.path.join(oi_root, split, "data")
        for image_id in sorted({r[0] for r in rows}):
            mine = [r for r in rows if r[0] == image_id]
            pos = [
                fol.Classification(label=CLASSES[r[2]], confidence=float(r[3]))
                for r in mine
                if r[3] > 0.1
            ]
            neg = [
                fol.Classification(label=CLASSES[r[2]], confidence=float(r[3]))
                for r in mine
                if r[3] <= 0.1
            ]
            samples.append(
                fo.Sample(
                    filepath=os.path.join(d, image_id + ".jpg"),
                    tags=[split],
                    open_images_id=image_id,
                    positive_labels=fol.Classifications(classifications=pos),
                    negative_labels=fol.Classifications(classifications=neg),
                    ground_truth=(
                        fol.Classification(
                            label=pos[0].label, confidence=pos[0].confidence
                        )
                        if pos
                        else None
                    ),
                    source_name="subsetter-test",
                    quality_score=0.25 * len(mine),
                )
            )
    ds2.add_samples(samples)

    # 3. an empty persistent dataset: the datasets document with no samples
    fo.Dataset("empty", persistent=True)
    print(json.dumps(fo.list_datasets()), file=sys.stderr)


def phase_load():
    import fiftyone as fo
    from fiftyone import ViewField as F

    out = {}
    for name in ("oi-importer", "oi-custom", "empty"):
        ds = fo.load_dataset(name)
        out[name] = {
            "len": len(ds),
            "tags": ds.distinct("tags"),
            "pos": ds.count_values("positive_labels.classifications.label")
            if "positive_labels" in ds.get_field_schema()
            else None,
            "take": [s.id for s in ds.match(F("tags").contains("train")).take(2, seed=42)],
        }
    print(json.dumps(out), file=sys.stderr)


def phase_facts():
    import fiftyone as fo
    import fiftyone.constants as foc
    import fiftyone.core.storage as fos
    import fiftyone.core.odm.sample as foos

    home = os.path.expanduser("~")
    paths = [
        "~/data/open-images/../oi/train/",
        "~",
        "/data//oi/./train/../validation/",
        "relative/dir/../x.jpg",
        "/tmp/x/",
    ]
    return {
        "fiftyone.__version__": fo.__version__,
        "foc.VERSION": foc.VERSION,
        "foc.COMPATIBLE_VERSIONS": foc.COMPATIBLE_VERSIONS,
        "foc.MONGODB_MIN_VERSION": str(foc.MONGODB_MIN_VERSION),
        "foc.MONGODB_MAX_ALLOWABLE_FCV_DELTA": foc.MONGODB_MAX_ALLOWABLE_FCV_DELTA,
        "foc.MONGODB_SERVER_FCV_REQUIRED_CONFIRMATION": str(
            foc.MONGODB_SERVER_FCV_REQUIRED_CONFIRMATION
        ),
        "foc.DATABASE_APPNAME": foc.DATABASE_APPNAME,
        "foc.CLIENT_TYPE": foc.CLIENT_TYPE,
        "foc.FIFTYONE_DB_BIN_DIR": foc.FIFTYONE_DB_BIN_DIR,
        "fo.config.database_name": fo.config.database_name,
        "fo.config.database_admin": fo.config.database_admin,
        "fo.config.database_validation": fo.config.database_validation,
        "fo.config.do_not_track": fo.config.do_not_track,
        "home": home,
        "cwd": os.getcwd(),
        "normalize_path": {p: fos.normalize_path(p) for p in paths},
        # fo.Sample(filepath=...) stores fos.normalize_path(filepath)
        "sample_filepath": {p: fo.Sample(filepath=p).filepath for p in paths},
        # sample _rand = random.Random seeded with the filepath str
        # (random.seed(str), version 2), then random() * 0.001 + 0.999
        "sample_rand_examples": {
            p: foos._generate_rand(p)
            for p in ("/data/oi/train/data/000a1b2c3d4e5f60.jpg", "a.jpg")
        },
        # take(n, seed=S) sorts by {"$mod": [randint, "$_rand"]} with
        # randint = random.Random(S).randint(10**7, 10**10)
        "take_randint_for_seed": {
            str(seed): fo.Take(3, seed=seed)._randint for seed in (42, 51)
        },
        "take_seed42_pipeline": fo.Take(3, seed=42).to_mongo(None),
    }


def dump_db(uri, dbname):
    from bson import json_util
    import pymongo

    opts = json_util.JSONOptions(
        json_mode=json_util.JSONMode.RELAXED, tz_aware=True
    )
    client = pymongo.MongoClient(uri)
    db = client[dbname]
    state = {"datasets": {}, "samples": {}, "indexes": {}, "config": []}
    for d in db.datasets.find({}, sort=[("name", 1)]):
        state["datasets"][d["name"]] = d
        coll = db[d["sample_collection_name"]]
        state["samples"][d["name"]] = list(coll.find({}, sort=[("_id", 1)]))
        state["indexes"][d["name"]] = list(coll.list_indexes())
    state["config"] = list(db.config.find())
    state["meta_indexes"] = {
        n: list(db[n].list_indexes()) for n in ("datasets", "config")
    }
    state["collections"] = sorted(db.list_collection_names())
    client.close()
    # round-trip through relaxed extended JSON so that it can be diffed
    return json.loads(json_util.dumps(state, json_options=opts)), opts


def diff(a, b, path=""):
    out = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            p = "%s.%s" % (path, k) if path else k
            if k not in a:
                out.append({"path": p, "added": b[k]})
            elif k not in b:
                out.append({"path": p, "removed": a[k]})
            else:
                out += diff(a[k], b[k], p)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out += diff(x, y, "%s[%d]" % (path, i))
    elif a != b:
        out.append({"path": path, "before": a, "after": b})
    return out


def write(outdir, name, obj):
    with open(os.path.join(outdir, name), "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--phase":
        phase = sys.argv[2]
        if phase == "create":
            phase_create(sys.argv[3])
        elif phase == "load":
            phase_load()
        elif phase == "facts":
            print(json.dumps(phase_facts()))
        return

    outdir = os.path.abspath(sys.argv[1])
    os.makedirs(outdir, exist_ok=True)
    uri = os.environ["FIFTYONE_DATABASE_URI"]
    dbname = os.environ["FIFTYONE_DATABASE_NAME"]

    import pymongo

    pymongo.MongoClient(uri).drop_database(dbname)

    def child(*args):
        subprocess.run([sys.executable, __file__, "--phase", *args], check=True)

    with tempfile.TemporaryDirectory(prefix="oi-fake-") as oi_root:
        make_openimages_dir(oi_root)
        child("create", oi_root)
        before, _ = dump_db(uri, dbname)
        child("load")
        after, _ = dump_db(uri, dbname)

    for name, d in before["datasets"].items():
        slug = name.replace("-", "_")
        write(outdir, "datasets-doc.%s.json" % slug, d)
        write(outdir, "sample-docs.%s.json" % slug, before["samples"][name])
        write(outdir, "indexes.%s.json" % slug, before["indexes"][name])
        write(
            outdir,
            "load-diff.%s.json" % slug,
            {
                "datasets_doc": diff(d, after["datasets"][name]),
                "samples": diff(before["samples"][name], after["samples"][name]),
                "indexes": diff(before["indexes"][name], after["indexes"][name]),
            },
        )
    write(outdir, "config-collection.json", before["config"])
    write(outdir, "load-diff.config.json", diff(before["config"], after["config"]))
    write(outdir, "indexes.datasets-and-config.json", before["meta_indexes"])
    write(
        outdir,
        "collections.json",
        {"before_load": before["collections"], "after_load": after["collections"]},
    )
    facts = subprocess.run(
        [sys.executable, __file__, "--phase", "facts"],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
    ).stdout
    write(outdir, "constants-and-paths.json", json.loads(facts.strip().splitlines()[-1]))
    print("wrote", outdir)


if __name__ == "__main__":
    main()
