"""Copy benchmark: ``amber copy`` of a local store against ``cp -r`` plus fsync of the same files.

    python -m bench.bench_copy [--accounts N] [--checkpoints C] [--runs R]

The store: the standard workload's accounts and customers in ``amber.Table``s (default
100,000 accounts), checkpointed C times by a manager (default 200, 1% of the accounts changed
before each: a full checkpoint then deltas, ``max_chain=20``), then a rollback (a migration
log entry, and a manifest sharing its data file). About 28 MB in 600 files with the
defaults, as a store a service wrote in a day.

Measured, each run into a fresh folder of the same file system, dirty pages flushed
(``os.sync``) before each timed step, who goes first alternating:

- amber: ``amber.commands.copy(SOURCE, TARGET)`` in this process: the copy, data files
  before manifests, flushed, and its verification at the target (every segment's digest);
- baseline: ``cp -r SOURCE TARGET``, then ``fsync`` of every file and folder it wrote;
- for context: the copy without its verification (``verify=False``), and the command line
  ``amber copy SOURCE TARGET`` as a new process (its interpreter start and imports included).

Target: amber within 2x of the baseline. Every figure is the median of R runs, with the
range of the per-run ratios. Prints a Markdown table and writes bench/results/copy.json.
"""

from __future__ import annotations

import argparse
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

import amber
from amber import commands
from bench import workload
from bench.bench_manager import Service


def build_store(root: Path, accounts: int, checkpoints: int) -> None:
    """The source store: ``checkpoints`` checkpoints of a service changing 1% between each."""
    service = Service(accounts)
    store = amber.open_store(root, registry=workload.registry)
    rng = random.Random(1)
    with amber.Manager(store, [service], max_delta_ratio=10.0, max_chain=20) as manager:
        for _ in range(checkpoints):
            manager.checkpoint()
            service.change(0.01, rng)
    commands.rollback(store, to=store.ids()[-2])


def fsync_tree(root: Path) -> None:
    """``fsync`` of every file and folder under ``root`` (folders after their files)."""
    for folder, _, files in os.walk(root, topdown=False):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def timed(how: str, source: Path, target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)
    os.sync()  # what an earlier step left dirty is not this one's to flush
    started = time.perf_counter()
    if how == "baseline":
        subprocess.run(["cp", "-r", str(source), str(target)], check=True)
        fsync_tree(target)
    elif how == "cli":
        subprocess.run(
            [sys.executable, "-m", "amber", "copy", str(source), str(target)], check=True, stdout=subprocess.DEVNULL
        )
    else:
        report = commands.copy(str(source), str(target), verify=how == "amber")
        assert report["verified"] == (how == "amber"), report
    return time.perf_counter() - started


def same_files(source: Path, target: Path) -> int:
    """Every file the copy wrote holds the source's bytes (leases and lock files stay behind)."""
    copied = [p for p in target.rglob("*") if p.is_file() and not p.name.startswith(".")]
    for path in copied:
        assert path.read_bytes() == (source / path.relative_to(target)).read_bytes(), path
    return len(copied)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--checkpoints", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="amber-bench-") as tmp:
        root = Path(tmp)
        source = root / "source"
        build_store(source, args.accounts, args.checkpoints)
        files = [p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")]
        r: dict[str, Any] = {
            "accounts": args.accounts,
            "checkpoints": len(amber.open_store(source).ids()),
            "files": len(files),
            "bytes": sum(p.stat().st_size for p in files),
            "runs": args.runs,
            "python": sys.version.split()[0],
        }
        hows = ("amber", "baseline", "unverified", "cli")
        samples: dict[str, list[float]] = {how: [] for how in hows}
        for run in range(args.runs):
            for how in hows if run % 2 == 0 else hows[::-1]:
                samples[how].append(timed(how, source, root / how))
        r["copied_files"] = same_files(source, root / "amber")
        assert amber.open_store(root / "amber").ids() == amber.open_store(source).ids()
    r.update({f"{how}_s": statistics.median(values) for how, values in samples.items()})
    for how in ("amber", "unverified", "cli"):
        paired = [a / b for a, b in zip(samples[how], samples["baseline"], strict=True)]
        r[f"{how}_ratio"] = r[f"{how}_s"] / r["baseline_s"]
        r[f"{how}_ratio_paired"] = [statistics.median(paired), min(paired), max(paired)]
    r["samples"] = samples
    report(r)


def report(r: dict[str, Any]) -> None:
    print(
        f"\n{r['checkpoints']} checkpoints of {r['accounts']:,} accounts: {r['files']} files, "
        f"{r['bytes'] / 1e6:.1f} MB; median of {r['runs']} runs\n"
    )
    print("| measure | time | baseline (`cp -r` + fsync) | ratio (paired: median, min-max) | target |")
    print("|---|---|---|---|---|")
    rows = (
        ("amber copy, verified (`commands.copy`)", "amber", "≤ 2x"),
        ("amber copy, `verify=False`", "unverified", "report"),
        ("`amber copy` command line (new process)", "cli", "report"),
    )
    for label, how, target in rows:
        median, low, high = r[f"{how}_ratio_paired"]
        print(
            f"| {label} | {r[f'{how}_s']:.3f} s | {r['baseline_s']:.3f} s | **{r[f'{how}_ratio']:.2f}x** "
            f"({median:.2f}x, {low:.2f}-{high:.2f}) | {target} |"
        )
    workload.save_results("copy", r)


if __name__ == "__main__":
    main()
