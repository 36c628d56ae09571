"""Crash consistency of the manager: a real service process killed with SIGKILL at random
moments, over many checkpoints (full and delta, inline and fork), then restored."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import amber
from tests.support.bank_service import Bank, registry
from tests.support.crash_service import digest

ROOT = Path(__file__).parents[2]


def run_and_kill(store: Path, capture: str, seed: int, after: float) -> list[str]:
    """Run the service, SIGKILL it and its forked children ``after`` seconds after its first
    acknowledgement: counted from there, not from its start, so a slow machine (a busy core,
    a cold import) still kills it mid-work rather than before its first checkpoint."""
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_service", str(store), capture, str(seed)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,  # one process group: the service and any checkpoint child
    )
    assert child.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # readline blocks: the service prints a line per step
        line = child.stdout.readline()
        if not line:
            break
        lines.append(line.rstrip("\n"))
        if line.startswith("ACK "):
            break
    time.sleep(after)
    os.killpg(child.pid, signal.SIGKILL)
    out, _ = child.communicate()
    return lines + out.splitlines()


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_sigkill_at_random_moments_never_loses_an_acknowledged_checkpoint(tmp_path: Path, capture: str) -> None:
    rng = random.Random(capture)
    store_path = tmp_path / "store"
    acked: dict[str, str] = {}  # checkpoint id -> digest of the state it captured
    promised: set[str] = set()  # digests of every state a checkpoint was started for
    kills = 0
    for run in range(8):
        lines = run_and_kill(store_path, capture, seed=run, after=rng.uniform(0.3, 1.2))
        kills += 1
        pending = None
        for line in lines:
            word, _, rest = line.partition(" ")
            if word == "RESTORED" and run:
                cid, state = rest.split()
                assert state == acked.get(cid, state), f"run {run} restored {cid} into another state"
            elif word == "WILL":
                pending = rest
                promised.add(rest)
            elif word == "ACK":
                assert pending is not None
                acked[rest] = pending
        bank = Bank()
        store = amber.open_store(store_path, registry=registry)
        report = amber.Manager(store, bank.participants).restore()
        newest_acked = max(acked, default=None)
        assert report.checkpoint is not None and (newest_acked is None or report.checkpoint >= newest_acked)
        assert digest(bank) == acked.get(report.checkpoint, digest(bank)), "the state of its own checkpoint"
        assert digest(bank) in promised, "never a mix of two states"
        assert report.fallbacks == [], "no committed checkpoint is ever damaged by a crash"
    infos = amber.open_store(store_path, registry=registry).list()
    assert kills == 8 and len(acked) >= 8
    assert {i.parent == "" for i in infos} == {True, False}, "both full and delta checkpoints were crashed into"


def test_sigterm_takes_a_final_checkpoint_of_the_last_state(tmp_path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_service", str(tmp_path), "sigterm", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "READY"
    time.sleep(0.5)
    child.send_signal(signal.SIGTERM)
    out, _ = child.communicate(timeout=30)
    assert child.returncode == 128 + signal.SIGTERM
    final = out.split()[-1]
    bank = Bank()
    amber.Manager(amber.open_store(tmp_path, registry=registry), bank.participants).restore()
    assert digest(bank) == final
