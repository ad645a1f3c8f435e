"""Fixtures of the integration suite: the binary, certificates, real mongod servers.

Servers are session-scoped (one of each shape) and always stopped: by the fixture's
finalizer, and by an atexit hook in servers.py should the finalizer never run. A server
that cannot start fails the tests that need it; nothing is ever skipped.
"""
from __future__ import annotations

import itertools
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import servers  # noqa: E402
from servers import (ADMIN_PASSWORD, RO_PASSWORD, RW_PASSWORD, SPECIAL_PASSWORD,  # noqa: E402,F401
                     SPECIAL_USER, Mongod, free_port, mongod_pids_for, run)


def pytest_configure(config):
    # SIGTERM (a CI timeout) unwinds like Ctrl-C, so fixture finalizers stop the servers.
    def on_term(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, on_term)


def pytest_report_header(config):
    return [f"subsetter: {servers.subsetter_binary()}", f"mongod: {servers.mongod_binary()}"]


@pytest.fixture(scope="session", autouse=True)
def subsetter_binary():
    b = servers.subsetter_binary()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no subsetter binary at {b}: build it (cmake --build build/debug) or set "
                    f"SUBSETTER_BIN", pytrace=False)
    return b


@pytest.fixture(scope="session")
def mongod_binary():
    b = servers.mongod_binary()
    if not os.access(b, os.X_OK):
        pytest.fail(f"no mongod at {b}: run scripts/setup (or set SUBSETTER_CACHE_DIR)",
                    pytrace=False)
    return b


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    return servers.make_certs(tmp_path_factory.mktemp("certs"))


def _server(tmp_path_factory, name, **kw):
    m = Mongod(tmp_path_factory.mktemp(name), name=name, **kw)
    try:
        m.start()
    except servers.MongodStartError as e:
        m.stop()
        pytest.fail(f"mongod ({name}) could not start: {e}", pytrace=False)
    return m


@pytest.fixture(scope="session")
def plain_server(tmp_path_factory, mongod_binary):
    m = _server(tmp_path_factory, "plain")
    yield m
    m.stop()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory, mongod_binary, certs):
    m = _server(tmp_path_factory, "tls", tls=certs)
    yield m
    m.stop()


@pytest.fixture(scope="session")
def auth_server(tmp_path_factory, mongod_binary):
    m = _server(tmp_path_factory, "auth", auth=True)
    yield m
    m.stop()


@pytest.fixture(scope="session")
def tls_auth_server(tmp_path_factory, mongod_binary, certs):
    m = _server(tmp_path_factory, "tlsauth", tls=certs, auth=True)
    yield m
    m.stop()


@pytest.fixture(scope="session")
def rs_server(tmp_path_factory, mongod_binary):
    m = _server(tmp_path_factory, "rs", repl_set="rs0")
    yield m
    m.stop()


_db_counter = itertools.count(1)


@pytest.fixture
def fresh_db():
    """A database name no other test uses (for tests that write)."""
    return f"t{next(_db_counter)}_{uuid.uuid4().hex[:10]}"


class Sub:
    """Runs the binary for one test: cwd and HOME are the test's own temp dirs."""

    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.cwd = tmp_path / "cwd"
        self.home = tmp_path / "home"
        self.cwd.mkdir(exist_ok=True)
        self.home.mkdir(exist_ok=True)

    def run(self, *args, env=None, cwd=None, timeout=180):
        return run(list(args), cwd=cwd or self.cwd, home=self.home, env=env, timeout=timeout)

    def popen(self, *args, env=None):
        return servers.popen(list(args), cwd=self.cwd, home=self.home, env=env)


@pytest.fixture
def sub(tmp_path):
    s = Sub(tmp_path)
    yield s
    # Safety net: a command run without a URI or SUBSETTER_HOME would have started an
    # embedded mongod under the test's HOME. Stop it, and say so.
    default_home = s.home / ".subsetter"
    if mongod_pids_for(default_home / "var" / "lib" / "mongo"):
        servers.stop_embedded(default_home, tmp_path)
        pytest.fail("a test left an embedded mongod running under its default SUBSETTER_HOME")


@pytest.fixture
def embedded_home(tmp_path, mongod_binary):
    """A SUBSETTER_HOME whose embedded mongod is always stopped afterwards."""
    home = tmp_path / "subsetter-home"
    home.mkdir()
    servers.register_embedded_home(home)
    yield home
    servers.stop_embedded(home, tmp_path)
    assert mongod_pids_for(home / "var" / "lib" / "mongo") == [], "embedded mongod left running"
