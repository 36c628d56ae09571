"""``amber.Follower`` on object storage (moto's S3 server): it tracks a writer process, is
promoted by taking the store's lease, and that lease fences the writer it replaces."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import amber
from amber.events import FollowerCaughtUp, Recorder
from tests.support.bank_service import Bank, registry
from tests.support.follower_writer import FENCED_STATUS

ROOT = Path(__file__).parent.parent.parent
LEASE_SECONDS = 2.0  # the writer's: short, so that a successor need not wait long for it
DEADLINE = 120.0  # for liveness only: the machine may be slow or busy


def balances(bank: Bank) -> dict[int, int]:
    return {k: a.balance for k, a in bank.accounts.items()}


def as_bank(state: dict[str, object]) -> Bank:
    bank = Bank()
    for participant in bank.participants:
        participant.restore(state[participant.name])
    return bank


class Writer:
    """``tests.support.follower_writer`` in its own process, its lines read as they come."""

    def __init__(self, url: str) -> None:
        command = [sys.executable, "-m", "tests.support.follower_writer", url, str(LEASE_SECONDS)]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        self.lines: list[str] = []
        self._heard = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self._heard:
                self.lines.append(line.rstrip("\n"))
                self._heard.notify_all()

    def acknowledged(self) -> list[tuple[str, dict[str, int]]]:
        with self._heard:
            acks = [line.split(maxsplit=2) for line in self.lines if line.startswith("ACK ")]
        return [(checkpoint, json.loads(balances)) for _, checkpoint, balances in acks]

    def wait_for(self, acks: int) -> None:
        deadline = time.monotonic() + DEADLINE
        with self._heard:
            while sum(line.startswith("ACK ") for line in self.lines) < acks:
                assert self.process.poll() is None, f"the writer exited: {self.lines[-3:]}"
                assert self._heard.wait(timeout=max(0.0, deadline - time.monotonic())), "no acknowledgement"

    def finish(self) -> int:
        """Its exit status, once it has exited and every line it wrote was read."""
        status = self.process.wait(timeout=DEADLINE)
        self._reader.join(timeout=DEADLINE)
        assert self.process.stdout is not None
        self.process.stdout.close()
        return status


def test_a_follower_on_s3_is_promoted_and_its_lease_fences_the_writer_it_replaces(s3_url: str) -> None:
    writer = Writer(s3_url)
    try:
        writer.wait_for(1)  # the store exists
        replica, recorder = Bank(), Recorder()
        follow = amber.Follower(amber.open_store(s3_url, registry=registry, listeners=[recorder]), replica.participants)
        follow.start(interval=0.02)
        writer.wait_for(15)
        with follow.reading():
            assert follow.checkpoint is not None and replica.accounts  # it follows the writer
        caught_up = recorder.of(FollowerCaughtUp)
        assert sum(e.applied - e.whole for e in caught_up) > 0  # deltas applied in place, read from S3
        os.kill(writer.process.pid, signal.SIGSTOP)  # paused, say a stopped VM: its lease runs out
        successor = amber.Manager(follow.store, replica.participants, max_delta_ratio=100.0, lock_wait=DEADLINE)
        report = successor.restore(warm=follow)  # waits for the lease to expire, takes it, fences the writer
        assert report.checkpoint is not None
        promoted = balances(replica)
        os.kill(writer.process.pid, signal.SIGCONT)
        assert writer.finish() == FENCED_STATUS  # its next commit failed
        assert any(line.startswith("FENCED ") for line in writer.lines)

        acknowledged = writer.acknowledged()
        last_id, last_balances = acknowledged[-1]
        assert report.checkpoint >= last_id  # nothing acknowledged is lost (some after the stop, perhaps)
        if report.checkpoint == last_id:
            assert {str(k): v for k, v in promoted.items()} == last_balances
        assert balances(as_bank(amber.open_store(s3_url, registry=registry).load(report.checkpoint))) == promoted

        replica.transfer(1, 2, 5)
        result = successor.checkpoint()
        assert result.kind == "delta" and result.info.parent == report.checkpoint  # on the state the follower held
        successor.close()
        fresh = amber.open_store(s3_url, registry=registry)  # a reader sees the successor, never the fenced writer
        assert balances(as_bank(fresh.load())) == balances(replica)
    finally:
        if writer.process.poll() is None:
            os.kill(writer.process.pid, signal.SIGKILL)
            writer.finish()
