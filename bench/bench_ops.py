"""Operator tools benchmark: ``dump``, ``diff``, ``export`` and ``query`` on the standard
workload, each against a baseline measured in the same run.

    python -m bench.bench_ops [--accounts N] [--runs R]

Two stores of the standard workload (default 1,000,000 accounts):

- *plain*: the workload's own state (accounts in a dict), a full checkpoint, then a second
  full checkpoint after 1% of the balances changed (two checkpoints of no common chain);
- *tables*: the accounts and customers in ``amber.Table``s, a full checkpoint, then a delta
  after 1% of the balances changed (a checkpoint and its descendant).

Each figure is the median of R runs, every run in a fresh process (peak memory is that
process's), who goes first alternating:

- ``dump``: ``amber.commands.dump_lines`` of the plain store's newest checkpoint written as
  JSON Lines to /dev/null, against ``store.load`` of it (time and peak memory);
- ``diff``: ``amber.commands.diff`` of the two plain checkpoints (unrelated: every record
  compared) and of the tables store's full checkpoint and its delta (only what the delta
  touched), against ``store.load`` of one plain checkpoint. Target: under 2x;
- ``export``: ``amber.commands.export(..., fmt="parquet")`` of the plain store, against
  pyarrow building the same columns from the state in memory and writing them to Parquet
  (``pyarrow.parquet.write_table``, default options both). Target: within 2x;
- ``query``: ``amber.commands.query`` of a GROUP BY over the accounts, from its cache (after
  a first query filled it; the first query is shown too), against DuckDB running the same
  query on the exported Parquet file. Target: under 2x.

Prints a Markdown table and writes bench/results/ops.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import amber
from amber import commands
from bench import workload

SQL = "SELECT owner % 100 AS g, count(*) AS n, sum(balance) AS total FROM Account GROUP BY g ORDER BY g"
DUCKDB_SQL = SQL.replace("FROM Account", "FROM read_parquet('{path}')")


def make_stores(root: Path, accounts: int) -> None:
    state = workload.build(accounts=accounts, customers=max(10, accounts // 100))
    plain = amber.open_store(root / "plain", registry=workload.registry)
    plain.save(state)
    for account in list(state["accounts"].values())[::100]:
        account.balance += 1
    plain.save(state)
    tabled = {"accounts": amber.Table(state["accounts"]), "customers": amber.Table(enumerate(state["customers"]))}
    tables = amber.open_store(root / "tables", registry=workload.registry)
    full = tables.save(tabled)
    for key in list(tabled["accounts"])[::100]:
        tabled["accounts"][key].balance += 1
        tabled["accounts"].touch(key)
    tables.save(tabled, parent=full.id)


# --- one measurement, in a child process -----------------------------------------------------


def child(name: str, root: Path) -> dict[str, float]:
    plain = amber.open_store(root / "plain")
    ids = plain.ids()
    began = time.perf_counter()
    if name == "load":
        amber.open_store(root / "plain", registry=workload.registry).load(ids[-1])
    elif name == "dump":
        with open(os.devnull, "w") as sink:
            encode = __import__("msgspec").json.Encoder().encode
            for part in commands.dump_lines(plain, ids[-1]):
                sink.write(encode(part).decode() + "\n")
    elif name == "diff_unrelated":
        commands.diff(plain, ids[0], ids[-1])
    elif name == "diff_descendant":
        tables = amber.open_store(root / "tables")
        commands.diff(tables, *tables.ids())
    elif name == "export":
        commands.export(plain, str(root / "export" / str(os.getpid())), ids[-1])
    elif name == "pyarrow":
        began = _pyarrow_baseline(root)
    elif name in ("query_first", "query_cached"):
        commands.query(plain, SQL, ids[-1], cache=name == "query_cached")
    elif name == "duckdb":
        import duckdb  # the sql extra, in the child that measures it

        connection = duckdb.connect()
        connection.execute(DUCKDB_SQL.format(path=root / "reference" / "bank.Account.parquet")).fetchall()
    seconds = time.perf_counter() - began
    return {"seconds": seconds, "peak_mib": _peak_mib()}


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM: getrusage's maxrss keeps the parent's
    across exec on Linux, so a child would report the benchmark's own state)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _pyarrow_baseline(root: Path) -> float:
    """The same columns, built by pyarrow from the state in memory, written to Parquet; the
    clock starts once the state is loaded (the export's reading is its own cost)."""
    import pyarrow as pa  # the arrow extra, in the child that measures it
    import pyarrow.parquet as pq

    store = amber.open_store(root / "plain", registry=workload.registry)
    state = store.load(store.ids()[-1])
    began = time.perf_counter()
    people = {id(c): i for i, c in enumerate(state["customers"])}
    accounts = list(state["accounts"].items())
    table = pa.table(
        {
            "_id": pa.array(range(len(accounts)), pa.int64()),
            "_table": pa.array(["/accounts"] * len(accounts), pa.string()),
            "_key": pa.array([k for k, _ in accounts], pa.int64()),
            "id": pa.array([a.id for _, a in accounts], pa.int64()),
            "owner": pa.array([people[id(a.owner)] for _, a in accounts], pa.int64()),
            "balance": pa.array([a.balance for _, a in accounts], pa.int64()),
            "tags": pa.array([a.tags for _, a in accounts], pa.list_(pa.string())),
            "updated": pa.array([a.updated for _, a in accounts], pa.float64()),
        }
    )
    out = root / "export" / f"baseline-{os.getpid()}"
    out.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out / "bank.Account.parquet")
    return began


def measure(name: str, root: Path) -> dict[str, float]:
    env = os.environ | {"AMBER_CACHE_DIR": str(root / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.bench_ops", "--child", name, "--root", str(root)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).parent.parent,
    )
    return dict(json.loads(result.stdout.splitlines()[-1]))


# --- the run ---------------------------------------------------------------------------------

PAIRS = {  # figure: (measured, baseline)
    "dump": ("dump", "load"),
    "diff, unrelated checkpoints": ("diff_unrelated", "load"),
    "diff, a checkpoint and its delta": ("diff_descendant", "load"),
    "export to Parquet": ("export", "pyarrow"),
    "query, cached": ("query_cached", "duckdb"),
    "query, first (reads the checkpoint)": ("query_first", "duckdb"),
}
TARGETS = {"diff, unrelated checkpoints": 2.0, "export to Parquet": 2.0, "query, cached": 2.0}


def run(accounts: int, runs: int) -> dict[str, Any]:
    root = Path(tempfile.mkdtemp(prefix="amber-bench-ops-"))
    try:
        make_stores(root, accounts)
        commands.export(str(root / "plain"), str(root / "reference"))
        measure("query_cached", root)  # fills the cache the cached figure reads
        samples: dict[str, list[dict[str, float]]] = {n: [] for n in {m for pair in PAIRS.values() for m in pair}}
        for turn in range(runs):
            names = sorted(samples)
            for name in names if turn % 2 == 0 else reversed(names):
                samples[name].append(measure(name, root))
        return {"accounts": accounts, "runs": runs, "figures": _figures(samples)}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _figures(samples: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    figures = {}
    for figure, (name, baseline) in PAIRS.items():
        ratios = [m["seconds"] / b["seconds"] for m, b in zip(samples[name], samples[baseline], strict=True)]
        figures[figure] = {
            "seconds": statistics.median(m["seconds"] for m in samples[name]),
            "baseline": baseline,
            "baseline_seconds": statistics.median(b["seconds"] for b in samples[baseline]),
            "ratio": statistics.median(ratios),
            "ratio_range": [min(ratios), max(ratios)],
            "peak_mib": statistics.median(m["peak_mib"] for m in samples[name]),
            "baseline_peak_mib": statistics.median(b["peak_mib"] for b in samples[baseline]),
            "target": TARGETS.get(figure),
        }
    return figures


def table(results: dict[str, Any]) -> str:
    lines = [
        "| operation | seconds | baseline | baseline seconds | ratio (range) | target | peak MiB (baseline) |",
        "|---|---|---|---|---|---|---|",
    ]
    for figure, f in results["figures"].items():
        target = f"< {f['target']}x" if f["target"] else ""
        ratio = f"{f['ratio']:.2f}x ({f['ratio_range'][0]:.2f}-{f['ratio_range'][1]:.2f})"
        memory = f"{f['peak_mib']:.0f} ({f['baseline_peak_mib']:.0f})"
        timing = f"{f['seconds']:.3f} | {f['baseline']} | {f['baseline_seconds']:.3f}"
        lines.append(f"| {figure} | {timing} | {ratio} | {target} | {memory} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--root", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, Path(args.root))))
        return
    results = run(args.accounts, args.runs)
    print(table(results))
    print(f"written to {workload.save_results('ops', results)}")


if __name__ == "__main__":
    main()
