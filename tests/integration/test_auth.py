"""Authentication and privileges against mongod --auth (users in admin, authSource=admin).

Users (servers.Mongod._create_users): admin (root), rw (readWrite on fiftyone), ro (read on
fiftyone), special (readWrite on fiftyone, a password full of URI delimiters)."""
from urllib.parse import quote

import pytest

from servers import RO_PASSWORD, RW_PASSWORD, SPECIAL_PASSWORD, SPECIAL_USER

WRONG_PASSWORD = "Wr0ng-S3cret-pw"


def env_for(uri, **extra):
    return {"FIFTYONE_DATABASE_URI": uri, "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS": "5000", **extra}


def assert_no_secret(r, *secrets):
    """Neither stdout nor stderr holds a secret, raw or percent-encoded, in any case."""
    out = r.out.lower()
    for s in secrets:
        for form in {s, quote(s, safe=""), quote(s)}:
            assert form.lower() not in out, f"secret {form!r} leaked:\n{r}"


@pytest.fixture
def clean_fiftyone(auth_server):
    """The auth users only hold roles on `fiftyone`: tests that write there start empty."""
    with auth_server.client() as c:
        c.drop_database("fiftyone")
    yield auth_server
    with auth_server.client() as c:
        c.drop_database("fiftyone")


def test_rw_doctor(sub, auth_server):
    uri = auth_server.uri("rw", RW_PASSWORD, authSource="admin")
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True and j["user"] == "rw@admin", j
    assert j["roles"] == "readWrite@fiftyone", j
    assert j["privileges_ok"] is True and j["missing_privileges"] == [], j
    assert j["missing_optional_privileges"] == ["collMod"], j
    assert j["uri"] == f"mongodb://rw:***@127.0.0.1:{auth_server.port}/?authSource=admin", j
    assert_no_secret(r, RW_PASSWORD)

    r = sub.run("doctor", env=env_for(uri))
    assert r.rc == 0, r
    assert "rw@admin (roles: readWrite@fiftyone)" in r.stdout, r
    assert "privileges  ok" in r.stdout and "collMod" in r.stdout, r
    assert_no_secret(r, RW_PASSWORD)


def test_rw_schema_apply(sub, clean_fiftyone):
    server = clean_fiftyone
    uri = server.uri("rw", RW_PASSWORD, authSource="admin")
    r = sub.run("schema", "apply", "--json", env=env_for(uri))
    assert r.rc == 0, r
    j = r.json()
    assert j["changed"] is True and j["in_place"] is True, j
    assert all(c["created"] for c in j["collections"]), j
    with server.client() as c:
        infos = {i["name"]: i for i in c.fiftyone.list_collections()}
        for name in ("subsetter.runs", "subsetter.sources", "subsetter.fetch_tasks"):
            assert "$jsonSchema" in infos[name]["options"]["validator"], infos[name]
        assert "dataset_sample" in c.fiftyone["subsetter.fetch_tasks"].index_information()
    r = sub.run("schema", "apply", "--json", env=env_for(uri))
    assert r.rc == 0, r
    assert r.json()["changed"] is False, r
    r = sub.run("schema", "status", env=env_for(uri))
    assert r.rc == 0, r
    assert_no_secret(r, RW_PASSWORD)


@pytest.mark.parametrize("verbose", [False, True])
def test_wrong_password(sub, auth_server, verbose):
    uri = auth_server.uri("rw", WRONG_PASSWORD, authSource="admin")
    args = ["doctor", "--json"] + (["-v"] if verbose else [])
    r = sub.run(*args, env=env_for(uri))
    assert r.rc == 5, r
    j = r.json()
    assert j["ok"] is False and j["error"]["code"] == "AUTH" and j["error"]["exit"] == 5, j
    assert "authentication failed" in j["error"]["message"].lower(), j
    assert "authSource" in j["error"]["message"], "hint at the usual suspects"
    assert "rw:***@" in j["error"]["message"], j
    assert_no_secret(r, WRONG_PASSWORD, RW_PASSWORD)
    for cmd in (("schema", "apply"), ("schema", "status"), ("doctor",)):
        r = sub.run(*cmd, env=env_for(uri))
        assert r.rc == 5, r
        assert_no_secret(r, WRONG_PASSWORD, RW_PASSWORD)


def test_unknown_user_and_wrong_auth_source(sub, auth_server):
    r = sub.run("doctor", env=env_for(auth_server.uri("nobody", RW_PASSWORD, authSource="admin")))
    assert r.rc == 5, r
    assert_no_secret(r, RW_PASSWORD)
    # rw lives in admin: authenticating against fiftyone fails.
    r = sub.run("doctor", env=env_for(auth_server.uri("rw", RW_PASSWORD, authSource="fiftyone")))
    assert r.rc == 5, r
    assert_no_secret(r, RW_PASSWORD)


def test_ro_user_lacks_privileges(sub, auth_server):
    uri = auth_server.uri("ro", RO_PASSWORD, authSource="admin")
    r = sub.run("doctor", env=env_for(uri))
    assert r.rc == 8, r
    for action in ("insert", "update", "remove", "createCollection", "createIndex"):
        assert action in r.stdout and action in r.stderr, r
    assert "readWrite" in r.stderr and "MISSING" in r.stdout, r
    assert "ro@admin (roles: read@fiftyone)" in r.stdout, r
    assert "ok: subsetter can work" not in r.stdout, r
    assert_no_secret(r, RO_PASSWORD)

    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 8, r
    j = r.json()
    assert j["ok"] is False and j["privileges_ok"] is False and j["user"] == "ro@admin", j
    assert {"insert", "update", "remove", "createCollection", "createIndex",
            "dropCollection"} <= set(j["missing_privileges"]), j
    assert not {"find", "listCollections", "listIndexes"} & set(j["missing_privileges"]), j


def test_failed_doctor_json_error_shape(sub, auth_server):
    """--json failures carry {"ok": false, "error": {"code", "exit", "message"}}, doctor's
    verdicts included, so scripts read every failure the same way."""
    uri = auth_server.uri("ro", RO_PASSWORD, authSource="admin")
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 8, r
    err = r.json()["error"]
    assert isinstance(err, dict), f"error should be an object, got {err!r}"
    assert err["code"] == "PRIVILEGE" and err["exit"] == 8, err
    assert "insert" in err["message"], err


def test_ro_user_schema_apply(sub, clean_fiftyone):
    uri = clean_fiftyone.uri("ro", RO_PASSWORD, authSource="admin")
    r = sub.run("schema", "apply", "--json", env=env_for(uri))
    assert r.rc == 8, r
    assert r.json()["error"]["code"] == "PRIVILEGE", r
    r = sub.run("schema", "status", env=env_for(uri))
    assert r.rc == 3, r
    assert "missing" in r.stdout, r


def test_no_credentials_on_auth_server(sub, auth_server):
    r = sub.run("doctor", env=env_for(auth_server.uri()))
    assert r.rc == 8, r
    assert "not authenticated" in r.stdout, r


def test_tls_auth_rw(sub, tls_auth_server, certs):
    uri = tls_auth_server.uri("rw", RW_PASSWORD, tls="true", tlsCAFile=certs.ca,
                              authSource="admin")
    r = sub.run("doctor", "--json", env=env_for(uri))
    assert r.rc == 0, r
    j = r.json()
    assert j["tls"] is True and j["user"] == "rw@admin" and j["privileges_ok"] is True, j
    assert_no_secret(r, RW_PASSWORD)
    bad = tls_auth_server.uri("rw", WRONG_PASSWORD, tls="true", tlsCAFile=certs.ca,
                              authSource="admin")
    r = sub.run("doctor", "--json", env=env_for(bad))
    assert r.rc == 5, r
    assert_no_secret(r, RW_PASSWORD, WRONG_PASSWORD)
    # The wrong CA fails before authentication: TLS, not auth.
    r = sub.run("doctor", "--json", env=env_for(tls_auth_server.uri(
        "rw", RW_PASSWORD, tls="true", tlsCAFile=certs.other_ca, authSource="admin")))
    assert r.rc == 6, r
    assert_no_secret(r, RW_PASSWORD)


@pytest.mark.parametrize("verbose", [False, True])
def test_special_characters_in_password(sub, auth_server, verbose):
    uri = auth_server.uri(SPECIAL_USER, SPECIAL_PASSWORD, authSource="admin")
    assert quote(SPECIAL_PASSWORD, safe="") in uri
    extra = ["-v"] if verbose else []
    r = sub.run("doctor", "--json", *extra, env=env_for(uri))
    assert r.rc == 0, r
    assert r.json()["user"] == f"{SPECIAL_USER}@admin", r
    assert r.json()["uri"] == f"mongodb://{SPECIAL_USER}:***@127.0.0.1:{auth_server.port}/?authSource=admin"
    assert_no_secret(r, SPECIAL_PASSWORD)
    r = sub.run("doctor", *extra, env=env_for(uri))
    assert r.rc == 0, r
    assert_no_secret(r, SPECIAL_PASSWORD)
    r = sub.run("config", *extra, env=env_for(uri))
    assert r.rc == 0, r
    assert f"{SPECIAL_USER}:***@" in r.stdout, r
    assert_no_secret(r, SPECIAL_PASSWORD)
    # One character off: authentication fails, and still nothing leaks.
    wrong = SPECIAL_PASSWORD + "!"
    r = sub.run("doctor", "--json", *extra, env=env_for(
        auth_server.uri(SPECIAL_USER, wrong, authSource="admin")))
    assert r.rc == 5, r
    assert_no_secret(r, SPECIAL_PASSWORD, wrong)


def test_unescaped_at_in_password_stays_hidden(sub, auth_server):
    """A password with a raw '@' is a common mistake; the command fails, but no part of
    the password may show up in the output (mongoc reads the tail as a host name)."""
    password = "Sup3r@H1dden-pw"
    uri = f"mongodb://rw:{password}@127.0.0.1:{auth_server.port}/?authSource=admin"
    for args in (("doctor", "--json"), ("doctor", "-v"), ("config",)):
        r = sub.run(*args, env=env_for(uri, SUBSETTER_SERVER_SELECTION_TIMEOUT_MS="2000"))
        if args[0] == "doctor":
            assert r.rc != 0, r
        assert_no_secret(r, password, "H1dden-pw")
