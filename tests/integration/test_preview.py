"""`subsetter preview` on the fetched subset of test_export_npz.py (its JPEGs of every kind
Open Images holds: 4:2:0, 4:4:4, grayscale, CMYK, progressive, EXIF-rotated, small).

The contact sheet's size and each cell against a Pillow thumbnail of the same image (mean
colour: the service decodes with libjpeg-turbo's DCT scaling and the sheet is a JPEG, so
pixels differ a little), the class-count SVG against the dataset's counts, preview.json
against --json, and a missing media file: exit 16, one placeholder cell, files written."""
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
from PIL import Image

from test_export_npz import K, N, NAME, world  # noqa: F401  (world: the module fixture)

MARGIN, BG, PLACEHOLDER, CROSS = 4, 32, 128, 208  # include/subsetter/preview.h
SVG = "{http://www.w3.org/2000/svg}"
TOL = 12  # grey levels, per channel, between mean colours


def preview(world, out, *extra):
    return world["run"]("preview", "--dataset", NAME, "--out", str(out), "--json", *extra)


def thumb_reference(path, t):
    """Shorter side resized to t (Pillow's bilinear), centre crop t x t."""
    im = Image.open(path).convert("RGB")
    w, h = im.size
    if w <= h:
        size = (t, int(t * h / w))
    else:
        size = (int(t * w / h), t)
    im = im.resize(size, Image.BILINEAR)
    left, top = (size[0] - t) // 2, (size[1] - t) // 2
    return np.asarray(im.crop((left, top, left + t, top + t)), dtype=np.float64)


def placeholder(t):
    y, x = np.mgrid[0:t, 0:t]
    cross = (np.abs(x - y) <= 1) | (np.abs(x + y - (t - 1)) <= 1)
    return np.repeat(np.where(cross, CROSS, PLACEHOLDER)[..., None], 3, axis=2).astype(float)


def cell(sheet, row, col, t):
    x, y = MARGIN + col * (t + MARGIN), MARGIN + row * (t + MARGIN)
    return sheet[y:y + t, x:x + t].astype(np.float64)


def inner(a):
    """A cell without its outer 2 px (chroma subsampling mixes in the margin)."""
    return a[2:-2, 2:-2]


def members(world, label, n):
    return list(world["coll"].find({"ground_truth.label": label}, sort=[("_id", 1)]).limit(n))


def check_thumbnail(sheet, row, col, t, path):
    got = inner(cell(sheet, row, col, t))
    assert np.abs(got - inner(placeholder(t))).mean() > 20, (row, col, "is the placeholder")
    want = inner(thumb_reference(path, t))
    diff = np.abs(got.mean(axis=(0, 1)) - want.mean(axis=(0, 1)))
    assert diff.max() <= TOL, (row, col, path, got.mean(axis=(0, 1)), want.mean(axis=(0, 1)))


def test_preview_sheet_chart_and_json(world, tmp_path):
    out, per_class, t = tmp_path / "p", 6, 64
    r = preview(world, out, "--per-class", str(per_class), "--thumb", str(t))
    assert r.rc == 0, r
    j = r.json()
    assert j["ok"] is True
    assert j["contact_sheet"] == str(out / "contact_sheet.jpg")
    assert j["class_counts_svg"] == str(out / "class_counts.svg")
    saved = json.loads((out / "preview.json").read_text())
    assert saved == {k: v for k, v in j.items() if k != "ok"}
    assert saved["dataset"] == NAME and saved["thumb"] == t and saved["per_class"] == per_class
    assert saved["missing"] == 0 and saved["failures"] == [] and saved["cut"] is False

    # rows: the subset's class order (the order it was sampled with), every class
    counts = {c: world["coll"].count_documents({"ground_truth.label": c})
              for c in world["classes"]}
    assert [row["label"] for row in saved["rows"]] == world["classes"]
    for i, row in enumerate(saved["rows"]):
        assert row == {"row": i, "label": world["classes"][i], "count": counts[row["label"]],
                       "shown": per_class, "missing": 0}, row

    # the sheet: K rows of per_class cells, each the thumbnail of the class's next sample
    im = Image.open(out / "contact_sheet.jpg")
    assert im.format == "JPEG" and im.mode == "RGB"
    assert im.size == (MARGIN + per_class * (t + MARGIN), MARGIN + K * (t + MARGIN))
    sheet = np.asarray(im)
    for row, label in enumerate(world["classes"]):
        for col, doc in enumerate(members(world, label, per_class)):
            check_thumbnail(sheet, row, col, t, doc["filepath"])
    # the margins are the background
    assert np.abs(sheet[:2, :, :].astype(int) - BG).mean() < 4

    # the chart: a label and a count per class, in the same order, and the title
    root = ET.parse(out / "class_counts.svg").getroot()
    assert root.tag == SVG + "svg" and root.get("version") == "1.1"
    texts = lambda cls: [e.text for e in root.iter(SVG + "text") if e.get("class") == cls]  # noqa
    assert texts("label") == world["classes"]
    assert [int(c) for c in texts("count")] == [counts[c] for c in world["classes"]]
    assert texts("title") == [f"{NAME}: {K * N} samples, {K} classes"]
    assert root.find(SVG + "title").text == texts("title")[0]
    widths = [float(e.get("width")) for e in root.iter(SVG + "rect") if e.get("class") == "bar"]
    assert widths == [600.0] * K  # equal counts: equal, longest bars

    run = world["env"].database()["subsetter.runs"].find_one({"stage": "preview"},
                                                              sort=[("_id", -1)])
    assert run and run["state"] == "done" and run["dataset"] == NAME, run
    assert run["counts"]["shown"] == K * per_class and run["counts"]["missing"] == 0

    # a second run writes the same files
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert preview(world, out, "--per-class", str(per_class), "--thumb", str(t)).rc == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_missing_media_file_is_a_placeholder_and_exit_16(world, tmp_path):
    first = world["classes"][0]
    gone = members(world, first, 2)[1]  # row 0, column 1
    path = Path(gone["filepath"])
    keep = path.read_bytes()
    path.unlink()
    try:
        r = preview(world, tmp_path / "m")
    finally:
        path.write_bytes(keep)
    assert r.rc == 16, r
    j = r.json()
    assert j["ok"] is False and j["error"]["exit"] == 16, j
    assert j["missing"] == 1 and j["shown"] == K * 8 - 1, j
    assert j["rows"][0]["missing"] == 1 and j["rows"][0]["shown"] == 7, j["rows"]
    assert j["failures"] == [{"path": str(path), "reason": "missing media file"}], j
    assert str(path) in r.stderr, r.stderr

    t = 128
    im = Image.open(tmp_path / "m" / "contact_sheet.jpg")
    assert im.size == (MARGIN + 8 * (t + MARGIN), MARGIN + K * (t + MARGIN))
    sheet = np.asarray(im)
    hole = cell(sheet, 0, 1, t)
    assert np.abs(inner(hole) - inner(placeholder(t))).mean() < 6
    assert np.abs(hole[t // 8, t // 2] - PLACEHOLDER).max() <= 6  # off the cross
    assert np.abs(hole[t // 2, t // 2] - CROSS).max() <= 24       # where the diagonals meet
    for row, label in enumerate(world["classes"]):
        for col, doc in enumerate(members(world, label, 8)):
            if (row, col) != (0, 1):
                check_thumbnail(sheet, row, col, t, doc["filepath"])
    assert (tmp_path / "m" / "class_counts.svg").is_file()
    saved = json.loads((tmp_path / "m" / "preview.json").read_text())
    assert saved["missing"] == 1 and saved["rows"] == j["rows"]


def test_preview_usage_and_unknown_dataset(world, tmp_path):
    r = world["run"]("preview", "--out", str(tmp_path / "x"))
    assert r.rc == 2 and "--dataset" in r.stderr, r
    r = world["run"]("preview", "--dataset", NAME, "--out", str(tmp_path / "x"), "--thumb", "8")
    assert r.rc == 2 and "--thumb" in r.stderr, r
    r = world["run"]("preview", "--dataset", "no-such-subset", "--out", str(tmp_path / "x"),
                     "--json")
    assert r.rc == 15, r
    assert r.json()["ok"] is False and r.json()["error"]["exit"] == 15
    assert not (tmp_path / "x").exists()
