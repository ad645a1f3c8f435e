"""scripts/mirror-server for the integration tests: start, fault scripts, request log, stop.

One class shared by every test that talks HTTP to the mirror server. The server serves a
directory on a free loopback port (--port 0); its first stdout line names the URL. The
child dies with pytest (PR_SET_PDEATHSIG), and a server that does not start fails the test
with its first line and its stderr.
"""
from __future__ import annotations

import json
import select
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

from servers import REPO_ROOT, _pdeathsig

SCRIPT = REPO_ROOT / "scripts" / "mirror-server"
START_TIMEOUT = 30.0


class MirrorServer:
    """scripts/mirror-server on a free loopback port, serving `root`.

    `faults`, when given, is the initial fault script (passed as --faults JSON). Use as a
    context manager, or call stop() (which is idempotent)."""

    def __init__(self, root: Path, faults: dict | None = None):
        self.root = Path(root)
        if not SCRIPT.is_file():
            pytest.fail(f"{SCRIPT} is missing", pytrace=False)
        args = [sys.executable, str(SCRIPT), str(self.root), "--port", "0"]
        if faults:
            args += ["--faults", json.dumps(faults)]
        # stderr goes to a file, not a pipe: nobody reads it while the server runs.
        self._stderr = tempfile.TemporaryFile(mode="w+", prefix="mirror-server-")
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self._stderr,
                                     text=True, preexec_fn=_pdeathsig)
        line = self._first_line()
        if not line.startswith("listening on http://"):
            self._terminate()
            err = self._stderr_text()
            self.stop()
            pytest.fail(f"mirror-server did not start: {line!r} {err}", pytrace=False)
        self.url = line.split()[2]

    def _first_line(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                return self.proc.stdout.readline()
            if self.proc.poll() is not None:
                return self.proc.stdout.readline()
        return f"(no line within {START_TIMEOUT:.0f} s)"

    def _stderr_text(self) -> str:
        try:
            self._stderr.seek(0)
            return self._stderr.read()
        except (OSError, ValueError):
            return ""

    def _call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"null")

    def faults(self, script: dict):
        """Replaces the server's fault script."""
        self._call("POST", "__faults", script)

    def log(self) -> list[dict]:
        """The requests the server has seen since the last reset."""
        return self._call("GET", "__log")

    def reset(self):
        """No faults and an empty request log."""
        self._call("DELETE", "__faults")
        self._call("DELETE", "__log")

    def _terminate(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def stop(self):
        self._terminate()
        if not self._stderr.closed:
            self._stderr.close()
        if self.proc.stdout and not self.proc.stdout.closed:
            self.proc.stdout.close()

    def __enter__(self) -> "MirrorServer":
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
