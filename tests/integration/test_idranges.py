"""sub_idranges_run() (service/idranges.c) against a real mongod: the ranges the two
connections take from both ends of the _id index cover every document exactly once, for
collections of many shapes and range sizes, and both sides work when there is enough.

The C code runs in idranges_cli (tests/unit/idranges_main.c), looked up in
$SUBSETTER_TEST_BIN_DIR (default build/debug under the repository): it prints each range
with the number of documents it holds, counted by the connection that took it. Every
expected value comes from the collection itself (pymongo)."""
import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest
from bson import ObjectId

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli_path() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "idranges_cli"


@pytest.fixture(scope="module")
def db(plain_server):
    if not cli_path().exists():
        pytest.fail(f"{cli_path()} is missing: build the tests (cmake --build; target "
                    f"idranges_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)
    name = f"ir_{uuid.uuid4().hex[:12]}"
    yield plain_server, plain_server.client()[name]
    plain_server.client().drop_database(name)


def ranges(server, database, collection, min_size, delay_ms=0, want_rc=0):
    env = dict(os.environ, FIFTYONE_DATABASE_URI=server.uri(),
               FIFTYONE_DATABASE_NAME=database.name)
    r = subprocess.run([str(cli_path()), collection, str(min_size), str(delay_ms)], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == want_rc, (r.returncode, r.stderr)
    return [json.loads(line) for line in r.stdout.splitlines()], r.stderr


def oid(x):
    return None if x is None else ObjectId(x)


def check_partition(coll, got):
    """The ranges, sorted, chain from an open start to an open end without gaps or
    overlaps, and the documents they hold add up to the collection's."""
    spans = sorted(got, key=lambda r: (r["lo"] is not None, oid(r["lo"]) or ObjectId(b"\0" * 12)))
    assert spans, "no range at all"
    assert spans[0]["lo"] is None and spans[-1]["hi"] is None, spans
    for a, b in zip(spans, spans[1:]):
        assert a["hi"] is not None and a["hi"] == b["lo"], (a, b)
        assert oid(a["lo"]) is None or oid(a["lo"]) < oid(a["hi"]), a
    for s in spans:
        q = {}
        if s["lo"]:
            q.setdefault("_id", {})["$gte"] = oid(s["lo"])
        if s["hi"]:
            q.setdefault("_id", {})["$lt"] = oid(s["hi"])
        assert coll.count_documents(q) == s["count"], s
    assert sum(s["count"] for s in spans) == coll.count_documents({})


def fill(coll, ids):
    coll.drop()
    if ids:
        coll.insert_many([{"_id": i, "n": k} for k, i in enumerate(ids)])


@pytest.mark.parametrize("n, min_size", [(0, 10), (1, 10), (2, 1), (9, 10), (10, 10), (11, 10),
                                         (1000, 1), (1000, 7), (1000, 250), (1000, 5000),
                                         (5000, 20)])
def test_ranges_cover_every_document_once(db, n, min_size):
    server, database = db
    coll = database[f"c{n}_{min_size}"]
    fill(coll, [ObjectId() for _ in range(n)])
    # slow ranges when there are many, so that neither side can finish before the other
    # has started
    got, _ = ranges(server, database, coll.name, min_size, delay_ms=20 if n >= 1000 else 0)
    if n == 0:
        # one side takes the whole (empty) span, the other finds nothing left
        assert [r["count"] for r in got] in ([0], []), got
        return
    check_partition(coll, got)
    sizes = [r["count"] for r in got]
    # every range but the last of each side holds at least min_size documents
    for side in (0, 1):
        mine = [r["count"] for r in got if r["side"] == side]
        assert all(c >= min(min_size, n) for c in mine[:-1]), (side, mine)
    if n >= 4 * min_size:
        assert {r["side"] for r in got} == {0, 1}, f"one side did all the work: {got}"
        assert max(sizes) <= max(n // 4 + 1, min_size), sizes


def test_bunched_ids(db):
    """Bunched _ids (three far-apart clusters, as the ingest's per-split timestamps make)
    are cut by their rank along the index like any others."""
    server, database = db
    coll = database["bunched"]
    ids = []
    for ts in (0x10000000, 0x10000001, 0x7fffffff):
        ids += [ObjectId(f"{ts:08x}{k:016x}") for k in range(0, 3000, 7)]
    fill(coll, ids)
    got, _ = ranges(server, database, coll.name, 50, delay_ms=20)
    check_partition(coll, got)
    assert {r["side"] for r in got} == {0, 1}


def test_missing_collection_is_empty_and_bad_server_fails(db, tmp_path):
    server, database = db
    got, _ = ranges(server, database, "no_such_collection", 10)
    assert [r["count"] for r in got] in ([0], []), got
    env = dict(os.environ, FIFTYONE_DATABASE_URI="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300",
               FIFTYONE_DATABASE_NAME=database.name)
    r = subprocess.run([str(cli_path()), "x", "10"], env=env, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 1 and r.stderr.startswith("idranges_cli: ["), r.stderr
