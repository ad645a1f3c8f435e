"""sub_npz_* against numpy and zipfile: the archives load as exactly the arrays written.

The C code runs in npz_cli (tests/unit/npz_main.c), looked up in $SUBSETTER_TEST_BIN_DIR
(default build/debug under the repository). It writes arrays of deterministic content
(its patterns are restated in expected() below) fed in odd-sized pieces. Each member must
be byte for byte what numpy.lib.format.write_array writes for the same array (that is
what np.savez stores), and numpy.load and zipfile must read the archive, the ZIP64 form
included: that one is forced on small archives by lowering the writer's limits, and taken
for real by an archive of more than 65535 members. np.load(mmap_mode=...) is not tried:
numpy ignores it for .npz files.
"""
from __future__ import annotations

import io
import os
import struct
import subprocess
import zipfile
from math import prod
from pathlib import Path

import numpy as np
import pytest

from servers import REPO_ROOT


def driver() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "npz_cli"


@pytest.fixture(scope="module")
def npz_cli():
    b = driver()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"npz_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)

    def run(out, specs, *opts, want_rc=0):
        p = subprocess.run([str(b), *map(str, opts), str(out), *specs], capture_output=True,
                           text=True, timeout=600)
        assert p.returncode == want_rc, p.stderr
        if want_rc == 0:
            assert not p.stderr, p.stderr  # sanitizer reports land here
        return p

    return run


# (name, descr, shape, pattern): a training export's members and the dtypes around them.
CASES = [
    ("images", "|u1", (10, 224, 224, 3), "bytes"),
    ("labels", "<i4", (10,), "count"),
    ("ids", "<i8", (1000,), "count"),
    ("classes", "<U12", (7,), "count"),
    ("no_images", "|u1", (0, 224, 224, 3), "zeros"),
    ("no_classes", "<U12", (0,), "zeros"),
    ("scalar", "<f8", (), "count"),
    ("flags", "|b1", (5, 2), "count"),
    ("weights", "<f4", (33,), "count"),
    ("big_endian", ">i2", (300,), "count"),
    ("complex", "<c16", (4,), "count"),
    ("raw", "|S3", (12,), "count"),
    ("eight_dims", "<u8", (2, 3, 1, 5, 1, 2, 1, 3), "bytes"),
    ("nan_floats", "<f8", (4, 100), "bytes"),
    ("catégorie", "<U3", (2, 2), "count"),
]


def spec(case) -> str:
    name, descr, shape, pattern = case
    return f"{name}:{descr}:{'x'.join(map(str, shape))}:{pattern}"


def expected(descr: str, shape: tuple, pattern: str) -> np.ndarray:
    """The array npz_cli writes (see the patterns in tests/unit/npz_main.c)."""
    dt = np.dtype(descr)
    n = prod(shape)
    if pattern == "zeros":
        return np.zeros(shape, dt)
    if pattern == "bytes":
        k = np.arange(n * dt.itemsize, dtype=np.uint64)
        raw = ((k * 7 + (k >> 11)) & 0xFF).astype(np.uint8)
        return np.frombuffer(raw.tobytes(), dt).reshape(shape)
    i = np.arange(n, dtype=np.uint64)
    if dt.kind in "iu":  # modulo 2**bits, then as the signed or unsigned type
        a = i.astype(f"u{dt.itemsize}").view(f"{dt.kind}{dt.itemsize}").astype(dt)
    elif dt.kind in "fc":
        a = i.astype(np.float64).astype(dt)
    elif dt.kind == "b":
        a = (i % 2).astype(bool)
    elif dt.kind == "S":
        a = np.array([str(j).encode()[:dt.itemsize] for j in range(n)], dtype=dt)
    else:
        a = np.array([(str(j) + "é😀")[:dt.itemsize // 4] for j in range(n)], dtype=dt)
    return a.reshape(shape)


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def check_archive(path: Path, cases) -> None:
    with np.load(path, allow_pickle=False) as f:
        assert f.files == [c[0] for c in cases]
        for name, descr, shape, pattern in cases:
            got, want = f[name], expected(descr, shape, pattern)
            assert (got.dtype, got.shape) == (want.dtype, want.shape), name
            assert got.tobytes() == want.tobytes(), name
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        for info, (name, descr, shape, pattern) in zip(z.infolist(), cases):
            assert info.filename == name + ".npy"
            assert info.compress_type == zipfile.ZIP_STORED
            assert info.date_time == (1980, 1, 1, 0, 0, 0)
            assert z.read(info) == npy_bytes(expected(descr, shape, pattern)), name


def test_arrays_load_exactly(npz_cli, tmp_path):
    out = tmp_path / "train.npz"
    npz_cli(out, [spec(c) for c in CASES])
    check_archive(out, CASES)
    assert not (tmp_path / "train.npz.part").exists()


def test_same_arrays_same_bytes(npz_cli, tmp_path):
    """A second run, and runs fed in other pieces, give the same file."""
    small = [c for c in CASES if prod(c[2]) < 10_000]
    runs = [(), ("--chunk", 1), ("--chunk", 4096), ()]
    paths = []
    for k, opts in enumerate(runs):
        paths.append(tmp_path / f"{k}.npz")
        npz_cli(paths[-1], [spec(c) for c in small], *opts)
    first = paths[0].read_bytes()
    assert all(p.read_bytes() == first for p in paths[1:])
    check_archive(paths[0], small)


def test_matches_np_savez_members(npz_cli, tmp_path):
    """np.savez of the same arrays holds the same members, byte for byte."""
    out, ref = tmp_path / "ours.npz", tmp_path / "numpy.npz"
    npz_cli(out, [spec(c) for c in CASES])
    np.savez(ref, **{c[0]: expected(*c[1:]) for c in CASES})
    with zipfile.ZipFile(out) as a, zipfile.ZipFile(ref) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            assert a.read(name) == b.read(name), name


def end_records(data: bytes) -> tuple[int, bool]:
    """The member count of the plain end record and whether ZIP64 end records precede it."""
    count = struct.unpack_from("<H", data, len(data) - 22 + 10)[0]
    return count, data[-42:-38] == b"PK\x06\x07"


@pytest.mark.parametrize("limit", [0, 1000, 300_000, 2_000_000])
def test_forced_zip64(npz_cli, tmp_path, limit):
    """Limits lowered to `limit` bytes and 3 members: sizes, offsets, the directory and the
    count go to ZIP64 records, where a 4 GiB archive would put them."""
    out = tmp_path / "z64.npz"
    npz_cli(out, [spec(c) for c in CASES], "--zip64-limit", limit, "--count-limit", 3)
    check_archive(out, CASES)
    count, zip64_end = end_records(out.read_bytes())
    assert zip64_end and count == 0xFFFF
    with zipfile.ZipFile(out) as z:
        for info in z.infolist():
            needs = info.file_size >= limit or info.header_offset >= limit
            assert (info.extract_version == 45) == needs, info
            assert (b"\x01\x00" == info.extra[:2]) == needs, info


@pytest.mark.parametrize("n", [65535, 65536])
def test_many_members(npz_cli, tmp_path, n):
    """65535 members and up: the count only fits the ZIP64 end record."""
    out = tmp_path / "many.npz"
    npz_cli(out, [], "--many", n)
    count, zip64_end = end_records(out.read_bytes())
    assert (count, zip64_end) == (0xFFFF, True)
    with np.load(out) as f:
        assert f.files == [f"m{i}" for i in range(n)]
        for i in [*range(0, n, 997), n - 1]:
            v = f[f"m{i}"]
            assert (v.dtype, v.shape, int(v)) == (np.dtype("<i4"), (), i)
    with zipfile.ZipFile(out) as z:
        assert z.testzip() is None


def test_few_members_no_zip64(npz_cli, tmp_path):
    out = tmp_path / "few.npz"
    npz_cli(out, [], "--many", 65534)
    assert end_records(out.read_bytes()) == (65534, False)


def test_empty_archive(npz_cli, tmp_path):
    out = tmp_path / "empty.npz"
    npz_cli(out, [])
    with np.load(out) as f:
        assert f.files == []
    assert zipfile.ZipFile(out).namelist() == []


def test_disk_full(npz_cli, tmp_path):
    """A write that meets a full disk fails with the IO exit code, naming the file, and
    leaves nothing behind."""
    out = tmp_path / "full.npz"
    part = tmp_path / "full.npz.part"
    part.symlink_to("/dev/full")  # opened through the link: every write fails with ENOSPC
    p = npz_cli(out, ["images:|u1:30x224x224x3:zeros"], want_rc=10)
    assert f"IO: write {part}: No space left on device" in p.stderr
    assert not os.path.lexists(part) and not out.exists()


def test_abort_leaves_nothing(npz_cli, tmp_path):
    npz_cli(tmp_path / "gone.npz", [spec(CASES[0])], "--abort")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_dtype(npz_cli, tmp_path):
    p = npz_cli(tmp_path / "bad.npz", ["x:<u1:3:zeros"], want_rc=1)
    assert "unsupported dtype '<u1'" in p.stderr
    assert list(tmp_path.iterdir()) == []
