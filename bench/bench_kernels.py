"""The compiled kernels against the pure-Python ones, in the same run (issue 22).

    python -m bench.bench_kernels [--accounts N] [--runs R]

Each run starts two fresh processes on the standard workload (accounts and customers in
``amber.Table``s, one participant, an inline manager): one with the compiled kernels, one
with ``AMBER_PURE_PYTHON=1``. Each takes a full checkpoint to warm up, then times three more
(the pause, and the whole checkpoint) and a load of the last. Ratios are compiled / pure;
medians of R runs. Prints a Markdown table and writes bench/results/kernels.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Any

from bench import workload

CHILD = """
import json, statistics, sys, tempfile, time
from pathlib import Path
import amber._kernels
from bench import workload
from bench.bench_manager import Service, manager
service = Service(int(sys.argv[1]))
m = manager(service, Path(sys.argv[2]), "inline", verify_every=0, max_chain=1)
m.checkpoint(full=True)
fulls = [m.checkpoint(full=True) for _ in range(3)]
m.close(final=False)
store = amber.open_store(sys.argv[2], registry=workload.registry)
start = time.perf_counter()
store.load(fulls[-1].info.id)
load = time.perf_counter() - start
print(json.dumps({"compiled": amber._kernels.COMPILED, "pause": statistics.median(f.pause for f in fulls),
                  "seconds": statistics.median(f.seconds for f in fulls), "load": load}))
"""


def child(accounts: int, pure: bool) -> dict[str, Any]:
    env = dict(os.environ, AMBER_PURE_PYTHON="1" if pure else "0")
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        out = subprocess.run(
            [sys.executable, "-c", CHILD, str(accounts), tmp], check=False, env=env, capture_output=True, text=True
        )
    if out.returncode:
        raise SystemExit(f"the benchmark's child failed:\n{out.stderr}")
    found: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    if found["compiled"] == pure:
        raise SystemExit(f"the {'pure' if pure else 'compiled'} kernels were not the ones in use: {found}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs = [(child(args.accounts, pure=False), child(args.accounts, pure=True)) for _ in range(args.runs)]
    results: dict[str, Any] = {"accounts": args.accounts, "runs": args.runs, "python": sys.version.split()[0]}
    for measure in ("pause", "seconds", "load"):
        results[measure] = {
            "compiled": statistics.median(c[measure] for c, _ in runs),
            "pure": statistics.median(p[measure] for _, p in runs),
            "ratio": statistics.median(c[measure] / p[measure] for c, p in runs),
        }
    report(results)
    workload.save_results("kernels", results)


def report(r: dict[str, Any]) -> None:
    print(f"\n{r['accounts']:,} accounts, median of {r['runs']} runs\n")
    print("| measure | compiled kernels | pure Python | ratio |")
    print("|---|---|---|---|")
    names = {"pause": "full inline pause", "seconds": "full checkpoint", "load": "load (warm process)"}
    for key, name in names.items():
        x = r[key]
        print(f"| {name} | {x['compiled']:.3f} s | {x['pure']:.3f} s | **{x['ratio']:.2f}** |")


if __name__ == "__main__":
    main()
