"""The reference generator's FiftyOne path, for scripts/bench/sample. Runs in the fiftyone
venv (tests/fiftyone/install VENV), never in the project's .venv.

    FIFTYONE_DATABASE_URI=... FIFTYONE_DATABASE_NAME=... VENV/bin/python \
        sample_fo.py SPEC.json OUT.json

SPEC: {"dataset": NAME, "new_name": NAME, "k": 100, "seed": 42, "batch_size": 1000,
       "mongod_pid": PID (optional, for mongod's CPU per phase), "keep": false}

Timed, phase by phase, exactly the reference generator's code:

    load    full = fo.load_dataset(NAME)              (the first database call: connects)
    label   single = full.match(exists & length == 1)
            for s in single.iter_samples(progress=False, autosave=True, batch_size=1000):
                s["ground_truth"] = s.positive_labels.classifications[0]
    count   class_counts = single.count_values("ground_truth.label")
    sample  required = sorted(class_counts.values(), reverse=True)[K - 1]
            random.seed(SEED); classes = random.sample([eligible, in count_values order], K)
            sub = fo.Dataset(NEW_NAME)
            for c in classes:
                sub.add_samples(single.match(F("ground_truth.label") == c)
                                .take(required, seed=SEED))

`import fiftyone` is timed apart (not part of the total). After the clock stops (untimed):
len(single) and what the subset holds (open_images_id per ground_truth label). The caller
checks, before starting this script, that no document of the copy holds a ground_truth.
Writes one JSON object to OUT.json; FiftyOne's own output goes to stderr.
"""
import contextlib
import json
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))
from benchutil import proc_cpu  # noqa: E402 (the same CPU accounting as the driver)


class Clock:
    """Wall time, this process's CPU and mongod's CPU per phase."""

    def __init__(self, mongod_pid):
        self.mongod_pid = mongod_pid
        self.phases = {}

    @contextlib.contextmanager
    def phase(self, name):
        t0, c0, m0 = time.monotonic(), time.process_time(), proc_cpu(self.mongod_pid)
        yield
        wall = time.monotonic() - t0
        cpu = time.process_time() - c0
        m1 = proc_cpu(self.mongod_pid)
        mcpu = m1 - m0 if m0 is not None and m1 is not None else None
        self.phases[name] = {
            "seconds": round(wall, 3),
            "python_cpu_s": round(cpu, 2),
            "python_cores": round(cpu / wall, 2) if wall else None,
            "mongod_cpu_s": round(mcpu, 2) if mcpu is not None else None,
            "mongod_cores": round(mcpu / wall, 2) if mcpu is not None and wall else None,
        }


def run(spec):
    clock = Clock(spec.get("mongod_pid"))
    K, SEED = spec["k"], spec["seed"]
    NAME, NEW_NAME = spec["dataset"], spec["new_name"]
    batch_size = spec.get("batch_size", 1000)

    with clock.phase("import"):
        import fiftyone as fo
        from fiftyone import ViewField as F

    t_total = time.monotonic()
    with clock.phase("load"):
        full = fo.load_dataset(NAME)

    with clock.phase("label"):
        single = full.match(
            (F("positive_labels.classifications").exists())
            & (F("positive_labels.classifications").length() == 1))
        for s in single.iter_samples(progress=False, autosave=True, batch_size=batch_size):
            s["ground_truth"] = s.positive_labels.classifications[0]

    with clock.phase("count"):
        class_counts = single.count_values("ground_truth.label")

    with clock.phase("sample"):
        required = sorted(class_counts.values(), reverse=True)[K - 1]
        eligible = [c for c, n in class_counts.items() if n >= required]
        random.seed(SEED)  # as the reference generator: the global RNG, seeded
        classes = random.sample(eligible, K)
        sub = fo.Dataset(NEW_NAME)
        for c in classes:
            sub.add_samples(single.match(F("ground_truth.label") == c).take(required, seed=SEED))
    total = time.monotonic() - t_total

    # ---- untimed: what was done ----
    t0 = time.monotonic()
    out = {
        "fiftyone_version": fo.__version__,
        "dataset": NAME,
        "new_name": NEW_NAME,
        "k": K,
        "seed": SEED,
        "batch_size": batch_size,
        "phases": clock.phases,
        "total_s": round(total, 3),
        "samples": len(full),
        "single": len(single),
        "class_counts": class_counts,
        "required": required,
        "eligible": len(eligible),
        "eligible_order": eligible,
        "classes": classes,
    }
    ids, labels = sub.values(["open_images_id", "ground_truth.label"])
    by_class = {}
    for i, c in zip(ids, labels):
        by_class.setdefault(c, []).append(i)
    out["subset"] = {"len": len(sub), "by_class": by_class}
    if spec.get("keep"):
        sub.persistent = True
    out["untimed_after_s"] = round(time.monotonic() - t0, 3)
    out["max_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: sample_fo.py SPEC.json OUT.json")
    with open(sys.argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    # FiftyOne's logging binds sys.stdout at import time: keep stdout quiet, use OUT.json
    with contextlib.redirect_stdout(sys.stderr):
        result = run(spec)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(result, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
