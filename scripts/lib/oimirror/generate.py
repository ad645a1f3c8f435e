"""The generator behind scripts/make-mirror (see that script for the CLI and the manifest).

Everything is streamed: image rows and their label rows are made one image at a time, in
global ImageID order, and written at once. Memory stays bounded at any scale; the only
per-class state is a few counters. --unsorted-labels scatters the label rows into K
temporary bucket files per split (K grows with the expected row count, ~200k rows each),
then shuffles each bucket in memory and concatenates them: a uniform random permutation
with at most one bucket in memory.

Determinism: every random decision comes from one of a few `random.Random` streams seeded
with strings derived from --seed, so options that only change the form of the output
(--crlf, --unsorted-labels, --header-on-classes, --bad-rows) do not change which images,
labels and metadata are generated.
"""
from __future__ import annotations

import base64
import bisect
import hashlib
import json
import math
import os
import random
import shutil
import tempfile

from . import layout, names

MANIFEST_FORMAT = "subsetter-oi-mirror-manifest"
MANIFEST_VERSION = 1

MID_ALPHABET = "0123456789bcdfghjklmnpqrstvwxyz_"  # Freebase-style: digits, consonants, _

ZIPF_EXPONENT = 1.1
POSITIVE_P = 0.745          # share of label rows that are positive (real train: ~74 %)
CROWDSOURCE_P = 0.04        # share of rows with Source=crowdsource-verification
NO_LABELS_P = 0.015         # share of images with no label rows at all
ROWS_SIGMA = 0.85           # log-normal spread of the label rows per image
MAX_ROWS_PER_IMAGE = 60
EVAL_LABEL_FACTOR = 1.25    # validation/test images carry 1.25x the train mean of rows
FLOAT_SPELLING_P = {"train": 0.005, "validation": 0.03, "test": 0.03}  # "1.0"/"0.0"
BUCKET_ROWS = 200_000       # --unsorted-labels: expected rows per temporary bucket

LABEL_BAD_KINDS = ("field_count", "bad_image_id", "unknown_mid", "bad_confidence",
                   "empty_image_id", "duplicate")
IMAGE_BAD_KINDS = ("field_count", "bad_image_id", "empty_image_id", "duplicate")
BAD_CONFIDENCES = ("yes", "", "high", "1.0.0", "n/a", "one")

IMAGE_FEATURES = ("title_multiline", "title_mixed", "author_empty", "author_special",
                  "title_empty", "rotation_empty", "rotation_90", "rotation_180",
                  "rotation_270", "thumb_empty", "thumb_zz")


class GenError(Exception):
    pass


# ---------------------------------------------------------------------------- output


class Out:
    """One output file, streamed: counts bytes, physical lines and records; sha256."""

    def __init__(self, root: str, rel: str):
        self.rel = rel
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        self.f = open(path, "wb")
        self.buf: list[str] = []
        self.lines = 0      # physical lines written so far (count of "\n")
        self.records = 0    # CSV records (header excluded)
        self.bytes = 0
        self.sha = hashlib.sha256()

    def header(self, text: str):
        self.buf.append(text)
        self.lines += 1

    def add(self, text: str, nl: int = 1):
        """Adds one record (text ends with the line end). Returns its first physical line."""
        line = self.lines + 1
        self.buf.append(text)
        self.lines += nl
        self.records += 1
        if len(self.buf) >= 8192:
            self.flush()
        return line

    def flush(self):
        if self.buf:
            data = "".join(self.buf).encode("utf-8")
            self.buf.clear()
            self.f.write(data)
            self.sha.update(data)
            self.bytes += len(data)

    def close(self):
        self.flush()
        self.f.close()

    def info(self):
        return {"bytes": self.bytes, "sha256": self.sha.hexdigest(), "records": self.records,
                "lines": self.lines}


def q(s: str) -> str:
    """Minimal RFC 4180 quoting, as csv.QUOTE_MINIMAL does it."""
    if '"' in s:
        return '"' + s.replace('"', '""') + '"'
    if "," in s or "\n" in s or "\r" in s:
        return '"' + s + '"'
    return s


# ---------------------------------------------------------------------------- classes


def _mid(rng: random.Random, g: bool) -> str:
    if g:
        return "/g/11" + "".join(rng.choice(MID_ALPHABET[:-1]) for _ in range(7))
    n = rng.choice((4, 5, 5, 5, 6, 6, 7))
    return "/m/0" + "".join(rng.choice(MID_ALPHABET) for _ in range(n))


def make_classes(rng: random.Random, n: int):
    """Returns the class table: a list of dicts sorted by MID, plus Zipf ranks."""
    if n < 10:
        raise GenError("--classes must be at least 10 (the quirk classes need room)")
    quirks = list(names.QUIRK_NAMES) + [names.QUIRK_DUPLICATE, names.QUIRK_DUPLICATE]
    base = list(names.BOXABLE_NAMES)
    need = n - len(quirks)
    if need <= len(base):
        plain = rng.sample(base, need)
    else:
        plain = list(base)
        k = 0
        while len(plain) < need:
            q_ = names.EXTRA_QUALIFIERS[k // len(base) % len(names.EXTRA_QUALIFIERS)]
            rnd = k // (len(base) * len(names.EXTRA_QUALIFIERS))
            extra = f"{base[k % len(base)]} ({q_}{' ' + str(rnd + 1) if rnd else ''})"
            plain.append(extra)
            k += 1
    display = quirks + plain
    n_g = 1 + n // 300
    mids: set[str] = set()
    rows = []
    for i, name in enumerate(display):
        g = len(quirks) <= i < len(quirks) + n_g  # the first plain names get /g/ MIDs
        while True:
            m = _mid(rng, g)
            if m not in mids and m != layout.HIERARCHY_ROOT:
                break
        mids.add(m)
        rows.append({"mid": m, "name": name, "quirk": i < len(quirks)})
    rows.sort(key=lambda r: r["mid"])
    for i, r in enumerate(rows):
        r["index"] = i
    # Zipf ranks: the quirk classes get ranks among the top 60 so small mirrors use them.
    quirk_idx = [r["index"] for r in rows if r["quirk"]]
    plain_idx = [r["index"] for r in rows if not r["quirk"]]
    rng.shuffle(plain_idx)
    rng.shuffle(quirk_idx)
    qranks = sorted(rng.sample(range(1, min(n, 60)), len(quirk_idx)))
    order = [None] * n
    for r_, ci in zip(qranks, quirk_idx):
        order[r_] = ci
    it = iter(plain_idx)
    for r_ in range(n):
        if order[r_] is None:
            order[r_] = next(it)
    for r_, ci in enumerate(order):
        rows[ci]["rank"] = r_ + 1
    # Some classes are only ever labelled negative.
    want = [r_ for r_ in (14, 41, 97, 203, 349, 503) if r_ < n] or []
    if len(want) < 2:
        want = sorted({n // 2, n - 2})
    negonly = set()
    for r_ in want:
        while rows[order[r_]]["quirk"] or order[r_] in negonly:
            r_ = (r_ + 1) % n
        negonly.add(order[r_])
    for r in rows:
        r["negative_only"] = r["index"] in negonly
    return rows, order


def make_hierarchy(rng: random.Random, classes):
    """A DAG over all class MIDs under the root, as bbox_labels_600_hierarchy.json."""
    mids = [c["mid"] for c in classes]
    rng.shuffle(mids)
    n = len(mids)
    ncat = max(2, n // 8)
    cats, leaves = mids[:ncat], mids[ncat:]
    root = layout.HIERARCHY_ROOT
    children: dict[str, list[tuple[str, str]]] = {root: []}
    for m in cats:
        children[m] = []
    parents: dict[str, list[str]] = {}
    top = max(1, ncat // 3)
    for k, m in enumerate(cats):
        p = root if k < top or rng.random() < 0.2 else rng.choice(cats[:k])
        kind = "Part" if p != root and rng.random() < 0.06 else "Subcategory"
        children[p].append((m, kind))
        parents[m] = [p]
    part_forced = False
    for m in leaves:
        p = root if rng.random() < 0.1 else rng.choice(cats)
        kind = "Part" if p != root and rng.random() < 0.06 else "Subcategory"
        if p != root and not part_forced:
            kind, part_forced = "Part", True
        children[p].append((m, kind))
        parents[m] = [p]
    # Some leaves under a second parent (Subcategory); the hierarchy is a DAG.
    multi = []
    for m in rng.sample(leaves, min(len(leaves), max(1, min(3, n // 100 + 1)))):
        choices = [c for c in cats if c not in parents[m]]
        p2 = rng.choice(choices) if choices else root
        if p2 in parents[m]:
            continue
        children[p2].append((m, "Subcategory"))
        parents[m].append(p2)
        multi.append(m)

    stats = {"subcategory_edges": 0, "part_edges": 0, "node_occurrences": 1}

    def node(m):
        d = {"LabelName": m}
        sub = [c for c, k in children.get(m, ()) if k == "Subcategory"]
        part = [c for c, k in children.get(m, ()) if k == "Part"]
        if sub:
            d["Subcategory"] = [node(c) for c in sub]
            stats["subcategory_edges"] += len(sub)
        if part:
            d["Part"] = [node(c) for c in part]
            stats["part_edges"] += len(part)
        stats["node_occurrences"] += len(sub) + len(part)
        return d

    tree = node(root)
    stats["multi_parent"] = sorted(multi)
    return tree, stats


# ---------------------------------------------------------------------------- labels


def rows_pmf(mean: float, p0: float = NO_LABELS_P):
    """P(number of label rows of an image = k), k = 0..60, with the given mean."""
    if not 1.0 <= mean <= 40.0:
        raise GenError("--labels-per-image must be between 1 and 40")
    s2 = ROWS_SIGMA * math.sqrt(2)

    def dist(mu):
        cdf = [0.0] + [0.5 * (1 + math.erf((math.log(k + 0.5) - mu) / s2))
                       for k in range(1, MAX_ROWS_PER_IMAGE + 1)]
        p = [0.0] + [cdf[k] - (cdf[k - 1] if k > 1 else 0.0)
                     for k in range(1, MAX_ROWS_PER_IMAGE + 1)]
        tot = sum(p)
        return [p0] + [(1 - p0) * x / tot for x in p[1:]]

    lo, hi = -8.0, 8.0
    for _ in range(200):
        mid = (lo + hi) / 2
        m = sum(k * x for k, x in enumerate(dist(mid)))
        if m < mean:
            lo = mid
        else:
            hi = mid
    return dist((lo + hi) / 2)


def _cum(weights):
    out, t = [], 0.0
    for w in weights:
        t += w
        out.append(t)
    return out


# ---------------------------------------------------------------------------- images


def _ascii(s):
    return all(ord(c) < 128 for c in s)


_ALIASES = tuple(f.lower() for f in names.FIRST_NAMES if _ascii(f))


def image_row(rng: random.Random, split: str, iid: str, feats, eol: str,
              allow_multiline: bool = True):
    """One image-list row (no line end) and the set of quirks it shows."""
    shows = set()
    rnd = rng.random
    farm = rng.randrange(1, 10)
    server = rng.randrange(1, 10000)
    pid = rng.randrange(10 ** 8, 5 * 10 ** 10)
    osec = "%010x" % rng.getrandbits(40)
    if rnd() < 0.6:
        orig = f"https://farm{farm}.staticflickr.com/{server}/{pid}_{osec}_o.jpg"
    else:
        orig = f"https://c{rng.randrange(1, 9)}.staticflickr.com/{farm}/{server}/{pid}_{osec}_o.jpg"
    if rnd() < 0.45:
        user = f"{rng.randrange(10 ** 7, 2 * 10 ** 8)}@N0{rng.randrange(8)}"
    else:
        user = rng.choice(_ALIASES) + rng.choice(names.HANDLES)
        if rnd() < 0.5:
            user += str(rng.randrange(100))
    # Author
    r = rnd()
    if "author_empty" in feats or (r < 0.01 and "author_special" not in feats):
        author = ""
        shows.add("author_empty")
    elif "author_special" in feats or r < 0.04:
        author = rng.choice(names.SPECIAL_AUTHORS)
    elif r < 0.75:
        author = f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
    else:
        author = rng.choice(names.FIRST_NAMES)
    # Title
    r = rnd()
    subj = rng.choice(names.TITLE_SUBJECTS)
    place = rng.choice(names.TITLE_PLACES)
    year = rng.randrange(2004, 2018)
    if "title_mixed" in feats:
        title = f'{subj}, "{place}" {rng.choice(names.TITLE_EMOJI)}'
    elif "title_empty" in feats or r < 0.06:
        title = ""
    elif r < 0.22:
        title = rng.choice(("IMG_%04d", "DSC%05d", "P10%05d", "DSCF%04d")) % rng.randrange(10000)
    elif r < 0.42:
        title = subj
    elif r < 0.62:
        title = f"{subj} in {place}" if rnd() < 0.5 else f"{place} {year}"
    elif r < 0.74:
        title = f"{subj}, {place}"
    elif r < 0.77:
        title = f'"{subj}"'
    elif r < 0.80:
        title = rng.choice(names.TITLE_SPECIAL)
    elif r < 0.815:
        title = f"{subj} {rng.choice(names.TITLE_EMOJI)}"
    else:
        title = f"{place}, {year}"
    nl = 1
    multiline = rnd() < 0.0005
    if allow_multiline and ("title_multiline" in feats or multiline):
        title = f"{title or subj}\n{place} {year}"
        shows.add("title_multiline")
        nl = 2
        if eol != "\n":
            title = title.replace("\n", eol)
    if title == "":
        shows.add("title_empty")
    size = max(10_000, int(rng.lognormvariate(14.7, 0.8)))
    md5 = base64.b64encode(rng.getrandbits(128).to_bytes(16, "big")).decode("ascii")
    # Thumbnail
    r = rnd()
    if "thumb_empty" in feats or (r < 0.02 and "thumb_zz" not in feats):
        thumb = ""
        shows.add("thumb_empty")
    else:
        tsec = osec if rnd() < 0.3 else "%010x" % rng.getrandbits(40)
        thumb = f"https://c{rng.randrange(1, 9)}.staticflickr.com/{farm}/{server}/{pid}_{tsec}_z.jpg"
        if "thumb_zz" in feats or r > 0.9:
            thumb += "?zz=1"
            shows.add("thumb_zz")
    # Rotation: 2.6 % non-zero, some empty (image gone from Flickr)
    r = rnd()
    if "rotation_empty" in feats:
        rot = ""
    elif "rotation_90" in feats:
        rot = "90.0"
    elif "rotation_180" in feats:
        rot = "180.0"
    elif "rotation_270" in feats:
        rot = "270.0"
    elif r < 0.03:
        rot = ""
    elif r < 0.042:
        rot = "90.0"
    elif r < 0.052:
        rot = "270.0"
    elif r < 0.056:
        rot = "180.0"
    else:
        rot = "0.0"
    if rot == "":
        shows.add("rotation_empty")
    elif rot != "0.0":
        shows.add("rotation_nonzero")
    text = (f"{iid},{split},{orig},https://www.flickr.com/photos/{user}/{pid},"
            f"{layout.LICENSE_URL},https://www.flickr.com/people/{user}/,{q(author)},"
            f"{q(title)},{size},{md5},{thumb},{rot}")
    return text, nl, shows


# ---------------------------------------------------------------------------- sinks


class SortedSink:
    """Writes label rows in the order given."""

    def __init__(self, out: Out, eol: str, bad_list, bad_entries):
        self.out, self.eol = out, eol
        self.bad_list, self.bad_entries = bad_list, bad_entries
        self.seen_groups = set()

    def put(self, text, tag):
        line = self.out.add(text + self.eol)
        if tag is not None:
            _record_bad(self, tag, line)

    def finish(self):
        pass


def _record_bad(sink, tag, line):
    kind, n = tag
    if kind == "d":  # a copy of a duplicated row: every copy after the first is bad
        if n not in sink.seen_groups:
            sink.seen_groups.add(n)
            return
        e = {"kind": "duplicate",
             "reason": "duplicate row (identical to an earlier row of the same image)"}
    else:
        e = dict(sink.bad_entries[n])
    e["file"] = sink.out.rel
    e["line"] = line
    sink.bad_list.append(e)


class BucketSink(SortedSink):
    """Scatters rows into K temporary files, then shuffles each and concatenates."""

    def __init__(self, out, eol, bad_list, bad_entries, tmpdir, k, rng):
        super().__init__(out, eol, bad_list, bad_entries)
        self.rng = rng
        self.k = k
        self.paths = [os.path.join(tmpdir, f"{os.path.basename(out.rel)}.{i}") for i in range(k)]
        self.files = [open(p, "w", encoding="utf-8", newline="\n", buffering=1 << 20)
                      for p in self.paths]

    def put(self, text, tag):
        t = "" if tag is None else f"{tag[0]}{tag[1]}"
        self.files[int(self.rng.random() * self.k)].write(f"{t}\t{text}\n")

    def finish(self):
        for f in self.files:
            f.close()
        eol, out = self.eol, self.out
        for p in self.paths:
            with open(p, encoding="utf-8", newline="\n") as f:
                lines = f.read().split("\n")
            os.remove(p)
            lines.pop()  # after the last "\n"
            self.rng.shuffle(lines)
            for ln in lines:
                t, text = ln.split("\t", 1)
                line = out.add(text + eol)
                if t:
                    _record_bad(self, (t[0], int(t[1:])), line)
            del lines


# ---------------------------------------------------------------------------- main


def _bad_image_id(rng, iid):
    r = rng.randrange(3)
    if r == 0:
        return iid[:15], "ImageID has 15 hex digits"
    if r == 1:
        return iid + rng.choice("0123456789abcdef"), "ImageID has 17 hex digits"
    pos = rng.randrange(16)
    return iid[:pos] + rng.choice("ghxz") + iid[pos + 1:], "ImageID has a non-hex character"


def generate(out_dir: str, *, sizes: dict, classes: int = 600, labels_per_image: float = 5.2,
             seed: int = 0, unsorted_labels: bool = False, crlf: bool = False,
             bad_rows: int = 0, header_on_classes: bool = False, options: dict | None = None):
    eol = "\r\n" if crlf else "\n"
    if bad_rows < 0:
        raise GenError("--bad-rows must be >= 0")
    for s in layout.SPLITS:
        if sizes[s] < 0:
            raise GenError(f"--{s} must be >= 0")
    total = sum(sizes[s] for s in layout.SPLITS)
    if total < 1:
        raise GenError("at least one image is needed")
    if classes < 10:
        raise GenError("--classes must be at least 10 (the quirk classes need room)")
    rows_pmf(labels_per_image)  # raises on a mean out of range

    def R(purpose):
        return random.Random(f"make-mirror/v1/{seed}/{purpose}")

    rng_cls, rng_ids, rng_meta = R("classes"), R("ids"), R("meta")
    rng_lab, rng_bad, rng_shuf = R("labels"), R("bad"), R("shuffle")

    os.makedirs(out_dir, exist_ok=True)
    man_path = os.path.join(out_dir, layout.MANIFEST)
    if os.path.exists(man_path):
        os.remove(man_path)  # present only when a run completed
    tmpdir = tempfile.mkdtemp(prefix=".make-mirror-", dir=out_dir)
    try:
        return _generate(out_dir, tmpdir, sizes, classes, labels_per_image, seed,
                         unsorted_labels, eol, bad_rows, header_on_classes, options or {},
                         rng_cls, rng_ids, rng_meta, rng_lab, rng_bad, rng_shuf, total)
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _generate(out_dir, tmpdir, sizes, nclasses, lpi, seed, unsorted_labels, eol, nbad,
              header_on_classes, options, rng_cls, rng_ids, rng_meta, rng_lab, rng_bad,
              rng_shuf, total):
    splits = layout.SPLITS
    files_info = {}
    bad_list: list[dict] = []

    # --- classes and hierarchy
    classes, order = make_classes(rng_cls, nclasses)
    tree, hstats = make_hierarchy(rng_cls, classes)
    co = Out(out_dir, layout.CLASSES)
    if header_on_classes:
        co.header(",".join(layout.CLASSES_HEADER) + eol)
    for c in classes:
        co.add(f"{c['mid']},{q(c['name'])}{eol}")
    co.close()
    files_info[layout.CLASSES] = co.info()
    ho = Out(out_dir, layout.HIERARCHY)
    ho.add(json.dumps(tree, ensure_ascii=False) + eol)
    ho.close()
    files_info[layout.HIERARCHY] = ho.info()

    n = len(classes)
    mids = [c["mid"] for c in classes]
    mid_set = set(mids)
    negonly = [c["negative_only"] for c in classes]
    zipf_cum = _cum([1.0 / (r + 1) ** ZIPF_EXPONENT for r in range(n)])  # by rank
    zipf_tot = zipf_cum[-1]
    rank_to_class = order
    max_rows = min(MAX_ROWS_PER_IMAGE, n)

    # --- per split state
    pmf = {s: rows_pmf(lpi if s == "train" else min(40.0, lpi * EVAL_LABEL_FACTOR))
           for s in splits}
    pmf_cum = {s: _cum(pmf[s]) for s in splits}
    st = {}
    for s in splits:
        img_out = Out(out_dir, layout.IMAGE_LISTS[s])
        img_out.header(",".join(layout.IMAGE_LIST_HEADER) + eol)
        lab_out = Out(out_dir, layout.LABELS[s])
        lab_out.header(",".join(layout.LABELS_HEADER) + eol)
        bad_entries: list[dict] = []
        if unsorted_labels:
            exp_rows = sizes[s] * sum(k * p for k, p in enumerate(pmf[s]))
            k = max(1, math.ceil(exp_rows / BUCKET_ROWS))
            sink = BucketSink(lab_out, eol, bad_list, bad_entries, tmpdir, k, rng_shuf)
        else:
            sink = SortedSink(lab_out, eol, bad_list, bad_entries)
        nimg = sizes[s]
        feats = {}
        for f, idx in zip(IMAGE_FEATURES, rng_meta.sample(range(nimg), min(nimg, len(IMAGE_FEATURES)))):
            feats.setdefault(idx, set()).add(f)
        # planted bad rows: (image index, kind), sorted by index
        def plan(kinds):
            ks = [kinds[j % len(kinds)] for j in range(nbad)]
            rng_bad.shuffle(ks)
            pos = sorted(rng_bad.randrange(nimg) for _ in range(nbad)) if nimg else [0] * nbad
            return list(zip(pos, ks))
        st[s] = {
            "img_out": img_out, "lab_out": lab_out, "sink": sink, "bad_entries": bad_entries,
            "feats": feats, "idx": 0,
            "lab_plan": plan(LABEL_BAD_KINDS), "img_plan": plan(IMAGE_BAD_KINDS),
            "lab_plan_i": 0, "img_plan_i": 0, "pending": [],
            "held": None,
            "last_single": None,  # (iid, rows) of the last image with rows, not yet written
            "dup_groups": 0,
            "pos": [0] * n, "neg": [0] * n, "single": [0] * n,
            "label_rows": 0, "positives": 0, "negatives": 0, "with_labels": 0,
            "without_labels": 0, "one_positive": 0, "max_rows": 0,
            "sources": {"verification": 0, "crowdsource-verification": 0},
            "spellings": {"1": 0, "0": 0, "1.0": 0, "0.0": 0},
            "need_float": [True, True],  # first negative / positive row uses 0.0 / 1.0
            "img_quirks": {k: 0 for k in ("author_empty", "title_empty", "title_multiline",
                                          "thumb_empty", "thumb_zz", "rotation_empty",
                                          "rotation_nonzero")},
            "images": 0, "bad_images": 0, "bad_labels": 0,
        }

    # --- images, in global ImageID order; each split's IDs are a sorted subsequence.
    width = (1 << 64) // total   # slot i holds IDs [i*width, i*width + width - 2];
    # i*width + width - 1 is never a valid ID: planted bad rows use those as fresh IDs.
    rem = [sizes[s] for s in splits]
    rem_total = total
    rnd_ids = rng_ids.random
    rr_ids = rng_ids.randrange
    lab_random = rng_lab.random
    bisect_right = bisect.bisect_right

    def fresh_id():
        return "%016x" % (rng_bad.randrange(total) * width + width - 1)

    for slot in range(total):
        x = rnd_ids() * rem_total
        if x < rem[0]:
            si = 0
        elif x < rem[0] + rem[1]:
            si = 1
        else:
            si = 2
        if rem[si] == 0:  # float edge case
            si = next(i for i in range(3) if rem[i])
        rem[si] -= 1
        rem_total -= 1
        s = splits[si]
        S = st[s]
        iid = "%016x" % (slot * width + rr_ids(width - 1))
        idx = S["idx"]
        S["idx"] = idx + 1

        # image row
        text, nl, shows = image_row(rng_meta, s, iid, S["feats"].get(idx, ()), eol)
        img_out = S["img_out"]
        img_out.add(text + eol, nl)
        if nl == 1:
            S["last_single"] = text  # planted duplicates copy single-line rows only
        S["images"] += 1
        for k in shows:
            S["img_quirks"][k] += 1
        plan, pi = S["img_plan"], S["img_plan_i"]
        while pi < len(plan) and plan[pi][0] == idx:
            _image_bad(S, s, plan[pi][1], eol, rng_bad, fresh_id, bad_list)
            pi += 1
        S["img_plan_i"] = pi

        # label rows
        k = bisect_right(pmf_cum[s], lab_random() * pmf_cum[s][-1])
        if k > max_rows:
            k = max_rows  # each row of an image names another class
        rows = []
        if k:
            chosen = set()
            npos = 0
            single_c = -1
            pf = FLOAT_SPELLING_P[s]
            while len(rows) < k:
                c = rank_to_class[bisect_right(zipf_cum, lab_random() * zipf_tot)]
                if c in chosen:
                    continue
                chosen.add(c)
                src = "crowdsource-verification" if lab_random() < CROWDSOURCE_P else "verification"
                positive = lab_random() < POSITIVE_P and not negonly[c]
                flt = lab_random() < pf
                if positive:
                    if S["need_float"][1]:
                        flt, S["need_float"][1] = True, False
                    conf = "1.0" if flt else "1"
                    S["pos"][c] += 1
                    npos += 1
                    single_c = c
                else:
                    if S["need_float"][0]:
                        flt, S["need_float"][0] = True, False
                    conf = "0.0" if flt else "0"
                    S["neg"][c] += 1
                S["spellings"][conf] += 1
                S["sources"][src] += 1
                rows.append([f"{iid},{src},{mids[c]},{conf}", None])
            S["label_rows"] += k
            S["positives"] += npos
            S["negatives"] += k - npos
            S["with_labels"] += 1
            if k > S["max_rows"]:
                S["max_rows"] = k
            if npos == 1:
                S["one_positive"] += 1
                S["single"][single_c] += 1
        else:
            S["without_labels"] += 1
        plan, pi = S["lab_plan"], S["lab_plan_i"]
        while pi < len(plan) and plan[pi][0] == idx:
            S["pending"].append(plan[pi][1])
            pi += 1
        S["lab_plan_i"] = pi
        if rows:
            if S["pending"]:
                for kind in S["pending"]:
                    _label_bad(S, kind, iid, rows, rng_bad, mid_set, mids)
                S["pending"] = []
            # The rows of the last image with rows are held back, so that bad rows planned
            # after it (at the end of the split) can still join its group.
            held = S["held"]
            S["held"] = (iid, rows)
            if held is not None:
                put = S["sink"].put
                for text, tag in held[1]:
                    put(text, tag)

    # --- leftovers, close, manifest
    for s in splits:
        S = st[s]
        if sizes[s] == 0 and nbad:
            # An empty split still gets its planted rows, with fresh IDs.
            for _, kind in S["img_plan"]:
                if kind == "duplicate":
                    kind = "bad_image_id"
                _image_bad(S, s, kind, eol, rng_bad, fresh_id, bad_list)
            S["pending"] = [kind for _, kind in S["lab_plan"]]
        held = S["held"]
        base = None
        if held is None and S["pending"]:
            # No image of this split has label rows: the planted rows name fresh IDs.
            iid = fresh_id()
            base = [f"{iid},verification,{mids[0]},1", None]  # a template, not written
            held = (iid, [base])
            S["pending"] = [k if k in ("empty_image_id", "field_count", "bad_confidence",
                                       "unknown_mid") else "bad_image_id"
                            for k in S["pending"]]
        if held is not None:
            for kind in S["pending"]:
                _label_bad(S, kind, held[0], held[1], rng_bad, mid_set, mids)
            S["pending"] = []
            for r in held[1]:
                if r is not base:
                    S["sink"].put(r[0], r[1])
        S["sink"].finish()
        S["img_out"].close()
        S["lab_out"].close()
        files_info[layout.IMAGE_LISTS[s]] = S["img_out"].info()
        files_info[layout.LABELS[s]] = S["lab_out"].info()

    bad_list.sort(key=lambda e: (e["file"], e["line"]))
    split_man = {}
    for s in splits:
        S = st[s]
        split_man[s] = {
            "image_list": layout.IMAGE_LISTS[s],
            "labels": layout.LABELS[s],
            "images": S["images"],
            "label_rows": S["label_rows"],
            "positives": S["positives"],
            "negatives": S["negatives"],
            "images_with_labels": S["with_labels"],
            "images_without_labels": S["without_labels"],
            "images_with_one_positive": S["one_positive"],
            "max_label_rows_per_image": S["max_rows"],
            "sources": S["sources"],
            "confidence_spellings": S["spellings"],
            "image_list_quirks": S["img_quirks"],
            "bad_rows": {"image_list": sum(1 for e in bad_list if e["file"] == layout.IMAGE_LISTS[s]),
                         "labels": sum(1 for e in bad_list if e["file"] == layout.LABELS[s])},
        }
    by_mid = {}
    by_name: dict[str, dict] = {}
    for c in classes:
        i = c["index"]
        e = {"name": c["name"], "rank": c["rank"], "negative_only": c["negative_only"]}
        for s in splits:
            e[s] = {"positive": st[s]["pos"][i], "negative": st[s]["neg"][i],
                    "single_positive": st[s]["single"][i]}
        by_mid[c["mid"]] = e
        ne = by_name.setdefault(c["name"], {"mids": []})
        ne["mids"].append(c["mid"])
        for s in splits:
            d = ne.setdefault(s, {"positive": 0, "negative": 0, "single_positive": 0})
            for key in d:
                d[key] += e[s][key]
    dup = {k: v["mids"] for k, v in by_name.items() if len(v["mids"]) > 1}
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "generator": "scripts/make-mirror",
        "seed": seed,
        "options": options,
        "line_end": "CRLF" if eol == "\r\n" else "LF",
        "labels_order": "shuffled" if unsorted_labels else "grouped by image, ImageID order",
        "files": files_info,
        "classes": {
            "file": layout.CLASSES,
            "count": len(classes),
            "header": header_on_classes,
            "g_mids": sorted(m for m in mids if m.startswith("/g/")),
            "duplicate_display_names": dup,
            "negative_only": sorted(c["name"] for c in classes if c["negative_only"]),
            "quirk_names": sorted({c["name"] for c in classes if c["quirk"]}),
        },
        "hierarchy": {"file": layout.HIERARCHY, "root": layout.HIERARCHY_ROOT, **hstats},
        "splits": split_man,
        "class_counts": dict(sorted(by_name.items())),
        "class_counts_by_mid": by_mid,
        "bad_rows": bad_list,
    }
    tmp = os.path.join(out_dir, layout.MANIFEST + ".tmp")
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=1)
        f.write("\n")
    os.replace(tmp, os.path.join(out_dir, layout.MANIFEST))
    return manifest


def _image_bad(S, split, kind, eol, rng, fresh_id, bad_list):
    out = S["img_out"]
    if kind == "duplicate" and S["last_single"] is None:
        kind = "bad_image_id"
    if kind == "duplicate":
        line = out.add(S["last_single"] + eol)
        reason = "duplicate row (identical to an earlier row)"
    else:
        iid = fresh_id()
        row, _, _ = image_row(rng, split, iid, (), eol, allow_multiline=False)
        if kind == "field_count":
            if rng.random() < 0.5:
                row = row.rsplit(",", 1)[0]
                reason = "wrong field count (11 fields)"
            else:
                row = row + "," + rng.choice(("0.0", "x", ""))
                reason = "wrong field count (13 fields)"
        elif kind == "bad_image_id":
            bad, reason = _bad_image_id(rng, iid)
            row = bad + row[16:]
        else:
            row = row[16:]
            reason = "empty ImageID"
        line = out.add(row + eol)
    bad_list.append({"file": out.rel, "line": line, "kind": kind, "reason": reason})


def _label_bad(S, kind, iid, rows, rng, mid_set, mids):
    """Inserts one planted bad row among `rows` (a list of [text, tag]; tag None = valid,
    ("d", g) = a copy of duplicate group g, ("x", n) = bad entry n)."""
    cand = [i for i, r in enumerate(rows) if r[1] is None or r[1][0] == "d"]
    if not cand:
        raise AssertionError("no valid row to base a bad row on")
    at_pick = rng.choice(cand)
    pick = rows[at_pick]
    if kind == "duplicate":
        if pick[1] is None:
            pick[1] = ("d", S["dup_groups"])
            S["dup_groups"] += 1
        rows.insert(rng.randrange(at_pick + 1, len(rows) + 1), [pick[0], pick[1]])
        return
    fields = pick[0].split(",")
    if kind == "field_count":
        if rng.random() < 0.5:
            text = ",".join(fields[:3])
            reason = "wrong field count (3 fields)"
        else:
            text = ",".join(fields + [rng.choice(("1", "0", "x"))])
            reason = "wrong field count (5 fields)"
    elif kind == "bad_image_id":
        bad, reason = _bad_image_id(rng, iid)
        text = ",".join([bad] + fields[1:])
    elif kind == "unknown_mid":
        if rng.random() < 0.34:
            m = layout.HIERARCHY_ROOT
            reason = "unknown LabelName (the hierarchy root, not a class)"
        else:
            while True:
                m = _mid(rng, False)
                if m not in mid_set and m != layout.HIERARCHY_ROOT:
                    break
            reason = "unknown LabelName"
        text = ",".join(fields[:2] + [m, fields[3]])
    elif kind == "bad_confidence":
        v = rng.choice(BAD_CONFIDENCES)
        text = ",".join(fields[:3] + [v])
        reason = "Confidence is not a number" + (" (empty)" if v == "" else "")
    elif kind == "empty_image_id":
        text = ",".join([""] + fields[1:])
        reason = "empty ImageID"
    else:
        raise AssertionError(kind)
    entries = S["bad_entries"]
    rows.insert(rng.randrange(len(rows) + 1), [text, ("x", len(entries))])
    entries.append({"kind": kind, "reason": reason})
