"""Connecting to a configured server (FIFTYONE_DATABASE_URI): plain and replica set."""
import time

from servers import MONGOD_VERSION, free_port


def uri_env(uri, **extra):
    return {"FIFTYONE_DATABASE_URI": uri, **extra}


def test_doctor_plain(sub, plain_server):
    uri = f"mongodb://127.0.0.1:{plain_server.port}/"
    r = sub.run("doctor", env=uri_env(uri))
    assert r.rc == 0, r
    assert uri in r.stdout and "env FIFTYONE_DATABASE_URI" in r.stdout, r
    assert "embedded" not in r.stdout, r
    assert f"MongoDB {MONGOD_VERSION}" in r.stdout and "standalone" in r.stdout, r
    assert "ok: subsetter can work with this database" in r.stdout, r

    r = sub.run("doctor", "--json", env=uri_env(uri))
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True and j["embedded"] is False, j
    assert "embedded_pid" not in j
    assert j["uri"] == uri and j["server_version"] == MONGOD_VERSION, j
    assert j["topology"] == "standalone" and j["tls"] is False, j
    assert j["database"] == "fiftyone" and j["user"] is None and j["privileges_ok"] is True, j
    assert r.stderr == "", r


def test_doctor_writes_nothing(sub, plain_server, fresh_db):
    uri = plain_server.uri()
    r = sub.run("doctor", "--json", env=uri_env(uri, FIFTYONE_DATABASE_NAME=fresh_db))
    assert r.rc == 0, r
    assert r.json()["database"] == fresh_db
    assert r.json()["schemas_in_place"] is False
    with plain_server.client() as c:
        assert fresh_db not in c.list_database_names()


def test_doctor_lists_fiftyone_datasets(sub, plain_server, fresh_db):
    with plain_server.client() as c:
        db = c[fresh_db]
        db.datasets.insert_many([
            {"name": "birds", "sample_collection_name": "samples.aaa", "version": "1.11.0"},
            {"name": "hidden", "sample_collection_name": "frames.bbb"},
        ])
        db["samples.aaa"].insert_many([{"filepath": f"/m/{i}.jpg"} for i in range(3)])
    r = sub.run("doctor", "--json", env=uri_env(plain_server.uri(), FIFTYONE_DATABASE_NAME=fresh_db))
    assert r.rc == 0, r
    assert r.json()["datasets"] == [{"name": "birds", "samples": 3, "version": "1.11.0"}], r
    r = sub.run("doctor", env=uri_env(plain_server.uri(), FIFTYONE_DATABASE_NAME=fresh_db))
    assert "birds (3 samples)" in r.stdout and "hidden" not in r.stdout, r


def test_unreachable_is_fast(sub):
    port = free_port()
    t0 = time.monotonic()
    r = sub.run("doctor", "--json", env=uri_env(f"mongodb://127.0.0.1:{port}/",
                                                SUBSETTER_SERVER_SELECTION_TIMEOUT_MS="2000"))
    assert time.monotonic() - t0 < 15, r
    assert r.rc == 4, r
    j = r.json()
    assert j["ok"] is False and j["error"]["code"] == "UNREACHABLE" and j["error"]["exit"] == 4, j
    assert f"127.0.0.1:{port}" in j["error"]["message"], j
    assert f"127.0.0.1:{port}" in r.stderr, r
    for cmd in (("schema", "status"), ("schema", "apply")):
        r = sub.run(*cmd, env=uri_env(f"mongodb://127.0.0.1:{port}/",
                                      SUBSETTER_SERVER_SELECTION_TIMEOUT_MS="2000"))
        assert r.rc == 4, r


def test_srv_dns_failure_is_unreachable(sub):
    """A mongodb+srv:// name that does not resolve: the server cannot be reached (4), with
    a message that says the DNS lookup failed; not a configuration error."""
    uri = "mongodb+srv://cluster0.nonexistent.invalid/"
    t0 = time.monotonic()
    r = sub.run("doctor", "--json", env=uri_env(uri, SUBSETTER_SERVER_SELECTION_TIMEOUT_MS="2000"))
    assert time.monotonic() - t0 < 30, r
    assert r.rc == 4, r
    msg = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "UNREACHABLE", r
    assert "cluster0.nonexistent.invalid" in msg, r
    assert any(w in msg.lower() for w in ("srv", "dns", "resolve", "look up", "lookup")), r


def test_srv_two_label_host(sub):
    """libmongoc 1.23 requires an SRV host of 3+ labels: nonexistent.invalid is refused."""
    r = sub.run("doctor", "--json", env=uri_env("mongodb+srv://nonexistent.invalid/",
                                                SUBSETTER_SERVER_SELECTION_TIMEOUT_MS="2000"))
    assert r.rc in (3, 4), r
    msg = r.json()["error"]["message"]
    assert "nonexistent.invalid" in msg, r
    assert any(w in msg.lower() for w in ("srv", "service", "dns", "resolve")), r


def test_invalid_uri_is_a_config_error(sub):
    for uri in ("mongodb://:@", "notmongodb://x", "mongodb://127.0.0.1:99999/",
                "mongodb://127.0.0.1/?tls=maybe"):
        r = sub.run("doctor", "--json", env=uri_env(uri))
        assert r.rc == 3, r
        j = r.json()
        assert j["error"]["code"] == "CONFIG" and j["error"]["exit"] == 3, j
        assert "FIFTYONE_DATABASE_URI" in j["error"]["message"], j
    r = sub.run("schema", "apply", env=uri_env("notmongodb://x"))
    assert r.rc == 3, r
    assert "expecting 'mongodb://' or 'mongodb+srv://'" in r.stderr, r


def test_min_server_version(sub, plain_server):
    r = sub.run("doctor", "--json", env=uri_env(plain_server.uri(),
                                                SUBSETTER_MIN_SERVER_VERSION="99.0"))
    assert r.rc == 7, r
    j = r.json()
    assert j["error"]["code"] == "SERVER_VERSION" and j["error"]["exit"] == 7, j
    assert f"runs MongoDB {MONGOD_VERSION}, older than the minimum 99.0" in j["error"]["message"], j
    assert "env SUBSETTER_MIN_SERVER_VERSION" in j["error"]["message"], j
    # The same server passes a minimum it meets, including its own version.
    for ok in ("4.4", MONGOD_VERSION, "6.0"):
        r = sub.run("doctor", env=uri_env(plain_server.uri(), SUBSETTER_MIN_SERVER_VERSION=ok))
        assert r.rc == 0, r
    r = sub.run("doctor", env=uri_env(plain_server.uri(), SUBSETTER_MIN_SERVER_VERSION="6.0.6"))
    assert r.rc == 7, r


def test_timeout_from_uri_and_setting(sub):
    """serverSelectionTimeoutMS in the URI is honored; connection refused fails at once."""
    port = free_port()
    t0 = time.monotonic()
    r = sub.run("doctor", env=uri_env(f"mongodb://127.0.0.1:{port}/?serverSelectionTimeoutMS=1500"))
    assert r.rc == 4, r
    assert time.monotonic() - t0 < 15, r


def test_replica_set(sub, rs_server):
    uri = f"mongodb://127.0.0.1:{rs_server.port}/?replicaSet=rs0"
    r = sub.run("doctor", env=uri_env(uri))
    assert r.rc == 0, r
    assert f"replica set rs0 (connected to 127.0.0.1:{rs_server.port}, primary)" in r.stdout, r
    j = sub.run("doctor", "--json", env=uri_env(uri)).json()
    assert j["ok"] is True and j["replica_set"] == "rs0", j
    assert j["topology"].startswith("replica set rs0") and "primary" in j["topology"], j
    assert "secondary" not in j["topology"]


def test_replica_set_schema_apply(sub, rs_server, fresh_db):
    uri = f"mongodb://127.0.0.1:{rs_server.port}/?replicaSet=rs0"
    env = uri_env(uri, FIFTYONE_DATABASE_NAME=fresh_db)
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    assert r.json()["changed"] is True and r.json()["in_place"] is True, r
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0 and r.json()["changed"] is False, r


def test_wrong_replica_set_name(sub, rs_server):
    uri = f"mongodb://127.0.0.1:{rs_server.port}/?replicaSet=nope"
    t0 = time.monotonic()
    r = sub.run("doctor", "--json", env=uri_env(uri, SUBSETTER_SERVER_SELECTION_TIMEOUT_MS="2000"))
    assert time.monotonic() - t0 < 30, r
    assert r.rc == 4, r
