"""The fuzz target over everything that reads a store (tests/fuzz/target.py), run twice:
every input of the committed corpus in this process, then libFuzzer (atheris) mutating
them for a bounded time in a child process with a memory limit. A longer run: docs/reliability.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fuzz.target import one_input

CORPUS = Path(__file__).parent / "corpus"
SECONDS = int(os.environ.get("AMBER_FUZZ_SECONDS", "20"))


@pytest.mark.parametrize("case", sorted(CORPUS.iterdir()), ids=lambda p: p.name[:10])
def test_every_corpus_input_reads_or_raises_an_amber_error(case: Path) -> None:
    one_input(case.read_bytes())


def test_a_bounded_fuzzing_run_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("atheris")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [
        sys.executable,
        "-m",
        "tests.fuzz.target",
        str(tmp_path / "new"),  # inputs found now: the committed corpus is only read
        str(CORPUS),
        f"-max_total_time={SECONDS}",
        "-rss_limit_mb=2048",  # memory stays bounded on hostile input
        "-timeout=10",  # no input may take longer: no hangs
        f"-artifact_prefix={tmp_path}/",
    ]
    (tmp_path / "new").mkdir()
    run = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SECONDS + 120, check=False)
    crashes = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(("crash-", "oom-", "timeout-")))
    assert run.returncode == 0 and not crashes, run.stderr[-4000:]
    assert "Done" in run.stderr
