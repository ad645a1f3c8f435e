"""The embedded default: no FIFTYONE_DATABASE_URI, one mongod per SUBSETTER_HOME."""
import os
import shutil
import time
from pathlib import Path

import pymongo

from servers import MONGOD_VERSION, mongod_pids_for


def _env(home, **extra):
    return {"SUBSETTER_HOME": home, **extra}


def _ping(port):
    with pymongo.MongoClient("127.0.0.1", port, directConnection=True,
                             serverSelectionTimeoutMS=5000) as c:
        return c.admin.command("ping")


def _gone(pid, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        # A child of nobody we know may linger as a zombie until reaped by init.
        try:
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.1)
    return False


def test_lifecycle(sub, embedded_home):
    env = _env(embedded_home)
    dbpath = embedded_home / "var" / "lib" / "mongo"

    r = sub.run("db", "status", env=env)
    assert r.rc == 12, r
    assert "not running" in r.stdout, r
    r = sub.run("db", "status", "--json", env=env)
    assert r.rc == 12, r
    assert r.json()["running"] is False
    r = sub.run("db", "uri", env=env)
    assert r.rc == 12, r
    assert "not running" in r.stderr and "db start" in r.stderr, r

    r = sub.run("db", "start", "--json", env=env)
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True and j["running"] is True and j["action"] == "started", j
    pid, port, uri = j["pid"], j["port"], j["uri"]
    assert uri == f"mongodb://127.0.0.1:{port}/", j
    assert Path(j["dbpath"]).resolve() == dbpath.resolve(), j
    assert Path(j["dbpath"]).resolve().is_relative_to(embedded_home.resolve())
    assert Path(j["logpath"]).resolve().is_relative_to(embedded_home.resolve())
    assert _ping(port)["ok"] == 1
    assert mongod_pids_for(dbpath) == [pid]

    r = sub.run("db", "start", env=env)
    assert r.rc == 0, r
    assert "already running" in r.stdout and f"pid {pid}" in r.stdout and uri in r.stdout, r
    j = sub.run("db", "start", "--json", env=env).json()
    assert (j["action"], j["pid"], j["port"]) == ("already running", pid, port), j

    r = sub.run("db", "status", "--json", env=env)
    assert r.rc == 0, r
    assert (r.json()["running"], r.json()["pid"], r.json()["port"]) == (True, pid, port)

    r = sub.run("db", "uri", env=env)
    assert r.rc == 0, r
    assert r.stdout == uri + "\n", r

    r = sub.run("doctor", env=env)
    assert r.rc == 0, r
    assert "embedded mongod" in r.stdout and f"pid {pid}" in r.stdout, r
    assert f"MongoDB {MONGOD_VERSION}" in r.stdout, r
    assert "standalone" in r.stdout and "tls         off" in r.stdout, r
    assert "ok: subsetter can work with this database" in r.stdout, r
    j = sub.run("doctor", "--json", env=env).json()
    assert j["ok"] is True and j["embedded"] is True, j
    assert j["embedded_pid"] == pid and j["uri"] == uri, j
    assert j["server_version"] == MONGOD_VERSION and j["topology"] == "standalone", j
    assert j["tls"] is False, j
    assert mongod_pids_for(dbpath) == [pid], "doctor must reuse the running mongod"

    r = sub.run("db", "stop", "--json", env=env)
    assert r.rc == 0, r
    assert r.json()["action"] == "stopped" and r.json()["running"] is False, r
    assert _gone(pid), f"mongod {pid} still alive after db stop"
    assert mongod_pids_for(dbpath) == []
    r = sub.run("db", "status", env=env)
    assert r.rc == 12, r

    r = sub.run("db", "stop", env=env)
    assert r.rc == 0, r
    assert "was not running" in r.stdout, r


def test_command_starts_it_on_demand(sub, embedded_home):
    """Any command that needs the database starts the embedded mongod; data persists."""
    env = _env(embedded_home)
    r = sub.run("schema", "apply", "--json", env=env)
    assert r.rc == 0, r
    assert r.json()["changed"] is True
    st = sub.run("db", "status", "--json", env=env)
    assert st.rc == 0, st
    pid = st.json()["pid"]
    assert sub.run("db", "stop", env=env).rc == 0
    assert _gone(pid)
    # Restarted on the same data: the schemas are still there.
    r = sub.run("schema", "status", "--json", env=env)
    assert r.rc == 0, r
    assert r.json()["in_place"] is True, r
    assert sub.run("db", "status", "--json", env=env).json()["pid"] != pid


def test_concurrent_commands_share_one_mongod(sub, embedded_home):
    env = _env(embedded_home)
    dbpath = embedded_home / "var" / "lib" / "mongo"
    assert sub.run("db", "status", env=env).rc == 12
    procs = [sub.popen("doctor", "--json", env=env) for _ in range(3)]
    procs.append(sub.popen("db", "start", "--json", env=env))
    results = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        results.append((p.returncode, out, err))
    import json
    docs = []
    for rc, out, err in results:
        assert rc == 0, f"exit {rc}\n{out}\n{err}"
        docs.append(json.loads(out))
    pids = {d["embedded_pid"] for d in docs[:3]} | {docs[3]["pid"]}
    uris = {d["uri"] for d in docs}
    assert len(pids) == 1 and len(uris) == 1, docs
    pid = pids.pop()
    assert mongod_pids_for(dbpath) == [pid]
    starts = [d for d in docs[3:] if d["action"] == "started"]
    assert len(starts) <= 1


def test_concurrent_db_start(sub, embedded_home):
    env = _env(embedded_home)
    dbpath = embedded_home / "var" / "lib" / "mongo"
    procs = [sub.popen("db", "start", "--json", env=env) for _ in range(4)]
    import json
    docs = []
    for p in procs:
        out, err = p.communicate(timeout=240)
        assert p.returncode == 0, f"exit {p.returncode}\n{out}\n{err}"
        docs.append(json.loads(out))
    assert len({(d["pid"], d["port"]) for d in docs}) == 1, docs
    assert [d["action"] for d in docs].count("started") == 1, docs
    assert mongod_pids_for(dbpath) == [docs[0]["pid"]]
    assert _ping(docs[0]["port"])["ok"] == 1


def test_stale_state_is_not_trusted(sub, embedded_home):
    """A state file left by a mongod that died (kill -9) does not count as running."""
    env = _env(embedded_home)
    j = sub.run("db", "start", "--json", env=env).json()
    os.kill(j["pid"], 9)
    assert _gone(j["pid"])
    r = sub.run("db", "status", env=env)
    assert r.rc == 12, r
    r = sub.run("db", "start", "--json", env=env)
    assert r.rc == 0, r
    j2 = r.json()
    assert j2["action"] == "started" and j2["pid"] != j["pid"], j2
    assert _ping(j2["port"])["ok"] == 1


def test_missing_mongod_explicit(sub, embedded_home):
    r = sub.run("db", "start", env=_env(embedded_home, SUBSETTER_MONGOD="/nonexistent/mongod"))
    assert r.rc == 11, r
    assert "SUBSETTER_MONGOD" in r.stderr and "/nonexistent/mongod" in r.stderr, r
    r = sub.run("doctor", "--json",
                env=_env(embedded_home, SUBSETTER_MONGOD="/nonexistent/mongod"))
    assert r.rc == 11, r
    assert r.json()["error"]["code"] == "MONGOD" and r.json()["error"]["exit"] == 11, r


def test_missing_mongod_not_installed(sub, embedded_home, tmp_path):
    empty = tmp_path / "empty-cache"
    empty.mkdir()
    path = os.pathsep.join(d for d in os.environ.get("PATH", "").split(os.pathsep)
                           if d and not shutil.which("mongod", path=d))
    env = _env(embedded_home, SUBSETTER_CACHE_DIR=empty, PATH=path or "/usr/bin:/bin")
    for args in (("db", "start"), ("doctor",), ("schema", "status")):
        r = sub.run(*args, env=env)
        assert r.rc == 11, r
        assert "scripts/setup" in r.stderr, r
        assert str(empty) in r.stderr, r
    j = sub.run("db", "start", "--json", env=env).json()
    assert j["ok"] is False and j["error"]["exit"] == 11 and "scripts/setup" in j["error"]["message"]
    assert mongod_pids_for(embedded_home / "var" / "lib" / "mongo") == []


def test_db_notes_a_configured_uri(sub, embedded_home):
    r = sub.run("db", "status", env=_env(embedded_home,
                                         FIFTYONE_DATABASE_URI="mongodb://u:Sup3r-S3cret-pw@h/"))
    assert r.rc == 12, r
    assert "FIFTYONE_DATABASE_URI is set" in r.stderr, r
    assert "Sup3r-S3cret-pw" not in r.out, r
