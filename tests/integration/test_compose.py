"""Dockerfile and docker-compose.yml, checked without a Docker engine.

- docker-compose.yml: what the real `docker-compose config` (Debian 12's docker-compose
  1.29, which scripts/setup installs; Compose v2 works too) resolves, with a temporary
  .env made from .env.example: the worker's command, volumes, environment, healthcheck,
  stop signal and grace period, init, user; the profile db's mongo service.
- Dockerfile: parsed: two stages on debian:bookworm-slim, a non-root USER, HEALTHCHECK,
  ENTRYPOINT and CMD; and every library the binary links comes from a package that the
  runtime stage's apt-get line installs (or one every Debian image has), found with
  readelf, ldd and dpkg -S on this Debian bookworm machine.
- .dockerignore keeps every build input and drops secrets and local builds.
- The healthcheck's command, run against a real mongod: exit 0 when the database is
  usable, not 0 when it is unreachable or the user lacks privileges.

What needs an engine (building the image, starting containers, signals reaching PID 1,
bind-mount permissions) is not tested here.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from servers import REPO_ROOT, RO_PASSWORD, free_port

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
SETUP_SCRIPT = REPO_ROOT / "scripts" / "setup"
SETTINGS_H = REPO_ROOT / "include" / "subsetter" / "settings.h"

BASE_IMAGE = "debian:bookworm-slim"
IMAGE_USER = "10001"
DEFAULT_JOB = "open-images-v7-100.yaml"
URI = "mongodb://subsetter:pw@db.example.org:27017/?authSource=admin"
# Compose-only variables: read by docker-compose.yml, never settings of the binary.
COMPOSE_VARS = {"SUBSETTER_JOB", "SUBSETTER_MEDIA_DIR", "SUBSETTER_MEDIA_MOUNT",
                "SUBSETTER_EXPORT_DIR", "SUBSETTER_UID", "SUBSETTER_GID",
                "SUBSETTER_MONGO_PORT"}
# Sanitizer runtimes: linked by the Sanitize build only, never part of the image.
SANITIZER_LIBS = re.compile(r"^lib(asan|ubsan|lsan|tsan|hwasan)\.so")


# ---------------------------------------------------------------------------------------
# docker-compose
# ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def compose_bin():
    b = shutil.which("docker-compose")
    if not b:
        pytest.fail("docker-compose is not installed: run scripts/setup (it installs Debian's "
                    "docker-compose package)", pytrace=False)
    return b


def compose_version(compose_bin) -> str:
    p = subprocess.run([compose_bin, "version", "--short"], capture_output=True, text=True,
                       timeout=60, env=_compose_env(Path("/tmp")))
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().lstrip("v")


def _compose_env(home: Path) -> dict:
    # Nothing of the caller's SUBSETTER_*/FIFTYONE_*/COMPOSE_* may change what is resolved.
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "LANG": "C.UTF-8"}


def _yaml_to_json(compose_bin, text: str):
    """docker-compose 1.x prints YAML only; its own interpreter has PyYAML."""
    first = Path(compose_bin).read_bytes()[:200].split(b"\n", 1)[0]
    if not first.startswith(b"#!"):
        raise AssertionError(f"{compose_bin} is no script; cannot find its YAML library")
    interp = shlex.split(first[2:].decode())
    p = subprocess.run(interp + ["-c", "import json, sys, yaml; "
                                       "json.dump(yaml.safe_load(sys.stdin), sys.stdout)"],
                       input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


class Project:
    """docker-compose.yml copied into a temp dir with a .env: relative paths resolve
    there, and the repository's own .env (if any) plays no part."""

    def __init__(self, compose_bin, root: Path, env_lines=None, compose_text=None,
                 write_env=True):
        self.bin = compose_bin
        self.root = root
        self.home = root / "home"
        self.home.mkdir(parents=True, exist_ok=True)
        (root / "docker-compose.yml").write_text(compose_text or COMPOSE_FILE.read_text())
        if write_env:
            text = ENV_EXAMPLE.read_text()
            if env_lines:
                text += "\n# test\n" + "\n".join(env_lines) + "\n"
            (root / ".env").write_text(text)

    def run(self, *args):
        return subprocess.run([self.bin, "-f", "docker-compose.yml", *args], cwd=self.root,
                              env=_compose_env(self.home), capture_output=True, text=True,
                              timeout=120)

    def config(self, *pre):
        p = self.run(*pre, "config")
        assert p.returncode == 0, f"docker-compose config failed:\n{p.stderr}"
        v = self.version = compose_version(self.bin)
        if v.startswith("1."):
            return _yaml_to_json(self.bin, p.stdout)
        p = self.run(*pre, "config", "--format", "json")
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)


def volumes(service) -> dict:
    """{container path: (host path or volume name, read_only)}, short or long syntax."""
    out = {}
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out[v["target"]] = (v.get("source"), bool(v.get("read_only")))
        else:
            parts = v.split(":")
            mode = parts[2] if len(parts) > 2 else "rw"
            out[parts[1]] = (parts[0], "ro" in mode.split(","))
    return out


def environment(service) -> dict:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env)
    return env


def seconds(d) -> float:
    """Compose durations: 90, "1m", "1m30s", "30s", "1m0s"."""
    if isinstance(d, (int, float)):
        return d / 1e9 if d > 10**6 else float(d)  # v2 JSON may give nanoseconds
    units = {"h": 3600, "m": 60, "s": 1, "ms": 1e-3, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", d)
    assert parts and "".join(a + b for a, b in parts) == d, f"not a duration: {d!r}"
    return sum(float(a) * units[b] for a, b in parts)


def test_worker_defaults(compose_bin, tmp_path):
    """The .env as .env.example ships it, plus a URI: the defaults of every knob."""
    proj = Project(compose_bin, tmp_path, [f"FIFTYONE_DATABASE_URI={URI}"])
    cfg = proj.config()
    w = cfg["services"]["worker"]

    assert w["command"] == ["run", f"/jobs/{DEFAULT_JOB}"]
    assert (REPO_ROOT / "jobs" / DEFAULT_JOB).is_file()
    assert w["image"] == "subsetter:local"
    build = w["build"]
    assert Path(build["context"] if isinstance(build, dict) else build) == tmp_path

    assert volumes(w) == {
        "/jobs": (str(tmp_path / "jobs"), True),
        "/data/media": (str(tmp_path / "media"), False),
        "/data/exports": (str(tmp_path / "exports"), False),
        "/data/cache": (str(tmp_path / "cache"), False),
    }
    env = environment(w)
    # env_file: .env reaches the container (compose folds it into `environment`) ...
    assert env["FIFTYONE_DATABASE_URI"] == URI
    assert env["FIFTYONE_DATABASE_NAME"] == "fiftyone"
    # ... and the paths inside the container win over the .env's (~/fiftyone there).
    assert env["FIFTYONE_DATASET_ZOO_DIR"] == "/data/media"
    assert env["SUBSETTER_EXPORT_DIR"] == "/data/exports"
    assert env["SUBSETTER_CACHE_DIR"] == "/data/cache"

    hc = w["healthcheck"]
    assert hc["test"] == ["CMD", "subsetter", "doctor", "--json", "--quiet"]
    # Longer than doctor may take to give up on a server (the selection timeout, 10 s).
    assert seconds(hc["timeout"]) > 10
    assert seconds(hc["interval"]) >= seconds(hc["timeout"])
    assert w["stop_signal"] == "SIGTERM"
    assert seconds(w["stop_grace_period"]) == 120
    assert w["init"] is True
    assert w["user"] == f"{IMAGE_USER}:{IMAGE_USER}"
    assert w["restart"] == "no"
    # A plain `up` must not need the profile db's service.
    assert "depends_on" not in w and "profiles" not in w


def test_worker_variables(compose_bin, tmp_path):
    """The compose-only variables choose the job, the host folders and the user; inside
    the container the paths stay what the job files and the image expect."""
    proj = Project(compose_bin, tmp_path, [
        f"FIFTYONE_DATABASE_URI={URI}",
        "SUBSETTER_JOB=open-images-v7-30.yaml",
        "SUBSETTER_MEDIA_DIR=/srv/fiftyone",
        "SUBSETTER_MEDIA_MOUNT=/srv/fiftyone",
        "SUBSETTER_EXPORT_DIR=/srv/exports",
        "SUBSETTER_UID=1000",
        "SUBSETTER_GID=1001",
        "SUBSETTER_CACHE_DIR=/somewhere/else",
        "FIFTYONE_DATASET_ZOO_DIR=/not/this/one",
    ])
    w = proj.config()["services"]["worker"]
    assert w["command"] == ["run", "/jobs/open-images-v7-30.yaml"]
    assert (REPO_ROOT / "jobs" / "open-images-v7-30.yaml").is_file()
    vols = volumes(w)
    assert vols["/srv/fiftyone"] == ("/srv/fiftyone", False)
    assert vols["/data/exports"] == ("/srv/exports", False)
    assert "/data/media" not in vols
    env = environment(w)
    assert env["FIFTYONE_DATASET_ZOO_DIR"] == "/srv/fiftyone"
    assert env["SUBSETTER_EXPORT_DIR"] == "/data/exports"
    assert env["SUBSETTER_CACHE_DIR"] == "/data/cache"
    assert w["user"] == "1000:1001"


def test_tls_example(compose_bin, tmp_path):
    """.env.example's container TLS URI names a CA file under the mount that the worker's
    commented volume line provides; uncommented, both resolve as documented."""
    uris = re.findall(r"^#\s*FIFTYONE_DATABASE_URI=(\S*tlsCAFile=/certs/\S*)$",
                      ENV_EXAMPLE.read_text(), re.M)
    assert uris, ".env.example has no container TLS example (tlsCAFile=/certs/...)"
    uri = uris[0]
    assert "authSource=admin" in uri and "tls=true" in uri
    text = COMPOSE_FILE.read_text()
    line = "      # - ./certs:/certs:ro\n"
    assert line in text, "docker-compose.yml lost the commented CA volume line"
    proj = Project(compose_bin, tmp_path, [f"FIFTYONE_DATABASE_URI={uri}"],
                   compose_text=text.replace(line, "      - ./certs:/certs:ro\n"))
    w = proj.config()["services"]["worker"]
    assert volumes(w)["/certs"] == (str(tmp_path / "certs"), True)
    assert environment(w)["FIFTYONE_DATABASE_URI"] == uri
    ca = re.search(r"tlsCAFile=([^&]+)", uri).group(1)
    assert ca.startswith("/certs/")


def test_env_file_is_required(compose_bin, tmp_path):
    """docker-compose 1.29 has no `required: false`: without .env it stops, which is why
    the README says `cp .env.example .env` first."""
    p = Project(compose_bin, tmp_path, write_env=False).run("config")
    assert p.returncode != 0
    assert ".env" in p.stderr, p.stderr


def test_profile_db(compose_bin, tmp_path):
    proj = Project(compose_bin, tmp_path, ["FIFTYONE_DATABASE_URI=mongodb://mongo:27017/"])
    cfg = proj.config("--profile", "db")
    m = cfg["services"]["mongo"]
    assert m["image"] == "mongo:6.0"
    assert m["profiles"] == ["db"]
    assert volumes(m)["/data/db"][0] == "mongo-data"
    assert "mongo-data" in cfg["volumes"]
    assert m["healthcheck"]["test"][:2] == ["CMD", "mongosh"]
    assert "ping" in " ".join(m["healthcheck"]["test"])
    ports = m.get("ports", [])
    published = [p if isinstance(p, str) else f"{p.get('host_ip')}:{p['published']}:{p['target']}"
                 for p in ports]
    assert all(p.startswith("127.0.0.1:") for p in published), published
    w = cfg["services"]["worker"]
    assert "depends_on" not in w
    assert environment(w)["FIFTYONE_DATABASE_URI"] == "mongodb://mongo:27017/"
    p = proj.run("config", "--profiles")
    if p.returncode == 0:  # 1.29 and v2 both have it
        assert p.stdout.split() == ["db"]
    # The URI .env.example gives for this profile is the service's name and port.
    assert "#FIFTYONE_DATABASE_URI=mongodb://mongo:27017/\n" in ENV_EXAMPLE.read_text()


def setting_names() -> set:
    return set(re.findall(r'X\(\w+,\s*"(\w+)"', SETTINGS_H.read_text()))


def test_compose_variables_documented():
    """Every ${VAR} of docker-compose.yml is in .env.example, and the compose-only ones
    are not settings of the binary (so .env.example's claim holds)."""
    used = set(re.findall(r"\$\{(\w+)", COMPOSE_FILE.read_text()))
    assert used == COMPOSE_VARS, used ^ COMPOSE_VARS
    example = ENV_EXAMPLE.read_text()
    for v in sorted(used):
        assert re.search(rf"^#?{v}=", example, re.M), f"{v} is not in .env.example"
    assert not used & setting_names()
    # The settings the compose file pins inside the container are real settings.
    assert {"FIFTYONE_DATASET_ZOO_DIR", "SUBSETTER_CACHE_DIR"} <= setting_names()


# ---------------------------------------------------------------------------------------
# Dockerfile
# ---------------------------------------------------------------------------------------

def dockerfile_stages():
    """[(from-line args, [(INSTRUCTION, args), ...]), ...]: continuations joined, comments
    and parser directives dropped."""
    logical, cur = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        s = raw.strip()
        if not cur and (not s or s.startswith("#")):
            continue
        if cur and s.startswith("#"):
            continue  # a comment inside a continued instruction
        if s.endswith("\\"):
            cur += s[:-1] + " "
            continue
        logical.append(cur + s)
        cur = ""
    assert not cur, "Dockerfile ends inside a continued line"
    stages = []
    for line in logical:
        instr, _, args = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            stages.append((args.strip(), []))
        else:
            assert stages, f"instruction before FROM: {line}"
            stages[-1][1].append((instr, args.strip()))
    return stages


def instrs(stage, name):
    return [a for i, a in stage[1] if i == name]


def apt_packages(stage) -> set:
    pkgs = set()
    for run in instrs(stage, "RUN"):
        for cmd in re.split(r"&&|;", run):
            words = cmd.split()
            if "apt-get" in words and "install" in words:
                pkgs |= {w for w in words[words.index("install") + 1:] if not w.startswith("-")}
    return pkgs


def test_dockerfile_stages():
    stages = dockerfile_stages()
    assert len(stages) == 2, [s[0] for s in stages]
    build, runtime = stages
    assert build[0].split()[0] == BASE_IMAGE and runtime[0].split()[0] == BASE_IMAGE
    assert re.fullmatch(rf"{re.escape(BASE_IMAGE)}\s+AS\s+build", build[0], re.I), build[0]
    # The build stage builds the Release binary without the unit tests (an option that
    # must exist under that name in CMakeLists.txt).
    cmake = " ".join(instrs(build, "RUN"))
    assert "-DCMAKE_BUILD_TYPE=Release" in cmake and "-DSUB_TESTS=OFF" in cmake
    assert re.search(r"^option\(SUB_TESTS\b", (REPO_ROOT / "CMakeLists.txt").read_text(), re.M)
    # ... with the -dev packages, cmake and pkg-config of scripts/setup's list.
    m = re.search(r"^PACKAGES=\(([^)]*)\)", SETUP_SCRIPT.read_text(), re.M)
    setup_pkgs = set(m.group(1).split())
    needed = {p for p in setup_pkgs if p.endswith("-dev")} | {"cmake", "pkg-config",
                                                                "build-essential"}
    assert needed <= setup_pkgs | {"build-essential"}
    missing = needed - apt_packages(build)
    assert not missing, f"the build stage does not install {sorted(missing)}"
    # The runtime stage gets the binary from the build stage, and nothing to build with.
    copies = instrs(runtime, "COPY")
    assert any(c.startswith("--from=build") and c.split()[-1] == "/usr/local/bin/subsetter"
               for c in copies), copies
    assert not {p for p in apt_packages(runtime) if p.endswith("-dev")} | (
        apt_packages(runtime) & {"build-essential", "cmake", "gcc"})


def test_dockerfile_runtime_settings():
    runtime = dockerfile_stages()[-1]
    users = instrs(runtime, "USER")
    assert users, "the runtime stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), users[-1]
    assert user == IMAGE_USER
    assert any(f"--uid {IMAGE_USER}" in r and "/data" in r for r in instrs(runtime, "RUN"))
    assert any(f"chown -R {IMAGE_USER}:{IMAGE_USER} /data" in r for r in instrs(runtime, "RUN"))
    assert instrs(runtime, "WORKDIR")[-1] == "/app"
    assert json.loads(instrs(runtime, "ENTRYPOINT")[-1]) == ["subsetter"]
    cmd = json.loads(instrs(runtime, "CMD")[-1])
    assert cmd == ["run", f"/jobs/{DEFAULT_JOB}"]
    copies = instrs(runtime, "COPY")
    assert "jobs/ /app/jobs/" in copies and "jobs/ /jobs/" in copies
    hc = instrs(runtime, "HEALTHCHECK")
    assert len(hc) == 1
    opts, _, test = hc[0].partition(" CMD ")
    assert json.loads(test) == ["subsetter", "doctor", "--json", "--quiet"]
    timeout = re.search(r"--timeout=(\S+)", opts).group(1)
    assert seconds(timeout) > 10
    env = " ".join(instrs(runtime, "ENV"))
    for kv in ("FIFTYONE_DATASET_ZOO_DIR=/data/media", "SUBSETTER_EXPORT_DIR=/data/exports",
               "SUBSETTER_CACHE_DIR=/data/cache"):
        assert kv in env
    assert instrs(runtime, "STOPSIGNAL") == ["SIGTERM"]


def os_codename() -> str:
    text = Path("/etc/os-release").read_text()
    m = re.search(r'^VERSION_CODENAME="?(\w+)', text, re.M)
    return m.group(1) if m else ""


def dpkg_owner(path: str) -> str:
    """The package holding a library, trying the usrmerge aliases /lib <-> /usr/lib."""
    cands = [path, os.path.realpath(path)]
    for c in list(cands):
        if c.startswith("/usr/lib/"):
            cands.append(c[4:])
        elif c.startswith("/lib/"):
            cands.append("/usr" + c)
    for c in cands:
        p = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True, timeout=60)
        if p.returncode == 0:
            return p.stdout.split(":")[0].split(",")[0].strip()
    raise AssertionError(f"no Debian package holds {path} (tried {cands})")


# In every debian:bookworm-slim image (the Essential packages depend on them) though
# their Priority is optional.
BASE_PACKAGES = {"libc6", "libgcc-s1"}


def in_base_image(pkg: str) -> bool:
    """Essential and Priority: required packages are in every Debian image, bookworm-slim
    included, and so is what they depend on (BASE_PACKAGES, for the libraries a C binary
    may link)."""
    if pkg in BASE_PACKAGES:
        return True
    p = subprocess.run(["dpkg-query", "-W", "-f=${Priority} ${Essential}", pkg],
                       capture_output=True, text=True, timeout=60)
    return p.returncode == 0 and (p.stdout.split()[0] == "required" or "yes" in p.stdout)


def test_runtime_stage_installs_every_linked_library(subsetter_binary):
    """readelf's NEEDED list of the binary (build/release/subsetter if built, and the
    test binary, $SUBSETTER_BIN), each library mapped to its package: each package must be
    on the runtime stage's apt-get line, or be one every Debian image has. Libraries those
    pull in come with them (apt follows Depends)."""
    from_codename = BASE_IMAGE.split(":")[1].split("-")[0]
    if os_codename() != from_codename:
        pytest.fail(f"this check maps libraries to Debian {from_codename} packages (the "
                    f"image's release), but this machine is '{os_codename() or 'unknown'}': "
                    f"run it on Debian 12, where scripts/setup works", pytrace=False)
    for tool in ("readelf", "ldd", "dpkg"):
        if not shutil.which(tool):
            pytest.fail(f"{tool} is missing: run scripts/setup", pytrace=False)
    runtime_pkgs = apt_packages(dockerfile_stages()[-1])
    binaries = {Path(subsetter_binary).resolve()}
    release = REPO_ROOT / "build" / "release" / "subsetter"
    if release.is_file():
        binaries.add(release.resolve())
    checked = {}
    for b in sorted(binaries):
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", str(b)], capture_output=True,
                                           text=True, check=True).stdout)
        assert needed, f"readelf found no NEEDED entries in {b}"
        ldd = subprocess.run(["ldd", str(b)], capture_output=True, text=True, check=True).stdout
        where = dict(re.findall(r"^\s*(\S+) => (\S+)", ldd, re.M))
        for lib in needed:
            if SANITIZER_LIBS.match(lib):
                continue
            assert where.get(lib) and where[lib] != "not", f"{b}: ldd cannot find {lib}"
            pkg = dpkg_owner(where[lib])
            checked[lib] = pkg
            assert pkg in runtime_pkgs or in_base_image(pkg), (
                f"{b.name} links {lib} ({where[lib]}, package {pkg}), which the Dockerfile's "
                f"runtime stage does not install: add {pkg} to its apt-get line")
    # The libraries this project is built on are among them, so the check checked them.
    assert {"libmongoc-1.0-0", "libbson-1.0-0", "libcurl4", "libssl3", "libyaml-0-2",
            "libturbojpeg0"} <= set(checked.values()), checked
    # HTTPS downloads and TLS without a tlsCAFile need the CA bundle.
    assert "ca-certificates" in runtime_pkgs
    # Every package named exists in this release (catches a typo without Docker).
    for pkg in sorted(runtime_pkgs | apt_packages(dockerfile_stages()[0])):
        p = subprocess.run(["apt-cache", "show", "--no-all-versions", pkg],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0 and p.stdout.strip(), f"apt-cache knows no package {pkg}"


# ---------------------------------------------------------------------------------------
# .dockerignore
# ---------------------------------------------------------------------------------------

def _pattern_regex(pat: str) -> re.Pattern:
    """Docker's .dockerignore matching (Go filepath.Match plus `**`), anchored at the
    context root; a pattern matching a directory excludes what is under it."""
    out, i = "", 0
    while i < len(pat):
        c = pat[i]
        if pat.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
            continue
        if pat.startswith("**", i):
            out += ".*"
            i += 2
            continue
        out += {"*": "[^/]*", "?": "[^/]"}.get(c, re.escape(c))
        i += 1
    return re.compile(out + "(?:/.*)?")


def dockerignored(path: str) -> bool:
    excluded = False
    for raw in (REPO_ROOT / ".dockerignore").read_text().splitlines():
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        neg = s.startswith("!")
        pat = os.path.normpath(s[1:] if neg else s).lstrip("/")
        if _pattern_regex(pat).fullmatch(path):
            excluded = not neg
    return excluded


def test_dockerignore():
    cmakelists = (REPO_ROOT / "CMakeLists.txt").read_text()
    inputs = set(re.findall(r"(?:service|scripts|tests)/[\w/.-]+\.c\b", cmakelists))
    inputs |= {"CMakeLists.txt", "cmake/embed.cmake", "include/subsetter/version.h.in",
               "jobs/" + DEFAULT_JOB}
    inputs |= {str(p.relative_to(REPO_ROOT)) for d in ("include", "sql-free-schemas", "service")
               for p in (REPO_ROOT / d).rglob("*") if p.is_file()}
    kept_out = sorted(p for p in inputs if dockerignored(p))
    assert not kept_out, f".dockerignore excludes build inputs: {kept_out}"
    for p in (".env", ".git/config", "build/release/subsetter", "build-x/a", ".venv/bin/python",
              ".venv-fiftyone/x", "exports/a/b.jpg", "media/open-images-v7/x.jpg",
              "certs/ca.pem", "scripts/bench/results/x.json", "cache/sources/x.csv",
              "tests/integration/__pycache__/x.pyc"):
        assert dockerignored(p), f".dockerignore lets {p} into the build context"
    assert not dockerignored(".env.example")


# ---------------------------------------------------------------------------------------
# The healthcheck's command against real servers
# ---------------------------------------------------------------------------------------

HEALTH_ARGS = ["doctor", "--json", "--quiet"]
CONTAINER_ENV = {"FIFTYONE_DATASET_ZOO_DIR": "/data/media", "SUBSETTER_EXPORT_DIR": "/data/exports"}


def test_healthcheck_healthy(sub, plain_server):
    r = sub.run(*HEALTH_ARGS, env={**CONTAINER_ENV, "FIFTYONE_DATABASE_URI": plain_server.uri()})
    assert r.rc == 0, r
    assert r.json()["ok"] is True
    assert r.stderr == "", r  # --quiet: nothing but errors


def test_healthcheck_unreachable(sub):
    r = sub.run(*HEALTH_ARGS, env={**CONTAINER_ENV,
                                   "FIFTYONE_DATABASE_URI": f"mongodb://127.0.0.1:{free_port()}/",
                                   "SUBSETTER_SERVER_SELECTION_TIMEOUT_MS": "1500"})
    assert r.rc == 4, r
    assert r.json()["ok"] is False


def test_healthcheck_missing_privileges(sub, auth_server):
    uri = auth_server.uri("ro", RO_PASSWORD, authSource="admin")
    r = sub.run(*HEALTH_ARGS, env={**CONTAINER_ENV, "FIFTYONE_DATABASE_URI": uri})
    assert r.rc == 8, r
    assert RO_PASSWORD not in r.out
