"""Arrays benchmark: numpy arrays in records against numpy.save and numpy.load (issue 19).

    python -m bench.bench_arrays [--size-mib M] [--arrays K] [--records N] [--runs R]

The state: K ``bench.Tensor`` records (a name and an ``NDArray[np.float64]`` field) holding
M MiB of float64 arrays between them (default 16 arrays, 1024 MiB: 64 MiB each), plus N small
``bench.Row`` records (default 100,000; an int id, a short label, an int balance, a list of
0-3 tags, a float), in a dict ``{"tensors": [...], "rows": [...]}``. Two variants of the
arrays, so the compression decision shows:

- random: uniform floats in [0, 1), which zstd does not shrink (stored raw);
- small ints: integers 0-15 as float64, which zstd shrinks about tenfold (stored compressed).

Targets (issue 19), on the random variant: ``store.save(state)`` within 1.5x of ``numpy.save``
of the same arrays (one .npy file each, each flushed and fsync'd, then the folder fsync'd);
``store.load()`` in a fresh process within 1.5x of ``numpy.load`` of those files in a fresh
process (imports excluded on both sides; page cache warm on both sides, the files having just
been written); peak memory added by ``save`` at most 0.25 of the arrays' size (the kernel's
high-water mark, VmHWM, reset through ``/proc/self/clear_refs`` just before the save, in a
child process that built the state; numpy's measured the same way). Also timed, for context:
the 100,000 records saved and loaded alone. Each run measures both variants, Amber and numpy
taking turns at going first; every timed step is primed alike (``prime``: dirty pages flushed,
then 1.25x the arrays' size of memory touched and freed just before it, in the process that
times it). Every figure is the median of R runs, with the range of the per-run ratios and the
ratio of the fastest runs. Prints a Markdown table and writes bench/results/arrays.json (with
every run's figures).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

import amber
from bench import workload

ROOT = Path(__file__).parent.parent
MIB = 1 << 20
VARIANTS = ("random", "small_ints")
TAGS = ["vip", "eur", "usd", "new", "frozen", "audit", "retail", "corp", "promo"]

registry = amber.Registry()


@registry.record("bench.Tensor", version=1)
class Tensor(amber.Record):
    name: str
    data: npt.NDArray[np.float64]


@registry.record("bench.Row", version=1)
class Row(amber.Record):
    id: int
    label: str
    balance: int
    tags: list[str]
    updated: float


def build(variant: str, size_mib: float, arrays: int, records: int, seed: int = 1) -> dict[str, Any]:
    """The benchmark's state: ``arrays`` tensors of ``size_mib`` MiB of float64 in all, and rows."""
    rng = np.random.default_rng(seed)
    items = max(1, int(size_mib * MIB) // 8 // arrays)
    tensors = []
    for i in range(arrays):
        data = rng.random(items) if variant == "random" else rng.integers(0, 16, items).astype(np.float64)
        tensors.append(Tensor(f"layer-{i:02d}", data))
    pick = random.Random(seed)
    rows = [
        Row(i, f"row-{i:06d}", pick.randrange(-(10**6), 10**9), pick.sample(TAGS, pick.randrange(4)), pick.random())
        for i in range(records)
    ]
    return {"tensors": tensors, "rows": rows}


def arrays_of(state: dict[str, Any]) -> list[npt.NDArray[np.float64]]:
    return [t.data for t in state["tensors"]]


def numpy_save(arrays: list[npt.NDArray[np.float64]], folder: Path) -> None:
    """The baseline: ``numpy.save`` of each array into a .npy file of its own, flushed and
    fsync'd, then the folder fsync'd (as a store fsyncs the folder it publishes into)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, array in enumerate(arrays):
        with open(folder / f"{i:03d}.npy", "wb") as f:
            np.save(f, array, allow_pickle=False)
            f.flush()
            os.fsync(f.fileno())
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def time_numpy_save(arrays: list[npt.NDArray[np.float64]], folder: Path) -> float:
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    numpy_save(arrays, folder)
    return time.perf_counter() - started


def time_amber_save(state: dict[str, Any], url: Path) -> float:
    shutil.rmtree(url, ignore_errors=True)
    store = amber.open_store(url, registry=registry)
    started = time.perf_counter()
    store.save(state)
    return time.perf_counter() - started


def stored(url: Path) -> dict[str, int]:
    """A store's data file size and its array segments by codec."""
    manifest = amber.open_store(url, registry=registry).manifest()
    segments = [s for s in manifest.segments if s.kind == "array"]
    return {
        "amber_bytes": manifest.data_size,
        "array_segments_raw": sum(s.codec == "none" for s in segments),
        "array_segments_zstd": sum(s.codec == "zstd" for s in segments),
        "array_stored_bytes": sum(s.length for s in segments),
        "array_raw_bytes": sum(s.raw_length for s in segments),
    }


LOAD_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import numpy as np
import amber
from bench import bench_arrays
how, target, count, primed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
bench_arrays.prime(primed)
started = time.perf_counter()
if how == "numpy":
    arrays = [np.load(f"{{target}}/{{i:03d}}.npy") for i in range(count)]
else:
    state = amber.open_store(target, registry=bench_arrays.registry).load()
    arrays = [t.data for t in state.get("tensors", ())]
print(time.perf_counter() - started)
assert len(arrays) == count and all(a.dtype == np.float64 and a.flags.writeable for a in arrays)
"""


def time_fresh_load(how: str, target: Path, count: int, primed: int = 0) -> float:
    """Seconds of a load in a fresh process, after its imports and ``prime(primed)``."""
    return float(child(LOAD_CHILD, how, str(target), str(count), str(primed)))


MEMORY_CHILD = """
import json, sys
from pathlib import Path
sys.path.insert(0, {root!r})
from bench import bench_arrays
how, variant, size_mib, arrays, records, target = sys.argv[1:]
sizes = dict(size_mib=float(size_mib), arrays=int(arrays), records=int(records))
print(json.dumps(bench_arrays.save_memory(how, variant, Path(target), **sizes)))
"""


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith(key))
    return int(line.split()[1]) * 1024


def save_memory(how: str, variant: str, target: Path, *, size_mib: float, arrays: int, records: int) -> dict[str, int]:
    """In a child process: build the state, reset the RSS high-water mark, save (Amber or numpy),
    and give the peak RSS added by the save."""
    shutil.rmtree(target, ignore_errors=True)
    state = build(variant, size_mib, arrays, records)
    store = amber.open_store(target, registry=registry) if how == "amber" else None
    with_state = _status("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset VmHWM to the current RSS
    if store is not None:
        store.save(state)
    else:
        numpy_save(arrays_of(state), target)
    return {"added": _status("VmHWM:") - with_state, "arrays_bytes": sum(a.nbytes for a in arrays_of(state))}


def child(code: str, *argv: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", code.format(root=str(ROOT)), *argv], check=True, capture_output=True, text=True
    )
    return out.stdout.strip()


def prime(nbytes: int) -> None:
    """Flush dirty pages, then touch ``nbytes`` of fresh memory and free it, so that the timed
    step after this finds the memory it allocates (arrays, buffers, page cache) backed by the
    host. On a VM that hands freed guest memory back to its host (virtio-balloon free page
    reporting, as on the machine of BENCHMARKS.md), whichever step first touches memory after
    a pause otherwise pays the host's page faults, 2-3 s per GiB: an artefact of order, not
    of the code measured."""
    os.sync()
    touched = np.ones(nbytes, dtype=np.uint8)
    del touched


def measure(variant: str, state: dict[str, Any], root: Path, run: int) -> dict[str, float]:
    """One run of a variant: both saves, then both fresh loads (who goes first alternating),
    each timed step primed alike."""
    folder, store = root / f"{variant}-npy", root / f"{variant}-store"
    arrays = arrays_of(state)
    primed = sum(a.nbytes for a in arrays) * 5 // 4 + (64 << 20)
    found: dict[str, float] = {}
    order = ("amber", "numpy") if run % 2 == 0 else ("numpy", "amber")
    for how in order:
        shutil.rmtree(store if how == "amber" else folder, ignore_errors=True)
        prime(primed)
        if how == "amber":
            found["amber_save_s"] = time_amber_save(state, store)
        else:
            found["numpy_save_s"] = time_numpy_save(arrays, folder)
    for how in order:
        found[f"{how}_load_s"] = time_fresh_load(how, store if how == "amber" else folder, len(arrays), primed)
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=float, default=1024, help="MiB of float64 arrays in all")
    parser.add_argument("--arrays", type=int, default=16)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    r: dict[str, Any] = {
        "size_mib": args.size_mib,
        "arrays": args.arrays,
        "records": args.records,
        "runs": args.runs,
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "variants": {},
    }
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        root = Path(tmp)
        states = {v: build(v, args.size_mib, args.arrays, args.records) for v in VARIANTS}
        rows_only = {"rows": states["random"]["rows"]}
        samples: dict[str, dict[str, list[float]]] = {v: {} for v in VARIANTS}
        records_alone: dict[str, list[float]] = {"save_s": [], "load_s": []}
        for run in range(args.runs):
            for variant in VARIANTS:
                for key, value in measure(variant, states[variant], root, run).items():
                    samples[variant].setdefault(key, []).append(value)
            records_alone["save_s"].append(time_amber_save(rows_only, root / "rows-store"))
            records_alone["load_s"].append(time_fresh_load("amber", root / "rows-store", 0))
        for variant in VARIANTS:
            s = samples[variant]
            v: dict[str, Any] = {key: statistics.median(values) for key, values in s.items()}
            v.update(stored(root / f"{variant}-store"))
            v["numpy_bytes"] = sum(p.stat().st_size for p in (root / f"{variant}-npy").iterdir())
            for how in ("amber", "numpy"):
                memory = json.loads(
                    child(
                        MEMORY_CHILD,
                        how,
                        variant,
                        str(args.size_mib),
                        str(args.arrays),
                        str(args.records),
                        str(root / f"memory-{how}"),
                    )
                )
                v[f"{how}_save_added_bytes"] = memory["added"]
                v["arrays_bytes"] = memory["arrays_bytes"]
                shutil.rmtree(root / f"memory-{how}", ignore_errors=True)
            for op in ("save", "load"):
                paired = [a / b for a, b in zip(s[f"amber_{op}_s"], s[f"numpy_{op}_s"], strict=True)]
                v[f"{op}_ratio"] = v[f"amber_{op}_s"] / v[f"numpy_{op}_s"]
                v[f"{op}_ratio_paired"] = [statistics.median(paired), min(paired), max(paired)]
                v[f"{op}_ratio_fastest"] = min(s[f"amber_{op}_s"]) / min(s[f"numpy_{op}_s"])
            v["samples"] = s
            v["save_memory_ratio"] = v["amber_save_added_bytes"] / v["arrays_bytes"]
            r["variants"][variant] = v
            del states[variant]["tensors"]  # free the arrays before the next memory child
        r["records_alone"] = {key: statistics.median(values) for key, values in records_alone.items()}
    report(r)


def report(r: dict[str, Any]) -> None:
    print(
        f"\narrays: {r['arrays']} float64 arrays, {r['size_mib']:g} MiB in all, plus {r['records']:,} records; "
        f"median of {r['runs']} runs, Python {r['python']}, numpy {r['numpy']}\n"
    )
    print("| variant | measure | amber | numpy | ratio | target | met |\n|---|---|---|---|---|---|---|")
    for variant, v in r["variants"].items():
        targeted = variant == "random"
        for op, label in (("save", "save (+ fsync)"), ("load", "load, fresh process")):
            ratio, (_, low, high) = v[f"{op}_ratio"], v[f"{op}_ratio_paired"]
            target, met = ("<= 1.5x", _met(ratio <= 1.5)) if targeted else ("-", "-")
            print(
                f"| {variant} | {label} | {v[f'amber_{op}_s']:.3f} s | {v[f'numpy_{op}_s']:.3f} s "
                f"| {ratio:.2f}x (runs {low:.2f}-{high:.2f}, fastest of each {v[f'{op}_ratio_fastest']:.2f}x) "
                f"| {target} | {met} |"
            )
        ratio = v["save_memory_ratio"]
        target, met = ("<= 0.25", _met(ratio <= 0.25)) if targeted else ("-", "-")
        print(
            f"| {variant} | save peak added memory / arrays' size | {v['amber_save_added_bytes'] / MIB:.0f} MiB "
            f"| {v['numpy_save_added_bytes'] / MIB:.0f} MiB | {ratio:.3f} (arrays {v['arrays_bytes'] / MIB:.0f} MiB) "
            f"| {target} | {met} |"
        )
        print(
            f"| {variant} | size | {v['amber_bytes'] / MIB:.1f} MiB ({v['array_segments_raw']} array segments raw, "
            f"{v['array_segments_zstd']} zstd) | {v['numpy_bytes'] / MIB:.1f} MiB "
            f"| {v['amber_bytes'] / v['numpy_bytes']:.3f} | - | - |"
        )
    alone = r["records_alone"]
    print(
        f"| (records alone) | save / load, fresh process | {alone['save_s']:.3f} s / {alone['load_s']:.3f} s "
        f"| - | - | - | - |"
    )
    workload.save_results("arrays", r)


def _met(ok: bool) -> str:
    return "yes" if ok else "**no**"


if __name__ == "__main__":
    main()
