"""The HTTP server behind scripts/mirror-server (see that script for the CLI and the faults).

http.server + ThreadingHTTPServer, HTTP/1.1 with keep-alive. Serves the files under one
directory read-only, with byte ranges, ETag/Last-Modified, a scriptable fault queue per
path and a request log.
"""
from __future__ import annotations

import copy
import email.utils
import json
import math
import os
import re
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CONTROL_FAULTS = "/__faults"
CONTROL_LOG = "/__log"

FAULT_KEYS = {
    "status": int, "retry_after": (int, float, str), "truncate_after": int, "reset": bool,
    "delay": (int, float), "slow": (int, float), "redirect": str, "content_type": str,
    "method": (str, list),
}

CONTENT_TYPES = {".csv": "text/csv", ".json": "application/json", ".txt": "text/plain",
                 ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
                 ".gif": "image/gif", ".html": "text/html", ".tsv": "text/tab-separated-values"}

CHUNK = 64 * 1024


class FaultError(ValueError):
    pass


def validate_faults(obj) -> dict:
    """Checks a fault script; returns a normalized deep copy. Raises FaultError."""
    if not isinstance(obj, dict):
        raise FaultError("the fault script must be a JSON object {path: [behavior, ...]}")
    out = {}
    for path, seq in obj.items():
        if not isinstance(path, str) or not path.startswith("/"):
            raise FaultError(f"fault path {path!r} must start with /")
        if isinstance(seq, dict):
            seq = [seq]
        if not isinstance(seq, list):
            raise FaultError(f"faults for {path} must be a list of objects")
        norm = []
        for b in seq:
            if not isinstance(b, dict):
                raise FaultError(f"fault for {path} must be an object, not {b!r}")
            for k, v in b.items():
                if k not in FAULT_KEYS:
                    raise FaultError(f"unknown fault key {k!r} for {path} "
                                     f"(known: {', '.join(sorted(FAULT_KEYS))})")
                t = FAULT_KEYS[k]
                if isinstance(v, bool) and t is not bool:
                    raise FaultError(f"fault {k} for {path} must be a number or string")
                if not isinstance(v, t):
                    raise FaultError(f"fault {k} for {path} has the wrong type: {v!r}")
            if "status" in b and not 200 <= b["status"] <= 599:
                raise FaultError(f"status {b['status']} for {path} must be 200..599")
            for k in ("retry_after", "truncate_after", "delay"):
                if k in b and not isinstance(b[k], str) and b[k] < 0:
                    raise FaultError(f"fault {k} for {path} must be >= 0")
            if "slow" in b and b["slow"] <= 0:
                raise FaultError(f"fault slow for {path} must be > 0 bytes per second")
            if "method" in b:
                ms = b["method"] if isinstance(b["method"], list) else [b["method"]]
                if not all(isinstance(m, str) for m in ms):
                    raise FaultError(f"fault method for {path} must be a string or list")
            norm.append(dict(b))
        if norm:
            out[path] = norm
    return out


def load_faults(spec: str | None) -> dict:
    """--faults: inline JSON (starting with '{') or the path of a JSON file."""
    if not spec:
        return {}
    text = spec
    if not spec.lstrip().startswith("{"):
        with open(spec, encoding="utf-8") as f:
            text = f.read()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise FaultError(f"--faults is not valid JSON: {e}") from None
    return validate_faults(obj)


class State:
    """What the handler threads share: the fault queue and the request log."""

    def __init__(self, root: str, faults: dict, verbose: bool):
        self.root = root
        self.verbose = verbose
        self.lock = threading.Lock()
        self.faults = faults
        self.log: list[dict] = []
        self.conn_seq = 0

    def take_fault(self, keys, method):
        with self.lock:
            for key in keys:
                seq = self.faults.get(key)
                if not seq:
                    continue
                head = seq[0]
                m = head.get("method")
                if m is not None:
                    ms = m if isinstance(m, list) else [m]
                    if method not in [x.upper() for x in ms]:
                        return None
                seq.pop(0)
                if not seq:
                    del self.faults[key]
                return head
        return None

    def next_conn(self):
        with self.lock:
            self.conn_seq += 1
            return self.conn_seq

    def record(self, entry):
        with self.lock:
            self.log.append(entry)


def resolve(root: str, path: str):
    """Maps a decoded URL path to a file under root: (fs path, None) or (None, status)."""
    if "\x00" in path or "\\" in path or not path.startswith("/") or path.startswith("//"):
        return None, HTTPStatus.FORBIDDEN
    parts = path.split("/")[1:]
    if any(p == ".." for p in parts):
        return None, HTTPStatus.FORBIDDEN
    rel = "/".join(p for p in parts if p not in ("", "."))
    full = os.path.realpath(os.path.join(root, rel))
    if full != root and not full.startswith(root + os.sep):
        return None, HTTPStatus.FORBIDDEN  # e.g. a symlink leading outside the root
    return full, None


_RANGE = re.compile(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*")


def parse_range(value: str, size: int):
    """One byte range: (start, end) inclusive, 'unsatisfiable', or None (ignore: serve
    everything, as RFC 9110 allows for invalid or multi-range requests)."""
    m = _RANGE.fullmatch(value)
    if not m:
        return None
    a, b = m.group(1), m.group(2)
    if a == "" and b == "":
        return None
    if a == "":
        n = int(b)
        if n == 0 or size == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(a)
    end = int(b) if b else size - 1
    if b and end < start:
        return None
    if start >= size:
        return "unsatisfiable"
    return start, min(end, size - 1)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "mirror-server/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections end after this

    # ------------------------------------------------------------------ plumbing

    def setup(self):
        super().setup()
        self.state: State = self.server.state
        self.conn_id = self.state.next_conn()

    def version_string(self):
        return self.server_version

    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        if self.state.verbose:
            sys.stderr.write("mirror-server: %s - %s\n" % (self.address_string(), format % args))

    def _url_path(self):
        target = self.path
        if "://" in target.split("?", 1)[0]:
            target = urllib.parse.urlsplit(target).path or "/"
        raw = target.split("?", 1)[0].split("#", 1)[0]
        return raw, urllib.parse.unquote(raw, errors="strict") if "%" in raw else raw

    def _simple(self, code, body=None, ctype="text/plain; charset=utf-8", headers=(),
                head=False):
        if body is None:
            phrase = HTTPStatus(code).phrase if code in HTTPStatus._value2member_map_ else ""
            body = f"{code} {phrase}\n".encode()
        elif isinstance(body, str):
            body = body.encode("utf-8")
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if not head:
            self.wfile.write(body)
        return len(body) if not head else 0

    def _json(self, code, obj):
        return self._simple(code, json.dumps(obj, indent=1) + "\n", "application/json")

    def _read_body(self):
        n = self.headers.get("Content-Length")
        if n is None:
            return None
        try:
            n = int(n)
        except ValueError:
            return None
        return self.rfile.read(n) if n > 0 else b""

    def _reset(self):
        """Closes the connection without a response (RST where the OS allows)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                       struct.pack("ii", 1, 0))
        except OSError:
            pass
        try:
            self.rfile.close()  # drop the makefile reference so close() really closes
            self.connection.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ methods

    def do_GET(self):
        self._handle("GET")

    def do_HEAD(self):
        self._handle("HEAD")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_DELETE(self):
        self._handle("DELETE")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_OPTIONS(self):
        self._handle("OPTIONS")

    def _handle(self, method):
        try:
            raw, path = self._url_path()
        except UnicodeDecodeError:
            self._simple(400)
            return
        if path in (CONTROL_FAULTS, CONTROL_LOG):
            self._control(method, path)
            return
        entry = {"method": method, "path": raw, "range": self.headers.get("Range"),
                 "status": None, "bytes": 0, "connection": self.conn_id, "fault": None}
        try:
            self._serve(method, raw, path, entry)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            entry["aborted"] = True
            self.close_connection = True
        finally:
            self.state.record(entry)

    def _control(self, method, path):
        st = self.state
        if path == CONTROL_FAULTS:
            if method == "GET":
                with st.lock:
                    script = copy.deepcopy(st.faults)
                self._json(200, script)
            elif method in ("POST", "PUT"):
                body = self._read_body()
                if body is None:
                    self._json(411, {"error": "Content-Length required"})
                    return
                try:
                    new = validate_faults(json.loads(body.decode("utf-8") or "{}"))
                except (ValueError, FaultError) as e:
                    self._json(400, {"error": str(e)})
                    return
                with st.lock:
                    st.faults = new
                self._json(200, {"ok": True, "paths": len(new)})
            elif method == "DELETE":
                with st.lock:
                    st.faults = {}
                self._json(200, {"ok": True})
            else:
                self._read_body()
                self._simple(405, headers=[("Allow", "GET, POST, PUT, DELETE")])
        else:
            if method == "GET":
                with st.lock:
                    log = copy.deepcopy(st.log)
                self._json(200, log)
            elif method == "DELETE":
                with st.lock:
                    st.log = []
                self._json(200, {"ok": True})
            else:
                self._read_body()
                self._simple(405, headers=[("Allow", "GET, DELETE")])

    def _serve(self, method, raw, path, entry):
        head = method == "HEAD"
        if method not in ("GET", "HEAD"):
            self._read_body()
            entry["status"] = 405
            self._simple(405, headers=[("Allow", "GET, HEAD")])
            return
        fault = self.state.take_fault([path] if path == raw else [path, raw], method)
        entry["fault"] = fault
        fault = fault or {}
        if fault.get("delay"):
            time.sleep(fault["delay"])
        if fault.get("reset"):
            entry["status"] = None
            entry["reset"] = True
            self._reset()
            return
        ctype_override = fault.get("content_type")
        if "redirect" in fault:
            entry["status"] = 302
            entry["bytes"] = self._simple(302, f"302 Found: {fault['redirect']}\n",
                                          headers=[("Location", fault["redirect"])], head=head)
            return
        status = fault.get("status")
        if fault.get("retry_after") is not None and status is None:
            status = 503
        if status is not None and (not 200 <= status < 300 or status == 204):
            hdrs = []
            if fault.get("retry_after") is not None:
                ra = fault["retry_after"]
                # delay-seconds is an integer: round up; a string is sent as given
                hdrs.append(("Retry-After", ra if isinstance(ra, str) else str(math.ceil(ra))))
            entry["status"] = status
            if status in (204, 304):  # no body allowed
                self.send_response(status)
                for k, v in hdrs:
                    self.send_header(k, v)
                self.end_headers()
                return
            kw = {"ctype": ctype_override} if ctype_override else {}
            entry["bytes"] = self._simple(status, headers=hdrs, head=head, **kw)
            return

        fs, err = resolve(self.state.root, path)
        if err is not None:
            entry["status"] = int(err)
            entry["bytes"] = self._simple(err, head=head)
            return
        try:
            f = open(fs, "rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            entry["status"] = 404
            entry["bytes"] = self._simple(404, head=head)
            return
        with f:
            st = os.fstat(f.fileno())
            if not _is_regular(st):
                entry["status"] = 404
                entry["bytes"] = self._simple(404, head=head)
                return
            self._send_file(f, st, head, fault, ctype_override, entry)

    def _send_file(self, f, st, head, fault, ctype_override, entry):
        size = st.st_size
        etag = f'"{st.st_ino:x}-{size:x}-{st.st_mtime_ns:x}"'
        last_mod = email.utils.formatdate(st.st_mtime, usegmt=True)
        common = [("ETag", etag), ("Last-Modified", last_mod), ("Accept-Ranges", "bytes")]
        inm = self.headers.get("If-None-Match")
        ims = self.headers.get("If-Modified-Since")
        not_modified = False
        if inm is not None:
            tags = [t.strip() for t in inm.split(",")]
            not_modified = "*" in tags or etag in tags or ("W/" + etag) in tags
        elif ims is not None:
            try:
                t = email.utils.parsedate_to_datetime(ims).timestamp()
                not_modified = int(st.st_mtime) <= t
            except (TypeError, ValueError, OverflowError):
                pass
        if not_modified:
            entry["status"] = 304
            self.send_response(304)
            for k, v in common:
                self.send_header(k, v)
            self.end_headers()
            return
        start, end, code = 0, size - 1, 200
        rng = self.headers.get("Range")
        if rng is not None:
            if_range = self.headers.get("If-Range")
            if if_range is None or if_range.strip() in (etag, last_mod):
                r = parse_range(rng, size)
                if r == "unsatisfiable":
                    entry["status"] = 416
                    entry["bytes"] = self._simple(
                        416, headers=[("Content-Range", f"bytes */{size}")] + common, head=head)
                    return
                if r is not None:
                    start, end, code = r[0], r[1], 206
        length = end - start + 1 if size else 0
        ext = os.path.splitext(f.name)[1].lower()
        ctype = ctype_override or CONTENT_TYPES.get(ext, "application/octet-stream")
        entry["status"] = code
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(length))
        if code == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        for k, v in common:
            self.send_header(k, v)
        self.end_headers()
        if head or length == 0:
            return
        limit = length
        trunc = fault.get("truncate_after")
        if trunc is not None and trunc < length:
            limit = trunc
            self.close_connection = True
            entry["truncated"] = True
        bps = fault.get("slow")
        f.seek(start)
        sent = 0
        t0 = time.monotonic()
        step = CHUNK if not bps else max(1, min(CHUNK, int(bps / 20)))
        while sent < limit:
            data = f.read(min(step, limit - sent))
            if not data:
                break  # the file shrank under us
            self.wfile.write(data)
            sent += len(data)
            entry["bytes"] = sent
            if bps:
                wait = t0 + sent / bps - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
        if sent < length:
            self.close_connection = True
            if not entry.get("truncated"):
                entry["aborted"] = True


def _is_regular(st):
    import stat
    return stat.S_ISREG(st.st_mode)


class Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def server_bind(self):
        # HTTPServer.server_bind resolves the host name (getfqdn), which can stall
        # without DNS; the name is not needed.
        import socketserver
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        if self.state.verbose:
            super().handle_error(request, client_address)


class Server6(Server):
    address_family = socket.AF_INET6


def make_server(root: str, bind: str, port: int, faults: dict, verbose: bool):
    cls = Server6 if ":" in bind else Server
    httpd = cls((bind, port), Handler)
    httpd.state = State(os.path.realpath(root), faults, verbose)
    return httpd


def url_of(httpd) -> str:
    host, port = httpd.server_address[:2]
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/"
