"""`subsetter ingest openimages` against a real mongod, from generated mirrors.

The mirrors come from scripts/make-mirror, whose manifest says what a correct ingest must
find; every count below is compared with it, never with a number written here."""
import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bson import json_util

from mirror_server import MirrorServer

ROOT = Path(__file__).resolve().parents[2]
SPLITS = ("train", "validation", "test")


def make_mirror(out: Path, *args) -> dict:
    subprocess.run([sys.executable, str(ROOT / "scripts" / "make-mirror"), str(out), *args],
                   check=True, capture_output=True)
    return json.loads((out / "mirror-manifest.json").read_text())


@pytest.fixture(scope="session")
def mirror(tmp_path_factory):
    d = tmp_path_factory.mktemp("mirror")
    return d, make_mirror(d, "--seed", "1")


@pytest.fixture(scope="session")
def mirror_unsorted(tmp_path_factory):
    d = tmp_path_factory.mktemp("mirror-unsorted")
    return d, make_mirror(d, "--seed", "1", "--unsorted-labels")


@pytest.fixture(scope="session")
def mirror_crlf(tmp_path_factory):
    d = tmp_path_factory.mktemp("mirror-crlf")
    return d, make_mirror(d, "--seed", "4", "--crlf", "--header-on-classes")


@pytest.fixture(scope="session")
def mirror_bad(tmp_path_factory):
    d = tmp_path_factory.mktemp("mirror-bad")
    return d, make_mirror(d, "--seed", "2", "--bad-rows", "12")


@pytest.fixture
def mirror_http(mirror):
    """scripts/mirror-server serving the small mirror on a loopback port."""
    d, manifest = mirror
    with MirrorServer(d) as m:
        yield m.url, manifest


class Env:
    """Settings for one ingest test: its own database, media root and cache."""

    def __init__(self, server, db, tmp):
        self.server, self.db, self.tmp = server, db, tmp
        self.media = tmp / "media"
        self.cache = tmp / "cache"

    def vars(self, **extra):
        return {"FIFTYONE_DATABASE_URI": self.server.uri(), "FIFTYONE_DATABASE_NAME": self.db,
                "FIFTYONE_DATASET_ZOO_DIR": str(self.media),
                "SUBSETTER_CACHE_DIR": str(self.cache), "SUBSETTER_PROGRESS_INTERVAL_MS": "200",
                **extra}

    def database(self):
        return self.server.client()[self.db]

    def samples(self, name="open-images-v7-full"):
        doc = self.database().datasets.find_one({"name": name})
        assert doc, f"no datasets document named {name}"
        return self.database()[doc["sample_collection_name"]]


@pytest.fixture
def env(plain_server, fresh_db, tmp_path):
    return Env(plain_server, fresh_db, tmp_path)


def ingest(sub, env, source, *extra, timeout=600, **vars):
    return sub.run("ingest", "openimages", "--source", str(source), "--json", *extra,
                   env=env.vars(**vars), timeout=timeout)


def check_counts(result_json, manifest, splits=SPLITS):
    for s in splits:
        got, want = result_json["splits"][s], manifest["splits"][s]
        for key in ("images", "label_rows", "positives", "negatives", "images_without_labels"):
            assert got[key] == want[key], (s, key, got, want)


def sample_digest(coll) -> str:
    """What a sample says, independent of _ids and label order within an image."""
    h = hashlib.sha256()
    for d in coll.find({}, sort=[("open_images_id", 1)]):
        labels = []
        for field in ("positive_labels", "negative_labels"):
            cls = (d.get(field) or {}).get("classifications")
            labels.append(None if cls is None else sorted((c["label"], c["confidence"]) for c in cls))
        rest = {k: v for k, v in d.items()
                if k not in ("_id", "_dataset_id", "created_at", "last_modified_at",
                             "positive_labels", "negative_labels")}
        h.update(json_util.dumps([rest, labels], sort_keys=True).encode())
    return h.hexdigest()


def full_dump(coll) -> str:
    return json_util.dumps(list(coll.find({}, sort=[("_id", 1)])))


def test_ingest_from_directory(sub, env, mirror):
    d, manifest = mirror
    r = ingest(sub, env, d)
    assert r.rc == 0, r
    j = r.json()
    check_counts(j, manifest)
    assert j["counts"]["rejected_rows"] == 0 and j["counts"]["duplicate_rows"] == 0, j

    db = env.database()
    ds = db.datasets.find_one({"name": "open-images-v7-full"})
    assert ds["persistent"] is True and ds["version"] == "1.11.0", ds
    assert ds["media_type"] == "image" and ds["sample_collection_name"].startswith("samples.")
    names = {f["name"] for f in ds["sample_fields"]}
    assert {"filepath", "tags", "metadata", "_rand", "_dataset_id", "positive_labels",
            "negative_labels", "ground_truth", "open_images_id", "original_url", "original_md5",
            "rotation", "license", "author", "title", "thumbnail_url"} <= names, names
    classes_file = (d / "v5" / "class-descriptions-boxable.csv").read_text(encoding="utf-8")
    import csv
    rows = list(csv.reader(classes_file.splitlines()))
    assert ds["info"]["classes_map"] == {m: n for m, n in rows}
    assert ds["default_classes"] == sorted(n for _, n in rows)
    assert ds["info"]["hierarchy"]["LabelName"] == "Entity"

    coll = env.samples()
    assert coll.count_documents({}) == sum(manifest["splits"][s]["images"] for s in SPLITS)
    for s in SPLITS:
        assert coll.count_documents({"tags": [s]}) == manifest["splits"][s]["images"]
    media = str(env.media.resolve())
    for doc in coll.find({}, {"filepath": 1, "_rand": 1, "open_images_id": 1, "tags": 1,
                              "metadata": 1, "_dataset_id": 1}):
        split = doc["tags"][0]
        assert doc["filepath"] == f"{media}/open-images-v7/{split}/data/{doc['open_images_id']}.jpg"
        # FiftyOne's _rand, bit for bit, from the running Python.
        assert doc["_rand"] == random.Random(doc["filepath"]).random() * 0.001 + 0.999, doc
        assert doc["metadata"] is None and doc["_dataset_id"] == ds["_id"]

    # Per-class positives as FiftyOne's count_values would see them.
    pipeline = [{"$unwind": "$positive_labels.classifications"},
                {"$group": {"_id": {"l": "$positive_labels.classifications.label",
                                    "s": {"$first": "$tags"}}, "n": {"$sum": 1}}}]
    got = {(g["_id"]["l"], g["_id"]["s"]): g["n"] for g in coll.aggregate(pipeline)}
    want = {(name, s): c[s]["positive"] for name, c in manifest["class_counts"].items()
            for s in SPLITS if c[s]["positive"]}
    assert got == want

    run = db["subsetter.runs"].find_one({"stage": "ingest"})
    assert run["state"] == "done" and run["counts"]["images"] == j["counts"]["images"], run
    src = db["subsetter.sources"].find_one({"url": str((d / "v5/class-descriptions-boxable.csv").resolve())})
    assert src and src["sha256"] == hashlib.sha256(classes_file.encode()).hexdigest(), src


def test_ingest_over_http_and_idempotent(sub, env, mirror_http):
    url, manifest = mirror_http
    r = ingest(sub, env, url)
    assert r.rc == 0, r
    check_counts(r.json(), manifest)
    coll = env.samples()
    before = full_dump(coll)
    n_sources = env.database()["subsetter.sources"].count_documents({})
    for doc in env.database()["subsetter.sources"].find():
        assert doc["url"].startswith(url) and len(doc["sha256"]) == 64, doc

    r = ingest(sub, env, url)  # the same inputs again
    assert r.rc == 0, r
    assert r.json()["counts"]["skipped_splits"] == 3, r
    check_counts(r.json(), manifest)
    assert full_dump(coll) == before
    assert env.database()["subsetter.sources"].count_documents({}) == n_sources


def test_unsorted_labels_give_the_same_samples(sub, env, mirror, mirror_unsorted, tmp_path):
    assert mirror_unsorted[1]["labels_order"] == "shuffled"
    # Different row orders and different numbers of writers give the same samples.
    r = ingest(sub, env, mirror[0], "--dataset", "sorted", "--writers", "1")
    assert r.rc == 0, r
    r = ingest(sub, env, mirror_unsorted[0], "--dataset", "shuffled", "-v", "--writers", "4",
               "--batch-size", "64")
    assert r.rc == 0, r
    assert "not sorted by ImageID" in r.stderr
    check_counts(r.json(), mirror_unsorted[1])
    assert sample_digest(env.samples("sorted")) == sample_digest(env.samples("shuffled"))


def test_crlf_files_and_a_class_header(sub, env, mirror_crlf):
    d, manifest = mirror_crlf
    assert manifest["line_end"] == "CRLF" and manifest["classes"]["header"] is True
    r = ingest(sub, env, d)
    assert r.rc == 0, r
    check_counts(r.json(), manifest)
    ds = env.database().datasets.find_one({"name": "open-images-v7-full"})
    assert "LabelName" not in ds["info"]["classes_map"], "the header row became a class"
    assert len(ds["info"]["classes_map"]) == manifest["classes"]["count"]
    titles = [t["title"] for t in env.samples().find({"title": {"$exists": True}}, {"title": 1})]
    assert titles and not any(t.endswith("\r") for t in titles)


def test_bad_rows_are_skipped_and_reported(sub, env, mirror_bad):
    d, manifest = mirror_bad
    # 12 bad rows in a 200-image list is 6 %: above the default share of 1 %.
    r = ingest(sub, env, d, "--max-bad-share", "0.1")
    assert r.rc == 0, r
    j = r.json()
    check_counts(j, manifest)
    planted = manifest["bad_rows"]
    assert j["counts"]["rejected_rows"] + j["counts"]["duplicate_rows"] == len(planted), j
    for bad in planted[:5]:
        assert f"{bad['file']}:{bad['line']}: skipped" in r.stderr, (bad, r.stderr)


def test_invalid_utf8_row_is_skipped(sub, env, mirror, tmp_path):
    """Documents go to the server unvalidated (for speed), so the reader must refuse bytes
    that are not UTF-8: FiftyOne could not decode such a sample."""
    import shutil
    d, manifest = mirror
    copy = tmp_path / "mirror-utf8"
    shutil.copytree(d, copy)
    images = copy / "2018_04/validation/validation-images-with-rotation.csv"
    row = (b"ffffffffffffff01,validation,https://farm1.staticflickr.com/1/1_a_o.jpg,"
           b"https://www.flickr.com/photos/x/1,https://creativecommons.org/licenses/by/2.0/,"
           b"https://www.flickr.com/people/x/,Someone,caf\xe9 in latin-1,1234,"
           b"AAAAAAAAAAAAAAAAAAAAAA==,,0.0\n")
    images.write_bytes(images.read_bytes() + row)
    r = ingest(sub, env, copy, "--splits", "validation")
    assert r.rc == 0, r
    j = r.json()
    assert j["splits"]["validation"]["images"] == manifest["splits"]["validation"]["images"]
    assert j["splits"]["validation"]["rejected_rows"] == 1
    assert "not valid UTF-8" in r.stderr
    assert env.samples().count_documents({"open_images_id": "ffffffffffffff01"}) == 0


def test_too_many_bad_rows_stop_the_run(sub, env, mirror_bad):
    d, _ = mirror_bad
    r = ingest(sub, env, d, "--max-bad-share", "0.0001")
    assert r.rc == 13, r
    assert "more than the allowed share" in r.stderr
    assert r.json()["error"]["code"] == "INPUT"
    run = env.database()["subsetter.runs"].find_one({"stage": "ingest"})
    assert run["state"] == "failed" and run["error"]["code"] == "INPUT", run


def test_missing_source_file(sub, env, mirror, tmp_path):
    broken = tmp_path / "broken"
    (broken / "v5").mkdir(parents=True)
    (broken / "v5" / "class-descriptions-boxable.csv").write_bytes(
        (mirror[0] / "v5" / "class-descriptions-boxable.csv").read_bytes())
    r = ingest(sub, env, broken)
    assert r.rc == 10, r
    assert "bbox_labels_600_hierarchy.json" in r.stderr and "not found" in r.stderr


def test_http_404_names_the_url(sub, env, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with MirrorServer(empty) as m:
        url = m.url
        r = ingest(sub, env, url)
    assert r.rc == 10, r
    assert f"{url}v5/class-descriptions-boxable.csv" in r.stderr and "404" in r.stderr


def test_resume_after_kill_9(sub, env, tmp_path_factory, tmp_path):
    d = tmp_path_factory.mktemp("mirror-resume")
    manifest = make_mirror(d, "--seed", "3", "--train", "60000", "--validation", "10",
                           "--test", "10")
    p = sub.popen("ingest", "openimages", "--source", str(d), "--batch-size", "200",
                  env=env.vars())
    sources = env.database()["subsetter.sources"]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        doc = sources.find_one({"kind": "openimages/images", "split": "train",
                                "checkpoint.number": {"$gt": 100}})
        if doc or p.poll() is not None:
            break
        time.sleep(0.05)
    assert p.poll() is None, "the ingest finished before it could be killed; make the mirror larger"
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    written = env.samples().count_documents({})
    assert 0 < written < manifest["splits"]["train"]["images"]

    r = ingest(sub, env, d)
    assert r.rc == 0, r
    assert "resuming at row" in r.stderr
    check_counts(r.json(), manifest)
    resumed = sample_digest(env.samples())

    r = ingest(sub, env, d, "--dataset", "clean")
    assert r.rc == 0, r
    assert resumed == sample_digest(env.samples("clean"))
