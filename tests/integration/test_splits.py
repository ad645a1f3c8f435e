"""sub_splits_assign() (service/splits.c) against scikit-learn 1.9.1 and a pure-Python restatement.

The C code runs in splits_cli (tests/unit/splits_main.c), looked up in $SUBSETTER_TEST_BIN_DIR
(default build/debug under the repository): labels on stdin, one split name per item out.
The reference generator splits with train_test_split(stratify=y, random_state=seed) twice:
test off the whole, then val off the rest with test_size = val / (train + val). Checked:
 (a) the totals of each split equal scikit-learn's, and so does each class's count wherever
     scikit-learn's own count does not depend on its random_state (no run of three drew
     that class from a tie with numpy's generator, and the three agree);
     the per-class counts also equal what scikit-learn's own _approximate_mode gives when its
     rng.choice is replaced by the tie rule of splits.h, so the arithmetic is sklearn's code;
 (b) membership equals reference_split() below, splits.h restated with random.Random only;
 (c) the same seed gives the same output, another seed another.
"""
from __future__ import annotations

import math
import os
import random
import subprocess
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import train_test_split
from sklearn.utils.extmath import _approximate_mode

from servers import REPO_ROOT

SPLITS = ("train", "val", "test")
# Class-count vectors: balanced, small balanced, unbalanced, and 7 classes of 10..70.
SHAPES = {
    "balanced_100x345": [100] * 345,
    "balanced_30x30": [30] * 30,
    "unbalanced": [400, 150, 60, 25, 12, 31, 77],
    "sizes_10_to_70": [10, 20, 30, 40, 50, 60, 70],
}
SPECS = ["0.7,0.1,0.2", "0.8,0.1,0.1", "0.6,0.2,0.2", "0.5,0.25,0.25"]
SEEDS = [0, 1, 42, 2024]


def driver() -> Path:
    return Path(os.environ.get("SUBSETTER_TEST_BIN_DIR") or REPO_ROOT / "build" / "debug") \
        / "splits_cli"


@pytest.fixture(scope="module")
def splits_cli():
    b = driver()
    if not (b.is_file() and os.access(b, os.X_OK)):
        pytest.fail(f"no test driver at {b}: build it (cmake --build build/debug --target "
                    f"splits_cli) or set SUBSETTER_TEST_BIN_DIR", pytrace=False)

    def run(labels, spec, seed, want_rc=0):
        p = subprocess.run([str(b), "--splits", spec, "--seed", str(seed)],
                           input="".join(f"{l}\n" for l in labels), capture_output=True,
                           text=True, timeout=120)
        assert p.returncode == want_rc, p.stderr
        if want_rc:
            return p.stderr
        assert not p.stderr, p.stderr  # sanitizer reports land here
        out = p.stdout.splitlines()
        assert len(out) == len(labels)
        return out

    return run


def make_labels(counts: list[int], order_seed: int = 99) -> list[int]:
    """Integer labels, items interleaved, so first appearance is not label order."""
    labels = [1000 - c for c, k in enumerate(counts) for _ in range(k)]
    random.Random(order_seed).shuffle(labels)
    return labels


def fractions(spec: str) -> tuple[float, float, float]:
    train, val, test = (float(x) for x in spec.split(","))
    return train, val, test


# ---- the reference: splits.h restated with the standard library ------------------------

def approximate_mode(counts, draws, rng):
    """sklearn's _approximate_mode in Python floats; a partly served tie group is shuffled."""
    total = sum(counts)
    cont = [c / total * draws for c in counts]
    out = [math.floor(x) for x in cont]
    need = draws - sum(out)
    rem = [x - f for x, f in zip(cont, out)]
    for value in sorted(set(rem), reverse=True):
        if need <= 0:
            break
        group = [r for r, v in enumerate(rem) if v == value]
        if len(group) > need:
            rng.shuffle(group)
            group = group[:need]
        for r in group:
            out[r] += 1
        need -= len(group)
    return out


def totals(n: int, f) -> tuple[int, int, int, int]:
    n_test = math.ceil(f[2] * n)
    n_rest = n - n_test
    n_val = math.ceil(f[1] / (f[0] + f[1]) * n_rest)
    return n_test, n_rest, n_val, n_rest - n_val


def reference_split(labels, f, seed) -> list[str] | None:
    """The membership rule of splits.h; None where a class misses a split."""
    rng = random.Random(seed)
    members: dict = {}
    for i, lab in enumerate(labels):
        members.setdefault(lab, []).append(i)
    for items in members.values():  # rank order: first appearance
        rng.shuffle(items)
    counts = [len(v) for v in members.values()]
    _, n_rest, _, n_train = totals(len(labels), f)
    rest = approximate_mode(counts, n_rest, rng)
    train = approximate_mode(rest, n_train, rng)
    out = [""] * len(labels)
    for r, items in enumerate(members.values()):
        t, v = counts[r] - rest[r], rest[r] - train[r]
        if min(t, v, train[r]) < 1:
            return None
        for j, i in enumerate(items):
            out[i] = "test" if j < t else "val" if j < t + v else "train"
    return out


# ---- scikit-learn --------------------------------------------------------------------

class TieRecorder(np.random.RandomState):
    """RandomState(seed), what train_test_split makes of random_state=seed, that notes the
    classes of every tie group _approximate_mode serves only in part (rng.choice of fewer
    than all): the counts of those classes depend on random_state."""

    def __init__(self, seed, classes):
        super().__init__(seed)
        self.classes = classes
        self.tied: set = set()

    def choice(self, a, size=None, replace=True, p=None):
        if size is not None and size < len(a):
            self.tied |= {self.classes[i] for i in np.asarray(a).tolist()}
        return super().choice(a, size=size, replace=replace, p=p)


def sklearn_counts(labels, f, random_state):
    """Per-class counts of the reference generator's two train_test_split calls, and the
    classes whose test (first call) or train/val (either call) count scikit-learn drew."""
    y = np.asarray(labels)
    classes = np.unique(y).tolist()
    idx = np.arange(len(y))
    first = TieRecorder(random_state, classes)
    rest, test = train_test_split(idx, test_size=f[2], stratify=y, random_state=first)
    second = TieRecorder(random_state, np.unique(y[rest]).tolist())
    train, val = train_test_split(rest, test_size=f[1] / (f[0] + f[1]), stratify=y[rest],
                                  random_state=second)
    counts = {name: Counter(y[part].tolist()) for name, part in
              (("train", train), ("val", val), ("test", test))}
    drawn = {"test": first.tied, "train": first.tied | second.tied,
             "val": first.tied | second.tied}
    return counts, drawn


class TieRng(np.random.RandomState):
    """Stands in for numpy's generator in sklearn's _approximate_mode (check_random_state
    wants a RandomState): a partly served group is shuffled by random.Random as splits.h
    says; a whole group draws nothing."""

    def __init__(self, rng: random.Random):
        super().__init__(0)
        self.rng = rng

    def choice(self, inds, size, replace):
        assert not replace
        group = [int(i) for i in inds]
        if size < len(group):
            self.rng.shuffle(group)
        return np.array(group[:size], dtype=int)


def sklearn_mode_counts(labels, f, seed) -> dict[str, Counter]:
    """sklearn's own _approximate_mode, twice as _iter_indices uses it, with TieRng."""
    rng = random.Random(seed)
    members: dict = {}
    for lab in labels:
        members.setdefault(lab, 0)
        members[lab] += 1
    order = list(members)
    for lab in order:  # the membership shuffles come first
        rng.shuffle(list(range(members[lab])))
    counts = np.array([members[lab] for lab in order])
    _, n_rest, _, n_train = totals(len(labels), f)
    tie = TieRng(rng)
    rest = _approximate_mode(counts, n_rest, tie)
    train = _approximate_mode(rest, n_train, tie)
    return {"train": Counter(dict(zip(order, train.tolist()))),
            "val": Counter(dict(zip(order, (rest - train).tolist()))),
            "test": Counter(dict(zip(order, (counts - rest).tolist())))}


def our_counts(labels, out) -> dict[str, Counter]:
    return {name: Counter(l for l, s in zip(labels, out) if s == name) for name in SPLITS}


# ---- the tests -----------------------------------------------------------------------

CASES = [(shape, spec, seed) for shape in SHAPES for spec in SPECS for seed in SEEDS[:2]] + \
        [("balanced_100x345", "0.7,0.1,0.2", s) for s in SEEDS[2:]] + \
        [("unbalanced", "0.7,0.1,0.2", s) for s in SEEDS[2:]]


@pytest.mark.parametrize("shape,spec,seed", CASES)
def test_sizes_and_members(splits_cli, shape, spec, seed):
    labels = make_labels(SHAPES[shape])
    f = fractions(spec)
    want = reference_split(labels, f, seed)
    if want is None:  # a class misses a split: the C code must refuse too
        assert "[INFEASIBLE]" in splits_cli(labels, spec, seed, want_rc=1)
        return
    out = splits_cli(labels, spec, seed)
    assert out == want  # (b)
    ours = our_counts(labels, out)
    runs = [sklearn_counts(labels, f, rs) for rs in (seed, seed + 1000, seed + 2000)]
    for name in SPLITS:  # (a)
        assert sum(ours[name].values()) == sum(runs[0][0][name].values()), name
        # A class's count is scikit-learn's own where no run drew it from a tie and all runs
        # agree (agreement alone is chance in a big tie: 345 classes, three runs).
        drawn = set().union(*(d[name] for _, d in runs))
        fixed = [lab for lab in set(labels) if lab not in drawn and
                 len({c[name][lab] for c, _ in runs}) == 1]
        for lab in fixed:
            assert ours[name][lab] == runs[0][0][name][lab], (name, lab)
    assert ours == sklearn_mode_counts(labels, f, seed)


def test_every_class_in_every_split(splits_cli):
    labels = make_labels(SHAPES["sizes_10_to_70"], order_seed=5)
    for seed in range(20):
        ours = our_counts(labels, splits_cli(labels, "0.7,0.1,0.2", seed))
        for name in SPLITS:
            assert set(ours[name]) == set(labels), (seed, name)


def test_deterministic(splits_cli):
    labels = make_labels(SHAPES["balanced_30x30"])
    a = splits_cli(labels, "0.7,0.1,0.2", 42)
    assert splits_cli(labels, "0.7,0.1,0.2", 42) == a
    assert splits_cli(labels, "0.7,0.1,0.2", 43) != a
    assert splits_cli(labels, "0.7,0.1,0.2", -42) == a  # Random(-42) is Random(42)


def test_small_class_fails(splits_cli):
    labels = make_labels([100, 100]) + ["rare", "rare"]
    err = splits_cli(labels, "0.7,0.1,0.2", 1, want_rc=1)
    assert "[INFEASIBLE]" in err and "class 'rare' has 2 items but needs" in err, err


@pytest.mark.parametrize("spec", ["0.7,0.1", "0.7,0.1,0.3", "nan,0.5,0.5", "0.7,0.1,0.2x",
                                  "0.7, 0.1,0.2", "1,0,0", "0x0.8p0,0.25,0.25"])
def test_bad_spec(splits_cli, spec):
    assert "[USAGE]" in splits_cli(["a", "b", "c"], spec, 1, want_rc=1)


@pytest.mark.parametrize("spec", SPECS)
def test_refuses_exactly_when_a_class_misses_a_split(splits_cli, spec):
    labels = make_labels([3, 4, 5, 6, 7, 8, 9, 40])
    for seed in (0, 1):
        want = reference_split(labels, fractions(spec), seed)
        if want is None:
            err = splits_cli(labels, spec, seed, want_rc=1)
            assert "[INFEASIBLE]" in err and "but needs" in err, err
        else:
            assert splits_cli(labels, spec, seed) == want
