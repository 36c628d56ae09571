"""Core benchmark: amber save/load of the standard workload against pickle, and the floor.

    python -m bench.bench_core [--accounts N] [--runs R]

Every figure is the median of R runs. Loads run in fresh processes (import time excluded,
since both sides pay it). Peak memory comes from the kernel's high-water mark (VmHWM),
reset before the save. Prints a Markdown table and writes bench/results/core.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import msgspec
import zstandard

import amber
from bench import workload


def fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def time_pickle_dump(state: Any, path: Path) -> float:
    started = time.perf_counter()
    with open(path, "wb") as f:
        pickle.dump(state, f, protocol=5)
        f.flush()
        os.fsync(f.fileno())
    return time.perf_counter() - started


def time_amber_save(state: Any, url: Path) -> tuple[float, int]:
    shutil.rmtree(url, ignore_errors=True)
    store = amber.open_store(url, registry=workload.registry)
    started = time.perf_counter()
    info = store.save(state)
    return time.perf_counter() - started, info.size


def time_floor(state: Any, path: Path) -> float:
    """Raw msgspec encoding of the same records, zstd level 1, one fsync'd write."""
    records = [*state["customers"], *state["accounts"].values()]
    started = time.perf_counter()
    blob = zstandard.ZstdCompressor(level=1).compress(msgspec.msgpack.encode(records))
    fsync_write(path, blob)
    return time.perf_counter() - started


CHILD = """
import gc, os, pickle, sys, time
sys.path.insert(0, {root!r})
import amber
from bench import workload
kind, target = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if kind == "pickle":
    with open(target, "rb") as f:
        state = pickle.load(f)
else:
    state = amber.open_store(target, registry=workload.registry).load()
print(time.perf_counter() - started)
assert len(state["accounts"]) > 0
"""


def time_fresh_load(kind: str, target: Path) -> float:
    code = CHILD.format(root=str(Path(__file__).parent.parent))
    out = subprocess.run([sys.executable, "-c", code, kind, str(target)], check=True, capture_output=True, text=True)
    return float(out.stdout.strip())


MEMORY_CHILD = """
import os, sys, gc, shutil
sys.path.insert(0, {root!r})
import amber
from bench import workload
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) * 1024
before_state = status("VmRSS:")
state = workload.build({accounts})
gc.collect()
with_state = status("VmRSS:")
store = amber.open_store(sys.argv[1], registry=workload.registry)
with open("/proc/self/clear_refs", "w") as f:
    f.write("5")  # reset VmHWM to the current RSS
store.save(state)
peak = status("VmHWM:")
print(with_state - before_state, peak - with_state)
"""


def save_memory(accounts: int, url: Path) -> tuple[int, int]:
    shutil.rmtree(url, ignore_errors=True)
    code = MEMORY_CHILD.format(root=str(Path(__file__).parent.parent), accounts=accounts)
    out = subprocess.run([sys.executable, "-c", code, str(url)], check=True, capture_output=True, text=True)
    state_bytes, added = out.stdout.split()
    return int(state_bytes), int(added)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    state = workload.build(args.accounts)
    results: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        root = Path(tmp)
        pickle_path, store_path = root / "state.pickle", root / "store"
        pickle_gc, pickle_nogc, saves, floors, sizes = [], [], [], [], []
        for _ in range(args.runs):
            pickle_gc.append(time_pickle_dump(state, pickle_path))
            gc.disable()
            pickle_nogc.append(time_pickle_dump(state, pickle_path))
            gc.enable()
            seconds, size = time_amber_save(state, store_path)
            saves.append(seconds)
            sizes.append(size)
            floors.append(time_floor(state, root / "floor.zst"))
        pickle_loads = [time_fresh_load("pickle", pickle_path) for _ in range(args.runs)]
        amber_loads = [time_fresh_load("amber", store_path) for _ in range(args.runs)]
        state_bytes, save_added = save_memory(args.accounts, root / "memstore")
        results.update(
            pickle_dump_s=median(pickle_gc),
            pickle_dump_gc_off_s=median(pickle_nogc),
            amber_save_s=median(saves),
            floor_s=median(floors),
            pickle_load_s=median(pickle_loads),
            amber_load_s=median(amber_loads),
            pickle_bytes=pickle_path.stat().st_size,
            amber_bytes=sizes[-1],
            state_bytes=state_bytes,
            save_peak_added_bytes=save_added,
        )
    report(results)


def report(r: dict[str, Any]) -> None:
    rows = [
        ("save vs pickle.dump (gc on, the default)", r["pickle_dump_s"] / r["amber_save_s"], ">= 10x faster"),
        ("save vs pickle.dump (gc off)", r["pickle_dump_gc_off_s"] / r["amber_save_s"], "(for fairness)"),
        ("fresh-process load vs pickle.load", r["pickle_load_s"] / r["amber_load_s"], ">= 2x faster"),
        ("checkpoint size / pickle size", r["amber_bytes"] / r["pickle_bytes"], "< 1"),
        ("save peak added memory / state memory", r["save_peak_added_bytes"] / r["state_bytes"], "<= 0.5"),
        ("save / floor (msgspec + zstd-1 + fsync)", r["amber_save_s"] / r["floor_s"], "(distance to floor)"),
    ]
    print(f"\nstandard workload: {r['accounts']:,} accounts, median of {r['runs']} runs, Python {r['python']}\n")
    print("| measure | amber | baseline | ratio | target |\n|---|---|---|---|---|")
    print(
        f"| save | {r['amber_save_s']:.3f} s | pickle.dump {r['pickle_dump_s']:.3f} s "
        f"(gc off {r['pickle_dump_gc_off_s']:.3f} s) | {rows[0][1]:.2f}x (gc off {rows[1][1]:.2f}x) | {rows[0][2]} |"
    )
    print(
        f"| load, fresh process | {r['amber_load_s']:.3f} s | pickle.load {r['pickle_load_s']:.3f} s "
        f"| {rows[2][1]:.2f}x | {rows[2][2]} |"
    )
    print(
        f"| size | {r['amber_bytes'] / 1e6:.1f} MB | pickle {r['pickle_bytes'] / 1e6:.1f} MB | {rows[3][1]:.2f} | < 1 |"
    )
    print(
        f"| save peak added memory | {r['save_peak_added_bytes'] / 1e6:.0f} MB | state {r['state_bytes'] / 1e6:.0f} MB "
        f"| {rows[4][1]:.2f} | <= 0.5 |"
    )
    print(f"| save vs floor | {r['amber_save_s']:.3f} s | floor {r['floor_s']:.3f} s | {rows[5][1]:.2f}x | - |")
    workload.save_results("core", r)


if __name__ == "__main__":
    main()
