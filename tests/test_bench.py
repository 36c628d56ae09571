"""The benchmark commands the docs give run (tiny sizes: this checks the commands, not the
figures). The S3 benchmark, which needs its server for minutes, is run by hand (docs/README.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        ["bench.bench_core", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_evolution", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_manager", "--runs", "1", "--accounts", "2000", "--seconds", "1"],
        ["bench.bench_deltas", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_kernels", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_scaling", "--sizes", "2000,4000", "--gib", "0.01"],
        ["bench.bench_observability", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_models", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_arrays", "--runs", "1", "--size-mib", "1", "--records", "2000"],
        ["bench.bench_copy", "--runs", "1", "--accounts", "2000", "--checkpoints", "10"],
        ["bench.bench_ops", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_followers", "--runs", "1", "--accounts", "2000"],
        ["bench.bench_ray", "--runs", "1", "--accounts", "2000"],
    ],
    ids=lambda c: c[0],
)
def test_a_benchmark_runs(command: list[str], tmp_path: Path) -> None:
    env = os.environ | {"AMBER_BENCH_RESULTS": str(tmp_path)}  # not over the committed figures
    result = subprocess.run(
        [sys.executable, "-m", *command], cwd=ROOT, env=env, check=False, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert len(list(tmp_path.glob("*.json"))) == 1
