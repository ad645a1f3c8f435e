"""Real mongod servers, TLS certificates and a clean-environment runner for the binary.

Nothing here is mocked: every server is the pinned mongod that scripts/setup installs,
started on a free loopback port with its own temporary --dbpath. Every server started
is registered so that an atexit hook stops it even when a fixture finalizer never ran.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

REPO_ROOT = Path(__file__).resolve().parents[2]
MONGOD_VERSION = "6.0.5"

# The real HOME, captured before any test changes anything: the default cache lives there.
_REAL_HOME = os.path.expanduser("~")
# Passed through to the binary. MONGOC_DISABLE_SHM keeps libmongoc from creating a shared
# memory segment per process: processes the tests kill -9 leave theirs behind, and a later
# process with the same pid then warns on stderr ("Falling back to malloc for counters").
SANITIZER_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "ASAN_SYMBOLIZER_PATH",
                  "MONGOC_DISABLE_SHM")

# Passwords of the users the auth servers get (see Mongod._create_users).
ADMIN_PASSWORD = "Adm1n-S3cret-pw"
RW_PASSWORD = "Sup3r-S3cret-pw"
RO_PASSWORD = "R3ad-0nly-S3cret-pw"
SPECIAL_USER = "special"
SPECIAL_PASSWORD = "p@ss:w/rd%20x"  # '@', ':', '/', '%' all need percent-encoding


def cache_dir() -> str:
    return os.environ.get("SUBSETTER_CACHE_DIR") or os.path.join(_REAL_HOME, ".cache", "subsetter")


def mongod_binary() -> str:
    return os.path.join(cache_dir(), f"mongodb-{MONGOD_VERSION}", "bin", "mongod")


def subsetter_binary() -> Path:
    p = Path(os.environ.get("SUBSETTER_BIN", "build/debug/subsetter"))
    if not p.is_absolute():
        p = REPO_ROOT / p
    return p


def free_port() -> int:
    """A loopback port nobody listens on right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------
# Running the binary
# ---------------------------------------------------------------------------------------

@dataclass(repr=False)
class Result:
    args: list
    rc: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def out(self) -> str:
        return self.stdout + self.stderr

    def json(self):
        try:
            return json.loads(self.stdout)
        except ValueError as e:
            raise AssertionError(f"stdout is not one JSON object ({e}):\n{self}") from None

    def __repr__(self) -> str:
        return (f"\n$ subsetter {' '.join(map(str, self.args))}\n-> exit {self.rc} in "
                f"{self.seconds:.2f}s\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}")


def clean_env(home: str | os.PathLike, extra: dict | None = None) -> dict:
    """The environment the binary runs in: nothing of FIFTYONE_*/SUBSETTER_* leaks from the
    parent, except the cache (so the pinned mongod is found) and sanitizer settings.
    A value of None in `extra` removes the variable."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "SUBSETTER_CACHE_DIR": cache_dir(),
    }
    for k in SANITIZER_VARS:
        if k in os.environ:
            env[k] = os.environ[k]
    for k, v in (extra or {}).items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    return env


def run(args, *, cwd, home=None, env=None, timeout=180, stdin=subprocess.DEVNULL) -> Result:
    """Runs the binary with a clean environment in `cwd` (always a temp dir: the binary
    reads ./.env). `home` defaults to cwd/home."""
    cwd = Path(cwd)
    home = Path(home) if home else cwd / "home"
    home.mkdir(parents=True, exist_ok=True)
    argv = [str(subsetter_binary())] + [str(a) for a in args]
    t0 = time.monotonic()
    try:
        p = subprocess.run(argv, cwd=cwd, env=clean_env(home, env), capture_output=True,
                           text=True, timeout=timeout, stdin=stdin)
    except subprocess.TimeoutExpired as e:
        raise AssertionError(f"subsetter {args} did not finish within {timeout}s; "
                             f"stdout={e.stdout!r} stderr={e.stderr!r}") from None
    return Result(list(args), p.returncode, p.stdout, p.stderr, time.monotonic() - t0)


def popen(args, *, cwd, home=None, env=None) -> subprocess.Popen:
    cwd = Path(cwd)
    home = Path(home) if home else cwd / "home"
    home.mkdir(parents=True, exist_ok=True)
    argv = [str(subsetter_binary())] + [str(a) for a in args]
    return subprocess.Popen(argv, cwd=cwd, env=clean_env(home, env), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)


# ---------------------------------------------------------------------------------------
# Certificates
# ---------------------------------------------------------------------------------------

@dataclass
class Certs:
    dir: Path
    ca: Path          # CA 1 certificate
    ca_key: Path
    server: Path      # server cert + key, signed by CA 1, SAN localhost/127.0.0.1
    client: Path      # client cert + key, signed by CA 1
    other_ca: Path    # an unrelated CA 2 that signed nothing the servers use


def _openssl(*args, cwd):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed: {p.stderr}")


def _make_ca(d: Path, name: str, cn: str):
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-sha256", "-days", "2", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.pem", "-subj", f"/CN={cn}",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)


def _make_leaf(d: Path, name: str, cn: str, ext: str):
    (d / f"{name}.ext").write_text(ext)
    _openssl("req", "-new", "-newkey", "rsa:2048", "-sha256", "-nodes", "-keyout",
             f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-CAserial", "ca.srl", "-out", f"{name}.crt", "-days", "2",
             "-sha256", "-extfile", f"{name}.ext", cwd=d)
    (d / f"{name}.pem").write_text((d / f"{name}.crt").read_text() + (d / f"{name}.key").read_text())


def make_certs(d: Path) -> Certs:
    d.mkdir(parents=True, exist_ok=True)
    _make_ca(d, "ca", "subsetter test CA 1")
    _make_ca(d, "other-ca", "subsetter unrelated CA 2")
    _make_leaf(d, "server", "localhost",
               "basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=serverAuth,clientAuth\n"
               "subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    _make_leaf(d, "client", "subsetter-test-client",
               "basicConstraints=CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage=clientAuth\n")
    return Certs(d, d / "ca.pem", d / "ca.key", d / "server.pem", d / "client.pem",
                 d / "other-ca.pem")


# ---------------------------------------------------------------------------------------
# mongod
# ---------------------------------------------------------------------------------------

_live: list["Mongod"] = []
_live_lock = threading.Lock()


def _pdeathsig():
    """In the child, before exec: die with SIGKILL if pytest itself dies (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


class MongodStartError(RuntimeError):
    pass


class Mongod:
    """One real mongod on 127.0.0.1 with its own --dbpath under `root`.

    tls: a Certs to run with --tlsMode requireTLS; auth: --auth plus users admin (root),
    rw (readWrite on fiftyone), ro (read on fiftyone) and `special` (readWrite on fiftyone,
    a password full of URI delimiters); repl_set: a one-member replica set, initiated."""

    def __init__(self, root: Path, *, name="mongod", tls: Certs | None = None, auth=False,
                 repl_set: str | None = None):
        self.root = Path(root)
        self.name = name
        self.tls = tls
        self.auth = auth
        self.repl_set = repl_set
        self.port = None
        self.proc: subprocess.Popen | None = None
        self.dbpath = self.root / "db"
        self.logpath = self.root / "mongod.log"

    # -- URIs -----------------------------------------------------------------------
    def uri(self, user=None, password=None, **options) -> str:
        """A URI for the binary. Options are appended verbatim (in order)."""
        from urllib.parse import quote
        cred = ""
        if user:
            cred = quote(user, safe="") + (":" + quote(password, safe="") if password else "") + "@"
        query = "&".join(f"{k}={v}" for k, v in options.items())
        return f"mongodb://{cred}127.0.0.1:{self.port}/" + (f"?{query}" if query else "")

    def client(self, user=None, password=None, **kw) -> pymongo.MongoClient:
        """A pymongo client as admin (when auth is on) by default."""
        if self.auth and user is None:
            user, password = "admin", ADMIN_PASSWORD
        opts = dict(host="127.0.0.1", port=self.port, directConnection=True,
                    serverSelectionTimeoutMS=10000, connectTimeoutMS=5000)
        if user:
            opts.update(username=user, password=password, authSource="admin")
        if self.tls:
            opts.update(tls=True, tlsCAFile=str(self.tls.ca))
        opts.update(kw)
        return pymongo.MongoClient(**opts)

    # -- lifecycle ------------------------------------------------------------------
    def start(self, attempts=3):
        binary = mongod_binary()
        if not os.access(binary, os.X_OK):
            raise MongodStartError(f"no mongod at {binary}: run scripts/setup "
                                   f"(or set SUBSETTER_CACHE_DIR)")
        last = None
        for _ in range(attempts):
            try:
                self._start_once(binary)
                return self
            except MongodStartError as e:
                last = e
                self.stop()
        raise last

    def _start_once(self, binary):
        if self.dbpath.exists():
            shutil.rmtree(self.dbpath)
        self.dbpath.mkdir(parents=True)
        self.port = free_port()
        argv = [binary, "--dbpath", str(self.dbpath), "--bind_ip", "127.0.0.1", "--port",
                str(self.port), "--nounixsocket", "--wiredTigerCacheSizeGB", "0.25",
                "--logpath", str(self.logpath), "--logappend",
                "--setParameter", "diagnosticDataCollectionEnabled=false"]
        if self.tls:
            argv += ["--tlsMode", "requireTLS", "--tlsCertificateKeyFile", str(self.tls.server),
                     "--tlsCAFile", str(self.tls.ca), "--tlsAllowConnectionsWithoutCertificates"]
        if self.auth:
            argv += ["--auth"]
        if self.repl_set:
            argv += ["--replSet", self.repl_set]
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        with _live_lock:
            _live.append(self)
        self._wait_ready()
        if self.repl_set:
            self._initiate()
        if self.auth:
            self._create_users()

    def _log_tail(self, n=15) -> str:
        try:
            return "\n".join(self.logpath.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def _wait_ready(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise MongodStartError(f"{self.name}: mongod exited with {self.proc.returncode} "
                                       f"on port {self.port}; log:\n{self._log_tail()}")
            try:
                with self.client(user=False, serverSelectionTimeoutMS=1000) as c:
                    c.admin.command("ping")
                return
            except PyMongoError:
                time.sleep(0.2)
        raise MongodStartError(f"{self.name}: mongod on port {self.port} did not accept "
                               f"connections within {timeout}s; log:\n{self._log_tail()}")

    def _initiate(self, timeout=90):
        with self.client(user=False) as c:
            c.admin.command("replSetInitiate", {
                "_id": self.repl_set, "members": [{"_id": 0, "host": f"127.0.0.1:{self.port}"}]})
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if c.admin.command("hello").get("isWritablePrimary"):
                    return
                time.sleep(0.2)
        raise MongodStartError(f"{self.name}: replica set {self.repl_set} got no primary "
                               f"within {timeout}s; log:\n{self._log_tail()}")

    def _create_users(self):
        # The localhost exception: with no user yet, a local connection may create one.
        with self.client(user=False) as c:
            c.admin.command("createUser", "admin", pwd=ADMIN_PASSWORD,
                            roles=[{"role": "root", "db": "admin"}])
        with self.client() as c:
            c.admin.command("createUser", "rw", pwd=RW_PASSWORD,
                            roles=[{"role": "readWrite", "db": "fiftyone"}])
            c.admin.command("createUser", "ro", pwd=RO_PASSWORD,
                            roles=[{"role": "read", "db": "fiftyone"}])
            c.admin.command("createUser", SPECIAL_USER, pwd=SPECIAL_PASSWORD,
                            roles=[{"role": "readWrite", "db": "fiftyone"}])

    def stop(self):
        p = self.proc
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
        self.proc = None
        with _live_lock:
            if self in _live:
                _live.remove(self)

    def __repr__(self):
        return f"<Mongod {self.name} port={self.port} pid={self.proc.pid if self.proc else None}>"


# ---------------------------------------------------------------------------------------
# Embedded instances the binary starts (forked with setsid: not our children)
# ---------------------------------------------------------------------------------------

_embedded_homes: list[Path] = []


def mongod_pids_for(dbpath: Path) -> list[int]:
    """Pids of running mongods whose --dbpath is `dbpath` (scans /proc)."""
    want = str(dbpath)
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/cmdline").read_bytes()
            # A zombie has an empty cmdline and holds nothing.
            status = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in raw.split(b"\0") if a]
        if not argv or "mongod" not in os.path.basename(argv[0]):
            continue
        if status.rsplit(")", 1)[-1].split()[0] == "Z":
            continue
        for i, a in enumerate(argv[:-1]):
            if a == "--dbpath" and os.path.normpath(argv[i + 1]) == os.path.normpath(want):
                pids.append(int(entry))
    return pids


def register_embedded_home(home: Path):
    _embedded_homes.append(Path(home))


def stop_embedded(home: Path, cwd: Path):
    """`subsetter db stop` for this SUBSETTER_HOME, then SIGKILL anything still serving its
    dbpath (only mongods on our own temp dbpath: we started them)."""
    home = Path(home)
    try:
        run(["db", "stop"], cwd=cwd, env={"SUBSETTER_HOME": home}, timeout=90)
    except Exception:
        pass
    dbpath = home / "var" / "lib" / "mongo"
    for pid in mongod_pids_for(dbpath):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if home in _embedded_homes:
        _embedded_homes.remove(home)


@atexit.register
def _stop_everything():
    for m in list(_live):
        try:
            m.stop()
        except Exception:
            pass
    for home in list(_embedded_homes):
        try:
            stop_embedded(home, home)
        except Exception:
            pass
