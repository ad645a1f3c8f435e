"""The real FiftyOne 1.11.0 selects exactly what `subsetter sample` selected.

After ingest + label single + sample, FiftyOne's own
full.match(F("ground_truth.label") == c).take(N, seed=S) (and the reference generator's
single.match(...).take(...)) must return the very _ids subsetter put in each subset, for
several classes and seeds; fo.load_dataset(subset) must load it with K classes of N
samples each. FiftyOne runs from its own venv (SUBSETTER_FIFTYONE_VENV, default
.venv-fiftyone); without it the test fails, it is never skipped."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from labelsample_support import (SOURCE, World, db_single_counts, drawn_classes,
                                 eligible_order, sample_count_for_num_classes, take_ids)
from test_ingest import SPLITS

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
VENV = Path(os.environ.get("SUBSETTER_FIFTYONE_VENV", ROOT / ".venv-fiftyone"))
SEEDS = (42, 7, 2024)


@pytest.fixture(scope="module")
def fiftyone_python():
    python = VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"no FiftyOne venv at {VENV} (no {python}): make one with "
                    f"tests/fiftyone/install {VENV}, or point SUBSETTER_FIFTYONE_VENV at one",
                    pytrace=False)
    return python


def run_fiftyone(python, world: World, spec: dict) -> dict:
    path = world.tmp / "fiftyone-spec.json"
    path.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    e = {"PATH": os.environ["PATH"], "HOME": str(world.tmp), "LANG": "C.UTF-8",
         "FIFTYONE_DATABASE_URI": world.env.server.uri(), "FIFTYONE_DATABASE_NAME": world.env.db,
         "FIFTYONE_DO_NOT_TRACK": "true", "FIFTYONE_DATABASE_VALIDATION": "false",
         "FIFTYONE_SHOW_PROGRESS_BARS": "false"}
    p = subprocess.run([str(python), str(HERE / "fiftyone_take_check.py"), str(path)], env=e,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, f"FiftyOne failed:\n{p.stderr}"
    return json.loads(p.stdout)


def test_fiftyone_take_selects_what_sample_selected(plain_server, tmp_path_factory,
                                                    fiftyone_python):
    world = World(plain_server, tmp_path_factory.mktemp("fiftyone-take"))
    world.ingest(world.mirror)
    r = world.run("label", "single", "--json")
    assert r.rc == 0, r
    counts = db_single_counts(world.coll())
    members = world.members()

    # Subsets: K drawn classes with N per class for three seeds, the default N for one
    # of them, and an explicit list of non-ASCII / punctuated names.
    K, N = 4, 10
    subsets = []
    for seed in SEEDS:
        classes = drawn_classes(counts, K, N, seed)
        subsets.append({"name": f"fo-take-{seed}", "classes": classes, "n": N, "seed": seed,
                        "args": ("--num-classes", K, "--samples-per-class", N, "--seed", seed)})
    n_default = sample_count_for_num_classes(counts, 3)
    subsets.append({"name": "fo-take-default", "classes": drawn_classes(counts, 3, n_default, 5),
                    "n": n_default, "seed": 5, "args": ("--num-classes", 3, "--seed", 5)})
    quirks = [q for q in world.manifest["classes"]["quirk_names"] if counts.get(q, 0) >= 3]
    listed = quirks + [c for c in eligible_order(counts, N + 1)[:2] if c not in quirks]
    n_listed = min(counts[c] for c in listed) - 1
    spec_file = world.tmp / "quirk-classes.json"
    spec_file.write_text(json.dumps(listed, ensure_ascii=False), encoding="utf-8")
    subsets.append({"name": "fo-take-listed", "classes": listed, "n": n_listed, "seed": 99,
                    "args": ("--classes", spec_file, "--samples-per-class", n_listed,
                             "--seed", 99)})

    # the classes of at least one subset have more samples than are taken, so the seed
    # really chooses among them
    assert any(counts[c] > s["n"] for s in subsets for c in s["classes"])

    subset_ids = {}
    for s in subsets:
        r = world.run("sample", "--name", s["name"], *s["args"], "--json")
        assert r.rc == 0, r
        assert sorted(r.json()["counts"]["classes"]) == sorted(s["classes"]), r
        ds = world.dataset(s["name"])
        coll = world.db[ds["sample_collection_name"]]
        by_class = {}
        for d in coll.find({}, {"ground_truth.label": 1}):
            by_class.setdefault(d["ground_truth"]["label"], set()).add(str(d["_id"]))
        subset_ids[s["name"]] = by_class
        # what Python computes from _rand agrees too (a check on this test's spec)
        for c in s["classes"]:
            assert by_class.get(c) == {str(i) for i in take_ids(members, c, s["n"], s["seed"])}

    ks = [1, 3, K, 10, len(counts) + 1]
    fo = run_fiftyone(fiftyone_python, world, {
        "source": SOURCE, "ks": ks,
        "subsets": [{k: v for k, v in s.items() if k != "args"} for s in subsets]})
    assert fo["fiftyone_version"] == "1.11.0", fo["fiftyone_version"]

    # FiftyOne sees the labeling as the reference generator would have made it
    m = world.manifest
    assert fo["source_len"] == sum(m["splits"][s]["images"] for s in SPLITS)
    want_single = sum(m["splits"][s]["images_with_one_positive"] for s in SPLITS)
    assert fo["single_len"] == fo["with_ground_truth"] == want_single
    assert fo["class_counts"] == dict(counts)
    r = world.run("survey", "--num-classes", ",".join(map(str, ks)), "--json")
    assert r.rc == 0, r
    assert [row["samples_per_class"] for row in r.json()["table"]] == \
        [fo["balanced"][str(k)] for k in ks]

    for s in subsets:
        got = fo["subsets"][s["name"]]
        mine = subset_ids[s["name"]]
        for c in s["classes"]:
            take = got["take"][c]
            assert len(take) == s["n"] == len(set(take)), (s["name"], c, take)
            assert set(take) == mine[c], (s["name"], c, sorted(take), sorted(mine[c]))
            assert got["reference_take"][c] == take, (s["name"], c)
        assert s["name"] in fo["datasets"]
        assert got["persistent"] is True and got["media_type"] == "image", got
        assert got["len"] == len(s["classes"]) * s["n"]
        assert got["count_values"] == {c: s["n"] for c in s["classes"]}, got["count_values"]
        assert {x["id"] for x in got["samples"]} == set().union(*mine.values())
        for x in got["samples"]:
            assert x["positives"] == [x["label"]], x
        assert {"ground_truth", "positive_labels", "open_images_id"} <= set(got["field_schema"])
    # different seeds chose different samples
    firsts = [set().union(*subset_ids[f"fo-take-{seed}"].values()) for seed in SEEDS]
    assert len({frozenset(f) for f in firsts}) == len(SEEDS)
