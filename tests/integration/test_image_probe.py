"""sub_image_probe() and sub_image_verify() against Pillow, on files Pillow writes.

The C code runs in image_probe (tests/unit/image_probe_main.c), looked up in
$SUBSETTER_TEST_BIN_DIR (default build/debug under the repository); it prints one JSON line
per file. The reference is what FiftyOne's compute_metadata stores for a local image:
width/height from PIL.Image.open (a header read), swapped for a JPEG whose EXIF Orientation
is 5-8; num_channels = len(img.getbands()); mime_type from the extension
(mimetypes.guess_type, else "application/octet-stream"); size_bytes from the file size.
That rule is restated here with Pillow, and checked once against FiftyOne 1.11.0 itself
(ImageMetadata.build_for, in its own venv: SUBSETTER_FIFTYONE_VENV, default .venv-fiftyone).
"""
from __future__ import annotations

import io
import json
import mimetypes
import os
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from servers import REPO_ROOT

# Python < 3.13 knows .webp only from the system's mime.types.
MIME_FALLBACK = {".webp": "image/webp"}
FIFTYONE_VENV = Path(os.environ.get("SUBSETTER_FIFTYONE_VENV", REPO_ROOT / ".venv-fiftyone"))
FIFTYONE_METADATA = """
import json, sys
import fiftyone.core.metadata as fom
for path in sys.argv[1:]:
    d = fom.ImageMetadata.build_for(path).to_dict()
    print(json.dumps({k: d[k] for k in d if k != "_id"}))
"""


def driver() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "image_probe"


@pytest.fixture(scope="module")
def probe():
    b = driver()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"image_probe) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)

    def run(paths, *opts, want_rc=None):
        p = subprocess.run([str(b), *opts, *map(str, paths)], capture_output=True, text=True,
                           timeout=120)
        # Sanitizer reports land here. libmongoc's shared-memory fallback notice is not a
        # fault of the code under test (see servers.SANITIZER_VARS).
        stderr = "".join(l for l in p.stderr.splitlines(True)
                         if "Falling back to malloc for counters" not in l)
        assert not stderr, p.stderr
        if want_rc is not None:
            assert p.returncode == want_rc, p.stdout
        rows = [json.loads(line) for line in p.stdout.splitlines()]
        assert len(rows) == len(paths)
        return rows

    return run


def fiftyone_metadata(path: Path) -> dict:
    """FiftyOne's ImageMetadata._build_for_local, field by field, without FiftyOne."""
    with Image.open(path) as img:
        flip = img.format == "JPEG" and img.getexif().get(0x0112) in {5, 6, 7, 8}
        width, height = (img.height, img.width) if flip else (img.width, img.height)
        channels = len(img.getbands())
    mime = mimetypes.guess_type(str(path))[0] or MIME_FALLBACK.get(path.suffix.lower()) \
        or "application/octet-stream"
    return {"_cls": "ImageMetadata", "size_bytes": path.stat().st_size, "mime_type": mime,
            "width": width, "height": height, "num_channels": channels}


def pil_header(path: Path) -> dict:
    with Image.open(path) as img:
        return {"format": img.format, "mode": img.mode, "width": img.width,
                "height": img.height, "orientation": img.getexif().get(0x0112, 1)}


def pattern(mode: str, size: tuple[int, int]) -> Image.Image:
    """An image with some content, so encoders produce real data."""
    base = Image.radial_gradient("L").resize(size)
    rgb = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                              base.transpose(Image.Transpose.FLIP_TOP_BOTTOM)))
    if mode == "RGBA":
        return Image.merge("RGBA", (*rgb.split(), base))
    if mode == "LA":
        return Image.merge("LA", (base, base.rotate(90)))
    if mode == "P":
        return rgb.quantize(16)
    if mode == "I;16":
        return base.convert("I").point(lambda v: v * 200).convert("I;16")
    return rgb.convert(mode)


def exif_bytes(orientation: int, big_endian: bool = False) -> bytes:
    if not big_endian:
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif[0x010F] = "subsetter"
        return exif.tobytes()
    # Pillow writes little-endian TIFF; this is the same IFD0 in Motorola order.
    return (b"Exif\x00\x00MM\x00\x2a\x00\x00\x00\x08\x00\x01"
            + b"\x01\x12\x00\x03\x00\x00\x00\x01" + orientation.to_bytes(2, "big") + b"\x00\x00"
            + b"\x00\x00\x00\x00")


def make_cases(d: Path) -> list[Path]:
    """Files as Pillow writes them, named by what they are."""
    out = []

    def save(name, img, **kw):
        p = d / name
        img.save(p, **kw)
        out.append(p)

    for size in [(64, 48), (1, 1), (17, 3), (1023, 767)]:
        save(f"rgb_{size[0]}x{size[1]}.jpg", pattern("RGB", size), quality=85)
    save("rgb_444.jpg", pattern("RGB", (40, 30)), subsampling=0)
    save("rgb_422.jpeg", pattern("RGB", (40, 30)), subsampling=1)
    save("gray.jpg", pattern("L", (40, 30)))
    save("cmyk.jpg", pattern("CMYK", (40, 30)))
    save("progressive.jpg", pattern("RGB", (120, 90)), progressive=True)
    save("optimized.JPG", pattern("RGB", (120, 90)), optimize=True)
    for o in range(1, 9):
        save(f"exif_le_{o}.jpg", pattern("RGB", (48, 32)), exif=exif_bytes(o))
    for o in (3, 6, 8):
        save(f"exif_be_{o}.jpg", pattern("RGB", (48, 32)), exif=exif_bytes(o, True))
    save("exif_6_progressive_gray.jpg", pattern("L", (48, 32)), exif=exif_bytes(6),
         progressive=True)
    save("xmp_6.jpg", pattern("RGB", (48, 32)),
         xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description '
             b'tiff:Orientation="6"/></rdf:RDF></x:xmpmeta>')
    for mode in ["1", "L", "LA", "RGB", "RGBA", "P", "I;16"]:
        save(f"png_{mode.replace(';', '')}.png", pattern(mode, (33, 21)))
    p_alpha = pattern("P", (33, 21))
    save("png_P_transparency.png", p_alpha, transparency=0)
    save("gif_P.gif", pattern("P", (33, 21)))
    save("gif_L.gif", pattern("L", (33, 21)))
    save("gif_L_gray_palette.gif", pattern("L", (33, 21)), optimize=False)  # PIL: mode L
    save("gif_RGB.gif", pattern("RGB", (33, 21)))
    save("gif_transparent.gif", pattern("P", (33, 21)), transparency=3)
    frames = [pattern("P", (33, 21)), pattern("P", (33, 21)).rotate(180)]
    save("gif_animated.gif", frames[0], save_all=True, append_images=frames[1:], duration=50)
    save("webp_rgb_lossy.webp", pattern("RGB", (40, 30)), quality=80)
    save("webp_rgba_lossy.webp", pattern("RGBA", (40, 30)), quality=80)
    save("webp_rgb_lossless.webp", pattern("RGB", (40, 30)), lossless=True)
    save("webp_rgba_lossless.webp", pattern("RGBA", (40, 30)), lossless=True)
    save("webp_exif.webp", pattern("RGB", (40, 30)), exif=exif_bytes(6))
    for mode in ["1", "L", "P", "RGB", "RGBA"]:
        save(f"bmp_{mode}.bmp", pattern(mode, (33, 21)))
    return out


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return make_cases(tmp_path_factory.mktemp("images"))


def test_probe_matches_pillow(probe, cases):
    rows = probe(cases, want_rc=0)
    for path, row in zip(cases, rows):
        pil = pil_header(path)
        md = fiftyone_metadata(path)
        assert row["ok"], (path.name, row)
        got = (row["type"], row["mode"], row["width"], row["height"], row["num_channels"])
        want = (pil["format"].lower(), pil["mode"], pil["width"], pil["height"],
                md["num_channels"])
        assert got == want, path.name
        assert (row["oriented_width"], row["oriented_height"]) == (md["width"], md["height"]), \
            path.name
        if pil["format"] == "JPEG":
            assert row["orientation"] == pil["orientation"], path.name
        assert row["mime_type"] == Image.MIME[pil["format"]], path.name
        # The metadata subdocument, fields in FiftyOne's order.
        assert list(row["metadata"].items()) == list(md.items()), path.name
        assert row["claims"] is True, path.name


def test_metadata_matches_fiftyone(probe, cases, tmp_path):
    """FiftyOne's own ImageMetadata for the same files: the subdocument, field for field
    and in order. A PNG named .jpg is included: FiftyOne calls it image/jpeg too."""
    python = FIFTYONE_VENV / "bin" / "python"
    if not python.exists():
        pytest.fail(f"no FiftyOne venv at {FIFTYONE_VENV}: make one with tests/fiftyone/install "
                    f"{FIFTYONE_VENV}, or point SUBSETTER_FIFTYONE_VENV at one", pytrace=False)
    placeholder = tmp_path / "placeholder.jpg"
    pattern("P", (500, 374)).save(placeholder, format="PNG")
    paths = [*cases, placeholder]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "FIFTYONE_DO_NOT_TRACK": "true",
           "FIFTYONE_DATABASE_URI": "mongodb://127.0.0.1:9"}  # never connected to
    p = subprocess.run([str(python), "-c", FIFTYONE_METADATA, *map(str, paths)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    want = [json.loads(line) for line in p.stdout.splitlines()]
    got = probe(paths, want_rc=0)
    assert len(want) == len(paths)
    for path, w, g in zip(paths, want, got):
        assert list(g["metadata"].items()) == list(w.items()), path.name


def test_verify_accepts_pillow_files(probe, cases):
    rows = probe(cases, "--verify", want_rc=0)
    assert all(r["ok"] for r in rows), [r for r in rows if not r["ok"]]


def test_exif_orientation_swaps(probe, cases):
    rows = {Path(r["path"]).name: r for r in probe(cases)}
    for o in range(1, 9):
        r = rows[f"exif_le_{o}.jpg"]
        assert r["orientation"] == o
        swapped = (r["oriented_width"], r["oriented_height"]) == (32, 48)
        assert swapped == (o >= 5), r
    assert rows["exif_be_6.jpg"]["metadata"]["width"] == 32
    assert rows["exif_be_3.jpg"]["metadata"]["width"] == 48
    assert rows["xmp_6.jpg"]["orientation"] == 6
    # Only JPEGs are turned: FiftyOne ignores the EXIF of other formats.
    assert rows["webp_exif.webp"]["orientation"] == 1
    assert rows["webp_exif.webp"]["metadata"]["width"] == 40


def truncated_copies(cases: list[Path], d: Path) -> list[Path]:
    out = []
    for p in cases:
        data = p.read_bytes()
        for frac in (2, 4):
            q = d / f"cut{frac}_{p.name}"
            q.write_bytes(data[: len(data) * (frac - 1) // frac])
            out.append(q)
    return out


def pillow_loads(path: Path) -> bool:
    try:
        with Image.open(path) as img:
            img.load()
        return True
    except (OSError, SyntaxError, ValueError):
        return False


def test_verify_refuses_truncated_files(probe, cases, tmp_path):
    cut = truncated_copies(cases, tmp_path)
    rows = probe(cut, "--verify")
    for path, row in zip(cut, rows):
        assert not row["ok"], path.name
        assert (row["code"], row["cause"]) == ("INPUT", "CORRUPT"), row
        # Pillow refuses them too, except formats whose decoders here only check structure.
        if path.suffix.lower() not in (".webp", ".gif"):
            assert not pillow_loads(path), path.name


def test_png_named_jpg(probe, tmp_path):
    """Flickr's "photo unavailable" PNG saved as {id}.jpg: FiftyOne would record
    image/jpeg; the fetch stage must see the mismatch."""
    p = tmp_path / "0d72ff3e2601d71c.jpg"
    pattern("P", (500, 374)).save(p, format="PNG")
    [row] = probe([p], "--verify", want_rc=0)
    assert row["type"] == "png" and row["mime_type"] == "image/png"
    assert row["claims"] is False
    md = fiftyone_metadata(p)
    assert md["mime_type"] == "image/jpeg"
    assert list(row["metadata"].items()) == list(md.items())


def test_not_images(probe, tmp_path):
    files = {
        "empty.jpg": b"",
        "page.jpg": b"<!DOCTYPE html><html><body>These aren't the droids</body></html>",
        "noise.jpg": bytes((i * 97 + 13) % 251 for i in range(4096)),
    }
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(tmp_path / name)
    rows = probe(paths, want_rc=13)
    for path, row in zip(paths, rows):
        assert (row["ok"], row["code"], row["cause"]) == (False, "INPUT", "NOT_IMAGE"), row
        with pytest.raises(Exception):
            Image.open(path)


def test_pixel_limit(probe, cases):
    big = [p for p in cases if p.name == "rgb_1023x767.jpg"]
    [row] = probe(big, "--verify", "--max-pixels", str(1023 * 767 - 1), want_rc=13)
    assert row["cause"] == "TOO_LARGE"
    [row] = probe(big, "--verify", "--max-pixels", str(1023 * 767), want_rc=0)
    assert row["ok"]


def test_large_size_bytes_is_exact(probe, tmp_path):
    """size_bytes is the file size, and the number is exact in the JSON."""
    p = tmp_path / "noisy.png"
    img = Image.frombytes("RGB", (700, 500), os.urandom(700 * 500 * 3))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    p.write_bytes(buf.getvalue())
    [row] = probe([p], "--verify", want_rc=0)
    assert row["metadata"]["size_bytes"] == p.stat().st_size > 1_000_000
