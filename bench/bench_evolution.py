"""Evolution benchmark: reading the standard workload written at v1 with newer code.

    python -m bench.bench_evolution [--accounts N] [--runs R]

- rules: code at v2, differing only in ways the rules resolve; load time against an
  unchanged load (target: at least 90% of its speed), both in fresh processes;
- steps: code at v3, through two per-type upgrade steps; load plus save against a plain
  load plus save (target: at most 3x), with records per second.
Median of R runs. Prints a Markdown table; writes bench/results/evolution.json.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import amber
from bench import workload

ROOT = Path(__file__).parent.parent

CHILD = """
import sys, time, shutil
sys.path.insert(0, {root!r})
import importlib, amber
module, name = sys.argv[2].split(":")
registry = getattr(importlib.import_module(module), name)
store = amber.open_store(sys.argv[1], registry=registry)
started = time.perf_counter()
state = store.load()
loaded = time.perf_counter() - started
out = amber.open_store(sys.argv[3], registry=registry)
started = time.perf_counter()
out.save(state)
saved = time.perf_counter() - started
print(loaded, saved)
"""


def run(store: Path, registry: str, scratch: Path) -> tuple[float, float]:
    code = CHILD.format(root=str(ROOT))
    out = subprocess.run(
        [sys.executable, "-c", code, str(store), registry, str(scratch)], check=True, capture_output=True, text=True
    )
    load, save = out.stdout.split()
    return float(load), float(save)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        store = Path(tmp) / "v1"
        amber.open_store(store, registry=workload.registry).save(workload.build(args.accounts))
        samples: dict[str, list[tuple[float, float]]] = {"plain": [], "rules": [], "steps": []}
        for i in range(args.runs):
            for kind, registry in (
                ("plain", "bench.workload:registry"),
                ("rules", "bench.evolved:rules"),
                ("steps", "bench.evolved:steps"),
            ):
                samples[kind].append(run(store, registry, Path(tmp) / f"out-{kind}-{i}"))
    report(args.accounts, args.runs, samples)


def report(accounts: int, runs: int, samples: dict[str, list[tuple[float, float]]]) -> None:
    load = {k: statistics.median(s[0] for s in v) for k, v in samples.items()}
    total = {k: statistics.median(s[0] + s[1] for s in v) for k, v in samples.items()}
    r: dict[str, Any] = {
        "accounts": accounts,
        "runs": runs,
        "load_s": load,
        "load_plus_save_s": total,
        "rules_speed_vs_plain": load["plain"] / load["rules"],
        "steps_cost_vs_plain": total["steps"] / total["plain"],
        "steps_records_per_s": accounts / load["steps"],
    }
    print(f"\nevolution: {accounts:,} accounts written at v1, median of {runs} runs (fresh processes)\n")
    print("| measure | value | baseline | ratio | target |\n|---|---|---|---|---|")
    print(
        f"| load through the rules (v1 -> v2) | {load['rules']:.3f} s | unchanged load {load['plain']:.3f} s "
        f"| {r['rules_speed_vs_plain']:.2f} of the speed | >= 0.90 |"
    )
    print(
        f"| load + save through two steps (v1 -> v3) | {total['steps']:.3f} s | plain load + save "
        f"{total['plain']:.3f} s | {r['steps_cost_vs_plain']:.2f}x | <= 3x |"
    )
    print(f"| records upgraded per second (load through steps) | {r['steps_records_per_s']:,.0f} | - | - | - |")
    workload.save_results("evolution", r)


if __name__ == "__main__":
    main()
