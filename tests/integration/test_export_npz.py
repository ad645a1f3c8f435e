"""`subsetter export --format npz`, `--splits` and `subsetter stats` on a fetched subset.

The subset's images are real JPEGs of the kinds Open Images holds (4:2:0, 4:4:4,
grayscale, CMYK, progressive, EXIF-rotated; larger and smaller than 256 px), made with
Pillow and fetched from scripts/mirror-server. Every pixel and statistic is checked
against Pillow + numpy computing the reference generator's definitions here."""
import csv
import json
import os
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.model_selection import train_test_split

from mirror_server import MirrorServer as Mirror
from test_fetch import Runner
from test_ingest import Env, ingest, make_mirror

K, N, SEED = 3, 20, 42
NAME = "npz-subset"

# (size, how it is saved): one of each kind per class at least
KINDS = [
    ((640, 480), dict(quality=90)),                       # 4:2:0, the common case
    ((333, 517), dict(quality=95, subsampling=0)),        # 4:4:4, odd sizes, portrait
    ((300, 256), dict(quality=85, mode="L")),             # grayscale, short side 256
    ((400, 300), dict(quality=90, mode="CMYK")),          # CMYK (Adobe, inverted)
    ((200, 150), dict(quality=80, progressive=True)),     # progressive, upscaled
    ((500, 375), dict(quality=90, orientation=6)),        # EXIF-rotated
    ((1024, 683), dict(quality=92, subsampling=1)),       # 4:2:2
]


def natural_image(rng, size):
    """Smooth colour fields plus noise: resizing changes such pixels, as it does photos."""
    w, h = size
    base = rng.integers(0, 256, (max(2, h // 40), max(2, w // 40), 3), dtype=np.uint8)
    im = Image.fromarray(base).resize((w, h), Image.BICUBIC)
    noise = rng.normal(0, 12, (h, w, 3))
    return Image.fromarray(np.clip(np.asarray(im) + noise, 0, 255).astype(np.uint8))


def save_kind(path, rng, kind):
    size, opts = kind
    opts = dict(opts)
    im = natural_image(rng, size)
    mode, orientation = opts.pop("mode", None), opts.pop("orientation", None)
    if mode:
        im = im.convert(mode)
    if orientation:
        exif = Image.Exif()
        exif[0x0112] = orientation
        opts["exif"] = exif.tobytes()
    im.save(path, "JPEG", **opts)


@pytest.fixture(scope="module")
def world(plain_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("npz")
    env = Env(plain_server, f"npz_{os.getpid()}_{random.randrange(1 << 30)}", tmp)
    runner = Runner(env, tmp)
    mirror = tmp / "mirror"
    make_mirror(mirror, "--seed", "11", "--train", "6000", "--validation", "300", "--test", "300")
    assert ingest(runner, env, mirror).rc == 0
    assert runner.run("label", "single").rc == 0
    survey = json.loads(runner.run("survey", "--json").stdout)
    classes = sorted(c for c, n in survey["class_counts"].items() if n >= N)[:K]
    assert len(classes) == K
    images, rng, i = tmp / "images", np.random.default_rng(5), 0
    for d in env.samples().find({"ground_truth.label": {"$in": classes}},
                                {"open_images_id": 1, "tags": 1}, sort=[("_id", 1)]):
        path = images / d["tags"][0] / f"{d['open_images_id']}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        save_kind(path, rng, KINDS[i % len(KINDS)])
        i += 1
    r = runner.run("sample", "--name", NAME, "--classes", ",".join(classes),
                   "--samples-per-class", str(N), "--seed", str(SEED), "--json")
    assert r.rc == 0, r
    m = Mirror(images)
    try:
        r = runner.run("fetch", "--dataset", NAME, "--base-url", m.url, "--json")
    finally:
        m.stop()
    assert r.rc == 0, r
    return {"env": env, "run": runner.run, "classes": classes, "tmp": tmp,
            "coll": env.samples(NAME)}


def export(world, out, *extra, fmt="npz"):
    return world["run"]("export", "--dataset", NAME, "--format", fmt, "--out", str(out),
                        "--json", *extra)


def npz_reference(path):
    """torchvision Resize(256) + CenterCrop(224) on Image.open(path).convert("RGB")."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    short, long_ = min(w, h), max(w, h)
    if short != 256:
        new_long = int(256 * long_ / short)
        im = im.resize((256, new_long) if w <= h else (new_long, 256), Image.BILINEAR)
    w, h = im.size
    top, left = int(round((h - 224) / 2.0)), int(round((w - 224) / 2.0))
    return np.asarray(im.crop((left, top, left + 224, top + 224)))


def stats_reference(paths, size=224):
    means, stds = [], []
    for p in paths:
        im = Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)
        a = np.asarray(im, dtype=np.float64) / 255.0
        means.append(a.mean(axis=(0, 1)))
        stds.append(a.std(axis=(0, 1), ddof=1))
    return np.mean(means, axis=0), np.mean(stds, axis=0)


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def by_image_id(world):
    return {d["open_images_id"]: d for d in world["coll"].find()}


def test_npz_layout_labels_and_pixels(world, tmp_path):
    out = tmp_path / "npz"
    r = export(world, out)
    assert r.rc == 0, r
    c = r.json()["counts"]
    assert c["samples"] == K * N and c["missing"] == 0 and c["unlabeled"] == 0, c
    assert sum(c["splits"].values()) == K * N, c
    z = np.load(out / f"{NAME}_cls.npz")
    assert sorted(z.files) == sorted(f"{p}_{s}" if p in "Xy" else f"{s}_id"
                                     for s in ("train", "val", "test") for p in ("X", "y", "i"))
    meta = read_csv(out / f"{NAME}_cls_metadata.csv")
    assert [m["subset_label"] for m in meta] == [str(i) for i in range(K)]
    # y follows the class list the subset was sampled with
    assert [m["human_label"] for m in meta] == world["classes"]
    assert all(m["label_id"].startswith("/m/") for m in meta), meta
    docs = by_image_id(world)
    for split in ("train", "val", "test"):
        X, y, ids = z[f"X_{split}"], z[f"y_{split}"], z[f"{split}_id"]
        n = c["splits"][split]
        assert X.shape == (n, 224, 224, 3) and X.dtype == np.uint8
        assert y.shape == (n,) and y.dtype == np.int32
        assert ids.shape == (n,) and ids.dtype.kind == "U"
        rows = read_csv(out / "splits" / f"{split}.csv")
        assert [row["image_id"] for row in rows] == list(ids)
        for x, label, image_id in zip(X, y, ids):
            d = docs[image_id]
            assert meta[label]["human_label"] == d["ground_truth"]["label"]
            want = npz_reference(d["filepath"])
            diff = np.abs(x.astype(int) - want.astype(int)).max()
            assert diff <= 1, (image_id, diff)
        # plan order: _id order within a split
        assert [docs[i]["_id"] for i in ids] == sorted(docs[i]["_id"] for i in ids)


def test_npz_is_reproducible_and_streams(world, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert export(world, a).rc == 0
    assert export(world, b).rc == 0
    name = f"{NAME}_cls.npz"
    assert (a / name).read_bytes() == (b / name).read_bytes()
    for split in ("train", "val", "test"):
        assert (a / "splits" / f"{split}.csv").read_bytes() == \
            (b / "splits" / f"{split}.csv").read_bytes()
    assert not list(a.glob("*.part")), "a temporary file was left behind"
    # another seed gives other splits of the same sizes
    c = tmp_path / "c"
    r = export(world, c, "--seed", "7")
    assert r.rc == 0, r
    ids = lambda d, s: [row["image_id"] for row in read_csv(d / "splits" / f"{s}.csv")]  # noqa
    assert ids(a, "test") != ids(c, "test")
    assert [len(ids(a, s)) for s in ("train", "val", "test")] == \
        [len(ids(c, s)) for s in ("train", "val", "test")]


def test_splits_are_stratified_and_sized_as_sklearn(world, tmp_path):
    out = tmp_path / "folder"
    r = export(world, out, "--splits", "0.7,0.1,0.2", "--seed", "42", fmt="imagefolder")
    assert r.rc == 0, r
    rows = {s: read_csv(out / "splits" / f"{s}.csv") for s in ("train", "val", "test")}
    all_ids = [row["image_id"] for s in rows for row in rows[s]]
    assert len(all_ids) == len(set(all_ids)) == K * N
    for s in rows:
        assert {row["label"] for row in rows[s]} == set(world["classes"]), s
        for row in rows[s]:
            assert (out / row["path"]).is_file(), row
    # sizes as the reference's two train_test_split calls give them
    # (open_images_v7_100/dataset.py: test off the whole, then val / (train + val) of the rest)
    y = [i % K for i in range(K * N)]
    rest, test = train_test_split(list(range(K * N)), test_size=0.2, stratify=y,
                                  random_state=0)
    train, val = train_test_split(rest, test_size=0.1 / (0.7 + 0.1),
                                  stratify=[y[i] for i in rest], random_state=0)
    assert [len(rows[s]) for s in ("train", "val", "test")] == [len(train), len(val), len(test)]
    for s, part in (("train", train), ("val", val), ("test", test)):
        want = sorted(sum(1 for i in part if y[i] == c) for c in range(K))
        got = sorted(sum(1 for row in rows[s] if row["label"] == label)
                     for label in world["classes"])
        assert got == want, (s, got, want)


def test_a_class_too_small_for_the_splits_is_refused(world, tmp_path):
    r = export(world, tmp_path / "x", "--splits", "0.96,0.02,0.02", fmt="manifest")
    assert r.rc == 14, r
    assert "val" in r.stderr or "split" in r.stderr, r.stderr


@pytest.mark.parametrize("mode", ["exact", "fast"])
def test_stats_against_pillow_and_numpy(world, tmp_path, mode):
    out = tmp_path / "stats.json"
    r = world["run"]("stats", "--dataset", NAME, "--out", str(out), f"--{mode}", "--json")
    assert r.rc == 0, r
    s = json.loads(out.read_text())
    assert s == {k: v for k, v in r.json().items() if k != "ok"}
    for key in ("args", "num_augments", "mean", "std", "avg_width", "avg_height",
                "num_samples", "classes"):
        assert key in s, key
    assert s["num_samples"] == K * N and s["num_failed"] == 0 and s["mode"] == mode
    # as the reference writes them: classes {label: count}, args with its key names
    assert s["classes"] == {c: N for c in world["classes"]}
    assert list(s["classes"]) == s["class_list"] == world["classes"]
    assert s["args"]["num_classes"] == K and s["args"]["samples_per_class"] == N
    assert s["args"]["random_seed"] == SEED and s["args"]["normalization_resize_dim"] == 224
    docs = list(world["coll"].find())
    mean, std = stats_reference([d["filepath"] for d in docs])
    tol = 1e-4 if mode == "exact" else 2e-3
    assert np.abs(np.array(s["mean"]) - mean).max() < tol, (s["mean"], mean)
    assert np.abs(np.array(s["std"]) - std).max() < tol, (s["std"], std)
    if mode == "exact":
        assert np.abs(np.array(s["mean"]) - mean).max() < 1e-9
    # FiftyOne's oriented sizes: EXIF orientations 5-8 swap width and height
    sizes = []
    for d in docs:
        im = Image.open(d["filepath"])
        w, h = im.size
        if im.getexif().get(0x0112, 1) in (5, 6, 7, 8):
            w, h = h, w
        sizes.append((w, h))
        assert (d["metadata"]["width"], d["metadata"]["height"]) == (w, h)
    assert s["avg_width"] == pytest.approx(np.mean([w for w, _ in sizes]), abs=1e-9)
    assert s["avg_height"] == pytest.approx(np.mean([h for _, h in sizes]), abs=1e-9)
    assert s["sources"] and all(len(x["sha256"]) == 64 for x in s["sources"])
    run = world["env"].database()["subsetter.runs"].find_one({"stage": "stats"},
                                                              sort=[("_id", -1)])
    assert run and run["state"] == "done", run


def test_stats_of_a_directory_and_a_corrupt_image(world, tmp_path):
    d = tmp_path / "imgs"
    d.mkdir()
    docs = list(world["coll"].find().limit(6))
    for i, doc in enumerate(docs):
        (d / f"{i}.jpg").write_bytes(Path(doc["filepath"]).read_bytes())
    r = world["run"]("stats", "--images", str(d), "--json")
    assert r.rc == 0, r
    mean, std = stats_reference(sorted(d.glob("*.jpg")))
    assert np.abs(np.array(r.json()["mean"]) - mean).max() < 1e-9
    data = (d / "0.jpg").read_bytes()
    (d / "0.jpg").write_bytes(data[: len(data) // 3])
    r = world["run"]("stats", "--images", str(d), "--json")
    assert r.rc == 16, r
    j = r.json()
    assert j["num_failed"] == 1 and j["failures"][0]["path"].endswith("0.jpg"), j
    mean, _ = stats_reference(sorted(d.glob("*.jpg"))[1:])
    assert np.abs(np.array(j["mean"]) - mean).max() < 1e-9


def test_npz_with_missing_media_reports_them(world, tmp_path):
    doc = world["coll"].find_one(sort=[("_id", -1)])
    path = Path(doc["filepath"])
    keep = path.read_bytes()
    path.unlink()
    try:
        r = export(world, tmp_path / "m")
    finally:
        path.write_bytes(keep)
    assert r.rc == 16, r
    j = r.json()
    assert j["counts"]["missing"] == 1 and sum(j["counts"]["splits"].values()) == K * N - 1
    z = np.load(tmp_path / "m" / f"{NAME}_cls.npz")
    assert doc["open_images_id"] not in set(np.concatenate([z["train_id"], z["val_id"],
                                                            z["test_id"]]))


def test_npz_with_a_corrupt_image_leaves_no_archive(world, tmp_path):
    doc = world["coll"].find_one(sort=[("_id", 1)])
    path = Path(doc["filepath"])
    keep = path.read_bytes()
    path.write_bytes(keep[: len(keep) // 2])
    try:
        r = export(world, tmp_path / "c")
    finally:
        path.write_bytes(keep)
    assert r.rc == 13, r
    assert str(path) in r.stderr, r.stderr
    assert not list((tmp_path / "c").glob("*.npz*")), list((tmp_path / "c").iterdir())
