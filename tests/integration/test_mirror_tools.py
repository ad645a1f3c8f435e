"""scripts/make-mirror and scripts/mirror-server: the synthetic Open Images mirror and the
HTTP server that serves it with faults.

Self-contained: imports nothing from conftest.py/servers.py or scripts/lib; runs both
scripts as subprocesses and stops every server it starts. The recount below parses the
files with the csv module and its own validity rules, independently of the generator.
"""
from __future__ import annotations

import csv
import email.utils
import hashlib
import http.client
import json
import re
import select
import shutil
import socket
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MAKE = ROOT / "scripts" / "make-mirror"
SERVE = ROOT / "scripts" / "mirror-server"

SPLITS = ("train", "validation", "test")
CLASSES = "v5/class-descriptions-boxable.csv"
HIERARCHY = "2018_04/bbox_labels_600_hierarchy.json"
IMAGE_LISTS = {
    "train": "2018_04/train/train-images-boxable-with-rotation.csv",
    "validation": "2018_04/validation/validation-images-with-rotation.csv",
    "test": "2018_04/test/test-images-with-rotation.csv",
}
LABELS = {s: f"v5/{s}-annotations-human-imagelabels-boxable.csv" for s in SPLITS}
ALL_FILES = [CLASSES, HIERARCHY] + [p for s in SPLITS for p in (IMAGE_LISTS[s], LABELS[s])]
IMAGE_HEADER = ["ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License",
                "AuthorProfileURL", "Author", "Title", "OriginalSize", "OriginalMD5",
                "Thumbnail300KURL", "Rotation"]
LABEL_HEADER = ["ImageID", "Source", "LabelName", "Confidence"]
HEX16 = re.compile(r"[0-9a-f]{16}\Z")
ROOT_MID = "/m/0bl9f"

SMALL = ["--train", "400", "--validation", "60", "--test", "90", "--seed", "3"]
BAD = 8  # planted bad rows per file


def make(out: Path, *args: str) -> dict:
    r = subprocess.run([str(MAKE), str(out), *args], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads((out / "mirror-manifest.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def mirrors(tmp_path_factory):
    base = tmp_path_factory.mktemp("mirrors")
    variants = {
        "a": SMALL + ["--bad-rows", str(BAD)],
        "a2": SMALL + ["--bad-rows", str(BAD)],
        "unsorted": SMALL + ["--bad-rows", str(BAD), "--unsorted-labels"],
        "crlf": SMALL + ["--bad-rows", str(BAD), "--crlf"],
        "crlf_unsorted": SMALL + ["--bad-rows", str(BAD), "--crlf", "--unsorted-labels"],
        "header": SMALL + ["--bad-rows", str(BAD), "--header-on-classes"],
        "seed4": SMALL[:-1] + ["4", "--bad-rows", str(BAD)],
    }
    out = {}
    for name, args in variants.items():
        d = base / name
        out[name] = (d, make(d, *args))
    return out


def tree_bytes(d: Path) -> dict:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*"))
            if p.is_file()}


# ---------------------------------------------------------------------------- recount


def records(path: Path, spans=None):
    """(first physical line, fields) of each CSV record, header included; records the
    last physical line of each record in `spans` {first: last} when given."""
    with open(path, newline="", encoding="utf-8") as f:
        r = csv.reader(f)
        prev = 0
        for rec in r:
            if spans is not None:
                spans[prev + 1] = r.line_num
            yield prev + 1, rec
            prev = r.line_num


def recount(d: Path, man: dict) -> dict:
    """Recounts a mirror from its files; returns what the manifest should say."""
    bad, spans = set(), {}
    cls_rows = list(records(d / CLASSES))
    if man["classes"]["header"]:
        assert cls_rows[0][1] == ["LabelName", "DisplayName"]
        cls_rows = cls_rows[1:]
    classes = {}
    for _, rec in cls_rows:
        assert len(rec) == 2 and rec[0] not in classes
        classes[rec[0]] = rec[1]
    got = {"classes": len(classes), "splits": {}, "by_mid": {}}
    by_mid = {m: {s: Counter() for s in SPLITS} for m in classes}
    all_ids = set()
    for s in SPLITS:
        # image list
        spans[IMAGE_LISTS[s]] = sp = {}
        rows = records(d / IMAGE_LISTS[s], sp)
        assert next(rows)[1] == IMAGE_HEADER
        ids, quirks, last = [], Counter(), ""
        for line, rec in rows:
            if len(rec) != 12 or not HEX16.match(rec[0]) or rec[0] in all_ids:
                bad.add((IMAGE_LISTS[s], line))
                continue
            assert rec[1] == s and rec[0] > last  # sorted by ImageID
            last = rec[0]
            all_ids.add(rec[0])
            ids.append(rec[0])
            int(rec[8])
            assert len(rec[9]) == 24 and rec[9].endswith("==")
            assert rec[11] in ("", "0.0", "90.0", "180.0", "270.0")
            quirks["rotation_empty"] += rec[11] == ""
            quirks["rotation_nonzero"] += rec[11] not in ("", "0.0")
            quirks["thumb_empty"] += rec[10] == ""
            quirks["thumb_zz"] += rec[10].endswith("?zz=1")
            quirks["title_multiline"] += "\n" in rec[7]
            quirks["author_empty"] += rec[6] == ""
            quirks["title_empty"] += rec[7] == ""
        id_set = set(ids)
        # labels
        spans[LABELS[s]] = sp = {}
        rows = records(d / LABELS[s], sp)
        assert next(rows)[1] == LABEL_HEADER
        seen, per_image = set(), {}
        sources, spellings = Counter(), Counter()
        for line, rec in rows:
            ok = (len(rec) == 4 and HEX16.match(rec[0]) is not None and rec[2] in classes)
            if ok:
                try:
                    conf = float(rec[3])
                except ValueError:
                    ok = False
            if not ok or tuple(rec) in seen:
                bad.add((LABELS[s], line))
                continue
            seen.add(tuple(rec))
            assert rec[0] in id_set, f"label row for an unknown image: {rec}"
            per_image.setdefault(rec[0], []).append((rec[2], conf > 0.1))
            sources[rec[1]] += 1
            spellings[rec[3]] += 1
        one_pos = 0
        for iid, labs in per_image.items():
            pos = [m for m, p in labs if p]
            for m, p in labs:
                by_mid[m][s]["positive" if p else "negative"] += 1
            if len(pos) == 1:
                one_pos += 1
                by_mid[pos[0]][s]["single_positive"] += 1
        n_rows = sum(len(v) for v in per_image.values())
        n_pos = sum(p for v in per_image.values() for _, p in v)
        got["splits"][s] = {
            "images": len(ids), "label_rows": n_rows, "positives": n_pos,
            "negatives": n_rows - n_pos, "images_with_labels": len(per_image),
            "images_without_labels": len(ids) - len(per_image),
            "images_with_one_positive": one_pos,
            "max_label_rows_per_image": max((len(v) for v in per_image.values()), default=0),
            "sources": dict(sources), "confidence_spellings": dict(spellings),
            "image_list_quirks": dict(quirks),
        }
    got["by_mid"] = {m: {s: {k: v[s][k] for k in ("positive", "negative", "single_positive")}
                         for s in SPLITS} for m, v in by_mid.items()}
    got["by_name"] = {}
    for m, v in got["by_mid"].items():
        e = got["by_name"].setdefault(classes[m], {s: Counter() for s in SPLITS})
        for s in SPLITS:
            e[s].update(v[s])
    got["bad"] = bad
    assert all(spans[f][line] == line for f, line in bad), "a bad row spans lines"
    got["classes_map"] = classes
    return got


def check_against_manifest(d: Path, man: dict):
    got = recount(d, man)
    assert got["classes"] == man["classes"]["count"]
    for s in SPLITS:
        want = {k: v for k, v in man["splits"][s].items()
                if k not in ("image_list", "labels", "bad_rows")}
        # the recount sees only zero-valued keys as absent
        for k in ("sources", "confidence_spellings", "image_list_quirks"):
            want[k] = {a: b for a, b in want[k].items() if b}
            got["splits"][s][k] = {a: b for a, b in got["splits"][s][k].items() if b}
        assert got["splits"][s] == want, s
    for m, e in man["class_counts_by_mid"].items():
        assert {s: e[s] for s in SPLITS} == got["by_mid"][m], m
    assert set(man["class_counts"]) == set(got["by_name"])
    for name, e in man["class_counts"].items():
        for s in SPLITS:
            assert +got["by_name"][name][s] == +Counter(e[s]), name
    planted = {(e["file"], e["line"]) for e in man["bad_rows"]}
    assert got["bad"] == planted
    per_file = Counter(e["file"] for e in man["bad_rows"])
    n = man["options"]["bad_rows"]
    for s in SPLITS:
        assert per_file[IMAGE_LISTS[s]] == n and per_file[LABELS[s]] == n
    for rel, info in man["files"].items():
        data = (d / rel).read_bytes()
        assert len(data) == info["bytes"] and hashlib.sha256(data).hexdigest() == info["sha256"]
        assert data.count(b"\n") == info["lines"], rel
    return got


# ---------------------------------------------------------------------------- make-mirror


def test_same_seed_same_bytes_other_seed_differs(mirrors):
    a, a2, s4 = tree_bytes(mirrors["a"][0]), tree_bytes(mirrors["a2"][0]), tree_bytes(mirrors["seed4"][0])
    assert sorted(a) == sorted(ALL_FILES + ["mirror-manifest.json"])
    assert a == a2
    assert all(a[f] != s4[f] for f in ALL_FILES)


@pytest.mark.parametrize("variant", ["a", "unsorted", "crlf", "crlf_unsorted", "header"])
def test_files_parse_and_match_manifest(mirrors, variant):
    d, man = mirrors[variant]
    got = check_against_manifest(d, man)
    kinds = Counter(e["kind"] for e in man["bad_rows"] if e["file"].startswith("v5/"))
    assert set(kinds) == {"field_count", "bad_image_id", "unknown_mid", "bad_confidence",
                          "empty_image_id", "duplicate"}
    # the data shows the quirks a parser must survive
    tr = man["splits"]["train"]
    assert tr["images_without_labels"] > 0 and tr["images_with_one_positive"] > 0
    assert all(tr["confidence_spellings"][k] > 0 for k in ("1", "0", "1.0", "0.0"))
    assert set(tr["sources"]) == {"verification", "crowdsource-verification"}
    assert all(v > 0 for v in tr["image_list_quirks"].values())
    assert man["classes"]["negative_only"]
    for name in man["classes"]["negative_only"]:
        assert all(got["by_name"][name][s]["positive"] == 0 for s in SPLITS)


def test_class_file_and_hierarchy(mirrors):
    d, man = mirrors["a"]
    raw = (d / CLASSES).read_text(encoding="utf-8")
    assert not raw.startswith("LabelName"), "no header by default"
    assert re.match(r"/[mg]/", raw)
    assert '/m/' in raw and '"Lemon, lime and bitters"' in raw
    assert '"Fiat 500 ""topolino"""' in raw
    rows = [r for _, r in records(d / CLASSES)]
    assert len(rows) == 600 == man["classes"]["count"]
    names = Counter(n for _, n in rows)
    assert names["Football"] == 2 and names["Spätzle"] == 1
    assert any(any(ord(c) > 0x2E80 for c in n) for n in names)  # CJK or emoji
    assert any(m.startswith("/g/") for m, _ in rows)
    assert all(re.fullmatch(r"/(m/0|g/11)[0-9a-z_]{4,8}", m) for m, _ in rows)
    assert [m for m, _ in rows] == sorted(m for m, _ in rows)
    assert man["classes"]["duplicate_display_names"]["Football"] == sorted(
        m for m, n in rows if n == "Football")
    # the v7-style header variant differs only by that line
    hd = mirrors["header"][0]
    assert (hd / CLASSES).read_text(encoding="utf-8") == "LabelName,DisplayName\n" + raw

    tree = json.loads((d / HIERARCHY).read_text(encoding="utf-8"))
    assert tree["LabelName"] == ROOT_MID
    parents, kinds = {}, Counter()

    def walk(node):
        for kind in ("Subcategory", "Part"):
            for ch in node.get(kind, []):
                parents.setdefault(ch["LabelName"], set()).add(node["LabelName"])
                kinds[kind] += 1
                walk(ch)

    walk(tree)
    mids = {m for m, _ in rows}
    assert set(parents) == mids and ROOT_MID not in mids
    assert kinds["Part"] > 0 and kinds["Subcategory"] > 0
    assert any(len(p) > 1 for p in parents.values())


def test_unsorted_labels_are_a_permutation(mirrors):
    (d, man), (u, uman) = mirrors["a"], mirrors["unsorted"]
    for s in SPLITS:
        a = (d / LABELS[s]).read_bytes().split(b"\n")
        b = (u / LABELS[s]).read_bytes().split(b"\n")
        assert a[0] == b[0] and a != b and sorted(a) == sorted(b)
        # grouped by image in order vs. not
        ids_a = [r[0] for _, r in list(records(d / LABELS[s]))[1:] if r and HEX16.match(r[0])]
        ids_b = [r[0] for _, r in list(records(u / LABELS[s]))[1:] if r and HEX16.match(r[0])]
        assert ids_a == sorted(ids_a) and ids_b != sorted(ids_b)
        assert (d / IMAGE_LISTS[s]).read_bytes() == (u / IMAGE_LISTS[s]).read_bytes()
        assert {k: v for k, v in man["splits"][s].items()} == uman["splits"][s]
    assert man["class_counts"] == uman["class_counts"]


def test_crlf_everywhere(mirrors):
    (d, _), (c, cman) = mirrors["a"], mirrors["crlf"]
    assert cman["line_end"] == "CRLF"
    for rel in ALL_FILES:
        lf, crlf = (d / rel).read_bytes(), (c / rel).read_bytes()
        assert crlf.count(b"\n") == crlf.count(b"\r\n") > 0, rel
        assert crlf.replace(b"\r\n", b"\n") == lf, rel


def test_rejects_bad_options(tmp_path):
    for args in (["--classes", "5"], ["--labels-per-image", "0.2"], ["--bad-rows", "-1"]):
        r = subprocess.run([str(MAKE), str(tmp_path / "x"), *args], capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 2 and "make-mirror:" in r.stderr, args


# ---------------------------------------------------------------------------- mirror-server


class Server:
    def __init__(self, root: Path, *args: str):
        self.proc = subprocess.Popen([str(SERVE), str(root), "--port", "0", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 15)
        line = self.proc.stdout.readline() if ready else ""
        m = re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/\n", line)
        if not m:
            self.stop()
            raise AssertionError(f"bad first line {line!r}: {self.proc.stderr.read()}")
        self.port = int(m.group(1))

    def conn(self, timeout=10):
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def request(self, path, method="GET", headers=None, body=None):
        c = self.conn()
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            c.close()

    def control(self, path, obj=None, method=None):
        body = None if obj is None else json.dumps(obj)
        st, _, data = self.request(path, method or ("GET" if obj is None else "POST"),
                                   body=body)
        assert st == 200, data
        return json.loads(data)

    def stop(self):
        """Stops the server; returns its stderr."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        err = self.proc.stderr.read()
        self.proc.stdout.close()
        self.proc.stderr.close()
        return err


@pytest.fixture(scope="module")
def served(mirrors, tmp_path_factory):
    base = tmp_path_factory.mktemp("served")
    root = base / "root"
    shutil.copytree(mirrors["a"][0], root)
    outside = base / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("SECRET\n")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "leakdir").symlink_to(outside)
    (root / "inside-link.csv").symlink_to(root / CLASSES)
    srv = Server(root)
    yield srv, root
    err = srv.stop()
    assert srv.proc.returncode == 0
    assert err == "", f"server wrote to stderr: {err}"


def test_serves_files_byte_exact_with_keepalive(served):
    srv, root = served
    c = srv.conn()
    try:
        for rel in ALL_FILES:
            data = (root / rel).read_bytes()
            c.request("GET", "/" + rel)
            r = c.getresponse()
            body = r.read()
            assert r.status == 200 and body == data, rel
            assert int(r.headers["Content-Length"]) == len(data)
            assert r.headers["Accept-Ranges"] == "bytes"
            assert re.fullmatch(r'"[^"]+"', r.headers["ETag"])
            lm = email.utils.parsedate_to_datetime(r.headers["Last-Modified"]).timestamp()
            assert abs(lm - int((root / rel).stat().st_mtime)) < 1
            c.request("HEAD", "/" + rel)
            h = c.getresponse()
            assert h.status == 200 and h.read() == b""
            assert h.headers["Content-Length"] == str(len(data))
            assert h.headers["ETag"] == r.headers["ETag"]
    finally:
        c.close()
    log = [e for e in srv.control("/__log") if e["path"] in ["/" + f for f in ALL_FILES]]
    assert len({e["connection"] for e in log[-2 * len(ALL_FILES):]}) == 1, "keep-alive"
    st, _, body = srv.request("/inside-link.csv")
    assert st == 200 and body == (root / CLASSES).read_bytes()


def test_range_resume(served):
    srv, root = served
    rel = "/" + IMAGE_LISTS["train"]
    data = (root / IMAGE_LISTS["train"]).read_bytes()
    n = len(data)
    st, h, body = srv.request(rel, headers={"Range": f"bytes={n // 3}-"})
    assert st == 206 and body == data[n // 3:]
    assert h["Content-Range"] == f"bytes {n // 3}-{n - 1}/{n}"
    assert h["Content-Length"] == str(n - n // 3)
    st, h, body = srv.request(rel, headers={"Range": "bytes=10-19"})
    assert st == 206 and body == data[10:20]
    st, h, body = srv.request(rel, headers={"Range": "bytes=-7"})
    assert st == 206 and body == data[-7:]
    st, h, body = srv.request(rel, headers={"Range": f"bytes={n}-"})
    assert st == 416 and h["Content-Range"] == f"bytes */{n}"
    # If-Range with a stale validator: the whole file, not a fragment
    st, h, body = srv.request(rel, headers={"Range": "bytes=5-", "If-Range": '"stale"'})
    assert st == 200 and body == data
    etag = h["ETag"]
    st, h, body = srv.request(rel, headers={"Range": "bytes=5-", "If-Range": etag})
    assert st == 206 and body == data[5:]
    st, _, body = srv.request(rel, headers={"If-None-Match": etag})
    assert st == 304 and body == b""


def test_truncate_fault_then_resume_and_normal(served):
    srv, root = served
    rel = "/" + LABELS["train"]
    data = (root / LABELS["train"]).read_bytes()
    srv.control("/__faults", {rel: [{"truncate_after": 1000}]})
    assert srv.control("/__faults") == {rel: [{"truncate_after": 1000}]}
    c = srv.conn()
    try:
        c.request("GET", rel)
        r = c.getresponse()
        assert r.status == 200 and r.headers["Content-Length"] == str(len(data))
        with pytest.raises(http.client.IncompleteRead) as ei:
            r.read()
        assert ei.value.partial == data[:1000]
    finally:
        c.close()
    st, h, rest = srv.request(rel, headers={"Range": "bytes=1000-"})
    assert st == 206 and data[:1000] + rest == data
    st, _, body = srv.request(rel)
    assert st == 200 and body == data
    assert srv.control("/__faults") == {}
    log = [e for e in srv.control("/__log") if e["path"] == rel][-3:]
    assert [(e["status"], e["range"], e.get("truncated", False)) for e in log] == [
        (200, None, True), (206, "bytes=1000-", False), (200, None, False)]
    assert log[0]["bytes"] == 1000


def test_status_retry_after_reset_redirect_faults(mirrors):
    d = mirrors["a"][0]
    rel = "/" + CLASSES
    faults = {rel: [{"status": 503, "retry_after": 3}, {"status": 200}, {"reset": True},
                    {"redirect": "/" + HIERARCHY}, {"status": 429, "content_type": "text/x"}]}
    srv = Server(d, "--faults", json.dumps(faults))
    try:
        data = (d / CLASSES).read_bytes()
        st, h, _ = srv.request(rel)
        assert st == 503 and h["Retry-After"] == "3"
        assert srv.request(rel)[::2] == (200, data)
        with pytest.raises((ConnectionError, http.client.RemoteDisconnected)):
            srv.request(rel)
        st, h, _ = srv.request(rel)
        assert st == 302 and h["Location"] == "/" + HIERARCHY
        st, h, _ = srv.request(rel)
        assert st == 429 and h["Content-Type"] == "text/x"
        assert srv.request(rel)[::2] == (200, data)
        st, _, body = srv.request("/__faults", "POST", body='{"/x": [{"bogus": 1}]}')
        assert st == 400
        log = [e for e in srv.control("/__log")]
        assert [e["status"] for e in log] == [503, 200, None, 302, 429, 200]
    finally:
        err = srv.stop()
    assert err == ""


def test_missing_files_and_traversal(served):
    srv, root = served
    assert srv.request("/v5/nope.csv")[0] == 404
    assert srv.request("/v5")[0] == 404
    assert srv.request("/v5/")[0] == 404
    for path in ("/../etc/passwd", "/v5/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd",
                 "/v5/..%2f..%2fetc/passwd", "/leak.txt", "/leakdir/secret.txt",
                 "/v5%5c..%5c..%5cetc%5cpasswd"):
        st, _, body = srv.request(path)
        assert st in (403, 404) and b"SECRET" not in body and b"root:" not in body, path
    assert srv.request("/" + CLASSES, "PUT", body="x")[0] == 405
    assert srv.request("/" + CLASSES)[0] == 200  # still serving


def test_client_disconnect_does_not_kill_server(served):
    srv, root = served
    rel = "/" + IMAGE_LISTS["train"]
    srv.control("/__faults", {rel: [{"slow": 40000}]})
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    s.sendall(f"GET {rel} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert s.recv(100).startswith(b"HTTP/1.1 200")
    s.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        log = [e for e in srv.control("/__log") if e["path"] == rel and e["fault"]]
        if log and log[-1].get("aborted"):
            break
        time.sleep(0.1)
    else:
        pytest.fail("the aborted download was not logged")
    assert srv.proc.poll() is None
    data = (root / IMAGE_LISTS["train"]).read_bytes()
    assert srv.request(rel)[::2] == (200, data)
