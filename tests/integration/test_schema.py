"""`schema apply|status`: the validators and indexes of sql-free-schemas/ on a real server."""
import datetime as dt
import json

import pytest
from bson import ObjectId
from pymongo.errors import WriteError

from servers import ADMIN_PASSWORD, REPO_ROOT, RW_PASSWORD

COLLECTIONS = ("subsetter.fetch_tasks", "subsetter.runs", "subsetter.sources")
SPECS = {}
for f in sorted((REPO_ROOT / "sql-free-schemas").glob("*.json")):
    spec = json.loads(f.read_text())
    SPECS[spec["collection"]] = spec


def env_for(server, db, **extra):
    return {"FIFTYONE_DATABASE_URI": server.uri(), "FIFTYONE_DATABASE_NAME": db,
            "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS": "5000", **extra}


def snapshot(client, db):
    """listCollections and listIndexes of the subsetter collections, comparable."""
    out = {}
    for info in client[db].list_collections():
        if info["name"].startswith("subsetter."):
            info = dict(info)
            info.pop("info", None)  # holds the collection's UUID only
            idx = sorted((dict(i) for i in client[db][info["name"]].list_indexes()),
                         key=lambda i: i["name"])
            out[info["name"]] = (info, idx)
    return out


def valid_run():
    return {"stage": "ingest", "state": "running", "started_at": dt.datetime.now(dt.timezone.utc),
            "version": "0.1.0"}


def valid_task():
    return {"dataset": "birds", "sample_id": ObjectId(), "filepath": "/m/a.jpg",
            "urls": ["https://example.com/a.jpg"], "state": "pending", "attempts": 0,
            "updated_at": dt.datetime.now(dt.timezone.utc)}


def test_schema_files_declare_the_three_collections():
    assert set(SPECS) == set(COLLECTIONS)


def test_status_on_fresh_db(sub, plain_server, fresh_db):
    r = sub.run("schema", "status", env=env_for(plain_server, fresh_db))
    assert r.rc == 3, r
    for name in COLLECTIONS:
        assert f"{name}" in r.stdout, r
    assert r.stdout.count("missing") >= 3, r
    r = sub.run("schema", "status", "--json", env=env_for(plain_server, fresh_db))
    assert r.rc == 3, r
    j = r.json()
    assert j["in_place"] is False, j
    assert {c["name"]: c["exists"] for c in j["collections"]} == {n: False for n in COLLECTIONS}
    with plain_server.client() as c:
        assert fresh_db not in c.list_database_names(), "status must write nothing"


def test_apply_creates_validators_and_indexes(sub, plain_server, fresh_db):
    env = env_for(plain_server, fresh_db)
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True and j["changed"] is True and j["in_place"] is True, j
    by_name = {c["name"]: c for c in j["collections"]}
    assert set(by_name) == set(COLLECTIONS), j
    for name, c in by_name.items():
        assert c["created"] is True and c["exists"] is True and c["validator_ok"] is True, c
        assert c["indexes_created"] == len(SPECS[name]["indexes"]), c
        assert "missing_indexes" not in c, c

    with plain_server.client() as client:
        infos = {i["name"]: i for i in client[fresh_db].list_collections()}
        for name, spec in SPECS.items():
            opts = infos[name]["options"]
            assert opts["validator"] == spec["validator"], name
            assert "$jsonSchema" in opts["validator"]
            assert opts["validationLevel"] == "strict" and opts["validationAction"] == "error"
            idx = {i["name"]: i for i in client[fresh_db][name].list_indexes()}
            for want in spec["indexes"]:
                have = idx[want["name"]]
                assert dict(have["key"]) == want["key"], (name, have)
                assert bool(have.get("unique")) == bool(want.get("unique")), (name, have)
                assert bool(have.get("sparse")) == bool(want.get("sparse")), (name, have)
        ds = client[fresh_db]["subsetter.fetch_tasks"].index_information()["dataset_sample"]
        assert ds["unique"] is True and ds["key"] == [("dataset", 1), ("sample_id", 1)]

    r = sub.run("schema", "status", env=env)
    assert r.rc == 0, r
    assert r.stdout.count("in place") == 3, r
    r = sub.run("doctor", "--json", env=env)
    assert r.rc == 0 and r.json()["schemas_in_place"] is True, r


def test_second_apply_changes_nothing(sub, plain_server, fresh_db):
    env = env_for(plain_server, fresh_db)
    assert sub.run("schema", "apply", env=env).rc == 0
    with plain_server.client() as c:
        before = snapshot(c, fresh_db)
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    j = r.json()
    assert j["changed"] is False, j
    for c in j["collections"]:
        assert (c["created"], c["validator_updated"], c["indexes_created"]) == (False, False, 0), c
    r = sub.run("schema", "apply", env=env)
    assert r.rc == 0, r
    assert "created" not in r.stdout.replace("0 indexes created", ""), r
    with plain_server.client() as c:
        after = snapshot(c, fresh_db)
    assert set(before) == set(COLLECTIONS)
    assert before == after


def test_validators_refuse_bad_documents(sub, plain_server, fresh_db):
    assert sub.run("schema", "apply", env=env_for(plain_server, fresh_db)).rc == 0
    with plain_server.client() as c:
        db = c[fresh_db]
        bad = valid_run()
        del bad["stage"]
        with pytest.raises(WriteError) as e:
            db["subsetter.runs"].insert_one(bad)
        assert e.value.code == 121
        with pytest.raises(WriteError) as e:
            db["subsetter.runs"].insert_one({**valid_run(), "stage": "bogus"})
        assert e.value.code == 121
        with pytest.raises(WriteError) as e:
            db["subsetter.fetch_tasks"].insert_one({**valid_task(), "state": "bogus"})
        assert e.value.code == 121
        with pytest.raises(WriteError) as e:
            db["subsetter.fetch_tasks"].insert_one({**valid_task(), "urls": []})
        assert e.value.code == 121
        with pytest.raises(WriteError) as e:
            db["subsetter.sources"].insert_one({"url": "https://x/y.csv", "state": "done",
                                                "updated_at": dt.datetime.now(dt.timezone.utc),
                                                "sha256": "not-hex"})
        assert e.value.code == 121

        db["subsetter.runs"].insert_one(valid_run())
        task = valid_task()
        db["subsetter.fetch_tasks"].insert_one(task)
        db["subsetter.sources"].insert_one({"url": "https://x/y.csv", "state": "done",
                                            "updated_at": dt.datetime.now(dt.timezone.utc),
                                            "sha256": "0" * 64})
        # The unique index: one task per (dataset, sample_id).
        dup = {**valid_task(), "sample_id": task["sample_id"]}
        from pymongo.errors import DuplicateKeyError
        with pytest.raises(DuplicateKeyError):
            db["subsetter.fetch_tasks"].insert_one(dup)
        assert db["subsetter.runs"].count_documents({}) == 1
        assert db["subsetter.fetch_tasks"].count_documents({}) == 1


def test_apply_restores_a_modified_validator(sub, plain_server, fresh_db):
    env = env_for(plain_server, fresh_db)
    assert sub.run("schema", "apply", env=env).rc == 0
    with plain_server.client() as c:
        c[fresh_db].command("collMod", "subsetter.runs",
                            validator={"$jsonSchema": {"bsonType": "object",
                                                       "required": ["something_else"]}},
                            validationLevel="moderate")
    r = sub.run("schema", "status", "--json", env=env)
    assert r.rc == 3, r
    runs = {c["name"]: c for c in r.json()["collections"]}["subsetter.runs"]
    assert runs["exists"] is True and runs["validator_ok"] is False, r
    r = sub.run("schema", "status", env=env)
    assert "subsetter.runs" in r.stdout and "validator differs" in r.stdout, r

    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    j = r.json()
    by_name = {c["name"]: c for c in j["collections"]}
    assert by_name["subsetter.runs"]["validator_updated"] is True, j
    assert by_name["subsetter.runs"]["created"] is False, j
    assert by_name["subsetter.sources"]["validator_updated"] is False, j
    assert j["changed"] is True and j["in_place"] is True, j
    with plain_server.client() as c:
        opts = {i["name"]: i for i in c[fresh_db].list_collections()}["subsetter.runs"]["options"]
        assert opts["validator"] == SPECS["subsetter.runs"]["validator"]
        assert opts["validationLevel"] == "strict"
    assert sub.run("schema", "status", env=env).rc == 0


def test_apply_recreates_a_dropped_index(sub, plain_server, fresh_db):
    env = env_for(plain_server, fresh_db)
    assert sub.run("schema", "apply", env=env).rc == 0
    with plain_server.client() as c:
        c[fresh_db]["subsetter.fetch_tasks"].drop_index("dataset_sample")
    r = sub.run("schema", "status", "--json", env=env)
    assert r.rc == 3, r
    ft = {c["name"]: c for c in r.json()["collections"]}["subsetter.fetch_tasks"]
    assert ft["missing_indexes"] == "dataset_sample", ft
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    ft = {c["name"]: c for c in r.json()["collections"]}["subsetter.fetch_tasks"]
    assert ft["indexes_created"] == 1 and r.json()["changed"] is True, r
    with plain_server.client() as c:
        assert c[fresh_db]["subsetter.fetch_tasks"].index_information()["dataset_sample"]["unique"]


def test_concurrent_apply(sub, plain_server, fresh_db):
    """Stages apply the schemas when they start, possibly at the same time."""
    env = env_for(plain_server, fresh_db)
    procs = [sub.popen("schema", "apply", "--json", env=env) for _ in range(4)]
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
        assert json.loads(out)["in_place"] is True
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0 and r.json()["changed"] is False, r


def test_rw_user_cannot_restore_a_modified_validator(sub, auth_server):
    """readWrite has no collMod: apply says which action/role is missing (exit 8)."""
    with auth_server.client() as c:
        c.drop_database("fiftyone")
    try:
        env = {"FIFTYONE_DATABASE_URI": auth_server.uri("rw", RW_PASSWORD, authSource="admin"),
               "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS": "5000"}
        r = sub.run("schema", "apply", "--json", env=env)
        assert r.rc == 0 and r.json()["changed"] is True, r
        with auth_server.client() as c:
            c.fiftyone.command("collMod", "subsetter.sources",
                               validator={"$jsonSchema": {"bsonType": "object"}})
        r = sub.run("schema", "apply", env=env)
        assert r.rc == 8, r
        assert "subsetter.sources" in r.stderr, r
        assert "collMod" in r.stderr and "dbAdmin" in r.stderr, r
        r = sub.run("schema", "apply", "--json", env=env)
        assert r.rc == 8, r
        j = r.json()
        assert j["error"]["code"] == "PRIVILEGE" and j["error"]["exit"] == 8, j
        assert "collMod" in j["error"]["message"], j
        # An administrator fixes it; afterwards the rw user finds everything in place.
        admin_env = {**env, "FIFTYONE_DATABASE_URI": auth_server.uri(
            "admin", ADMIN_PASSWORD, authSource="admin")}
        r = sub.run("schema", "apply", "--json", env=admin_env)
        assert r.rc == 0, r
        r = sub.run("schema", "apply", "--json", env=env)
        assert r.rc == 0 and r.json()["changed"] is False, r
    finally:
        with auth_server.client() as c:
            c.drop_database("fiftyone")
