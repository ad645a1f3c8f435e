"""The sub_http_fetch engine against a real HTTP server: scripts/mirror-server with faults.

The C code runs in test_http_fetch_cli (tests/unit/http_fetch_main.c), looked up in
$SUBSETTER_TEST_BIN_DIR (default build/debug under the repository): it reads jobs as JSON
lines on stdin and prints one JSON line per finished job (outcome, reason, status,
retry_after, url, metadata...). The images are written here with Pillow. One server per
module; its fault script and request log are reset before each test, and the log is how
the tests see what went over the wire.
"""
from __future__ import annotations

import email.utils
import io
import json
import os
import subprocess
import time
from pathlib import Path

import pytest
from PIL import Image

from mirror_server import MirrorServer as Mirror
from servers import REPO_ROOT

N_IMAGES = 24


def cli_binary() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "test_http_fetch_cli"


def jpeg(w: int, h: int, mode: str = "RGB", noise: bool = False) -> bytes:
    """A JPEG of a pattern, or of noise (which JPEG cannot shrink much)."""
    n = w * h * len(mode)
    img = Image.frombytes(mode, (w, h), os.urandom(n) if noise else
                          bytes((i * 7) & 255 for i in range(n)))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90)
    return buf.getvalue()


def png(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (128, 128, 128)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def cli():
    b = cli_binary()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"test_http_fetch_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)
    return b


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirror")
    for i in range(N_IMAGES):
        mode = "L" if i % 4 == 3 else "RGB"
        (root / f"img{i:02d}.jpg").write_bytes(jpeg(40 + i, 30 + 2 * i, mode))
    (root / "big.jpg").write_bytes(jpeg(400, 300, noise=True))  # noise: ~100 KB
    (root / "ph.jpg").write_bytes(png(64, 48))
    (root / "page.jpg").write_bytes(b"<!doctype html><html><body>Not here</body></html>\n")
    m = Mirror(root)
    yield m
    m.stop()


@pytest.fixture
def srv(mirror):
    mirror.reset()
    return mirror


def fetch(cli, jobs: list[dict], *opts: str, timeout: float = 60) -> dict[int, dict]:
    """Runs the driver on the jobs; returns its results by job id."""
    stdin = "".join(json.dumps(j) + "\n" for j in jobs)
    p = subprocess.run([str(cli), *opts], input=stdin, capture_output=True, text=True,
                       timeout=timeout)
    assert p.returncode == 0, p.stderr
    results = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(results) == len(jobs), p.stdout + p.stderr
    return {r["id"]: r for r in results}


def job(i: int, target: Path, *urls) -> dict:
    return {"id": i, "target": str(target), "urls": list(urls)}


def leftovers(d: Path) -> list[str]:
    return sorted(p.name for p in d.rglob("*") if ".part-" in p.name) if d.exists() else []


def one(cli, srv, tmp_path, path: str, *opts: str, faults=None, target_name="a.jpg"):
    """One job for srv.url + path; returns its result, after checking no temp file is left."""
    if faults:
        srv.faults({"/" + path: faults})
    target = tmp_path / "out" / target_name
    r = fetch(cli, [job(1, target, srv.url + path)], *opts)[1]
    assert leftovers(tmp_path / "out") == []
    if r["outcome"] != "ok":
        assert not target.exists()
    return r


def gets(srv, path: str) -> list[dict]:
    return [e for e in srv.log() if e["path"] == "/" + path]


def settle(srv, path: str):
    """Waits until the server has logged its (slow, aborted) response of path, so that it
    does not show up late in the next test's log."""
    deadline = time.monotonic() + 20
    while not gets(srv, path) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_many_files_with_limits_and_reuse(cli, srv, tmp_path):
    jobs = [job(i, tmp_path / "out" / f"{i % 3}" / f"img{i:02d}.jpg", srv.url + f"img{i:02d}.jpg")
            for i in range(N_IMAGES)]
    res = fetch(cli, jobs, "--concurrency", "8", "--per-host", "2")
    for i in range(N_IMAGES):
        r, target = res[i], Path(jobs[i]["target"])
        assert r["outcome"] == "ok", r
        assert target.read_bytes() == (srv.root / f"img{i:02d}.jpg").read_bytes()
        with Image.open(target) as img:
            assert (r["metadata"]["width"], r["metadata"]["height"]) == img.size
            assert r["metadata"]["num_channels"] == len(img.getbands())
        assert r["metadata"]["size_bytes"] == target.stat().st_size
        assert r["metadata"]["mime_type"] == "image/jpeg"
    log = srv.log()
    assert len(log) == N_IMAGES
    conns = {e["connection"] for e in log}
    assert len(conns) <= 2, conns  # per-host limit, and keep-alive reuse
    assert leftovers(tmp_path / "out") == []


def test_already_present_makes_no_request(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "img01.jpg")
    assert r["outcome"] == "ok" and r["reason"] == "ok"
    srv.reset()
    r = one(cli, srv, tmp_path, "img01.jpg")
    assert r["outcome"] == "ok" and r["reason"] == "present" and r["url"] is None
    assert srv.log() == []


def test_404_is_permanent_after_one_request(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "missing.jpg")
    assert (r["outcome"], r["reason"], r["status"]) == ("permanent", "http_404", 404)
    assert len(gets(srv, "missing.jpg")) == 1


def test_410_and_403_are_permanent(cli, srv, tmp_path):
    for status in (403, 410):
        srv.reset()
        r = one(cli, srv, tmp_path, "img02.jpg", faults=[{"status": status}])
        assert (r["outcome"], r["reason"], r["status"]) == ("permanent", f"http_{status}", status)


def test_503_is_transient_then_ok_when_readded(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "img03.jpg", faults=[{"status": 503}])
    assert (r["outcome"], r["reason"], r["status"]) == ("transient", "http_503", 503)
    assert r["retry_after"] == -1
    r = one(cli, srv, tmp_path, "img03.jpg")
    assert r["outcome"] == "ok"


def test_429_retry_after_seconds(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "img04.jpg", faults=[{"status": 429, "retry_after": 7}])
    assert (r["outcome"], r["reason"], r["status"], r["retry_after"]) == \
        ("transient", "http_429", 429, 7)


def test_503_retry_after_http_date(cli, srv, tmp_path):
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    r = one(cli, srv, tmp_path, "img04.jpg", faults=[{"status": 503, "retry_after": when}])
    assert r["outcome"] == "transient"
    assert 100 <= r["retry_after"] <= 121, r


def test_truncated_body_is_transient(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "big.jpg", faults=[{"truncate_after": 5000}])
    assert (r["outcome"], r["reason"]) == ("transient", "truncated"), r
    assert r["status"] == 200


def test_reset_is_transient(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "img05.jpg", faults=[{"reset": True}])
    assert (r["outcome"], r["reason"]) == ("transient", "reset"), r


def test_redirect_followed(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "old/img06.jpg", faults=[{"redirect": "/img06.jpg"}])
    assert r["outcome"] == "ok", r
    assert r["url"] == srv.url + "old/img06.jpg"
    assert (tmp_path / "out" / "a.jpg").read_bytes() == (srv.root / "img06.jpg").read_bytes()
    assert [e["path"] for e in srv.log()] == ["/old/img06.jpg", "/img06.jpg"]


def test_too_many_redirects(cli, srv, tmp_path):
    srv.faults({"/r1.jpg": [{"redirect": "/r2.jpg"}], "/r2.jpg": [{"redirect": "/r3.jpg"}],
                "/r3.jpg": [{"redirect": "/img07.jpg"}]})
    r = one(cli, srv, tmp_path, "r1.jpg", "--max-redirects", "2")
    assert (r["outcome"], r["reason"]) == ("permanent", "redirects"), r


def test_redirect_to_placeholder(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "img08.jpg",
            faults=[{"redirect": "/images/en-us/photo_unavailable.png"}])
    assert (r["outcome"], r["reason"]) == ("permanent", "placeholder"), r
    assert [e["path"] for e in srv.log()] == ["/img08.jpg"]  # not followed


def test_png_placeholder_body(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "ph.jpg")
    assert (r["outcome"], r["reason"]) == ("permanent", "placeholder"), r


def test_slow_server_times_out(cli, srv, tmp_path):
    t0 = time.monotonic()
    r = one(cli, srv, tmp_path, "big.jpg", "--low-speed-bytes", "2000", "--low-speed-secs", "1",
            faults=[{"slow": 200}])
    assert (r["outcome"], r["reason"]) == ("transient", "timeout"), r
    assert time.monotonic() - t0 < 15
    settle(srv, "big.jpg")


def test_html_page_is_not_image(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "page.jpg", faults=[{"content_type": "text/html"}])
    assert (r["outcome"], r["reason"]) == ("permanent", "not_image"), r


def test_size_cap(cli, srv, tmp_path):
    r = one(cli, srv, tmp_path, "big.jpg", "--max-bytes", "10000")
    assert (r["outcome"], r["reason"]) == ("permanent", "too_large"), r
    assert len(gets(srv, "big.jpg")) == 1


def test_fallback_after_404(cli, srv, tmp_path):
    target = tmp_path / "out" / "a.jpg"
    r = fetch(cli, [job(1, target, srv.url + "missing.jpg", srv.url + "img09.jpg")])[1]
    assert r["outcome"] == "ok" and r["url_index"] == 1, r
    assert r["url"] == srv.url + "img09.jpg"
    assert target.read_bytes() == (srv.root / "img09.jpg").read_bytes()
    assert [e["path"] for e in srv.log()] == ["/missing.jpg", "/img09.jpg"]


def test_no_fallback_after_transient(cli, srv, tmp_path):
    srv.faults({"/img10.jpg": [{"status": 500}]})
    target = tmp_path / "out" / "a.jpg"
    r = fetch(cli, [job(1, target, srv.url + "img10.jpg", srv.url + "img11.jpg")])[1]
    assert (r["outcome"], r["reason"], r["url_index"]) == ("transient", "http_500", 0), r
    assert [e["path"] for e in srv.log()] == ["/img10.jpg"]


def test_md5_per_url(cli, srv, tmp_path):
    import base64
    import hashlib
    data = (srv.root / "img12.jpg").read_bytes()
    good = base64.b64encode(hashlib.md5(data).digest()).decode()
    target = tmp_path / "out" / "a.jpg"
    r = fetch(cli, [job(1, target, {"url": srv.url + "img12.jpg", "md5": good})])[1]
    assert r["outcome"] == "ok", r
    target.unlink()
    bad = {"url": srv.url + "img12.jpg", "md5": "AAAAAAAAAAAAAAAAAAAAAA=="}
    r = fetch(cli, [job(1, target, bad)])[1]
    assert (r["outcome"], r["reason"]) == ("permanent", "md5_mismatch"), r
    assert not target.exists() and leftovers(tmp_path / "out") == []


def test_cancel_in_flight(cli, srv, tmp_path):
    srv.faults({"/big.jpg": [{"slow": 20000}]})
    jobs = [job(1, tmp_path / "out" / "big.jpg", srv.url + "big.jpg"),
            job(2, tmp_path / "out" / "b.jpg", srv.url + "img13.jpg")]
    res = fetch(cli, jobs, "--cancel-after-ms", "700", "--per-host", "1")
    assert (res[1]["outcome"], res[1]["reason"]) == ("transient", "cancelled"), res[1]
    assert res[2]["outcome"] in ("transient", "ok")
    assert not (tmp_path / "out" / "big.jpg").exists()
    assert leftovers(tmp_path / "out") == []
    settle(srv, "big.jpg")
