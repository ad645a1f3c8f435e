"""The sub_http_fetch engine over HTTP/2 with TLS: ALPN negotiation, multiplexing, and
certificate checks that stay on.

A real HTTP/2 server (hypercorn, pinned in tests/requirements.txt, with a tiny ASGI app
written below) runs as a subprocess of this venv's python on 127.0.0.1 with a server
certificate signed by a test CA (servers.make_certs: SAN DNS:localhost, IP:127.0.0.1). It
offers ALPN "h2" and "http/1.1" and logs one JSON line per request: the HTTP version the
request came over, the connection (the client's address and port, one per TCP connection),
the path, and when the response started and ended. The C engine runs in
test_http_fetch_cli (see test_http_fetch.py), looked up in $SUBSETTER_TEST_BIN_DIR.

The CA reaches the engine only through the environment (CURL_CA_BUNDLE, or SSL_CERT_FILE),
as http_fetch.h documents; every CA variable of the parent environment is removed first,
and so are proxy variables (a proxy would hide the connections from the server).
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest
from PIL import Image

from servers import REPO_ROOT, _pdeathsig, make_certs

N_FILES = 12
CONCURRENCY = 6
RESPONSE_DELAY = 0.25  # seconds each response waits: makes concurrent streams overlap

CA_VARS = ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")

# The server, written to a file and run by this venv's python:
#   h2_server.py ROOT CERT KEY LOG   -> prints "listening PORT" once it accepts connections.
SERVER_SRC = r'''
import asyncio, json, os, socket, sys, time
from hypercorn.asyncio import serve
from hypercorn.config import Config

root, cert, key, log_path = sys.argv[1:5]
delay = float(sys.argv[5])
log = open(log_path, "a", buffering=1)

async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            msg = await receive()
            if msg["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif msg["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    t0 = time.monotonic()
    name = scope["path"].lstrip("/")
    path = os.path.join(root, name)
    if "/" in name or not name or not os.path.isfile(path):
        status, body, ctype = 404, b"not found\n", b"text/plain"
    else:
        with open(path, "rb") as fh:
            body = fh.read()
        status, ctype = 200, b"image/jpeg"
    await asyncio.sleep(delay)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
    client = scope.get("client") or ("?", 0)
    log.write(json.dumps({"http_version": scope["http_version"],
                          "connection": f"{client[0]}:{client[1]}",
                          "path": scope["path"], "status": status,
                          "t0": t0, "t1": time.monotonic()}) + "\n")

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
config = Config()
config.bind = [f"fd://{sock.fileno()}"]
config.certfile, config.keyfile = cert, key
config.alpn_protocols = ["h2", "http/1.1"]
config.accesslog = None
config.errorlog = "-"
config.loglevel = "WARNING"
print(f"listening {sock.getsockname()[1]}", flush=True)
asyncio.run(serve(app, config))
'''


def cli_binary() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "test_http_fetch_cli"


def jpeg(w: int, h: int, mode: str = "RGB") -> bytes:
    n = w * h * len(mode)
    img = Image.frombytes(mode, (w, h), bytes((i * 11) & 255 for i in range(n)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def md5_b64(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data).digest()).decode()


class H2Server:
    """The hypercorn server above on a free loopback port, serving `root` over TLS."""

    def __init__(self, work: Path, root: Path, cert: Path, key: Path):
        self.root = root
        self.log_path = work / "requests.jsonl"
        self.log_path.write_text("")
        self.stderr_path = work / "server.stderr"
        script = work / "h2_server.py"
        script.write_text(SERVER_SRC)
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, str(script), str(root), str(cert), str(key), str(self.log_path),
             str(RESPONSE_DELAY)],
            stdout=subprocess.PIPE, stderr=self._stderr, stdin=subprocess.DEVNULL, text=True,
            preexec_fn=_pdeathsig)
        try:
            line = self.proc.stdout.readline()  # EOF if it dies first
            if not line.startswith("listening "):
                raise RuntimeError(f"h2 server did not start: {line!r}; "
                                   f"stderr: {self.stderr_path.read_text()}")
            self.port = int(line.split()[1])
            self.url = f"https://127.0.0.1:{self.port}/"
            self._wait_tls()
        except BaseException:
            self.stop()
            raise

    def _wait_tls(self, timeout=10.0):
        """Waits until the server completes a TCP connect (hypercorn accepting)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise RuntimeError(f"h2 server not reachable on port {self.port}: "
                                       f"{self.stderr_path.read_text()}")
                time.sleep(0.05)

    def log(self) -> list[dict]:
        return [json.loads(line) for line in self.log_path.read_text().splitlines() if line]

    def reset(self):
        self.log_path.write_text("")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._stderr.close()


@pytest.fixture(scope="module")
def cli():
    b = cli_binary()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"test_http_fetch_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)
    return b


@pytest.fixture(scope="module")
def h2certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("h2certs"))


@pytest.fixture(scope="module")
def h2server(tmp_path_factory, h2certs):
    try:
        import hypercorn  # noqa: F401
    except ImportError:
        pytest.fail("hypercorn is not installed: pip install -r tests/requirements.txt",
                    pytrace=False)
    work = tmp_path_factory.mktemp("h2server")
    root = work / "files"
    root.mkdir()
    for i in range(N_FILES):
        (root / f"img{i:02d}.jpg").write_bytes(jpeg(48 + i, 32 + 3 * i, "L" if i % 4 == 3 else "RGB"))
    d = h2certs.dir
    srv = H2Server(work, root, d / "server.crt", d / "server.key")
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def srv(h2server):
    h2server.reset()
    return h2server


def engine_env(**ca) -> dict:
    """The parent environment without any CA or proxy variable, plus `ca`."""
    env = {k: v for k, v in os.environ.items()
           if k not in CA_VARS and k.lower() not in PROXY_VARS}
    env.update({k: str(v) for k, v in ca.items()})
    return env


def fetch(cli, jobs: list[dict], env: dict, *opts: str, timeout: float = 15) -> dict[int, dict]:
    stdin = "".join(json.dumps(j) + "\n" for j in jobs)
    p = subprocess.run([str(cli), *opts], input=stdin, capture_output=True, text=True,
                       timeout=timeout, env=env)
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(results) == len(jobs), p.stdout + p.stderr
    return {r["id"]: r for r in results}


def jobs_for(srv, out: Path, md5=True) -> list[dict]:
    jobs = []
    for i in range(N_FILES):
        name = f"img{i:02d}.jpg"
        url = {"url": srv.url + name}
        if md5:
            url["md5"] = md5_b64((srv.root / name).read_bytes())
        jobs.append({"id": i, "target": str(out / name), "urls": [url]})
    return jobs


def max_overlap(entries: list[dict]) -> int:
    """The most responses of `entries` in progress at one moment."""
    events = sorted([(e["t0"], 1) for e in entries] + [(e["t1"], -1) for e in entries],
                    key=lambda ev: (ev[0], ev[1]))
    cur = best = 0
    for _, d in events:
        cur += d
        best = max(best, cur)
    return best


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if ".part-" in p.name) if d.exists() else []


@pytest.mark.parametrize("ca_var", ["CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_h2_multiplexed_with_verified_tls(cli, srv, h2certs, tmp_path, ca_var):
    out = tmp_path / "out"
    jobs = jobs_for(srv, out)
    t0 = time.monotonic()
    res = fetch(cli, jobs, engine_env(**{ca_var: h2certs.ca}),
                "--concurrency", str(CONCURRENCY), "--per-host", str(CONCURRENCY))
    elapsed = time.monotonic() - t0

    for j in jobs:
        r, target = res[j["id"]], Path(j["target"])
        assert (r["outcome"], r["reason"], r["status"]) == ("ok", "ok", 200), r
        assert r["url"] == j["urls"][0]["url"]
        data = (srv.root / target.name).read_bytes()
        assert target.read_bytes() == data
        assert r["bytes"] == len(data)
        with Image.open(target) as img:
            assert (r["metadata"]["width"], r["metadata"]["height"]) == img.size
        assert r["metadata"]["mime_type"] == "image/jpeg"
    assert leftovers(out) == []

    log = srv.log()
    assert sorted(e["path"] for e in log) == sorted(f"/img{i:02d}.jpg" for i in range(N_FILES))
    versions = {e["http_version"] for e in log}
    assert versions == {"2"}, f"server saw HTTP versions {versions}, not only HTTP/2: {log}"

    by_conn = defaultdict(list)
    for e in log:
        by_conn[e["connection"]].append(e)
    assert len(by_conn) < len(log), \
        f"{len(log)} requests over {len(by_conn)} connections: no reuse/multiplexing"
    # Multiplexing proper (not just keep-alive): responses in progress at the same time on
    # one connection, which HTTP/1.1 cannot do.
    overlap = max(max_overlap(v) for v in by_conn.values())
    assert overlap >= 2, f"no two streams overlapped on any connection: {dict(by_conn)}"
    # Six at a time, each response held RESPONSE_DELAY: two rounds, not twelve.
    assert elapsed < N_FILES * RESPONSE_DELAY, f"took {elapsed:.2f}s: transfers were serialized"


@pytest.mark.parametrize("ca", ["none", "other_ca"])
def test_h2_untrusted_certificate_fails_tls(cli, srv, h2certs, tmp_path, ca):
    env = engine_env() if ca == "none" else engine_env(CURL_CA_BUNDLE=h2certs.other_ca)
    out = tmp_path / "out"
    jobs = jobs_for(srv, out, md5=False)
    res = fetch(cli, jobs, env, "--concurrency", str(CONCURRENCY),
                "--per-host", str(CONCURRENCY))
    for j in jobs:
        r = res[j["id"]]
        assert (r["outcome"], r["reason"], r["status"]) == ("permanent", "tls", 0), r
        assert not Path(j["target"]).exists()
    assert leftovers(out) == []
    assert srv.log() == [], "a request got through an unverified TLS connection"
