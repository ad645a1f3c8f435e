"""sub_pixels_* against Pillow itself, byte for byte, on JPEGs made here.

The C code runs in pixels_cli (tests/unit/pixels_main.c), looked up in
$SUBSETTER_TEST_BIN_DIR (default build/debug under the repository); it writes raw RGB bytes
and prints {"w", "h"}. The references, all with the Pillow of this venv (13.0.0):

    rgb     Image.open(f).convert("RGB")
    resize  Image.open(f).convert("RGB").resize((w, h), Image.BILINEAR)
    npz     torchvision's Resize(256) + CenterCrop(224) on that RGB image, restated below
            from torchvision/transforms/functional.py (_compute_resized_output_size,
            center_crop): int(256 * long / short), int(round((H - 224) / 2.0))

Every comparison is exact (max abs diff 0), for the resize both with pixels_cli's AVX2
passes and without (SUBSETTER_PIXELS_PORTABLE=1). Files come from Pillow's encoder (its
bundled libjpeg-turbo 3.x) and, for what Pillow cannot write (YCCK as Photoshop writes CMYK,
4:4:0 and 4:1:1 sampling), from the system's TurboJPEG (2.1.5) through ctypes, the library
pixels_cli decodes with. The fast (DCT-scaled) decode is not Pillow's; its sizes are checked
exactly and its distance from the exact result loosely.
"""
from __future__ import annotations

import ctypes
import io
import json
import os
import random
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from servers import REPO_ROOT


def driver() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "pixels_cli"


def make_runner(portable: bool):
    b = driver()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"pixels_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)
    env = {k: v for k, v in os.environ.items() if k != "SUBSETTER_PIXELS_PORTABLE"}
    if portable:
        env["SUBSETTER_PIXELS_PORTABLE"] = "1"

    def run(*args, want_rc=0):
        p = subprocess.run([str(b), *map(str, args)], capture_output=True, text=True,
                           timeout=300, env=env)
        assert p.returncode == want_rc, (args, p.stdout, p.stderr)
        if want_rc != 0:
            return p.stderr
        assert not p.stderr, p.stderr  # sanitizer reports land here
        return json.loads(p.stdout)

    return run


@pytest.fixture(scope="module")
def cli():
    return make_runner(False)


@pytest.fixture(scope="module", params=["simd", "portable"])
def resizer(request):
    """pixels_cli with its AVX2 resize passes (where the CPU has AVX2), and without."""
    return make_runner(request.param == "portable")


# ---- Making JPEGs ----

def content(size: tuple[int, int], seed: int) -> Image.Image:
    """Gradients, edges and noise: every coefficient of the IDCT and of the filters is used."""
    w, h = size
    base = Image.radial_gradient("L").resize(size, Image.BILINEAR)
    noise = Image.frombytes("RGB", size, random.Random(seed).randbytes(w * h * 3))
    rgb = Image.merge("RGB", (base, base.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
                              Image.linear_gradient("L").resize(size, Image.BILINEAR)))
    img = Image.blend(rgb, noise, 0.35)
    # Hard edges: a checkerboard of 5-pixel squares in one corner.
    for y in range(min(h, 40)):
        for x in range(min(w, 40)):
            if (x // 5 + y // 5) % 2:
                img.putpixel((x, y), (250, 10, 128))
    return img


class TurboJPEG:
    """tjCompress2 of the system's libturbojpeg (TurboJPEG 2.x API)."""
    PF = {"RGB": 0, "L": 6, "CMYK": 11}
    SAMP = {"444": 0, "422": 1, "420": 2, "gray": 3, "440": 4, "411": 5}

    def __init__(self):
        self.lib = ctypes.CDLL("libturbojpeg.so.0")
        self.lib.tjInitCompress.restype = ctypes.c_void_p
        self.lib.tjCompress2.argtypes = [
            ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_int,
            ctypes.c_int, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_ulong),
            ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self.lib.tjFree.argtypes = [ctypes.c_void_p]
        self.lib.tjDestroy.argtypes = [ctypes.c_void_p]

    def compress(self, img: Image.Image, samp: str, quality: int = 90) -> bytes:
        handle = self.lib.tjInitCompress()
        assert handle
        out, size = ctypes.c_void_p(), ctypes.c_ulong(0)
        rc = self.lib.tjCompress2(handle, img.tobytes(), img.width, 0, img.height,
                                  self.PF[img.mode], ctypes.byref(out), ctypes.byref(size),
                                  self.SAMP[samp], quality, 0)
        assert rc == 0
        data = ctypes.string_at(out, size.value)
        self.lib.tjFree(out)
        self.lib.tjDestroy(handle)
        return data


def segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each header segment before the first scan."""
    out, pos = [], 2
    while data[pos] == 0xFF and data[pos + 1] != 0xDA:
        n = int.from_bytes(data[pos + 2:pos + 4], "big")
        out.append((data[pos + 1], pos, pos + 2 + n))
        pos += 2 + n
    return out


def without_app14(data: bytes) -> bytes:
    for marker, start, end in segments(data):
        if marker == 0xEE:
            return data[:start] + data[end:]
    raise AssertionError("no APP14 segment")


def app14_transform(data: bytes) -> int | None:
    for marker, start, end in segments(data):
        if marker == 0xEE and data[start + 4:start + 9] == b"Adobe":
            return data[start + 15]
    return None


def exif_orientation(o: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = o
    return exif.tobytes()


def make_cases(d: Path) -> dict[str, Path]:
    cases = {}

    def pil(name, img, **kw):
        buf = io.BytesIO()
        img.save(buf, format="JPEG", **kw)
        raw(name, buf.getvalue())

    def raw(name, data):
        p = d / f"{name}.jpg"
        p.write_bytes(data)
        cases[name] = p

    seed = iter(range(1000))
    for w, h in [(333, 517), (1, 1), (2, 3), (257, 300), (300, 257), (256, 256), (5000, 20),
                 (20, 5000), (1024, 768), (224, 224), (17, 9), (256, 481), (481, 256)]:
        pil(f"420_{w}x{h}", content((w, h), next(seed)), quality=90)
    pil("422_333x517", content((333, 517), next(seed)), subsampling=1, quality=90)
    pil("444_333x517", content((333, 517), next(seed)), subsampling=0, quality=90)
    pil("444_q100", content((160, 120), next(seed)), subsampling=0, quality=100)
    pil("420_q20", content((160, 120), next(seed)), quality=20)
    pil("gray_333x517", content((333, 517), next(seed)).convert("L"), quality=90)
    pil("gray_1x1", content((1, 1), next(seed)).convert("L"))
    pil("progressive", content((333, 517), next(seed)), progressive=True, quality=90)
    pil("progressive_gray", content((200, 150), next(seed)).convert("L"), progressive=True)
    pil("optimized", content((333, 517), next(seed)), optimize=True)
    pil("restart_rows", content((333, 517), next(seed)), restart_marker_rows=1)
    pil("restart_blocks", content((333, 517), next(seed)), restart_marker_blocks=3)
    pil("exif_rotated_6", content((333, 517), next(seed)), exif=exif_orientation(6))
    pil("exif_rotated_8_gray", content((120, 90), next(seed)).convert("L"),
        exif=exif_orientation(8))
    pil("rgb_keep_rgb", content((333, 517), next(seed)), keep_rgb=True, subsampling=0)
    cmyk = content((333, 517), next(seed)).convert("CMYK")
    buf = io.BytesIO()
    cmyk.save(buf, format="JPEG", quality=90)
    raw("cmyk_adobe", buf.getvalue())
    raw("cmyk_no_adobe", without_app14(buf.getvalue()))
    tj = TurboJPEG()
    raw("ycck_tj", tj.compress(content((333, 517), next(seed)).convert("CMYK"), "444"))
    raw("ycck_tj_420", tj.compress(content((257, 300), next(seed)).convert("CMYK"), "420"))
    raw("440_tj", tj.compress(content((333, 517), next(seed)), "440"))
    raw("411_tj", tj.compress(content((333, 517), next(seed)), "411"))
    raw("422_tj", tj.compress(content((333, 517), next(seed)), "422"))
    return cases


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    return make_cases(tmp_path_factory.mktemp("jpegs"))


def test_cases_are_what_they_say(cases):
    """The files exercise what their names claim (markers, modes, sampling)."""
    with Image.open(cases["cmyk_adobe"]) as im:
        assert im.mode == "CMYK"
    assert app14_transform(cases["cmyk_adobe"].read_bytes()) == 0  # Adobe, no transform
    assert app14_transform(cases["cmyk_no_adobe"].read_bytes()) is None
    assert app14_transform(cases["ycck_tj"].read_bytes()) == 2  # YCCK, as Photoshop
    assert app14_transform(cases["rgb_keep_rgb"].read_bytes()) == 0
    with Image.open(cases["ycck_tj"]) as im:
        assert im.mode == "CMYK"
    with Image.open(cases["gray_333x517"]) as im:
        assert im.mode == "L"
    with Image.open(cases["progressive"]) as im:
        assert im.info.get("progressive")
    with Image.open(cases["exif_rotated_6"]) as im:
        assert im.getexif().get(0x0112) == 6
    for name, layers in [("440_tj", (1, 2)), ("411_tj", (4, 1)), ("422_333x517", (2, 1))]:
        with Image.open(cases[name]) as im:
            assert im.layer[0][1:3] == layers, name
    for name in ["restart_rows", "restart_blocks"]:
        assert 0xDD in [m for m, _, _ in segments(cases[name].read_bytes())], name


# ---- The references ----

def pil_rgb(path: Path) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")


def torchvision_resize_crop(img: Image.Image, size: int = 256, crop: int = 224) -> Image.Image:
    """transforms.Resize(size) then CenterCrop(crop), as torchvision does them on PIL."""
    w, h = img.size
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    new_w, new_h = (new_short, new_long) if w <= h else (new_long, new_short)
    if (new_w, new_h) != (w, h):
        img = img.resize((new_w, new_h), Image.BILINEAR)
    top = int(round((new_h - crop) / 2.0))
    left = int(round((new_w - crop) / 2.0))
    return img.crop((left, top, left + crop, top + crop))


def max_abs_diff(a: bytes, b: bytes) -> int:
    assert len(a) == len(b)
    if a == b:
        return 0
    return max(abs(x - y) for x, y in zip(a, b))


def check_same(got_json: dict, got: bytes, want: Image.Image, what: str):
    assert (got_json["w"], got_json["h"]) == want.size, what
    assert want.mode == "RGB"
    d = max_abs_diff(got, want.tobytes())
    assert d == 0, f"{what}: max abs diff {d}"


# ---- Exact: decode, resize, npz ----

def test_rgb_is_pillow(cli, cases, tmp_path):
    for name, path in cases.items():
        out = tmp_path / f"{name}.rgb"
        j = cli("rgb", path, out)
        check_same(j, out.read_bytes(), pil_rgb(path), name)


def resize_sizes(w: int, h: int) -> list[tuple[int, int]]:
    return sorted({(224, 224), (1, 1), (w, h), (max(1, w // 3), h), (w, max(1, h // 3)),
                   (2 * w + 1, h), (w, 2 * h + 1), (3 * w, 2 * h), (max(1, w // 7), 3 * h),
                   (97, 131)})


def test_resize_is_pillow(resizer, cases, tmp_path):
    for name, path in cases.items():
        ref = pil_rgb(path)
        if ref.width * ref.height > 400_000:
            sizes = [(224, 224), (341, 256), (1, 1)]
        else:
            sizes = resize_sizes(*ref.size)
        for w, h in sizes:
            out = tmp_path / f"{name}_{w}x{h}.rgb"
            j = resizer("resize", w, h, path, out)
            check_same(j, out.read_bytes(), ref.resize((w, h), Image.BILINEAR),
                       f"{name} to {w}x{h}")


def test_resize_pass_order(resizer, tmp_path):
    """Pillow 13 resizes vertically first when the height loses more than twice as many
    pixels as the width (in_h - h > 2 (in_w - w)); the 8-bit intermediate makes the order
    visible. Sizes on both sides of that line, and tall and wide images."""
    p = tmp_path / "order.jpg"
    content((90, 120), 42).save(p, quality=95)
    ref = pil_rgb(p)
    sizes = [(60, 60), (60, 59), (61, 60), (30, 60), (30, 59), (100, 119), (100, 118),
             (200, 100), (45, 20), (89, 1), (1, 119), (91, 117)]
    for w, h in sizes:
        out = tmp_path / f"order_{w}x{h}.rgb"
        j = resizer("resize", w, h, p, out)
        check_same(j, out.read_bytes(), ref.resize((w, h), Image.BILINEAR), f"90x120 to {w}x{h}")


def test_npz_is_torchvision_on_pillow(resizer, cases, tmp_path):
    for name, path in cases.items():
        out = tmp_path / f"{name}.npz.rgb"
        j = resizer("npz", path, out)
        check_same(j, out.read_bytes(), torchvision_resize_crop(pil_rgb(path)), name)


def test_crop_other_sizes(resizer, cases, tmp_path):
    """Other Resize/CenterCrop pairs, including a crop equal to the short side."""
    pairs = [(224, 224), (256, 1), (100, 37), (600, 599), (257, 200)]
    for name in ["420_333x517", "420_1024x768", "gray_333x517", "cmyk_adobe", "420_5000x20"]:
        ref = pil_rgb(cases[name])
        # Pillow resizes the whole 5000x20 image: keep its long side reasonable.
        for side, crop in pairs if name != "420_5000x20" else pairs[:3]:
            out = tmp_path / f"{name}_{side}_{crop}.rgb"
            j = resizer("crop", side, crop, cases[name], out)
            check_same(j, out.read_bytes(), torchvision_resize_crop(ref, side, crop),
                       f"{name} Resize({side}) CenterCrop({crop})")


def test_banker_rounding_of_crop_offsets(resizer, tmp_path):
    """Sizes whose crop offset falls on .5 after the resize, both ways of rounding."""
    # 333x517 -> 256x397: top 86.5 -> 86; 300x257 -> 298x256: left 37 (even difference);
    # 256x481: top 128.5 -> 128; 256x483: top 129.5 -> 130.
    for w, h in [(333, 517), (256, 481), (256, 483), (259, 256), (261, 256)]:
        p = tmp_path / f"b_{w}x{h}.jpg"
        content((w, h), w * h).save(p, quality=95)
        out = tmp_path / f"b_{w}x{h}.rgb"
        j = resizer("npz", p, out)
        check_same(j, out.read_bytes(), torchvision_resize_crop(pil_rgb(p)), p.name)


# ---- Fast decode: sizes, and how far it is from the exact path ----

def test_fast_decode_sizes(cli, cases, tmp_path):
    expect = {  # (min_w, min_h) -> size: 1/2, 1/4 or 1/8 (the SIMD scales), TJSCALED rounding up
        ("420_1024x768", 224, 224): (512, 384),
        ("420_1024x768", 100, 90): (128, 96),
        ("420_1024x768", 0, 0): (1024, 768),
        ("420_1024x768", 4000, 4000): (1024, 768),
        ("420_333x517", 40, 60): (42, 65),
        ("420_5000x20", 224, 1): (625, 3),
        ("gray_333x517", 100, 100): (167, 259),
        ("cmyk_adobe", 224, 224): (333, 517),  # 1/2 would leave 167 columns
    }
    for (name, mw, mh), size in expect.items():
        out = tmp_path / f"{name}_fast_{mw}_{mh}.rgb"
        j = cli("fast", mw, mh, cases[name], out)
        assert (j["w"], j["h"]) == size, (name, mw, mh)
        assert len(out.read_bytes()) == size[0] * size[1] * 3


def test_fast_decode_is_close(cli, cases, tmp_path):
    """The stats stage's fast path (scaled IDCT, then the same resize) stays near Pillow's
    exact result: the mean absolute difference per channel is small (0.9 to 3.1 on these
    noisy test images; 0.55 on a smoother photo-like one)."""
    for name in ["420_1024x768", "444_333x517", "gray_333x517", "cmyk_adobe"]:
        fast = tmp_path / f"{name}.fast.rgb"
        j = cli("fast", 224, 224, cases[name], fast)
        small = Image.frombytes("RGB", (j["w"], j["h"]), fast.read_bytes())
        got = small.resize((224, 224), Image.BILINEAR).tobytes()
        want = pil_rgb(cases[name]).resize((224, 224), Image.BILINEAR).tobytes()
        mean = sum(abs(a - b) for a, b in zip(got, want)) / len(got)
        assert mean < 4.0, (name, mean)


# ---- Refusals ----

def test_refuses_non_jpeg_and_damage(cli, cases, tmp_path):
    png = tmp_path / "image.png"
    content((30, 20), 1).save(png)
    html = tmp_path / "page.jpg"
    html.write_bytes(b"<html>404</html>")
    data = cases["420_333x517"].read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(data[:len(data) // 2])
    headers_only = tmp_path / "headers.jpg"
    headers_only.write_bytes(data[:segments(data)[-1][2]])
    for p, why in [(png, "not a JPEG (png)"), (html, "not a JPEG"), (cut, "jpeg decode"),
                   (headers_only, "jpeg")]:
        err = cli("rgb", p, tmp_path / "x.rgb", want_rc=1)
        assert err.startswith("pixels_cli: INPUT: "), err
        assert why in err, err
        if p != png:  # Pillow refuses the others too
            with pytest.raises(OSError):
                pil_rgb(p)


def test_refuses_decoder_warnings_that_pillow_ignores(cli, tmp_path):
    """A deliberate difference (pixels.h): libjpeg's warnings fail the decode, as they fail
    sub_image_verify() at fetch time, while Pillow decodes such files silently."""
    buf = io.BytesIO()
    content((64, 48), 3).save(buf, format="JPEG")
    data = buf.getvalue()
    p = tmp_path / "extraneous.jpg"
    p.write_bytes(data[:-2] + bytes(range(1, 65)) + data[-2:])  # junk before EOI
    err = cli("rgb", p, tmp_path / "x.rgb", want_rc=1)
    assert "extraneous bytes before marker 0xd9" in err, err
    assert pil_rgb(p).size == (64, 48)
