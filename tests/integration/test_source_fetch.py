"""sub_source_fetch() against a real HTTP server: scripts/mirror-server with scripted faults.

The C code runs in test_source_fetch_cli (tests/unit/source_fetch_main.c), looked up in
$SUBSETTER_TEST_BIN_DIR (default build/debug under the repository). It prints the
sub_source_t it got as JSON and exits with the error's exit code. Every test has its own
cache directory; the server (one per module) gets its fault script and request log reset
before each test, and its log is how the tests see what went over the wire.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from pathlib import Path

import pytest

from mirror_server import MirrorServer as Mirror
from servers import REPO_ROOT, clean_env

FILE = "v5/class-descriptions-boxable.csv"
SIZE = 3_000_000
FAST = ["--retry-base-ms", "100", "--retry-max-ms", "3000"]


def cli_binary() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "test_source_fetch_cli"


def content(seed: int, size: int = SIZE) -> bytes:
    out, block, i = bytearray(), hashlib.sha256(str(seed).encode()).digest(), 0
    while len(out) < size:
        out += hashlib.sha256(block + i.to_bytes(8, "little")).digest()
        i += 1
    return bytes(out[:size])


def put(path: Path, data: bytes, mtime: float | None = None):
    """Writes a new version: another inode and mtime, so another ETag."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".new")
    tmp.write_bytes(data)
    if mtime is not None:
        os.utime(tmp, (mtime, mtime))
    tmp.replace(path)


@pytest.fixture(scope="module")
def cli():
    b = cli_binary()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"test_source_fetch_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)
    return b


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    if not (REPO_ROOT / "scripts" / "mirror-server").is_file():
        pytest.fail("scripts/mirror-server is missing", pytrace=False)
    root = tmp_path_factory.mktemp("mirror")
    put(root / FILE, content(1))
    m = Mirror(root)
    yield m
    m.stop()


@pytest.fixture
def srv(mirror):
    """The module's server with no faults and an empty log; the standard file restored."""
    mirror.reset()
    if (mirror.root / FILE).read_bytes() != content(1):
        put(mirror.root / FILE, content(1))
    return mirror


class Fetch:
    def __init__(self, cli: Path, tmp: Path):
        self.cli = cli
        self.tmp = tmp
        self.cache = tmp / "cache"

    def __call__(self, base, rel=FILE, *opts, env=None, timeout=120):
        argv = [str(self.cli), *FAST, *opts, str(base), rel, str(self.cache)]
        p = subprocess.run(argv, cwd=self.tmp, env=clean_env(self.tmp, env),
                           capture_output=True, text=True, timeout=timeout)
        try:
            res = json.loads(p.stdout)
        except json.JSONDecodeError:
            raise AssertionError(f"no JSON from {argv}: rc={p.returncode} "
                                 f"stdout={p.stdout!r} stderr={p.stderr!r}") from None
        res["rc"], res["stderr"] = p.returncode, p.stderr
        return res

    def path(self, srv, rel=FILE) -> Path:
        host = srv.url.split("//")[1].rstrip("/").replace(":", "_")
        return self.cache / "sources" / host / rel


@pytest.fixture
def fetch(cli, tmp_path):
    return Fetch(cli, tmp_path)


def gets(log):
    return [e for e in log if e["method"] == "GET"]


def check_ok(r, data: bytes, fetch: Fetch, srv, rel=FILE):
    assert r["rc"] == 0 and r["ok"], r
    assert r["sha256"] == hashlib.sha256(data).hexdigest(), r
    assert r["size"] == len(data)
    assert r["url"] == srv.url + rel
    assert r["path"] == str(fetch.path(srv, rel))
    assert Path(r["path"]).read_bytes() == data
    assert not Path(r["path"] + ".part").exists()


def test_plain_download(fetch, srv):
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    assert r["downloaded"] and r["transferred"] == SIZE and r["resumed_from"] == 0, r
    assert r["etag"] and r["last_modified"], r
    log = srv.log()
    assert [(e["method"], e["range"], e["status"]) for e in log] == [("GET", None, 200)], log


def test_second_fetch_transfers_nothing(fetch, srv):
    check_ok(fetch(srv.url), content(1), fetch, srv)
    srv.reset()
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    assert not r["downloaded"] and r["transferred"] == 0 and r["requests"] == 1, r
    log = srv.log()
    assert [(e["method"], e["bytes"]) for e in log] == [("HEAD", 0)], log


def test_changed_remote_is_downloaded_again(fetch, srv):
    check_ok(fetch(srv.url), content(1), fetch, srv)
    put(srv.root / FILE, content(2))
    srv.reset()
    r = fetch(srv.url)
    check_ok(r, content(2), fetch, srv)
    assert r["downloaded"] and r["transferred"] == SIZE, r
    assert [e["method"] for e in srv.log()] == ["HEAD", "GET"]


def test_truncated_body_resumes_with_range(fetch, srv):
    srv.faults({"/" + FILE: [{"truncate_after": 1_000_000}]})
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    assert r["resumed_from"] == 1_000_000 and r["requests"] == 2, r
    log = gets(srv.log())
    assert [(e["range"], e["status"]) for e in log] == [(None, 200), ("bytes=1000000-", 206)], log
    assert log[0]["truncated"] and log[1]["bytes"] == SIZE - 1_000_000, log


def test_part_left_by_an_earlier_run_is_resumed(fetch, srv):
    srv.faults({"/" + FILE: [{"truncate_after": 700_000}]})
    r = fetch(srv.url, FILE, "--max-attempts", "1")
    assert r["rc"] == 10 and not r["ok"], r
    assert "(gave up after 1 attempt)" in r["message"], r
    part = Path(str(fetch.path(srv)) + ".part")
    assert part.stat().st_size == 700_000
    srv.reset()
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    assert r["resumed_from"] == 700_000 and r["transferred"] == SIZE - 700_000, r
    assert [(e["range"], e["status"]) for e in srv.log()] == [("bytes=700000-", 206)]


def test_stale_part_of_a_changed_file_restarts_from_zero(fetch, srv):
    srv.faults({"/" + FILE: [{"truncate_after": 700_000}]})
    assert fetch(srv.url, FILE, "--max-attempts", "1")["rc"] == 10
    put(srv.root / FILE, content(3))  # same size, new ETag
    srv.reset()
    r = fetch(srv.url)
    check_ok(r, content(3), fetch, srv)
    assert r["resumed_from"] == 0 and r["transferred"] == SIZE, r
    # If-Range with the old ETag: the server answers the range request with the whole file
    log = srv.log()
    assert [(e["range"], e["status"], e["bytes"]) for e in log] == \
        [("bytes=700000-", 200, SIZE)], log


def test_503_twice_then_ok(fetch, srv):
    srv.faults({"/" + FILE: [{"status": 503}, {"status": 503}]})
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    assert r["requests"] == 3, r
    assert [e["status"] for e in srv.log()] == [503, 503, 200]
    assert r["stderr"].count("HTTP 503; retrying in") == 2, r["stderr"]
    assert r["seconds"] >= 0.05 + 0.1  # two backoffs: 50-100 ms, then 100-200 ms


def test_429_waits_for_retry_after(fetch, srv):
    srv.faults({"/" + FILE: [{"status": 429, "retry_after": 1}]})
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    assert r["seconds"] >= 1.0, r
    assert [e["status"] for e in srv.log()] == [429, 200]


def test_404_fails_fast(fetch, srv):
    r = fetch(srv.url, "v5/missing.csv")
    assert r["rc"] == 10 and not r["ok"] and r["code"] == "IO", r
    assert r["message"] == f"GET {srv.url}v5/missing.csv: HTTP 404", r
    assert r["seconds"] < 1.0 and r["requests"] == 1, r
    assert len(srv.log()) == 1
    assert not fetch.path(srv, "v5/missing.csv").exists()
    assert not Path(str(fetch.path(srv, "v5/missing.csv")) + ".part").exists()


@pytest.mark.parametrize("status", [403, 410])
def test_other_4xx_fail_fast(fetch, srv, status):
    srv.faults({"/" + FILE: [{"status": status}]})
    r = fetch(srv.url)
    assert r["rc"] == 10 and r["message"] == f"GET {srv.url}{FILE}: HTTP {status}", r
    assert len(srv.log()) == 1


def test_retries_run_out(fetch, srv):
    srv.faults({"/" + FILE: [{"status": 500}] * 3})
    r = fetch(srv.url, FILE, "--max-attempts", "3")
    assert r["rc"] == 10, r
    assert r["message"] == f"GET {srv.url}{FILE}: HTTP 500 (gave up after 3 attempts)", r
    assert len(srv.log()) == 3


def test_connection_reset_is_retried(fetch, srv):
    srv.faults({"/" + FILE: [{"reset": True}, {"reset": True}]})
    r = fetch(srv.url)
    check_ok(r, content(1), fetch, srv)
    log = srv.log()
    assert [bool(e.get("reset")) for e in log] == [True, True, False], log
    assert log[-1]["status"] == 200


def test_connection_refused_is_retried(fetch):
    import socket
    with socket.socket() as s:  # a port that nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    r = fetch(f"http://127.0.0.1:{port}/", FILE, "--max-attempts", "3")
    assert r["rc"] == 10 and r["requests"] == 3, r
    assert r["message"].startswith(f"GET http://127.0.0.1:{port}/{FILE}: "), r
    assert r["message"].endswith("(gave up after 3 attempts)"), r


def test_redirect_is_followed(fetch, srv):
    alias = "v5/alias.csv"
    srv.faults({"/" + alias: [{"redirect": "/" + FILE}]})
    r = fetch(srv.url, alias)
    check_ok(r, content(1), fetch, srv, rel=alias)  # cached under the name asked for
    assert [(e["path"], e["status"]) for e in srv.log()] == [("/" + alias, 302),
                                                             ("/" + FILE, 200)]


def test_stalled_transfer_is_aborted_and_resumed(fetch, srv):
    srv.faults({"/" + FILE: [{"slow": 20_000}]})
    r = fetch(srv.url, FILE, "--low-speed-bytes", "100000", "--low-speed-secs", "1")
    check_ok(r, content(1), fetch, srv)
    log = gets(srv.log())  # in the order the server finished them: the slow one may be last
    slow = [e for e in log if e["fault"]]
    resumed = [e for e in log if not e["fault"]]
    assert len(slow) == 1 and slow[0]["aborted"] and slow[0]["bytes"] > 0, log
    assert r["resumed_from"] > 0, r
    assert [e["range"] for e in resumed] == [f"bytes={r['resumed_from']}-"], log
    assert "Operation too slow" in r["stderr"], r["stderr"]


def test_local_directory_base(fetch, srv):
    r = fetch(srv.root)
    assert r["rc"] == 0 and not r["remote"] and r["requests"] == 0, r
    assert r["path"] == r["url"] == str(srv.root / FILE)
    assert r["sha256"] == hashlib.sha256(content(1)).hexdigest()
    r = fetch(f"file://{srv.root}/", "v5/nope.csv")
    assert r["rc"] == 10, r
    assert r["message"] == f"source file {srv.root}/v5/nope.csv not found " \
                           f"(base file://{srv.root}/)", r


def test_bad_relative_path_is_a_config_error(fetch, srv):
    r = fetch(srv.url, "../../etc/passwd")
    assert r["rc"] == 3 and r["code"] == "CONFIG", r
    assert srv.log() == []


# ---------------------------------------------------------------------------------------
# TLS: certificates are checked; CURL_CA_BUNDLE / SSL_CERT_FILE name the CA to trust
# ---------------------------------------------------------------------------------------

@pytest.fixture
def https_root(tmp_path, certs):
    """A minimal HTTPS file server (the mirror-server speaks plain HTTP only)."""
    import functools
    import http.server
    import ssl
    import threading
    root = tmp_path / "https-root"
    put(root / FILE, content(4, 10_000))

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs.server))
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    yield f"https://localhost:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_tls_untrusted_certificate_fails(fetch, https_root, certs):
    r = fetch(https_root, FILE, env={"CURL_CA_BUNDLE": certs.other_ca})
    assert r["rc"] == 6 and r["code"] == "TLS", r
    assert "certificate" in r["message"], r
    assert r["requests"] == 1, r  # not retried
    r = fetch(https_root)  # the system CAs do not know the test CA either
    assert r["rc"] == 6, r


@pytest.mark.parametrize("var", ["CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_tls_ca_from_environment(fetch, https_root, certs, var):
    r = fetch(https_root, FILE, env={var: certs.ca})
    assert r["rc"] == 0, r
    assert r["sha256"] == hashlib.sha256(content(4, 10_000)).hexdigest()


# ---------------------------------------------------------------------------------------
# subsetter.sources: the document passes the collection's validator
# ---------------------------------------------------------------------------------------

def test_record_in_sources(fetch, srv, sub, plain_server, fresh_db):
    env = {"FIFTYONE_DATABASE_URI": plain_server.uri(), "FIFTYONE_DATABASE_NAME": fresh_db}
    assert sub.run("schema", "apply", env=env).rc == 0  # the validator is in force
    rec = ["--record", plain_server.uri(), fresh_db, "oi-small", "classes", "-", "downloaded"]
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0, tzinfo=None)
    r = fetch(srv.url, FILE, *rec)
    assert r["rc"] == 0 and r["recorded"] == "yes", r
    with plain_server.client() as c:
        docs = list(c[fresh_db]["subsetter.sources"].find())
        assert len(docs) == 1
        d = docs[0]
        assert d["url"] == srv.url + FILE and d["dataset"] == "oi-small"
        assert d["sha256"] == r["sha256"] and d["size"] == SIZE and d["path"] == r["path"]
        assert d["etag"] == r["etag"] and d["last_modified"] == r["last_modified"]
        assert d["kind"] == "classes" and d["split"] == "-" and d["state"] == "downloaded"
        assert d["updated_at"] >= before
        # again: the same document, updated
        assert fetch(srv.url, FILE, *rec)["recorded"] == "yes"
        assert c[fresh_db]["subsetter.sources"].count_documents({}) == 1
        # a failure is recorded with its message
        r = fetch(srv.url, "v5/missing.csv", *rec)
        assert r["rc"] == 10 and r["recorded"] == "yes", r
        d = c[fresh_db]["subsetter.sources"].find_one({"url": srv.url + "v5/missing.csv"})
        assert d["state"] == "failed" and d["error"] == r["message"], d
