"""Manager benchmark: pauses, deltas, chain restores and request latency (issue: manager).

    python -m bench.bench_manager [--accounts N] [--runs R] [--seconds S]

The standard workload with its accounts and customers in ``amber.Table``s, held by one
participant. Every figure is the median of R runs, each ratio against a baseline measured
in the same run. Prints a Markdown table and writes bench/results/manager.json.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import amber
from bench import workload


class Service:
    """One participant holding the workload; ``gate`` is what its requests and prepare() share."""

    name = "bank"

    def __init__(self, accounts: int) -> None:
        state = workload.build(accounts, max(accounts // 100, 10))
        self.accounts: amber.Table[int, Any] = amber.Table(state["accounts"])
        self.customers: amber.Table[int, Any] = amber.Table({c.id: c for c in state["customers"]})
        self.gate = threading.Lock()
        self.fence = False

    def prepare(self) -> None:
        if self.fence:
            self.gate.acquire()

    def resume(self) -> None:
        if self.fence:
            self.gate.release()

    def snapshot(self) -> Any:
        return {"accounts": self.accounts, "customers": self.customers}

    def restore(self, state: Any) -> None:
        self.accounts, self.customers = state["accounts"], state["customers"]

    def change(self, fraction: float, rng: random.Random) -> None:
        """Change ``fraction`` of the accounts in place (and mark them)."""
        for key in rng.sample(range(len(self.accounts)), int(len(self.accounts) * fraction)):
            self.accounts[key].balance += 1
            self.accounts.touch(key)

    def request(self, rng: random.Random) -> None:
        with self.gate:
            a = self.accounts[rng.randrange(len(self.accounts))]
            b = self.accounts[rng.randrange(len(self.accounts))]
            a.balance -= 1
            b.balance += 1
            self.accounts.touch(a.id)
            self.accounts.touch(b.id)


def manager(service: Service, root: Path, capture: str, **options: Any) -> amber.Manager:
    shutil.rmtree(root, ignore_errors=True)
    store = amber.open_store(root, registry=workload.registry)
    return amber.Manager(store, [service], capture=capture, max_delta_ratio=10.0, **options)  # type: ignore[arg-type]


def bare_fork() -> float:
    """The floor of fork capture: os.fork() of this same process, the child exiting at once."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    elapsed = time.perf_counter() - started
    os.waitpid(pid, 0)
    return elapsed


def pauses(service: Service, root: Path, runs: int) -> dict[str, float]:
    rng = random.Random(1)
    found: dict[str, list[float]] = {
        k: [] for k in ("fork", "pause_fork", "full_pause", "full_s", "delta_pause", "delta_s", "checked_pause")
    }
    forked = manager(Service(len(service.accounts)), root / "fork", "fork")  # checks its tables in the child
    inline = manager(service, root / "inline", "inline", verify_every=0)
    twin = Service(len(service.accounts))  # its own tables: a table's changes go to one manager
    checked = manager(twin, root / "checked", "inline", verify_every=1)  # checks its tables in the pause
    checked.checkpoint(full=True)
    for _ in range(runs):
        found["fork"].append(bare_fork())
        found["pause_fork"].append(forked.checkpoint(full=True).pause)
        full = inline.checkpoint(full=True)
        found["full_pause"].append(full.pause)
        found["full_s"].append(full.seconds)
        service.change(0.01, rng)
        delta = inline.checkpoint()
        assert delta.kind == "delta", delta
        found["delta_pause"].append(delta.pause)
        found["delta_s"].append(delta.seconds)
        twin.change(0.01, rng)
        found["checked_pause"].append(checked.checkpoint().pause)
    return {k: statistics.median(v) for k, v in found.items()}


def chain_restore(service: Service, root: Path, runs: int) -> dict[str, float]:
    """Restoring a full checkpoint plus 10 deltas of 1% each, against one full checkpoint."""
    rng = random.Random(2)
    m = manager(service, root / "chain", "inline", max_chain=10)
    m.checkpoint(full=True)
    for _ in range(10):
        service.change(0.01, rng)
        assert m.checkpoint().kind == "delta"
    head = m.last
    assert head is not None
    assert head.depth == 10
    full = m.checkpoint(full=True).info
    found: dict[str, list[float]] = {"chain_s": [], "chain_gc_s": [], "single_s": [], "single_gc_s": []}
    for _ in range(runs):
        for name, cid in (("chain", head.id), ("single", full.id)):
            load, collect = timed_load(m.store, cid)
            found[f"{name}_s"].append(load)
            found[f"{name}_gc_s"].append(collect)
    return {k: statistics.median(v) for k, v in found.items()}


def timed_load(store: amber.CheckpointStore, checkpoint_id: str) -> tuple[float, float]:
    """Seconds of ``load`` itself, and of the cyclic GC's first pass over what it built
    (which Python runs at the next allocation after a load re-enables the GC)."""
    gc.collect()
    gc.disable()
    try:
        started = time.perf_counter()
        state = store.load(checkpoint_id)
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        gc.collect(0)
        collected = time.perf_counter() - started
    finally:
        gc.enable()
    del state
    return loaded, collected


def latency(service: Service, root: Path, seconds: float, capture: str | None) -> dict[str, float]:
    """p50 and p99 of a request loop on another thread, with periodic checkpoints or none."""
    service.fence = True
    rng = random.Random(3)
    samples: list[float] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            service.request(rng)
            samples.append(time.perf_counter() - started)
            time.sleep(0.0002)  # a request every ~0.2 ms: a busy service, not a spin loop

    worker = threading.Thread(target=loop)
    m = manager(service, root / f"latency-{capture}", capture) if capture else None
    worker.start()
    deadline = time.monotonic() + seconds
    checkpoints = 0
    while time.monotonic() < deadline:
        if m is not None:
            m.checkpoint()
            checkpoints += 1
        time.sleep(0.5)
    stop.set()
    worker.join()
    service.fence = False
    samples.sort()
    return {
        "p50_ms": samples[len(samples) // 2] * 1000,
        "p99_ms": samples[int(len(samples) * 0.99)] * 1000,
        "p999_ms": samples[int(len(samples) * 0.999)] * 1000,
        "max_ms": samples[-1] * 1000,
        "requests": len(samples),
        "checkpoints": checkpoints,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    service = Service(args.accounts)
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        root = Path(tmp)
        r: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
        r["rss_mib"] = _rss_mib()
        r.update(pauses(service, root, args.runs))
        r.update(chain_restore(service, root, args.runs))
        r["chain_total_s"] = r["chain_s"] + r["chain_gc_s"]
        r["single_total_s"] = r["single_s"] + r["single_gc_s"]
        r["latency"] = {
            str(capture): latency(service, root, args.seconds, capture) for capture in (None, "inline", "fork")
        }
    report(r)


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        line = next(x for x in f if x.startswith("VmRSS"))
    return int(line.split()[1]) / 1024


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report(r: dict[str, Any]) -> None:
    head = f"standard workload in tables: {r['accounts']:,} accounts, RSS {r['rss_mib']:.0f} MiB"
    print(f"\n{head}, median of {r['runs']} runs\n")
    rows = [  # (measure, amber's key, baseline's key, baseline's label, target)
        ("fork capture pause", "pause_fork", "fork", "bare os.fork()", "≤ 1.5x"),
        ("inline full: pause", "full_pause", "full_s", "whole checkpoint", "-"),
        ("delta pause, 1% changed", "delta_pause", "full_pause", "full pause", "≤ 0.05"),
        ("delta checkpoint, 1% changed", "delta_s", "full_s", "full checkpoint", "≤ 0.05"),
        ("checked inline delta (verify_every=1): pause", "checked_pause", "full_pause", "full pause", "report"),
        ("restore full + 10 deltas", "chain_s", "single_s", "one full", "≤ 1.5x"),
        ("restore + first GC pass", "chain_total_s", "single_total_s", "one full", "report"),
    ]
    print("| measure | amber | baseline | ratio | target |\n|---|---|---|---|---|")
    for name, value, base, label, target in rows:
        print(f"| {name} | {ms(r[value])} | {label} {ms(r[base])} | {r[value] / r[base]:.3f} | {target} |")
    print("\n| request loop | p50 | p99 | p99.9 | max | requests | checkpoints |\n|---|---|---|---|---|---|---|")
    for capture, lat in r["latency"].items():
        label = "no checkpoints" if capture == "None" else f"{capture} checkpoints every 0.5 s"
        cells = " | ".join(f"{lat[k]:.3f} ms" for k in ("p50_ms", "p99_ms", "p999_ms", "max_ms"))
        print(f"| {label} | {cells} | {lat['requests']} | {lat['checkpoints']} |")
    workload.save_results("manager", r)


if __name__ == "__main__":
    main()
