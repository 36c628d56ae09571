"""Writers' leases and fencing: one writer at a time, and a writer taken over commits nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest

import amber
from amber.storage import LocalStorage

STATE = {"n": 1}


def store_at(root: Path) -> amber.CheckpointStore:
    return amber.open_store(root, fsync=False, history=False)


def test_one_writer_holds_the_lease_and_the_next_takes_it_with_a_newer_token(tmp_path: Path) -> None:
    first, second = store_at(tmp_path), store_at(tmp_path)
    lease = first.acquire_lease(holder="writer-a", seconds=5)
    assert lease.token == 1
    with pytest.raises(amber.LeaseHeldError, match="held by writer-a") as held:
        second.acquire_lease(holder="writer-b")
    assert held.value.holder == "writer-a" and held.value.token == 1
    first.release_lease()  # a clean shutdown: the next writer need not wait for the expiry
    assert second.acquire_lease(holder="writer-b").token == 2
    assert second.fences() == [(1, 1), (2, 1)]
    second.release_lease()


def test_waiting_for_a_lease_that_expires(tmp_path: Path) -> None:
    store_at(tmp_path).acquire_lease(seconds=0.3, keep=False)  # its holder died: never renewed
    began = time.monotonic()
    lease = store_at(tmp_path).acquire_lease(wait=5)
    assert lease.token == 2 and 0.1 < time.monotonic() - began < 3
    lease.release()


def test_a_writer_whose_lease_was_taken_over_commits_nothing(tmp_path: Path) -> None:
    paused, taker = store_at(tmp_path), store_at(tmp_path)
    paused.acquire_lease(seconds=0.2, keep=False)
    paused.save(STATE)
    time.sleep(0.3)  # the host stops past the lease's expiry...
    taker.acquire_lease(holder="replacement")
    with pytest.raises(amber.FencedError, match="taken over, now held by replacement with token 2"):
        paused.save({"n": 2})  # ...and wakes up: its commit is undone before anyone can use it
    with pytest.raises(amber.FencedError):
        paused.save({"n": 3})  # and it stays fenced, without even writing data
    assert paused.ids() == ["000000000001"] and taker.load() == STATE
    assert os.listdir(tmp_path / "data") == [paused.manifest().data.removeprefix("data/")]
    with pytest.raises(amber.CheckpointNotFoundError, match="fenced off by token 2 from sequence 2"):
        taker.load(2)  # its manifest stays, void, so that sequence number is never reused
    assert taker.save({"n": 4}).id == "000000000003"
    taker.release_lease()


class _TakeoverAfterManifest:
    """A storage that lets ``act`` run just after a manifest was committed (a race)."""

    def __init__(self, inner: LocalStorage) -> None:
        self.inner = inner
        self.act: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put(self, key: str, chunks: Iterable[bytes], **options: Any) -> int:
        size = self.inner.put(key, chunks, **options)
        if key.startswith("checkpoints/") and self.act is not None:
            act, self.act = self.act, None
            act()
        return size


def test_a_commit_that_landed_before_the_takeover_stands(tmp_path: Path) -> None:
    storage = _TakeoverAfterManifest(LocalStorage(tmp_path, fsync=False))
    paused = amber.CheckpointStore(storage, history=False)
    paused.acquire_lease(seconds=0.2, keep=False)
    taker = store_at(tmp_path)

    def takeover() -> None:
        time.sleep(0.3)
        taker.acquire_lease()

    storage.act = takeover
    info = paused.save(STATE)  # committed, then taken over: the taker's fence starts after it
    assert taker.fences()[-1] == (2, 2) and taker.ids() == [info.id] and taker.load() == STATE
    with pytest.raises(amber.FencedError):
        paused.save({"n": 2})
    taker.release_lease()


def test_readers_never_see_a_fenced_off_commit_that_was_left_behind(tmp_path: Path) -> None:
    """A writer killed between its fenced commit and undoing it leaves a void manifest."""
    zombie, taker = store_at(tmp_path), store_at(tmp_path)
    zombie.save(STATE)
    taker.acquire_lease()
    left = zombie.save({"n": "from a writer without the lease"})  # no token: fenced off like an old holder
    assert taker.ids() == ["000000000001"] and store_at(tmp_path).load() == STATE
    with pytest.raises(amber.CheckpointNotFoundError, match="fenced off by token 1"):
        store_at(tmp_path).load(left.id)
    assert taker.save({"n": 5}).id == "000000000003"  # the void sequence number stays taken
    taker.release_lease()


class _Counter:
    name = "counter"

    def __init__(self) -> None:
        self.n = 0

    def snapshot(self) -> Any:
        return self.n

    def restore(self, state: Any) -> None:
        self.n = state


def test_a_manager_on_a_store_taken_over_aborts_with_the_fencing_error(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.acquire_lease(seconds=0.2, keep=False)
    counter = _Counter()
    manager = amber.Manager(store, [counter])
    manager.checkpoint()
    time.sleep(0.3)
    taker = store_at(tmp_path)
    taker.acquire_lease()
    counter.n = 7
    with pytest.raises(amber.CheckpointAbortedError, match="taken over") as aborted:
        manager.checkpoint()
    assert isinstance(aborted.value.__cause__, amber.FencedError)
    restored = _Counter()
    report = amber.Manager(store_at(tmp_path), [restored]).restore()
    assert report.checkpoint == "000000000001" and restored.n == 0
    taker.release_lease()


def test_a_damaged_lease_object_stops_writers(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    (tmp_path / "leases").mkdir(parents=True)
    (tmp_path / "leases" / "writer.json").write_bytes(b"{not json")
    with pytest.raises(amber.StoreError, match="not a lease object"):
        store.acquire_lease()


def test_the_keeper_thread_renews_and_notices_a_takeover(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    lease = store.acquire_lease(seconds=0.3)
    time.sleep(0.8)  # past two expiries: renewed meanwhile
    with pytest.raises(amber.LeaseHeldError):
        store_at(tmp_path).acquire_lease()
    lease.check()
    store.release_lease()
    with pytest.raises(amber.FencedError, match="released"):
        lease.renew()


WRITER = textwrap.dedent(
    """
    import sys, time
    import amber
    store = amber.open_store(sys.argv[1], fsync=False, history=False)
    store.acquire_lease(seconds=1.0)
    n = 0
    try:
        while True:
            n += 1
            store.save({"writer": "old", "n": n})
            print(n, flush=True)
            time.sleep(0.02)
    except amber.FencedError as e:
        print("fenced:", e, flush=True)
        sys.exit(3)
    """
)


def test_a_stopped_process_that_wakes_after_a_takeover_is_fenced(tmp_path: Path) -> None:
    """A real process frozen with SIGSTOP (a paused VM) past its lease, then continued."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    child = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        for _ in range(3):
            child.stdout.readline()  # it has committed a few checkpoints
        child.send_signal(signal.SIGSTOP)
        taker = store_at(tmp_path)
        lease = taker.acquire_lease(wait=10)  # it stopped renewing: the lease expires
        assert lease.token == 2
        last_old = taker.load()
        taker.save({"writer": "new", "after": last_old["n"]})
        child.send_signal(signal.SIGCONT)
        out, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 3 and "fenced: " in out and "taken over" in out
    assert taker.load() == {"writer": "new", "after": last_old["n"]}
    for cid in taker.ids():  # every commit a reader sees is the old writer's before the fence, or ours
        state = taker.load(cid)
        assert state["writer"] == "new" or int(cid) < taker.fences()[-1][1]
    taker.release_lease()


def test_the_cli_shows_the_lease_and_its_fences(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from amber._cli import cli

    store = store_at(tmp_path)
    store.acquire_lease(holder="writer-a", seconds=0.2, keep=False)
    time.sleep(0.3)
    store_at(tmp_path).acquire_lease(holder="writer-b", seconds=60)
    result = CliRunner().invoke(cli, ["lease", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "lease: held by writer-b (token 2), expires in" in result.output
    assert "fence: token 2 from checkpoint 1" in result.output
