"""Scaling: save, load, delta and restore of a chain as the state grows; fork pause as the
process grows (issue: save at the floor, deltas that cost only what changed).

    python -m bench.bench_scaling [--sizes 100000,1000000,5000000] [--gib 1,4,8]

For each size, the standard workload's accounts and customers in ``amber.Table``s (one
participant, an inline manager, ``verify_every=0``): a full checkpoint, a load of it, a
delta after 1% of the accounts changed in place and touched, then a restore of the chain
(the full checkpoint and 5 such deltas) by a new manager. Each figure is also given per
million records, which stays flat when growth is linear. Then, with the workload freed, a
process holding 1, 4 and 8 GiB of touched memory: ``os.fork()`` of it (the floor of a fork
capture's pause, which copies the page tables). Writes bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import amber
from bench import workload
from bench.bench_manager import Service, bare_fork, manager


def at_size(accounts: int, root: Path) -> dict[str, float]:
    service = Service(accounts)
    m = manager(service, root / "s", "inline", verify_every=0, max_chain=10)
    full = m.checkpoint(full=True)
    began = time.perf_counter()
    m.store.load(full.info.id)
    load_s = time.perf_counter() - began
    rng = random.Random(3)
    deltas = []
    for _ in range(5):
        service.change(0.01, rng)
        deltas.append(m.checkpoint())
    m.close(final=False)
    del service
    gc.collect()
    fresh = Service(10)
    restorer = amber.Manager(amber.open_store(root / "s", registry=workload.registry), [fresh])
    began = time.perf_counter()
    report = restorer.restore()
    restore_s = time.perf_counter() - began
    assert len(report.chain) == 6, report.chain
    restorer.close(final=False)
    return {
        "save_s": full.seconds,
        "save_pause_s": full.pause,
        "load_s": load_s,
        "delta_s": sorted(d.seconds for d in deltas)[2],
        "delta_pause_s": sorted(d.pause for d in deltas)[2],
        "restore_chain_s": restore_s,
    }


def fork_pause(gib: float) -> float:
    ballast = bytearray(int(gib * (1 << 30)))
    for offset in range(0, len(ballast), 4096):  # resident: every page touched
        ballast[offset] = 1
    pauses = sorted(bare_fork() for _ in range(5))
    del ballast
    return pauses[2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="100000,1000000,5000000")
    parser.add_argument("--gib", default="1,4,8")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict[str, Any] = {"python": sys.version.split()[0], "sizes": {}, "fork": {}}
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        for size in sizes:
            results["sizes"][str(size)] = at_size(size, Path(tmp) / str(size))
            gc.collect()
    for gib in (float(g) for g in args.gib.split(",")):
        results["fork"][str(gib)] = fork_pause(gib)
    report(results)
    workload.save_results("scaling", results)


def report(r: dict[str, Any]) -> None:
    names = ("save_s", "save_pause_s", "load_s", "delta_s", "delta_pause_s", "restore_chain_s")
    print("\n| accounts | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for size, x in r["sizes"].items():
        per = 1e6 / int(size)
        cells = " | ".join(f"{x[n]:.3f} s ({x[n] * per:.3f}/M)" for n in names)
        print(f"| {int(size):,} | {cells} |")
    print("\n| process memory | os.fork() |\n|---|---|")
    for gib, seconds in r["fork"].items():
        print(f"| {gib} GiB | {seconds * 1000:.1f} ms |")


if __name__ == "__main__":
    main()
