"""`subsetter run JOB.yaml` end to end: the shipped jobs/demo.yaml on a generated mirror,
real JPEGs served from 127.0.0.1 and a real mongod; killed in the middle and resumed, run
again with nothing to do, every artifact checked (dataset, files, tree, NPZ, stats,
FiftyOne). And the job file's validation."""
import csv
import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import servers
from mirror_server import MirrorServer as Mirror
from test_fetch import Runner
from test_fiftyone_compat import fiftyone_python  # noqa: F401 (a fixture)
from test_ingest import Env, env, make_mirror  # noqa: F401 (env is a fixture)

ROOT = Path(__file__).resolve().parents[2]
JOB = ROOT / "jobs" / "demo.yaml"
SUBSET, SOURCE, K, N = "demo-10x30", "demo-open-images", 10, 30
# the demo's mirror: 16 classes, so 10 of them have 30 single-label samples
MIRROR_ARGS = ["--train", "5000", "--validation", "200", "--test", "300", "--seed", "3",
               "--classes", "16"]


def image_ids(mirror: Path):
    lists = {"train": "train/train-images-boxable-with-rotation.csv",
             "validation": "validation/validation-images-with-rotation.csv",
             "test": "test/test-images-with-rotation.csv"}
    for split, rel in lists.items():
        with open(mirror / "2018_04" / rel, newline="") as f:
            for row in list(csv.reader(f))[1:]:
                yield split, row[0]


@pytest.fixture(scope="module")
def world(plain_server, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("run")
    mirror, images = tmp / "mirror", tmp / "images"
    make_mirror(mirror, *MIRROR_ARGS)
    rng = np.random.default_rng(1)
    for split, image_id in image_ids(mirror):
        p = images / split / f"{image_id}.jpg"
        p.parent.mkdir(parents=True, exist_ok=True)
        a = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
        Image.fromarray(a).resize((160, 120), Image.BILINEAR).save(p, "JPEG", quality=85)
    return {"server": plain_server, "tmp": tmp, "mirror": mirror, "images": images}


def job_env(world, env: Env, media_url: str, exports: Path):
    return env.vars(SUBSETTER_DEMO_SOURCE=str(world["mirror"]),
                    SUBSETTER_DEMO_MEDIA_URL=media_url, SUBSETTER_EXPORT_DIR=str(exports))


def stages_of_last_run(env: Env):
    doc = env.database()["subsetter.runs"].find_one({"stage": "run"}, sort=[("_id", -1)])
    return doc, [(s["stage"], s["state"]) for s in doc["counts"]["stages"]]


def single_label_images(mirror: Path):
    """The images with exactly one positive label: the only ones a subset can hold."""
    for split in ("train", "validation", "test"):
        positives = {}
        path = mirror / "v5" / f"{split}-annotations-human-imagelabels-boxable.csv"
        with open(path, newline="") as f:
            for row in list(csv.reader(f))[1:]:
                if float(row[3]) > 0.1:
                    positives[row[0]] = positives.get(row[0], 0) + 1
        yield from ((split, i) for i, n in positives.items() if n == 1)


def slow_faults(world, seconds):
    """Every image a subset can hold answered after a delay, so fetching lasts a while."""
    return {f"/{split}/{i}.jpg": [{"delay": seconds}]
            for split, i in single_label_images(world["mirror"])}


def run_to_the_end(world, env: Env, sub, exports: Path):
    """The job with the images served at full speed; the stages of that run."""
    with Mirror(world["images"]) as fast:
        r = sub.run("run", JOB, env=job_env(world, env, fast.url, exports), timeout=600)
    assert r.rc == 0, r
    return stages_of_last_run(env)[1]


def check_artifacts(env: Env, exports: Path):
    db = env.database()
    doc = db.datasets.find_one({"name": SUBSET})
    coll = db[doc["sample_collection_name"]]
    assert coll.count_documents({}) == K * N
    counts = {}
    for d in coll.find():
        counts[d["ground_truth"]["label"]] = counts.get(d["ground_truth"]["label"], 0) + 1
        assert Path(d["filepath"]).is_file(), d["filepath"]
        assert d["metadata"]["width"] in (160, 120)
    assert sorted(counts.values()) == [N] * K
    root = exports / SUBSET
    tree = root / "imagefolder"
    files = [p for p in tree.rglob("*.jpg")]
    assert len(files) == K * N and len({p.parent for p in files}) == K
    z = np.load(root / "npz" / f"{SUBSET}_cls.npz")
    assert sum(z[f"X_{s}"].shape[0] for s in ("train", "val", "test")) == K * N
    assert z["X_train"].shape[1:] == (224, 224, 3)
    with open(root / "manifest" / "manifest.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == K * N
    stats = json.loads((root / "stats.json").read_text())
    assert stats["num_samples"] == K * N and stats["classes"] == counts
    assert stats["args"]["samples_per_class"] == N and len(stats["mean"]) == 3
    return counts


def run_fiftyone(python, env: Env):
    code = ("import json, fiftyone as fo; ds = fo.load_dataset(%r); "
            "print(json.dumps({'len': len(ds), 'counts': ds.count_values('ground_truth.label'),"
            " 'persistent': ds.persistent}))" % SUBSET)
    e = {"PATH": os.environ["PATH"], "HOME": str(env.tmp), "FIFTYONE_DATABASE_URI": env.server.uri(),
         "FIFTYONE_DATABASE_NAME": env.db, "FIFTYONE_DO_NOT_TRACK": "true",
         "FIFTYONE_DATABASE_VALIDATION": "false"}
    p = subprocess.run([str(python), "-c", code], env=e, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_run_killed_resumed_and_idempotent(world, tmp_path, fiftyone_python):  # noqa: F811
    env = Env(world["server"], f"run_{os.getpid()}_{random.randrange(1 << 30)}", tmp_path)
    sub = Runner(env, tmp_path)
    exports = tmp_path / "exports"

    # 1. killed with SIGTERM while fetching (every image delayed), then resumed
    slow = Mirror(world["images"], faults=slow_faults(world, 0.3))
    try:
        p = servers.popen(["run", str(JOB)], cwd=sub.cwd, home=sub.home,
                          env=job_env(world, env, slow.url, exports))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            doc = env.database()["subsetter.runs"].find_one({"stage": "fetch", "state": "running"})
            if doc:
                break
            assert p.poll() is None, p.communicate()
            time.sleep(0.2)
        else:
            pytest.fail("the fetch stage never started")
        time.sleep(1.5)
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=120)
    finally:
        slow.stop()
    assert p.returncode == 128 + signal.SIGTERM, (p.returncode, err)
    run_doc, stages = stages_of_last_run(env)
    assert run_doc["state"] == "interrupted", run_doc
    assert stages[:3] == [("ingest", "done"), ("label", "done"), ("sample", "done")], stages
    assert stages[3] == ("fetch", "interrupted"), stages
    assert not list(Path(env.media).rglob("*.part")) and not list(Path(env.media).rglob(".*tmp*"))
    fetched_before = len(list(Path(env.media).rglob("*.jpg")))
    assert 0 < fetched_before < K * N, fetched_before
    leases = env.database()["subsetter.fetch_tasks"].count_documents({"state": "leased"})
    assert leases == 0, "SIGTERM left leases behind"

    # 2. resumed: label and sample skipped, fetch finishes, the rest runs
    stages = run_to_the_end(world, env, sub, exports)
    assert stages[1:3] == [("label", "skipped"), ("sample", "skipped")], stages
    assert all(state == "done" for stage, state in stages[3:]), stages
    counts = check_artifacts(env, exports)

    # 3. again: nothing to do; the files are not rewritten
    npz = exports / SUBSET / "npz" / f"{SUBSET}_cls.npz"
    stats = exports / SUBSET / "stats.json"
    before = (npz.stat().st_mtime_ns, stats.stat().st_mtime_ns)
    stages = run_to_the_end(world, env, sub, exports)
    skipped = [stage for stage, state in stages if state == "skipped"]
    assert skipped == ["label", "sample", "export", "export", "export", "stats"], stages
    assert (npz.stat().st_mtime_ns, stats.stat().st_mtime_ns) == before
    assert check_artifacts(env, exports) == counts

    # 4. FiftyOne opens the subset
    fo = run_fiftyone(fiftyone_python, env)
    assert fo["len"] == K * N and fo["persistent"] is True and fo["counts"] == counts


BAD_JOBS = [
    ("subset:\n  name: x\n  num_classes: 10\n  seed: 1\n  colour: red\n", "5:3", "unknown key"),
    ("subset:\n  name: x\n  num_classes: ten\n  seed: 1\n", "3:16", "expected an integer"),
    ("subset:\n  num_classes: 10\n  seed: 1\n", "2:3", "subset.name: required"),
    ("subset:\n  name: x\n  num_classes: 10\n  seed: 1\nexport:\n  dir: out\n"
     "  splits: [0.7, 0.2, 0.2]\n", "7:11", "sum"),
    ("subset:\n  name: x\n  num_classes: 10\n  seed: 1\nexport:\n  dir: out\n"
     "  formats: [imagefolder, tfrecord]\n", "7:26", "tfrecord"),
    ("subset:\n  name: x\n  num_classes: 10\n  seed: 1\nfetch:\n  base_url: ${NOPE_NOT_SET}\n",
     "6:13", "NOPE_NOT_SET"),
    ("jobs: 1\n", "1:1", "unknown key"),
]


@pytest.mark.parametrize("text,where,what", BAD_JOBS)
def test_job_files_are_validated_before_anything_runs(sub, env, tmp_path, text, where,  # noqa: F811
                                                      what):
    job = tmp_path / "bad.yaml"
    job.write_text(text)
    r = sub.run("run", str(job), env=env.vars())
    assert r.rc == 3, r
    if where:
        assert f"{job}:{where}" in r.stderr, r.stderr
    assert what in r.stderr, r.stderr
    assert "subsetter.runs" not in env.database().list_collection_names(), "something ran"


def test_dry_run_prints_the_stages(sub, env, tmp_path):  # noqa: F811
    r = sub.run("run", str(ROOT / "jobs" / "open-images-v7-100.yaml"), "--dry-run",
                env=env.vars(SUBSETTER_EXPORT_DIR=str(tmp_path / "x")))
    assert r.rc == 0, r
    lines = r.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["ingest", "label", "sample", "fetch", "export",
                                                   "export", "export", "stats"]
    assert "--num-classes 100 --samples-per-class 345 --seed 42" in lines[2]
    names = json.loads(Path(lines[2].split("--classes ")[1].split()[0]).read_text())["classes"]
    assert len(names) == 100 and names[0] == "Fountain" and names[-1] == "Monkey"
    assert f"--out {tmp_path / 'x'}/open-images-v7-100/npz" in lines[5]
