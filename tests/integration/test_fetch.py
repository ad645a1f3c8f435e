"""`subsetter fetch` against scripts/mirror-server on loopback and a real mongod.

Images are real JPEGs written with Pillow for every single-label sample of the chosen
classes, at <dir>/<split>/<ImageID>.jpg as on the Open Images S3 mirror; some are then
removed (dead links), truncated or slowed down by the server's fault injection."""
import json
import math
import os
import random
import signal
import time
from pathlib import Path

import pytest
from PIL import Image

import servers
from mirror_server import MirrorServer as Mirror
from test_ingest import Env, ingest, make_mirror

K, N, SEED = 4, 5, 42


class Runner:
    """Runs the binary with one test database's settings (the `sub` interface of ingest())."""

    def __init__(self, env: Env, tmp: Path):
        self.env, self.cwd, self.home = env, tmp / "cwd", tmp / "home"
        self.cwd.mkdir(exist_ok=True)

    def run(self, *args, env=None, timeout=600):
        return servers.run(list(args), cwd=self.cwd, home=self.home,
                           env=env if env is not None else self.env.vars(), timeout=timeout)

    def popen(self, *args):
        return servers.popen(list(args), cwd=self.cwd, home=self.home, env=self.env.vars())


@pytest.fixture(scope="module")
def world(plain_server, tmp_path_factory):
    """A source dataset ingested and labeled, and images for the single-label samples of
    K classes that have a few more samples than N (room for backfill)."""
    tmp = tmp_path_factory.mktemp("fetch")
    env = Env(plain_server, f"fetch_{os.getpid()}_{random.randrange(1 << 30)}", tmp)
    runner = Runner(env, tmp)
    mirror = tmp / "mirror"
    make_mirror(mirror, "--seed", "7", "--train", "6000", "--validation", "300", "--test", "300")
    assert ingest(runner, env, mirror).rc == 0
    assert runner.run("label", "single").rc == 0
    survey = json.loads(runner.run("survey", "--json").stdout)
    classes = [c for c, n in survey["class_counts"].items() if n >= N + 4][:K]
    assert len(classes) == K
    images = tmp / "images"
    for d in env.samples().find({"ground_truth.label": {"$in": classes}},
                                {"open_images_id": 1, "tags": 1}):
        path = images / d["tags"][0] / f"{d['open_images_id']}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (64 + len(path.name) % 7, 48), (len(path.name) * 3 % 255, 90, 20)).save(
            path, "JPEG", quality=80)
    return {"env": env, "run": runner.run, "popen": runner.popen, "classes": classes,
            "images": images, "tmp": tmp}


def make_subset(world, name):
    """A K x N subset; the media of the source's samples start absent (all subsets share
    the source's filepaths, so files a previous test fetched are removed)."""
    r = world["run"]("sample", "--name", name, "--classes", ",".join(world["classes"]),
                     "--samples-per-class", str(N), "--seed", str(SEED), "--json")
    assert r.rc == 0, r
    for p in Path(world["env"].media).rglob("*.jpg"):
        p.unlink()
    return world["env"].samples(name)


def fetch(world, name, url, *extra, timeout=300):
    return world["run"]("fetch", "--dataset", name, "--base-url", url, "--json",
                        "--concurrency", "4", *extra, timeout=timeout)


def take_order(world, label):
    """FiftyOne's take order of a class in the source, computed here."""
    R = random.Random(SEED).randint(10**7, 10**10)
    docs = world["env"].samples().find({"ground_truth.label": label}, {"_rand": 1})
    return [d["_id"] for d in sorted(docs, key=lambda d: math.fmod(R, d["_rand"]))]


def test_fetch_downloads_verifies_and_sets_metadata(world):
    coll = make_subset(world, "fetch-ok")
    m = Mirror(world["images"])
    try:
        r = fetch(world, "fetch-ok", m.url)
        assert r.rc == 0, r
        j = r.json()
        assert j["complete"] is True and j["counts"]["done"] == K * N, j
        for d in coll.find():
            p = Path(d["filepath"])
            assert p.is_file(), p
            with Image.open(p) as im:
                assert d["metadata"]["width"] == im.width and d["metadata"]["height"] == im.height
            assert d["metadata"]["_cls"] == "ImageMetadata"
            assert d["metadata"]["mime_type"] == "image/jpeg"
            assert d["metadata"]["size_bytes"] == p.stat().st_size
        leftovers = [p for p in Path(world["env"].media).rglob("*") if ".part" in p.name]
        assert leftovers == []
        gets = [e for e in m.log() if e["method"] == "GET"]
        assert len(gets) == K * N  # only the subset's images, each once
        # A second run has nothing to do and asks the server nothing.
        r = fetch(world, "fetch-ok", m.url)
        assert r.rc == 0, r
        assert len([e for e in m.log() if e["method"] == "GET"]) == K * N
    finally:
        m.stop()


def test_dead_links_are_backfilled_in_take_order(world, tmp_path):
    coll = make_subset(world, "fetch-dead")
    chosen = {d["_id"]: d for d in coll.find()}
    label = world["classes"][0]
    order = take_order(world, label)
    dead = order[:2]  # two of the class's chosen samples
    hidden = []
    for sid in dead:
        d = chosen[sid]
        p = world["images"] / d["tags"][0] / f"{d['open_images_id']}.jpg"
        hidden.append((p, p.read_bytes()))
        p.unlink()
    m = Mirror(world["images"])
    try:
        r = fetch(world, "fetch-dead", m.url, "--max-attempts", "1")
    finally:
        m.stop()
        for p, data in hidden:
            p.write_bytes(data)
    assert r.rc == 0, r
    j = r.json()
    assert j["counts"]["failed"] == 2 and j["counts"]["replaced"] == 2, j
    assert j["counts"]["failures_by_reason"] == {"http_404": 2}, j
    got = {d["_id"] for d in coll.find({"ground_truth.label": label})}
    live = [sid for sid in order if sid not in dead]
    assert got == set(live[:N])  # the first N live samples in take order
    assert coll.count_documents({}) == K * N
    tasks = world["env"].database()["subsetter.fetch_tasks"]
    for sid in dead:
        t = tasks.find_one({"dataset": "fetch-dead", "sample_id": sid})
        assert t["state"] == "failed" and t["last_error"]["code"] == "http_404", t
        assert t["replaced_by"] in got

    # The same sample command again (as `run` may issue it) keeps the backfilled subset:
    # selecting again would bring the dead samples back.
    before = sorted(d["_id"] for d in coll.find())
    r = world["run"]("sample", "--name", "fetch-dead", "--classes", ",".join(world["classes"]),
                     "--samples-per-class", str(N), "--seed", str(SEED))
    assert r.rc == 0 and "kept" in r.stdout, r
    assert sorted(d["_id"] for d in coll.find()) == before


def test_no_backfill_leaves_the_subset_short(world):
    coll = make_subset(world, "fetch-short")
    d = next(coll.find())
    p = world["images"] / d["tags"][0] / f"{d['open_images_id']}.jpg"
    data = p.read_bytes()
    p.unlink()
    m = Mirror(world["images"])
    try:
        r = fetch(world, "fetch-short", m.url, "--no-backfill")
    finally:
        m.stop()
        p.write_bytes(data)
    assert r.rc == 16, r
    assert r.json()["counts"]["failed"] == 1 and r.json()["counts"]["remaining"] == 1


def test_transient_errors_are_retried(world):
    coll = make_subset(world, "fetch-retry")
    d = next(coll.find())
    path = f"/{d['tags'][0]}/{d['open_images_id']}.jpg"
    m = Mirror(world["images"], faults={path: [{"status": 503}, {"truncate_after": 100}]})
    try:
        r = fetch(world, "fetch-retry", m.url)
    finally:
        m.stop()
    assert r.rc == 0, r
    assert r.json()["counts"]["retried"] == 2, r
    assert r.json()["counts"]["failures_by_reason"] == {"http_503": 1, "truncated": 1}, r
    assert Path(d["filepath"]).is_file()


def test_two_workers_share_the_work(world):
    coll = make_subset(world, "fetch-two")
    faults = {}
    for d in coll.find():
        faults[f"/{d['tags'][0]}/{d['open_images_id']}.jpg"] = [{"delay": 0.2}]
    m = Mirror(world["images"], faults=faults)
    try:
        procs = [world["popen"]("fetch", "--dataset", "fetch-two", "--base-url", m.url, "--json",
                                "--concurrency", "2") for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outs
        gets = [e["path"] for e in m.log() if e["method"] == "GET"]
    finally:
        m.stop()
    assert sorted(gets) == sorted(set(gets)) and len(gets) == K * N  # nothing fetched twice


def test_sigterm_stops_cleanly_and_a_killed_workers_leases_expire(world):
    coll = make_subset(world, "fetch-stop")
    faults = {f"/{d['tags'][0]}/{d['open_images_id']}.jpg": [{"slow": 200}]
              for d in coll.find()}
    m = Mirror(world["images"], faults=faults)
    tasks = world["env"].database()["subsetter.fetch_tasks"]
    try:
        args = ["fetch", "--dataset", "fetch-stop", "--base-url", m.url, "--json",
                "--lease-seconds", "5"]
        p = world["popen"](*args)
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 16, out
        assert tasks.count_documents({"dataset": "fetch-stop", "state": "leased"}) == 0
        assert [x for x in Path(world["env"].media).rglob("*") if ".part" in x.name] == []
        # kill -9: its leases stay until they expire, then another worker takes over.
        p = world["popen"](*args)
        time.sleep(1.5)
        p.send_signal(signal.SIGKILL)
        p.wait(10)
        assert tasks.count_documents({"dataset": "fetch-stop", "state": "leased"}) > 0
        m.stop()
        m = Mirror(world["images"])
        r = fetch(world, "fetch-stop", m.url, timeout=120)
        assert r.rc == 0, r
        assert tasks.count_documents({"dataset": "fetch-stop", "state": "done"}) == K * N
    finally:
        m.stop()


def test_fallback_to_the_original_checks_its_md5(world):
    """--fallback original: a dead S3 copy is fetched from the original URL, whose
    OriginalMD5 (base64 of the MD5 of the original's bytes) must match."""
    import base64
    import hashlib
    import shutil
    coll = make_subset(world, "fetch-orig")
    docs = list(coll.find().limit(2))
    originals = world["images"] / "originals"
    originals.mkdir(exist_ok=True)
    hidden = []
    for i, d in enumerate(docs):
        s3 = world["images"] / d["tags"][0] / f"{d['open_images_id']}.jpg"
        shutil.copy(s3, originals / s3.name)
        hidden.append((s3, s3.read_bytes()))
        s3.unlink()
        digest = hashlib.md5((originals / s3.name).read_bytes()).digest()
        md5 = base64.b64encode(digest if i == 0 else b"\0" * 16).decode()
        coll.update_one({"_id": d["_id"]}, {"$set": {"original_md5": md5}})
    m = Mirror(world["images"])
    try:
        for d in docs:
            coll.update_one({"_id": d["_id"]},
                            {"$set": {"original_url": f"{m.url}originals/{d['open_images_id']}.jpg"}})
        r = fetch(world, "fetch-orig", m.url, "--fallback", "original", "--no-backfill")
    finally:
        m.stop()
        for p, data in hidden:
            p.write_bytes(data)
    assert r.rc == 16, r  # the second original's MD5 does not match
    j = r.json()
    assert j["counts"]["failures_by_reason"] == {"md5_mismatch": 1}, j
    assert Path(docs[0]["filepath"]).is_file() and not Path(docs[1]["filepath"]).exists()
