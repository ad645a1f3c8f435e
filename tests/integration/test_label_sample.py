"""`subsetter label single`, `survey` and `sample` against a real mongod.

One mirror (scripts/make-mirror --seed 7, 6000/300/300 images) is ingested once per module.
Every expected value is computed here: counts from the mirror's manifest and from the
documents (pymongo), the survey with the reference generator's sample_count_for_num_classes,
the class draw with Python's random.Random(seed).sample, and the samples of a class with
FiftyOne's take(n, seed) order (fmod(R, _rand)). No expected number is written here."""
import csv
import datetime
import json
import math
import re
import uuid

import pytest
from bson import ObjectId, json_util

from labelsample_support import (MIRROR_ARGS, SOURCE, World, db_single_counts, drawn_classes,
                                 dump, eligible_order, labels_of, manifest_single_counts,
                                 new_run, positives, run_ids, sample_count_for_num_classes,
                                 take_ids, take_multiplier)
from test_ingest import SPLITS, Env, make_mirror

COPIED_FIELDS = ("filepath", "_rand", "tags", "positive_labels", "negative_labels",
                 "ground_truth", "open_images_id", "metadata", "original_url")


@pytest.fixture(scope="module")
def world(plain_server, tmp_path_factory):
    w = World(plain_server, tmp_path_factory.mktemp("label-sample"))
    w.ingest(w.mirror)
    before = run_ids(w.db)
    r = w.run("label", "single", "--json")
    assert r.rc == 0, r
    w.first_label = r.json()
    w.first_label_run = new_run(w.db, before, "label")
    w.counts = db_single_counts(w.coll())
    # The two independent sources of the truth agree before anything is compared with them.
    assert dict(w.counts) == manifest_single_counts(w.manifest)
    return w


def sample(world, name, *args):
    before = run_ids(world.db)
    r = world.run("sample", "--name", name, *args, "--json")
    return r, (new_run(world.db, before, "sample") if r.rc in (0, 3, 14) else None)


def check_subset(world, name, classes, n, seed, source=SOURCE):
    """The subset NAME holds, for each class, exactly FiftyOne's take(n, seed) of the
    source's single-label samples of that class, copied unchanged but for _dataset_id."""
    ds = world.dataset(name)
    assert ds, f"no datasets document named {name}"
    assert ds["persistent"] is True and ds["media_type"] == "image", ds
    coll = world.db[ds["sample_collection_name"]]
    src = world.coll(source)
    members = world.members(source)
    docs = list(coll.find({}))
    assert len(docs) == len(classes) * n, (len(docs), len(classes), n)
    assert labels_of(coll) == {c: n for c in classes}
    by_class = {c: set() for c in classes}
    sources = {s["_id"]: s for s in src.find({"_id": {"$in": [d["_id"] for d in docs]}})}
    for d in docs:
        assert d["_dataset_id"] == ds["_id"], d
        p = positives(d)
        assert len(p) == 1 and p[0]["label"] == d["ground_truth"]["label"], d
        s = sources.get(d["_id"])
        assert s is not None, f"{d['_id']} is not a sample of {source}"
        for f in COPIED_FIELDS:
            assert (f in d) == (f in s) and d.get(f) == s.get(f), (f, d.get(f), s.get(f))
        by_class[d["ground_truth"]["label"]].add(d["_id"])
    for c in classes:
        assert by_class[c] == set(take_ids(members, c, n, seed)), c
    return ds, coll


def check_done_run(run, name, j):
    assert run["state"] == "done" and run["dataset"] == name and run["error"] is None, run
    assert run["counts"] == j["counts"], (run["counts"], j["counts"])


# ---- label single -----------------------------------------------------------------------

def test_label_single_marks_exactly_the_single_positive_samples(world):
    m, coll = world.manifest, world.coll()
    want = sum(m["splits"][s]["images_with_one_positive"] for s in SPLITS)
    total = sum(m["splits"][s]["images"] for s in SPLITS)
    assert coll.count_documents({"positive_labels.classifications": {"$size": 1}}) == want
    assert coll.count_documents({"ground_truth": {"$exists": True}}) == want

    j = world.first_label
    assert j["ok"] is True and j["dataset"] == SOURCE, j
    # Nothing had a ground_truth before: the first run writes every single-label sample.
    assert j["counts"] == {"samples": total, "single_label": want, "modified": want}, j
    check_done_run(world.first_label_run, SOURCE, j)
    assert world.first_label_run["params"] == {"rule": "single"}

    label_ids, sample_ids, gt_ids = set(), set(), []
    docs = list(coll.find({}))
    for d in docs:
        sample_ids.add(d["_id"])
        for field in ("positive_labels", "negative_labels"):
            for c in (d.get(field) or {}).get("classifications") or []:
                label_ids.add(c["_id"])
    for d in docs:
        p = positives(d)
        if len(p) != 1:
            assert "ground_truth" not in d, d
            continue
        gt = d["ground_truth"]
        assert set(gt) == {"_id", "_cls", "label", "confidence", "tags"}, gt
        assert gt["_cls"] == "Classification" and gt["tags"] == [], gt
        assert gt["label"] == p[0]["label"] and gt["confidence"] == p[0]["confidence"], (gt, p)
        assert type(gt["confidence"]) is type(p[0]["confidence"]), (gt, p)
        assert isinstance(gt["_id"], ObjectId) and gt["_id"] != p[0]["_id"], gt
        own = {c["_id"] for f in ("positive_labels", "negative_labels")
               for c in (d.get(f) or {}).get("classifications") or []}
        assert gt["_id"] not in own and gt["_id"] != d["_id"], d
        # label.h: the sample's timestamp, then the two 4-byte halves of the rest swapped
        h = str(d["_id"])
        assert str(gt["_id"]) == h[0:8] + h[16:24] + h[8:16], (d["_id"], gt["_id"])
        gt_ids.append(gt["_id"])
    assert len(gt_ids) == want == len(set(gt_ids))
    assert not set(gt_ids) & (label_ids | sample_ids), "a ground_truth _id is not new"

    ds = world.dataset(SOURCE)
    decl = [f for f in ds["sample_fields"] if f["name"] == "ground_truth"]
    assert len(decl) == 1, decl
    assert decl[0]["ftype"] == "fiftyone.core.fields.EmbeddedDocumentField"
    assert decl[0]["embedded_doc_type"] == "fiftyone.core.labels.Classification"
    check_label_index(coll)


LABEL_INDEX = "ground_truth.label_1__rand_1__id_1"


def check_label_index(coll):
    """label.h's SUB_LABEL_INDEX: {ground_truth.label, _rand, _id}, partial."""
    info = coll.index_information()
    assert LABEL_INDEX in info, sorted(info)
    spec = info[LABEL_INDEX]
    assert spec["key"] == [("ground_truth.label", 1), ("_rand", 1), ("_id", 1)], spec
    assert spec["partialFilterExpression"] == {"ground_truth.label": {"$exists": True}}, spec


def test_ingest_creates_the_label_index_empty(world):
    """The ingest creates the index with the sample collection; being partial, it holds
    no key until label gives samples a ground_truth."""
    name = "index-at-ingest"
    world.ingest(world.mirror, "--dataset", name)
    coll = world.coll(name)
    check_label_index(coll)
    stats = world.db.command("collStats", coll.name, indexDetails=False)
    assert stats["count"] > 0
    keys = world.db.command("validate", coll.name)["keysPerIndex"]
    assert keys[LABEL_INDEX] == 0, keys
    assert keys["_id_"] == stats["count"], keys


def test_label_again_changes_nothing_and_repairs_planted_changes(world):
    name = "repair"
    world.ingest(world.mirror, "--dataset", name)
    r = world.run("label", "single", "--dataset", name, "--json")
    assert r.rc == 0, r
    coll = world.coll(name)
    want = sum(world.manifest["splits"][s]["images_with_one_positive"] for s in SPLITS)
    samples_before, ds_before = dump(coll), json_util.dumps(world.dataset(name))

    before = run_ids(world.db)
    r = world.run("label", "single", "--dataset", name, "--json")
    assert r.rc == 0, r
    assert r.json()["counts"]["modified"] == 0 and r.json()["counts"]["single_label"] == want, r
    check_done_run(new_run(world.db, before, "label"), name, r.json())
    assert dump(coll) == samples_before, "a second label run changed sample documents"
    assert json_util.dumps(world.dataset(name)) == ds_before, "it changed the datasets document"

    # label declares ground_truth when the datasets document lacks it
    world.db.datasets.update_one({"name": name},
                                 {"$pull": {"sample_fields": {"name": "ground_truth"}}})
    r = world.run("label", "single", "--dataset", name, "--json")
    assert r.rc == 0 and r.json()["counts"]["modified"] == 0, r
    decl = [f for f in world.dataset(name)["sample_fields"] if f["name"] == "ground_truth"]
    assert len(decl) == 1, decl
    assert decl[0]["ftype"] == "fiftyone.core.fields.EmbeddedDocumentField"
    assert decl[0]["embedded_doc_type"] == "fiftyone.core.labels.Classification"
    assert dump(coll) == samples_before

    docs = list(coll.find({}, sort=[("_id", 1)]))
    multi = next(d for d in docs if len(positives(d)) >= 2)
    bare = next(d for d in docs if "positive_labels" not in d)
    singles = [d for d in docs if len(positives(d)) == 1]
    gone, wrong, unsure = singles[0], singles[1], singles[-1]
    stale = {"_id": ObjectId(), "_cls": "Classification", "tags": [],
             "label": positives(multi)[0]["label"], "confidence": 1.0}
    coll.update_one({"_id": multi["_id"]}, {"$set": {"ground_truth": stale}})
    coll.update_one({"_id": bare["_id"]}, {"$set": {"ground_truth": dict(stale, _id=ObjectId())}})
    coll.update_one({"_id": gone["_id"]}, {"$unset": {"ground_truth": ""}})
    coll.update_one({"_id": wrong["_id"]},
                    {"$set": {"ground_truth.label": positives(multi)[1]["label"]}})
    coll.update_one({"_id": unsure["_id"]}, {"$set": {"ground_truth.confidence": 0.5}})
    planted = {multi["_id"], bare["_id"], gone["_id"], wrong["_id"], unsure["_id"]}

    r = world.run("label", "single", "--dataset", name, "--json")
    assert r.rc == 0, r
    assert r.json()["counts"]["modified"] == len(planted), r
    assert r.json()["counts"]["single_label"] == want, r
    after = {d["_id"]: d for d in coll.find({})}
    assert len(after) == len(docs)
    for d in docs:
        a = after[d["_id"]]
        if d["_id"] not in planted:
            assert json_util.dumps(a) == json_util.dumps(d), "an untouched sample was rewritten"
            continue
        assert {k: v for k, v in a.items() if k != "last_modified_at"} == \
            {k: v for k, v in d.items() if k != "last_modified_at"}, (d, a)
        assert a["last_modified_at"] >= d["last_modified_at"]
    assert "ground_truth" not in after[multi["_id"]] and "ground_truth" not in after[bare["_id"]]
    assert after[gone["_id"]]["ground_truth"] == gone["ground_truth"]


# ---- survey -----------------------------------------------------------------------------

def survey_want(counts, ks):
    """The rows survey must print, from the reference's formula."""
    want = []
    for k in ks:
        n = sample_count_for_num_classes(counts, k)
        eligible = 0 if n is None else sum(1 for c in counts.values() if c >= n)
        want.append({"num_classes": k, "samples_per_class": n, "eligible_classes": eligible})
    return want


def test_survey_matches_the_reference_formula(world):
    counts = world.counts
    ks = [1, 5, 10, 50, len(counts) + 7]
    klist = ",".join(map(str, ks))
    want = survey_want(counts, ks)
    before = run_ids(world.db)
    r = world.run("survey", "--num-classes", klist, "--json")
    assert r.rc == 0, r
    j = r.json()
    run = new_run(world.db, before, "survey")
    assert run["state"] == "done" and run["dataset"] == SOURCE, run
    assert run["counts"]["classes"] == len(counts) and run["counts"]["table"] == j["table"], run
    assert j["ok"] is True and j["classes"] == len(counts)
    assert j["class_counts"] == dict(counts)
    assert j["table"] == want
    assert want[-1]["samples_per_class"] is None and want[2]["eligible_classes"] >= 10

    r = world.run("survey", "--num-classes", klist)
    assert r.rc == 0, r
    assert f"{len(counts)} classes" in r.stdout, r
    table = [[c.strip() for c in line.split("|")] for line in r.stdout.splitlines()
             if "|" in line and line.split("|")[0].strip().isdigit()]
    assert [[int(t[0]), t[1], int(t[2])] for t in table] == \
        [[w["num_classes"], "-" if w["samples_per_class"] is None else str(w["samples_per_class"]),
          w["eligible_classes"]] for w in want], r.stdout


def test_survey_csv_is_csv(world):
    """--csv prints a CSV table and nothing else: header row first, one row per K."""
    counts = world.counts
    ks = [1, 5, 10, 50, len(counts) + 7]
    want = survey_want(counts, ks)
    r = world.run("survey", "--num-classes", ",".join(map(str, ks)), "--csv")
    assert r.rc == 0, r
    rows = list(csv.reader(r.stdout.splitlines()))
    assert rows[0] == ["num_classes", "samples_per_class", "eligible_classes"], \
        f"--csv output does not start with its header row:\n{r.stdout}"
    assert len(rows) == len(ks) + 1, rows
    for row, w in zip(rows[1:], want):
        n = w["samples_per_class"]
        assert int(row[0]) == w["num_classes"] and int(row[2]) == w["eligible_classes"], row
        assert (row[1] in ("", "-")) if n is None else int(row[1]) == n, row


# ---- sample -----------------------------------------------------------------------------

def check_counts(j, classes, n, feasible, eligible, seed, num_augments=0):
    c = j["counts"]
    assert c["classes"] == classes, (c["classes"], classes)
    assert c["num_classes"] == len(classes) and c["samples_per_class"] == n, c
    assert c["feasible_samples_per_class"] == feasible and c["num_augments"] == num_augments, c
    assert c["eligible_classes"] == eligible and c["samples"] == len(classes) * n, c
    assert c["take_multiplier"] == take_multiplier(seed), c


def test_sample_draws_k_classes_at_the_largest_balanced_size(world):
    counts, K, seed = world.counts, 5, 3
    N = sample_count_for_num_classes(counts, K)
    eligible = eligible_order(counts, N)
    assert len(eligible) > K, "the mirror should have a tie at the K-th count"
    want = drawn_classes(counts, K, N, seed)
    r, run = sample(world, "drawn-default", "--num-classes", K, "--seed", seed)
    assert r.rc == 0, r
    j = r.json()
    check_counts(j, want, N, N, len(eligible), seed)
    ds, _ = check_subset(world, "drawn-default", want, N, seed)
    assert j["dataset_id"] == str(ds["_id"]) and j["dataset"] == "drawn-default"
    check_done_run(run, "drawn-default", j)
    info = ds["info"]["subsetter_sample"]
    assert info["source_dataset"] == SOURCE and info["classes"] == want, info
    assert info["samples_per_class"] == N and info["seed"] == seed and info["num_augments"] == 0
    assert ds["info"]["classes_map"] == world.dataset(SOURCE)["info"]["classes_map"]


def test_sample_reads_only_the_chosen_samples(world):
    """Issue point 6: the per-class selection uses the index. The take order of a class
    is computed from the index alone (no document read), and only the chosen samples are
    read to be copied: the server's profiler counts the documents each command examined."""
    counts, K, N, seed = world.counts, 3, 10, 5
    classes = eligible_order(counts, N + 1)[:K]
    spec = world.tmp / "profiled-classes.txt"
    spec.write_text("\n".join(classes) + "\n", encoding="utf-8")
    db = world.db
    src = world.coll().name
    db.command("profile", 0)
    db.system.profile.drop()
    db.command("profile", 2)
    try:
        r, _ = sample(world, "profiled", "--classes", spec, "--samples-per-class", N,
                      "--seed", seed, "--overwrite")
    finally:
        db.command("profile", 0)
    assert r.rc == 0, r
    # (the profiler files an aggregation that inserts through $merge as an "insert")
    ops = list(db.system.profile.find({"command.aggregate": src}))
    takes = [o for o in ops if "$limit" in json.dumps(o["command"]["pipeline"], default=str)]
    copies = [o for o in ops if o not in takes and "$merge" in str(o["command"]["pipeline"])]
    assert len(takes) == K and len(copies) == K, [o["command"]["pipeline"] for o in ops]
    for o in takes:
        label = o["command"]["pipeline"][0]["$match"]["ground_truth.label"]
        assert o["planSummary"] == "IXSCAN { ground_truth.label: 1, _rand: 1, _id: 1 }", o
        assert o["docsExamined"] == 0, (label, o["docsExamined"], o["planSummary"])
        assert o["keysExamined"] >= counts[label], (label, o["keysExamined"])
    for o in copies:
        assert o["docsExamined"] == N, (o["docsExamined"], o["planSummary"])
    check_subset(world, "profiled", classes, N, seed)


def test_sample_with_an_explicit_size_draws_among_the_eligible(world):
    counts, K, N, seed = world.counts, 4, 10, 11
    eligible = eligible_order(counts, N)
    assert len(eligible) > 2 * K
    want = drawn_classes(counts, K, N, seed)
    r, run = sample(world, "drawn-n10", "--num-classes", K, "--samples-per-class", N,
                    "--seed", seed)
    assert r.rc == 0, r
    check_counts(r.json(), want, N, sample_count_for_num_classes(counts, K), len(eligible), seed)
    check_subset(world, "drawn-n10", want, N, seed)
    check_done_run(run, "drawn-n10", r.json())


def test_seeds_choose_the_samples(world):
    counts, N = world.counts, 10
    # the three largest classes, each with more than N samples
    classes = eligible_order(counts, N + 1)[:3]
    spec = world.tmp / "seed-classes.txt"
    spec.write_text("\n".join(classes) + "\n", encoding="utf-8")
    sets = {}
    for name, seed in (("seed-1", 1), ("seed-2", 2), ("seed-1-again", 1)):
        r, _ = sample(world, name, "--classes", spec, "--samples-per-class", N, "--seed", seed)
        assert r.rc == 0, r
        _, coll = check_subset(world, name, classes, N, seed)
        sets[name] = {d["_id"] for d in coll.find({}, {"_id": 1})}
    assert sets["seed-1"] == sets["seed-1-again"]
    assert sets["seed-1"] != sets["seed-2"]
    members = world.members()
    for c in classes:
        assert set(take_ids(members, c, N, 1)) != set(take_ids(members, c, N, 2)), c


def test_rerun_overwrite_and_name_conflicts(world):
    counts, name = world.counts, "rerun"
    args = ("--num-classes", 3, "--samples-per-class", 8, "--seed", 5)
    r, _ = sample(world, name, *args)
    assert r.rc == 0, r
    ds, coll = check_subset(world, name, drawn_classes(counts, 3, 8, 5), 8, 5)
    samples_before = dump(coll)
    ds_before = json_util.dumps({k: v for k, v in ds.items() if k != "last_modified_at"})

    r2, run = sample(world, name, *args)
    assert r2.rc == 0, r2
    assert {k: v for k, v in r2.json().items() if k != "seconds"} == \
        {k: v for k, v in r.json().items() if k != "seconds"}
    check_done_run(run, name, r2.json())
    assert dump(coll) == samples_before, "re-running the same sample command changed samples"
    assert json_util.dumps({k: v for k, v in world.dataset(name).items()
                            if k != "last_modified_at"}) == ds_before

    for other in (("--num-classes", 3, "--samples-per-class", 8, "--seed", 6),
                  ("--num-classes", 3, "--samples-per-class", 7, "--seed", 5),
                  ("--num-classes", 2, "--samples-per-class", 8, "--seed", 5)):
        r3, run = sample(world, name, *other)
        assert r3.rc == 3, r3
        assert r3.json()["ok"] is False and r3.json()["error"]["code"] == "CONFIG", r3
        assert "--overwrite" in r3.stderr, r3
        assert run["state"] == "failed" and run["error"]["code"] == "CONFIG", run
        assert dump(coll) == samples_before
        assert world.dataset(name)["info"]["subsetter_sample"]["seed"] == 5

    r4, run = sample(world, name, "--num-classes", 2, "--samples-per-class", 6, "--seed", 6,
                     "--overwrite")
    assert r4.rc == 0, r4
    check_done_run(run, name, r4.json())
    ds, coll = check_subset(world, name, drawn_classes(counts, 2, 6, 6), 6, 6)
    info = ds["info"]["subsetter_sample"]
    assert info["seed"] == 6 and info["samples_per_class"] == 6 and info["num_classes"] == 2


def published_style(classes, counts):
    """The shape of the published stats files (open-images-v7-K.json)."""
    return {"args": {"export_dir": "/x", "num_classes": len(classes),
                     "samples_per_class": min(counts[c] for c in classes), "random_seed": 42},
            "num_augments": 0, "mean": [0.4, 0.4, 0.4], "std": [0.2, 0.2, 0.2],
            "avg_width": 900.5, "avg_height": 700.25,
            "num_samples": len(classes) * min(counts[c] for c in classes),
            "classes": {c: min(counts[c] for c in classes) for c in classes}}


def test_explicit_class_lists(world):
    counts, seed = world.counts, 9
    ordered = eligible_order(counts, 1)
    quirks = [q for q in world.manifest["classes"]["quirk_names"] if counts.get(q, 0) >= 2]
    assert any("," in q for q in quirks) and any(not q.isascii() for q in quirks), quirks
    plain = [c for c in ordered if "," not in c and c.isascii()]
    def uniq(names):
        return list(dict.fromkeys(names))
    lists = {
        "comma": plain[1:8:3],
        "text": uniq(quirks[:3] + [plain[0]]),
        "array": uniq(quirks[-3:] + [plain[5]]),
        "published": uniq([plain[2], quirks[1], plain[10], plain[4]]),
    }
    d = world.tmp / "lists"
    d.mkdir()
    specs = {"comma": ",".join(lists["comma"])}
    (d / "classes.txt").write_text("# classes, one per line\n\n" + "\n".join(
        f"  {c}\r" if i == 1 else c for i, c in enumerate(lists["text"])) + "\n\n",
        encoding="utf-8")
    specs["text"] = str(d / "classes.txt")
    (d / "classes.json").write_text(json.dumps(lists["array"]), encoding="utf-8")
    specs["array"] = str(d / "classes.json")
    (d / "published.json").write_text(
        json.dumps(published_style(lists["published"], counts), indent=4, ensure_ascii=False),
        encoding="utf-8")
    specs["published"] = str(d / "published.json")

    for kind, classes in lists.items():
        assert len(set(classes)) == len(classes) >= 3, (kind, classes)
        n = min(counts[c] for c in classes)
        r, run = sample(world, f"list-{kind}", "--classes", specs[kind], "--seed", seed)
        assert r.rc == 0, (kind, r)
        j = r.json()
        assert sorted(j["counts"]["classes"]) == sorted(classes), (kind, j)
        check_counts(j, j["counts"]["classes"], n, n, 0, seed)
        check_subset(world, f"list-{kind}", classes, n, seed)
        check_done_run(run, f"list-{kind}", j)

    # an explicit N below the feasible size, with a list
    classes = lists["text"]
    n = min(counts[c] for c in classes) - 1
    r, _ = sample(world, "list-text-n", "--classes", specs["text"], "--samples-per-class", n,
                  "--seed", seed)
    assert r.rc == 0, r
    check_subset(world, "list-text-n", classes, n, seed)


def message_names(r, n):
    msg = r.json()["error"]["message"]
    assert re.search(rf"(?<!\d){n}(?!\d)", msg), (n, msg)
    assert re.search(rf"(?<!\d){n}(?!\d)", r.stderr), (n, r.stderr)


def test_too_many_samples_per_class_and_augmentation(world):
    counts, K, seed = world.counts, 4, 13
    feasible = sample_count_for_num_classes(counts, K)
    r, run = sample(world, "too-many", "--num-classes", K, "--samples-per-class", feasible + 1,
                    "--seed", seed)
    assert r.rc == 14, r
    assert r.json()["error"]["code"] == "INFEASIBLE", r
    message_names(r, feasible)
    assert run["state"] == "failed" and run["error"]["code"] == "INFEASIBLE", run
    assert world.dataset("too-many") is None, "a failed sample left a dataset behind"

    listed = eligible_order(counts, 1)[2:5]
    low = min(counts[c] for c in listed)
    spec = world.tmp / "too-many.json"
    spec.write_text(json.dumps(listed), encoding="utf-8")
    r, _ = sample(world, "too-many-listed", "--classes", spec, "--samples-per-class", low + 5)
    assert r.rc == 14, r
    message_names(r, low)

    r, _ = sample(world, "too-many-k", "--num-classes", len(counts) + 1)
    assert r.rc == 14, r
    assert str(len(counts)) in r.json()["error"]["message"], r

    for n in (2 * feasible, 2 * feasible + 1, 3 * feasible + 1):
        name = f"augment-{n}"
        r, run = sample(world, name, "--num-classes", K, "--samples-per-class", n, "--seed", seed,
                        "--allow-augment")
        assert r.rc == 0, r
        aug = math.ceil(n / feasible) - 1
        want = drawn_classes(counts, K, feasible, seed)
        check_counts(r.json(), want, feasible, feasible, len(eligible_order(counts, feasible)),
                     seed, num_augments=aug)
        ds, _ = check_subset(world, name, want, feasible, seed)
        info = ds["info"]["subsetter_sample"]
        assert info["num_augments"] == aug and info["requested_samples_per_class"] == n, info
        assert info["samples_per_class"] == feasible, info
        check_done_run(run, name, r.json())


def test_draws_for_awkward_seeds_and_sizes(world):
    """Both of random.sample's algorithms (pool and set), ties across non-ASCII names,
    seeds of 0, negative and wider than 32 and 64 bits... as Python computes them."""
    counts = world.counts
    cases = [(2, 1, 0), (3, 6, -7), (12, 3, 2**33 + 5), (40, 2, 2**63 - 1), (7, 7, 123456789),
             (25, 1, -(2**40))]
    for i, (k, n, seed) in enumerate(cases):
        name = f"awkward-{i}"
        want = drawn_classes(counts, k, n, seed)
        r, _ = sample(world, name, "--num-classes", k, "--samples-per-class", n, "--seed", seed)
        assert r.rc == 0, (k, n, seed, r)
        assert r.json()["counts"]["classes"] == want, (k, n, seed)
        assert r.json()["counts"]["take_multiplier"] == take_multiplier(seed), seed
        check_subset(world, name, want, n, seed)


def test_missing_datasets(world):
    for args in (("label", "single", "--dataset", "no-such"), ("survey", "--dataset", "no-such"),
                 ("sample", "--dataset", "no-such", "--name", "x", "--num-classes", 2)):
        r = world.run(*args, "--json")
        assert r.rc == 15, r
        assert r.json()["error"]["code"] == "NOT_FOUND", r


def test_unlabeled_source(world):
    """Before `label single`: survey finds no class, sample says to label first (exit 14)."""
    world.ingest(world.mirror, "--dataset", "unlabeled")
    r = world.run("survey", "--dataset", "unlabeled", "--json")
    assert r.rc == 0 and r.json()["classes"] == 0, r
    r, _ = sample(world, "from-unlabeled", "--dataset", "unlabeled", "--num-classes", 2)
    assert r.rc == 14 and "label single" in r.json()["error"]["message"], r
    assert world.dataset("from-unlabeled") is None


def test_sample_never_overwrites_its_own_source(world):
    """--overwrite replaces a subset; naming the source itself must not empty the source."""
    name = "victim"
    world.ingest(world.mirror, "--dataset", name)
    assert world.run("label", "single", "--dataset", name).rc == 0
    coll = world.coll(name)
    before = dump(coll)
    r, _ = sample(world, name, "--dataset", name, "--num-classes", 2)
    assert r.rc == 3, r
    assert dump(coll) == before
    r, _ = sample(world, name, "--dataset", name, "--num-classes", 2, "--overwrite")
    assert r.rc != 0, f"sample --name {name} --dataset {name} --overwrite succeeded: {r}"
    assert coll.count_documents({}) == sum(world.manifest["splits"][s]["images"] for s in SPLITS)
    assert dump(coll) == before


# ---- reproducibility --------------------------------------------------------------------

def test_unsorted_ingest_selects_the_same_images(world):
    unsorted = world.tmp / "mirror-unsorted"
    m = make_mirror(unsorted, *MIRROR_ARGS, "--unsorted-labels")
    assert m["labels_order"] == "shuffled"
    world.ingest(unsorted, "--dataset", "shuffled")
    r = world.run("label", "single", "--dataset", "shuffled", "--json")
    assert r.rc == 0, r
    assert db_single_counts(world.coll("shuffled")) == world.counts

    for i, args in enumerate((("--num-classes", 6, "--samples-per-class", 9, "--seed", 21),
                              ("--num-classes", 3, "--seed", 77),
                              ("--classes", ",".join(eligible_order(world.counts, 12)[:4]),
                               "--samples-per-class", 12, "--seed", 5))):
        per = []
        for source in (SOURCE, "shuffled"):
            name = f"repro-{i}-{source}"
            r, _ = sample(world, name, "--dataset", source, *args)
            assert r.rc == 0, r
            coll = world.db[world.dataset(name)["sample_collection_name"]]
            ids = {d["_id"] for d in coll.find({}, {"_id": 1})}
            by_class = {}
            for d in coll.find({}, {"ground_truth.label": 1, "open_images_id": 1, "filepath": 1}):
                by_class.setdefault(d["ground_truth"]["label"], set()).add(
                    (d["open_images_id"], d["filepath"]))
            per.append((ids, by_class, r.json()["counts"]["classes"]))
        (ids_a, a, ca), (ids_b, b, cb) = per
        assert not ids_a & ids_b, "the two source datasets share sample _ids"
        assert ca == cb and a == b, (args, ca, cb)


def test_label_in_many_ranges_from_both_ends(plain_server, tmp_path):
    """At 100,000 samples label's second pass is cut into several _id ranges
    (idranges.h: at least 20,000 samples each, a quarter of what is left at a time), taken
    by two connections from both ends. The profiler shows the ranges; together they cover
    the _id space once, and every single-label sample, counted here from the documents,
    gets its ground_truth."""
    w = World.__new__(World)
    w.tmp, w.cwd, w.home = tmp_path, tmp_path / "cwd", tmp_path / "home"
    w.cwd.mkdir()
    w.home.mkdir()
    w.env = Env(plain_server, f"lr_{uuid.uuid4().hex[:12]}", tmp_path)
    w.mirror = tmp_path / "mirror"
    w.manifest = make_mirror(w.mirror, "--seed", "11", "--train", "90000", "--validation",
                             "4000", "--test", "6000")
    w.ingest(w.mirror)
    coll, db = w.coll(), w.db
    single = coll.count_documents({"positive_labels.classifications": {"$size": 1}})
    assert single == sum(w.manifest["splits"][s]["images_with_one_positive"] for s in SPLITS)
    db.command("profile", 2)
    try:
        r = w.run("label", "single", "--json", timeout=600)
    finally:
        db.command("profile", 0)
    assert r.rc == 0, r
    assert r.json()["counts"] == {"samples": 100000, "single_label": single, "modified": single}
    updates = [o for o in db.system.profile.find({"op": "update", "ns": f"{db.name}.{coll.name}"})
               if "positive_labels.classifications" in o["command"]["q"]]
    assert len(updates) >= 4, [o["command"]["q"] for o in updates]
    # two connections: some ranges were being written at the same time
    spans_in_time = sorted((o["ts"] - datetime.timedelta(milliseconds=o["millis"]), o["ts"])
                           for o in updates)
    assert any(b[0] < a[1] for a, b in zip(spans_in_time, spans_in_time[1:])), spans_in_time
    spans = [((o["command"]["q"].get("_id") or {}).get("$gte"),
              (o["command"]["q"].get("_id") or {}).get("$lt"),
              o.get("nModified", 0)) for o in updates]
    spans.sort(key=lambda s: (s[0] is not None, s[0] or ObjectId(b"\0" * 12)))
    assert spans[0][0] is None and spans[-1][1] is None, spans
    for a, b in zip(spans, spans[1:]):
        assert a[1] is not None and a[1] == b[0], (a, b)
    assert sum(s[2] for s in spans) == single, spans
    assert coll.count_documents({"ground_truth.label": {"$type": "string"}}) == single
    for d in coll.find({"positive_labels.classifications": {"$size": 1}},
                       {"positive_labels": 1, "ground_truth": 1}).limit(2000):
        assert d["ground_truth"]["label"] == positives(d)[0]["label"], d
