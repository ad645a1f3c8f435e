"""benchutil - what the benchmarks of scripts/bench/ share (sample, stats).

Processes (spawned children die with the benchmark, each one still running is stopped in
its final `finally`), measurements from exec to exit (os.wait4: wall time, CPU, peak RSS),
the machine's CPU spent outside the measured processes (Meter: other_cores, other_top), a
dedicated mongod (Mongod: the pinned binary, a temporary --dbpath, a free loopback port),
subsetter runs with --json (Subsetter), the cached synthetic Open Images mirrors
(ensure_mirror, shared with scripts/bench/ingest), the host and git state, and plain-text
tables.

Needs only the standard library; pymongo is imported when a Mongod is started.
"""
import ctypes
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "lib"))
from oimirror import layout  # noqa: E402

MONGOD_VERSION = "6.0.5"
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(Exception):
    pass


class Terminated(BaseException):
    """SIGTERM / SIGHUP: unwinds like Ctrl-C, so every `finally` runs."""


def on_signal(signum, frame):
    raise Terminated(signal.Signals(signum).name)


def catch_signals():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)


def say(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def reexec_with_venv(script, modules):
    """Re-executes `script` (the running one, with its arguments) with
    ROOT/.venv/bin/python when one of `modules` cannot be imported by the running python
    (once; SUB_BENCH_REEXEC marks the second go). Returns the names still missing (empty:
    all importable)."""
    import importlib.util

    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return []
    venv_python = ROOT / ".venv" / "bin" / "python"
    if venv_python.exists() and not os.environ.get("SUB_BENCH_REEXEC"):
        os.environ["SUB_BENCH_REEXEC"] = "1"
        os.execv(str(venv_python), [str(venv_python), str(Path(script).resolve()),
                                    *sys.argv[1:]])
    return missing


def sub_cache_dir():
    return Path(os.environ.get("SUBSETTER_CACHE_DIR") or Path.home() / ".cache" / "subsetter")


# ---------------------------------------------------------------------------------------
# processes (the approach of scripts/bench/ingest: children die with this script, and
# every one still running is stopped in the final `finally`)
# ---------------------------------------------------------------------------------------

def _pdeathsig():
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


LIVE = []


def spawn(argv, **kw):
    p = subprocess.Popen([str(a) for a in argv], preexec_fn=_pdeathsig, **kw)
    LIVE.append(p)
    return p


def stop(p, timeout=60):
    if p.returncode is None and p.poll() is None:
        try:
            p.terminate()
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        except ProcessLookupError:
            pass
    if p in LIVE:
        LIVE.remove(p)


def stop_all(keep=None):
    """Stops every process spawn() started that still runs, but `keep`."""
    for p in list(LIVE):
        if p is not keep:
            stop(p, timeout=10)


def wait_rusage(p):
    while True:
        try:
            _, status, ru = os.wait4(p.pid, 0)
            break
        except InterruptedError:
            continue
    p.returncode = os.waitstatus_to_exitcode(status)
    if p in LIVE:
        LIVE.remove(p)
    return p.returncode, ru


def proc_cpu(pid):
    """User + system CPU seconds of a process from /proc, None when it is gone (or no pid)."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return None


def machine_cpu():
    """The machine's busy CPU seconds so far (all cores; idle and iowait excluded), as
    {user (user + nice), system, irq (irq + softirq), steal}."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (v + [0] * 8)[:8]
    return {"user": (user + nice) / CLK_TCK, "system": system / CLK_TCK,
            "irq": (irq + softirq) / CLK_TCK, "steal": steal / CLK_TCK}


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pinned_mongod():
    return sub_cache_dir() / f"mongodb-{MONGOD_VERSION}" / "bin" / "mongod"


class Mongod:
    def __init__(self, binary, root, wt_cache_gb=None):
        self.binary, self.root, self.wt = binary, Path(root), wt_cache_gb
        self.dbpath = self.root / "db"
        self.log = self.root / "mongod.log"
        self.proc = None
        self.port = None

    @property
    def uri(self):
        return f"mongodb://127.0.0.1:{self.port}/"

    def client(self, **kw):
        import pymongo

        opts = {"serverSelectionTimeoutMS": 10000, **kw}
        return pymongo.MongoClient(host="127.0.0.1", port=self.port, directConnection=True,
                                   **opts)

    def start(self):
        import pymongo

        if not os.access(self.binary, os.X_OK):
            raise BenchError(f"no mongod at {self.binary}: run scripts/setup "
                             f"(or set SUBSETTER_CACHE_DIR)")
        for attempt in range(3):
            self.dbpath.mkdir(parents=True, exist_ok=True)
            self.port = free_port()
            argv = [self.binary, "--dbpath", self.dbpath, "--bind_ip", "127.0.0.1",
                    "--port", self.port, "--nounixsocket", "--logpath", self.log, "--logappend",
                    "--setParameter", "diagnosticDataCollectionEnabled=false"]
            if self.wt:
                argv += ["--wiredTigerCacheSizeGB", self.wt]
            self.proc = spawn(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with self.client(serverSelectionTimeoutMS=500) as c:
                        c.admin.command("ping")
                    return self
                except pymongo.errors.PyMongoError:
                    time.sleep(0.2)
            stop(self.proc)
            say(f"mongod did not start on port {self.port} (attempt {attempt + 1})")
        raise BenchError(f"mongod would not start; see {self.log}")

    def describe(self):
        with self.client() as c:
            st = c.admin.command("serverStatus")
            return {"version": st["version"], "port": self.port, "dbpath": str(self.dbpath),
                    "wt_cache_gib": round(st["wiredTiger"]["cache"]["maximum bytes configured"]
                                          / 2**30, 2)}

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        if self.proc:
            stop(self.proc, timeout=120)


def settle(mongod, max_wait=60.0):
    """Before a measured step: fsync (no dirty data left for the step to pay for), then
    wait until mongod is idle (below 5 % of a core over 0.5 s)."""
    t0 = time.monotonic()
    with mongod.client() as c:
        c.admin.command("fsync")
    while time.monotonic() - t0 < max_wait:
        c0 = mongod.cpu()
        time.sleep(0.5)
        c1 = mongod.cpu()
        if c0 is None or c1 is None or (c1 - c0) / 0.5 < 0.05:
            break
    return round(time.monotonic() - t0, 2)


def other_bench_pids(pattern):
    r = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True)
    return [int(x) for x in r.stdout.split() if int(x) != os.getpid()]


def wait_quiet(step, pattern, waits, label=None):
    """Waits while a process whose command line matches `pattern` (pgrep -f: another
    benchmark, which would disturb the figures) runs; the wait is appended to `waits`."""
    label = label or pattern
    pids = other_bench_pids(pattern)
    if not pids:
        return
    say(f"{step}: waiting: {label} is running (pid {', '.join(map(str, pids))})")
    t0 = time.monotonic()
    while other_bench_pids(pattern):
        time.sleep(5)
    waits.append({"before": step, "waited_s": round(time.monotonic() - t0, 1)})
    say(f"{step}: {label} is gone after {time.monotonic() - t0:.0f} s; going on")


def slow_ops(log, start, end):
    """mongod's "Slow query" log lines (operations over 100 ms) between two offsets of its
    log, grouped by command and plan: where a step's server time went. mongod logs some
    operations twice (an index build by its coordinator and by the command; an update
    statement and its update command): only the command's line counts, with the plan of
    the statement logged just before it on the same connection."""
    try:
        with open(log, "rb") as f:
            f.seek(start)
            data = f.read(end - start)
    except OSError:
        return None
    groups, last_plan = {}, {}
    for line in data.splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue
        if e.get("msg") != "Slow query":
            continue
        at = e.get("attr", {})
        if at.get("type") != "command":
            if at.get("planSummary"):
                last_plan[e.get("ctx")] = at["planSummary"]
            continue
        cmd = at.get("command") or {}
        op = next(iter(cmd), "?")
        if op == "getMore":  # name the command the cursor belongs to
            op = f"getMore of {next(iter(at.get('originatingCommand') or {}), '?')}"
        plan = at.get("planSummary") or last_plan.pop(e.get("ctx"), None)
        key = f"{op} {plan}"
        g = groups.setdefault(key, {"op": op, "plan": plan, "count": 0, "total_ms": 0,
                                    "max_ms": 0})
        ms = at.get("durationMillis", 0)
        g["count"] += 1
        g["total_ms"] += ms
        g["max_ms"] = max(g["max_ms"], ms)
    return sorted(groups.values(), key=lambda g: -g["total_ms"])


def log_size(log):
    try:
        return os.path.getsize(log)
    except OSError:
        return 0


def proc_table():
    """{pid: (comm, utime + stime seconds)} of every process."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    head, rest = f.read().rsplit(")", 1)
                rest = rest.split()
                out[int(d)] = (head.split("(", 1)[1], (int(rest[11]) + int(rest[12])) / CLK_TCK)
            except (OSError, IndexError, ValueError):
                pass
    return out


# a step shared the machine with other work when, besides the measured client, mongod and
# this script, the machine spent more than this many cores and this many CPU seconds
# (/proc/stat counts in 10 ms ticks: a step of 50 ms cannot tell)
DISTURBED, DISTURBED_S = 0.15, 0.5


def culprits(m):
    mc = m.get("machine_cores") or {}
    extra = [f"{k} {mc[k]:.2f} cores" for k in ("irq", "steal") if mc.get(k, 0) >= 0.05]
    return ", ".join((m.get("other_top") or []) + extra) or "no process seen"


def disturbed(m):
    return (m.get("other_cores") or 0) > DISTURBED and (m.get("other_cpu_s") or 0) > DISTURBED_S


class Meter:
    """Wall time, mongod's CPU (when there is a mongod), and the machine's CPU spent
    elsewhere over one step (other_cores: neither the measured client, mongod, nor this
    script; other_top: the processes that used it). The client's CPU is given to done():
    its rusage from os.wait4, which includes the children it waited for."""

    def __init__(self, mongod=None):
        self.mongod = mongod
        self.procs = proc_table()
        self.self0 = sum(os.times()[:2])
        self.t0, self.b0 = time.monotonic(), machine_cpu()
        self.m0 = mongod.cpu() if mongod else 0.0

    def done(self, client_cpu, client_pid=None):
        wall = time.monotonic() - self.t0
        m1, b1 = (self.mongod.cpu() if self.mongod else 0.0), machine_cpu()
        me = sum(os.times()[:2]) - self.self0
        mcpu = m1 - self.m0 if self.m0 is not None and m1 is not None else None
        machine = {k: b1[k] - self.b0[k] for k in b1}
        busy = sum(machine.values())
        procs = proc_table()
        skip = {os.getpid(), client_pid}
        if self.mongod:
            skip.add(self.mongod.proc.pid)
        top = sorted(((cpu - self.procs[pid][1], f"{name}[{pid}]")
                      for pid, (name, cpu) in procs.items()
                      if pid in self.procs and pid not in skip), reverse=True)
        d = {"mongod_cpu_s": round(mcpu, 2) if mcpu is not None else None,
             "mongod_cores": round(mcpu / wall, 2) if mcpu is not None and wall else None,
             "client_cpu_s": round(client_cpu, 2),
             "client_cores": round(client_cpu / wall, 2) if wall else None,
             "other_cores": (round(max(0.0, busy - mcpu - client_cpu - me) / wall, 2)
                             if mcpu is not None and wall else None),
             "other_cpu_s": (round(max(0.0, busy - mcpu - client_cpu - me), 2)
                             if mcpu is not None else None),
             "other_top": [f"{n} {c:.1f}s" for c, n in top[:3] if c >= 0.1],
             # the whole machine, cores: where other_cores went when no process shows it
             "machine_cores": {k: round(v / wall, 2) for k, v in machine.items()} if wall
             else None,
             "processes_started": len(set(procs) - set(self.procs))}
        if not self.mongod:
            del d["mongod_cpu_s"], d["mongod_cores"]
        return wall, d


# ---------------------------------------------------------------------------------------
# inputs: the cached synthetic mirrors
# ---------------------------------------------------------------------------------------

def mirror_options(sizes, full):
    # exactly the options scripts/bench/ingest writes, so the cached mirrors are shared
    return {**sizes, "classes": 600, "labels_per_image": 5.2, "seed": 0,
            "unsorted_labels": False, "crlf": False, "bad_rows": 0,
            "header_on_classes": False, "full": full}


def read_manifest(d):
    try:
        return json.loads((Path(d) / layout.MANIFEST).read_text())
    except (OSError, ValueError):
        return None


def ensure_mirror(cache, name, sizes, full):
    """CACHE/NAME, generated unless its manifest says it has exactly these options."""
    d = Path(cache) / name
    want = mirror_options(sizes, full)
    m = read_manifest(d)
    if m and m.get("options") == want and all((d / f).is_file() for f in m["files"]):
        return d, m, False
    say(f"generating the mirror {d} ({', '.join(f'{s} {n:,}' for s, n in sizes.items())}; "
        f"once, then cached)")
    tmp = Path(cache) / f"{name}.partial-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    argv = [sys.executable, ROOT / "scripts" / "make-mirror", tmp]
    if full:
        argv.append("--full")
    else:
        for s in layout.SPLITS:
            argv += [f"--{s}", sizes[s]]
    try:
        subprocess.run([str(a) for a in argv], check=True, stdout=subprocess.DEVNULL)
        shutil.rmtree(d, ignore_errors=True)
        tmp.rename(d)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    m = read_manifest(d)
    if not m or m.get("options") != want:
        raise BenchError(f"{d}: make-mirror wrote no matching manifest")
    return d, m, True


def fo_sizes(train):
    """N train images; validation and test in the full mirror's proportions."""
    f = layout.FULL_SIZES
    return {"train": train,
            "validation": max(1, round(f["validation"] * train / f["train"])),
            "test": max(1, round(f["test"] * train / f["train"]))}


def describe_mirror(d, m, made):
    return {"dir": str(d), "generated_now": made, "options": m["options"],
            "samples": sum(m["splits"][s]["images"] for s in layout.SPLITS),
            "single_positive": sum(m["splits"][s]["images_with_one_positive"]
                                   for s in layout.SPLITS),
            "bytes": sum(f["bytes"] for f in m["files"].values())}


def warm(d, manifest):
    """Reads every mirror file once, so each ingest starts with a warm page cache."""
    return warm_files(Path(d) / rel for rel in manifest["files"])


def warm_files(paths):
    """Reads every file once (the page cache); returns the bytes read."""
    n = 0
    for p in paths:
        with open(p, "rb") as f:
            while chunk := f.read(1 << 22):
                n += len(chunk)
    return n


# ---------------------------------------------------------------------------------------
# subsetter
# ---------------------------------------------------------------------------------------

def ensure_subsetter(path):
    if path:
        p = Path(path).resolve()
        if not os.access(p, os.X_OK):
            raise BenchError(f"--subsetter {p}: not an executable")
        return p
    p = ROOT / "build" / "release" / "subsetter"
    if not os.access(p, os.X_OK):
        say("building build/release/subsetter (Release)")
        subprocess.run(["cmake", "-S", ROOT, "-B", ROOT / "build" / "release",
                        "-DCMAKE_BUILD_TYPE=Release", "-DSUB_TESTS=OFF"], check=True,
                       stdout=subprocess.DEVNULL)
        subprocess.run(["cmake", "--build", ROOT / "build" / "release", "-j2"], check=True,
                       stdout=subprocess.DEVNULL)
    return p


def describe_subsetter(binary):
    ver = subprocess.run([str(binary), "--version"], capture_output=True, text=True)
    return {"path": str(binary), "version": ver.stdout.strip(),
            "mtime": datetime.datetime.fromtimestamp(
                Path(binary).stat().st_mtime).isoformat(timespec="seconds")}


class Subsetter:
    """Runs subsetter commands with --json in a clean environment: the run's mongod (none:
    commands that need no database), database `db`, media root and cache under tmp."""

    def __init__(self, binary, mongod, tmp, db):
        self.binary, self.mongod = binary, mongod
        self.dir = Path(tmp) / "subsetter"
        (self.dir / "home").mkdir(parents=True, exist_ok=True)
        self.media = self.dir / "media"
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": str(self.dir / "home"), "LANG": os.environ.get("LANG", "C.UTF-8"),
                    "FIFTYONE_DATABASE_NAME": db,
                    "FIFTYONE_DATASET_ZOO_DIR": str(self.media),
                    "SUBSETTER_CACHE_DIR": str(self.dir / "cache"),
                    "SUBSETTER_PROGRESS_INTERVAL_MS": "10000"}
        if mongod:
            self.env["FIFTYONE_DATABASE_URI"] = mongod.uri
        self.n = 0

    def run(self, *args, label):
        """One command with --json, measured from exec to exit. Returns its measurements
        and its JSON result."""
        self.n += 1
        argv = [self.binary, *map(str, args), "--json"]
        stem = self.dir / f"{self.n:02d}-{label}"
        out_p, err_p = stem.with_suffix(".out"), stem.with_suffix(".err")
        log0 = log_size(self.mongod.log) if self.mongod else 0
        with open(out_p, "w+") as out_f, open(err_p, "w+") as err_f:
            meter = Meter(self.mongod)
            p = spawn(argv, cwd=self.dir, env=self.env, stdin=subprocess.DEVNULL, stdout=out_f,
                      stderr=err_f)
            rc, ru = wait_rusage(p)
            wall, load = meter.done(ru.ru_utime + ru.ru_stime, p.pid)
            out_f.seek(0)
            err_f.seek(0)
            stdout, stderr = out_f.read(), err_f.read()
        if rc != 0:
            raise BenchError(f"{label}: exit {rc}\n$ {' '.join(map(str, argv))}\n--- stdout\n"
                             f"{stdout[-2000:]}\n--- stderr\n{stderr[-4000:]}")
        try:
            res = json.loads(stdout)
        except ValueError:
            raise BenchError(f"{label}: stdout is not JSON: {stdout[:500]!r}") from None
        m = {"argv": [str(a) for a in argv[1:]], "wall_s": round(wall, 3),
             "reported_s": round(res["seconds"], 3) if "seconds" in res else None,
             "peak_rss_mib": round(ru.ru_maxrss / 1024, 1), **load}
        if self.mongod:
            m["mongod_slow_ops"] = slow_ops(self.mongod.log, log0, log_size(self.mongod.log))
        m["stderr_tail"] = stderr.splitlines()[-3:]
        return m, res


# ---------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------

def describe_host():
    mem = None
    try:
        with open("/proc/meminfo") as f:
            mem = round(int(f.readline().split()[1]) / 2**20, 1)
    except (OSError, ValueError, IndexError):
        pass
    cpu = None
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None)
    except OSError:
        pass
    return {"hostname": socket.gethostname(), "kernel": platform.release(),
            "cpus": os.cpu_count(), "cpu_model": cpu, "mem_gib": mem}


def git_state():
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--",
                                "service", "include", "CMakeLists.txt"],
                               capture_output=True, text=True).stdout.splitlines()
        return {"head": head or None, "service_changes_uncommitted": len(dirty)}
    except OSError:
        return None


def grid(head, rows):
    """A plain-text table: +---+ lines, one | row | per row, columns left-aligned."""
    rows = [[str(c) for c in r] for r in rows]
    w = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    line = "+-" + "-+-".join("-" * x for x in w) + "-+"
    out = [line, "| " + " | ".join(c.ljust(x) for c, x in zip(head, w)) + " |", line]
    for r in rows:
        out.append("| " + " | ".join(c.ljust(x) for c, x in zip(r, w)) + " |")
    out.append(line)
    return "\n".join(out)


def fmt_s(x):
    return "-" if x is None else (f"{x:.2f} s" if x < 100 else f"{x:,.0f} s")
