"""`subsetter export` (imagefolder, manifest) of a fetched subset, on a real mongod.

The dataset is made as in test_fetch.py: ingest, label single, sample, fetch from
scripts/mirror-server serving Pillow JPEGs. Samples are exported in _id order, as
FiftyOne's exporter meets them in a view sorted by _id."""
import csv
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

from mirror_server import MirrorServer as Mirror
from test_fetch import K, N, make_subset, world  # noqa: F401 (world is a fixture)

NAME = "export-subset"


@pytest.fixture(scope="module")
def subset(world):  # noqa: F811
    coll = make_subset(world, NAME)
    m = Mirror(world["images"])
    try:
        r = world["run"]("fetch", "--dataset", NAME, "--base-url", m.url, "--json")
    finally:
        m.stop()
    assert r.rc == 0, r
    return coll


def export(world, out, *extra, dataset=NAME, fmt="imagefolder"):
    return world["run"]("export", "--dataset", dataset, "--format", fmt, "--out", str(out),
                        "--json", *extra)


def listing(root: Path):
    """Every entry under root with what a rewrite would change."""
    out = {}
    for p in sorted(root.rglob("*")):
        st = p.lstat()
        out[str(p.relative_to(root))] = (st.st_mode, st.st_ino, st.st_size, st.st_mtime_ns)
    return out


def files(root: Path):
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                  if not p.is_dir() and p.parent != root)


@pytest.mark.parametrize("mode", ["copy", "hardlink", "symlink"])
def test_imagefolder_tree_and_idempotent(world, subset, tmp_path, mode):  # noqa: F811
    out = tmp_path / "out"
    r = export(world, out, "--mode", mode)
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True and j["complete"] is True, j
    c = j["counts"]
    assert c["samples"] == K * N and c["exported"] == K * N and c["missing"] == 0, c
    assert sorted(e["count"] for e in c["per_label"]) == [N] * K
    labels = json.loads((out / "labels.json").read_text())["labels"]
    assert set(labels) == {d["ground_truth"]["label"] for d in subset.find()}
    expected = {}
    for d in subset.find():
        rel = f"{labels[d['ground_truth']['label']]}/{os.path.basename(d['filepath'])}"
        expected[rel] = Path(d["filepath"])
    assert files(out) == sorted(expected)
    for rel, src in expected.items():
        dest = out / rel
        if mode == "copy":
            assert not dest.is_symlink() and dest.stat().st_ino != src.stat().st_ino
            assert dest.read_bytes() == src.read_bytes()
        elif mode == "hardlink":
            assert os.path.samefile(dest, src) and not dest.is_symlink()
        else:
            assert dest.is_symlink() and os.readlink(dest) == str(src)
    with open(out / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["label"]: r["folder"] for r in rows} == labels
    before = listing(out)
    r = export(world, out, "--mode", mode)
    assert r.rc == 0, r
    assert r.json()["counts"]["skipped_existing"] == K * N
    assert r.json()["counts"]["exported"] == 0
    assert listing(out) == before
    run = world["env"].database()["subsetter.runs"].find_one(
        {"stage": "export", "dataset": NAME}, sort=[("_id", -1)])
    assert run is not None


def test_interrupted_copy_resumes(world, subset, tmp_path):  # noqa: F811
    out = tmp_path / "out"
    assert export(world, out).rc == 0
    victims = sorted(out.glob("*/*.jpg"))[:3]
    victims[0].unlink()
    victims[1].write_bytes(victims[1].read_bytes()[:10])  # a truncated copy
    (victims[2].parent / (victims[2].name + ".export-part")).write_bytes(b"partial")
    r = export(world, out)
    assert r.rc == 0, r
    assert r.json()["counts"]["exported"] == 2, r.json()
    assert not list(out.rglob("*.export-part"))
    for d in subset.find():
        p = next(out.glob(f"*/{os.path.basename(d['filepath'])}"))
        assert p.read_bytes() == Path(d["filepath"]).read_bytes()


def hostile_dataset(world, subset, name):  # noqa: F811
    """A copy of the subset with planted labels and a basename collision."""
    r = world["run"]("sample", "--name", name, "--classes", ",".join(world["classes"]),
                     "--samples-per-class", str(N), "--seed", "42", "--json")
    assert r.rc == 0, r
    coll = world["env"].samples(name)
    docs = list(coll.find().sort("_id", 1))
    hostile = ["../x", "a/b\\c", "..", ".", "con", "COM1.txt", "Cat", "cat", "tab\there\x01",
               "trail. ", "é" * 150, "_unlabeled"]
    for d, label in zip(docs, hostile):
        coll.update_one({"_id": d["_id"]}, {"$set": {"ground_truth.label": label}})
    # Two samples of one class whose files have the same basename.
    rest = docs[len(hostile):]
    by_label = {}
    for d in rest[:-1]:
        by_label.setdefault(d["ground_truth"]["label"], []).append(d)
    first, second = next(v for v in by_label.values() if len(v) >= 2)[:2]
    dup = Path(second["filepath"]).parent / "dup" / os.path.basename(first["filepath"])
    dup.parent.mkdir(exist_ok=True)
    shutil.copyfile(second["filepath"], dup)
    coll.update_one({"_id": second["_id"]}, {"$set": {"filepath": str(dup)}})
    # One sample without a label.
    coll.update_one({"_id": rest[-1]["_id"]}, {"$unset": {"ground_truth": ""}})
    return coll, first, second, dup, rest[-1]


def test_hostile_labels_and_collisions(world, subset, tmp_path):  # noqa: F811
    coll, first, second, dup, unlabeled = hostile_dataset(world, subset, "export-hostile")
    out = tmp_path / "deep" / "out"
    r = export(world, out, dataset="export-hostile")
    assert r.rc == 0, r
    labels = json.loads((out / "labels.json").read_text())["labels"]
    folders = list(labels.values())
    assert len({f.lower() for f in folders}) == len(folders)  # distinct on any file system
    for label, folder in labels.items():
        assert "/" not in folder and "\\" not in folder and folder not in (".", "..")
        assert not any(ord(ch) < 32 for ch in folder) and not folder.endswith((".", " "))
        assert len(folder.encode()) <= 205
        assert folder.split(".")[0].upper() not in ("CON", "NUL", "COM1")
        assert (out / folder).resolve().parent == out.resolve()
    assert labels["Cat"] != labels["cat"]
    assert labels["_unlabeled"] != "_unlabeled"
    assert labels["é" * 150].encode().decode("utf-8")  # cut at a character boundary
    # Nothing was written outside out.
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["out"]
    assert not (tmp_path / "x").exists()
    folder = labels[first["ground_truth"]["label"]]
    base, ext = os.path.splitext(os.path.basename(first["filepath"]))
    assert (out / folder / f"{base}{ext}").read_bytes() == Path(first["filepath"]).read_bytes()
    assert (out / folder / f"{base}-2{ext}").read_bytes() == dup.read_bytes()
    assert (out / "_unlabeled" / os.path.basename(unlabeled["filepath"])).is_file()
    assert len(files(out)) == K * N


def test_missing_media_is_reported(world, subset, tmp_path):  # noqa: F811
    d = subset.find_one(sort=[("_id", -1)])
    src = Path(d["filepath"])
    data = src.read_bytes()
    src.unlink()
    try:
        r = export(world, tmp_path / "out")
        m = export(world, tmp_path / "man", fmt="manifest")
    finally:
        src.write_bytes(data)
    assert r.rc == 16, r
    j = r.json()
    assert j["ok"] is False and j["error"]["code"] == "INCOMPLETE", j
    assert j["counts"]["missing"] == 1 and j["counts"]["missing_paths"] == [str(src)], j
    assert j["counts"]["exported"] == K * N - 1
    assert str(src) in j["error"]["message"]
    assert m.rc == 16, m
    assert m.json()["counts"]["missing_paths"] == [str(src)]


def test_manifest_rows(world, subset, tmp_path):  # noqa: F811
    out = tmp_path / "man"
    r = export(world, out, fmt="manifest")
    assert r.rc == 0, r
    tree = tmp_path / "tree"
    assert export(world, tree).rc == 0
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    lines = [json.loads(s) for s in (out / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == len(lines) == K * N
    by_id = {d["open_images_id"]: d for d in subset.find()}
    ids = [d["_id"] for d in subset.find().sort("_id", 1)]
    assert [r["image_id"] for r in rows] == [by_id_key for by_id_key in
                                              (subset.find_one({"_id": i})["open_images_id"]
                                               for i in ids)]
    for row, line in zip(rows, lines):
        d = by_id[row["image_id"]]
        src = Path(d["filepath"])
        assert line["image_id"] == row["image_id"] and line["path"] == row["path"]
        assert row["label"] == line["label"] == d["ground_truth"]["label"]
        assert row["sha256"] == line["sha256"] == hashlib.sha256(src.read_bytes()).hexdigest()
        with Image.open(src) as im:
            assert (line["width"], line["height"]) == im.size
            assert (int(row["width"]), int(row["height"])) == im.size
        assert line["size"] == int(row["size"]) == src.stat().st_size
        assert (tree / row["path"]).read_bytes() == src.read_bytes()
        assert line["source_url"] == (d.get("original_url") or None)
        assert row["source_url"] == (d.get("original_url") or "")
        assert line["license"] == (d.get("license") or None)
        assert line["author"] == (d.get("author") or None)
    before = listing(out)
    assert export(world, out, fmt="manifest").rc == 0
    assert listing(out) == before


def test_manifest_csv_quoting(world, subset, tmp_path):  # noqa: F811
    name = "export-quoting"
    r = world["run"]("sample", "--name", name, "--classes", ",".join(world["classes"]),
                     "--samples-per-class", str(N), "--seed", "42", "--json")
    assert r.rc == 0, r
    coll = world["env"].samples(name)
    d = coll.find_one(sort=[("_id", 1)])
    nasty = 'Smith, "J"\r\nline two '
    coll.update_one({"_id": d["_id"]}, {"$set": {"author": nasty, "ground_truth.label": "a,b"}})
    out = tmp_path / "q"
    assert export(world, out, dataset=name, fmt="manifest").rc == 0
    with open(out / "manifest.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["author"] == nasty and rows[0]["label"] == "a,b"
    assert len(rows) == K * N


def test_usage_errors(world, tmp_path):  # noqa: F811
    assert export(world, tmp_path / "o", "--mode", "move").rc == 2
    assert export(world, tmp_path / "o", fmt="tfrecord").rc == 2
    for bad in ("0.5,0.5", "0.7,0.1,0.3", "a,b,c", "0.7,0.1,0.2,"):
        r = export(world, tmp_path / "o", "--splits", bad)
        assert r.rc == 2 and "--splits" in r.stderr, (bad, r)
    assert export(world, tmp_path / "o", "--seed", "x").rc == 2
    assert not (tmp_path / "o").exists(), "a usage error wrote something"
    r = export(world, tmp_path / "o", dataset="no-such-dataset")
    assert r.rc == 15, r
