"""Shared by test_label_sample.py and test_fiftyone_take.py: one ingested and labeled
mirror per module, and the Python side of every check (counts, the reference's
sample_count_for_num_classes, the seeded class draw, FiftyOne's take order), computed
from the mirror's manifest or from the documents with pymongo, never from the binary."""
from __future__ import annotations

import math
import random
import uuid
from collections import Counter
from pathlib import Path

from bson import json_util

import servers
from test_ingest import SPLITS, Env, ingest, make_mirror

SOURCE = "open-images-v7-full"
# Big enough that many classes have more single-label samples than the N the tests ask
# for (the largest count is in the hundreds, dozens of classes have more than 10).
MIRROR_ARGS = ("--seed", "7", "--train", "6000", "--validation", "300", "--test", "300")


class World:
    """A database holding the mirror ingested as SOURCE (and optionally more datasets),
    and a runner for the binary with that database's settings."""

    def __init__(self, server, tmp: Path):
        self.tmp = tmp
        self.cwd = tmp / "cwd"
        self.home = tmp / "home"
        self.cwd.mkdir(exist_ok=True)
        self.home.mkdir(exist_ok=True)
        self.env = Env(server, f"ls_{uuid.uuid4().hex[:12]}", tmp)
        self.mirror = tmp / "mirror"
        self.manifest = make_mirror(self.mirror, *MIRROR_ARGS)

    # the `sub` interface test_ingest.ingest() expects
    def run(self, *args, env=None, timeout=300):
        return servers.run(list(args), cwd=self.cwd, home=self.home,
                           env=env if env is not None else self.env.vars(), timeout=timeout)

    def ingest(self, source, *extra):
        r = ingest(self, self.env, source, *extra)
        assert r.rc == 0, r
        return r

    @property
    def db(self):
        return self.env.database()

    def coll(self, name=SOURCE):
        return self.env.samples(name)

    def members(self, name=SOURCE) -> dict:
        """single_members() of a source dataset, computed once (sources are not changed
        after labeling)."""
        cache = self.__dict__.setdefault("_members", {})
        if name not in cache:
            cache[name] = single_members(self.coll(name))
        return cache[name]

    def dataset(self, name):
        return self.db.datasets.find_one({"name": name})


# ---- what the data says, computed here ----------------------------------------------

def positives(doc) -> list:
    return ((doc.get("positive_labels") or {}).get("classifications")) or []


def manifest_single_counts(manifest) -> dict:
    """Per class name, the images whose only positive row is this class (all splits)."""
    out = {name: sum(c[s]["single_positive"] for s in SPLITS)
           for name, c in manifest["class_counts"].items()}
    return {k: v for k, v in out.items() if v}


def db_single_counts(coll) -> Counter:
    """Per label, the samples with exactly one positive label, from the documents."""
    c = Counter()
    for d in coll.find({}, {"positive_labels": 1}):
        p = positives(d)
        if len(p) == 1:
            c[p[0]["label"]] += 1
    return c


def sample_count_for_num_classes(class_counts, num_classes):
    """The reference generator's function, verbatim in substance."""
    counts = list(class_counts.values())
    if len(counts) < num_classes:
        return None
    counts.sort(reverse=True)
    return counts[num_classes - 1]


def eligible_order(class_counts, n) -> list:
    """Classes with at least n samples: count descending, then name by code point."""
    return [name for name, c in sorted(class_counts.items(), key=lambda kv: (-kv[1], kv[0]))
            if c >= n]


def drawn_classes(class_counts, k, n, seed) -> list:
    return random.Random(seed).sample(eligible_order(class_counts, n), k)


def take_multiplier(seed) -> int:
    """fiftyone.core.stages.Take: _get_rng(seed).randint(int(1e7), int(1e10))."""
    rng = random.Random()
    rng.seed(seed)
    return rng.randint(int(1e7), int(1e10))


def single_members(coll) -> dict:
    """Per label, the (_id, _rand) of the samples with exactly that one positive label,
    found from positive_labels (not from ground_truth, which the binary wrote)."""
    out = {}
    for d in coll.find({}, {"_rand": 1, "positive_labels": 1}):
        p = positives(d)
        if len(p) == 1:
            out.setdefault(p[0]["label"], []).append((d["_id"], d["_rand"]))
    return out


def take_ids(members, label, n, seed) -> list:
    """FiftyOne's match(F("ground_truth.label") == label).take(n, seed): the first n by
    fmod(R, _rand). `members` is single_members() of the source."""
    R = take_multiplier(seed)
    keyed = sorted((math.fmod(R, r), i) for i, r in members[label])
    keys = [k for k, _ in keyed]
    assert len(set(keys)) == len(keys), "tied take keys: the order would be ambiguous"
    return [i for _, i in keyed[:n]]


def dump(coll) -> str:
    return json_util.dumps(list(coll.find({}, sort=[("_id", 1)])))


def labels_of(coll) -> Counter:
    return Counter(d.get("ground_truth", {}).get("label")
                   for d in coll.find({}, {"ground_truth": 1}))


def run_ids(db) -> set:
    return {d["_id"] for d in db["subsetter.runs"].find({}, {"_id": 1})}


def new_run(db, before: set, stage: str) -> dict:
    """The one subsetter.runs document of `stage` written since `before` was taken."""
    docs = [d for d in db["subsetter.runs"].find({"stage": stage}) if d["_id"] not in before]
    assert len(docs) == 1, f"expected one new {stage} run document, found {docs}"
    return docs[0]
