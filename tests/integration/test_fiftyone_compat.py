"""The real FiftyOne 1.11.0 opens what subsetter wrote.

FiftyOne runs from its own venv (tests/fiftyone/install; scripts/test makes it at
.venv-fiftyone, or set SUBSETTER_FIFTYONE_VENV). Its answers are compared with the mirror's
manifest, and its take(n, seed) with the order computed here from _rand."""
import json
import math
import os
import random
import subprocess
from pathlib import Path

import pytest

from test_ingest import SPLITS, Env, ingest, make_mirror

ROOT = Path(__file__).resolve().parents[2]
VENV = Path(os.environ.get("SUBSETTER_FIFTYONE_VENV", ROOT / ".venv-fiftyone"))


@pytest.fixture(scope="session")
def fiftyone_python():
    python = VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"no FiftyOne venv at {VENV}: run tests/fiftyone/install {VENV} "
                    "(scripts/test does)")
    return python


def run_fiftyone(python, env: Env, name: str) -> dict:
    e = {"PATH": os.environ["PATH"], "HOME": str(env.tmp), "FIFTYONE_DATABASE_URI": env.server.uri(),
         "FIFTYONE_DATABASE_NAME": env.db, "FIFTYONE_DO_NOT_TRACK": "true",
         "FIFTYONE_DATABASE_VALIDATION": "false"}
    p = subprocess.run([str(python), str(ROOT / "tests" / "fiftyone" / "check_fiftyone.py"), name],
                       env=e, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def test_fiftyone_loads_the_ingested_dataset(sub, plain_server, fresh_db, tmp_path,
                                             fiftyone_python):
    env = Env(plain_server, fresh_db, tmp_path)
    mirror = tmp_path / "mirror"
    manifest = make_mirror(mirror, "--seed", "5", "--train", "600", "--validation", "80",
                           "--test", "120")
    r = ingest(sub, env, mirror, "--dataset", "oi-compat")
    assert r.rc == 0, r

    fo = run_fiftyone(fiftyone_python, env, "oi-compat")
    assert "oi-compat" in fo["datasets_in_db"]
    assert fo["persistent"] is True and fo["media_type"] == "image"
    assert fo["len"] == sum(manifest["splits"][s]["images"] for s in SPLITS)
    assert fo["tags"] == sorted(SPLITS)
    for field, key in (("positive_labels", "positive"), ("negative_labels", "negative")):
        want = {name: sum(c[s][key] for s in SPLITS) for name, c in manifest["class_counts"].items()}
        assert fo[field] == {k: v for k, v in want.items() if v}, field
    assert {"positive_labels", "negative_labels", "ground_truth", "open_images_id",
            "original_url", "rotation", "title"} <= set(fo["field_schema"])

    # take(5, seed=42) as FiftyOne computes it: order by fmod(R, _rand).
    coll = env.samples("oi-compat")
    R = random.Random(42).randint(10**7, 10**10)
    docs = sorted(coll.find({}, {"_rand": 1}), key=lambda d: math.fmod(R, d["_rand"]))
    assert fo["take5_ids"] == [str(d["_id"]) for d in docs[:5]]
