"""Writers' leases and fencing: one writer at a time, and a writer taken over commits nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import amber
from amber import commands
from amber._format import _format
from amber._store import _lease
from amber.storage import LocalStorage
from tests.support.helpers import Counter

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
    assert second.manifests.fences() == [(1, 1), (2, 1)]
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
    assert taker.manifests.fences()[-1] == (2, 2) and taker.ids() == [info.id] and taker.load() == STATE
    with pytest.raises(amber.FencedError):
        paused.save({"n": 2})
    taker.release_lease()


def test_a_writer_without_the_lease_is_refused_once_a_lease_was_taken(tmp_path: Path) -> None:
    unleased, taker = store_at(tmp_path), store_at(tmp_path)
    unleased.save(STATE)
    taker.acquire_lease()
    with pytest.raises(amber.FencedError, match="written under a lease .* this writer holds none"):
        unleased.save({"n": "from a writer without the lease"})
    assert taker.ids() == ["000000000001"] and store_at(tmp_path).load() == STATE
    assert len(os.listdir(tmp_path / "data")) == 1, "the void commit's data file is removed"
    taker.release_lease()
    with pytest.raises(amber.FencedError):
        unleased.save({"n": 3})  # a released lease is no lease to write without


def test_readers_never_see_a_fenced_off_commit_that_was_left_behind(tmp_path: Path) -> None:
    """A writer killed between its commit and noticing it was void leaves the manifest."""
    store, taker = store_at(tmp_path), store_at(tmp_path)
    store.save(STATE)
    taker.acquire_lease()
    stale = msgspec.structs.replace(store.manifest(1), id="000000000002", sequence=2)  # token 0, after the fence
    (tmp_path / "checkpoints" / "000000000002.manifest").write_bytes(_format.encode_manifest(stale))
    assert taker.ids() == ["000000000001"] and store_at(tmp_path).load() == STATE
    with pytest.raises(amber.CheckpointNotFoundError, match="fenced off by token 1"):
        store_at(tmp_path).load(2)
    assert taker.save({"n": 5}).id == "000000000003"  # the void sequence number stays taken
    report = commands.gc(taker, keep_last=1)
    assert report["deleted_files"][0] == "checkpoints/000000000002.manifest"
    assert store_at(tmp_path).ids() == ["000000000003"] and store_at(tmp_path).manifests.void_ids() == []
    taker.release_lease()


def test_removing_the_lease_object_cannot_bring_an_old_token_back(tmp_path: Path) -> None:
    first = store_at(tmp_path)
    first.acquire_lease()
    first.save(STATE)
    first.release_lease()
    second = store_at(tmp_path)
    assert second.acquire_lease().token == 2
    second.release_lease()
    (tmp_path / "leases" / "writer.json").unlink()  # "remove it to reset the lease"
    third = store_at(tmp_path)
    assert third.acquire_lease().token == 3, "above every fence, not 1 again"
    assert third.save({"n": 3}).id in third.ids()
    third.release_lease()


def test_a_reader_waits_for_the_fence_of_a_taker_between_its_lease_and_its_fence(tmp_path: Path) -> None:
    """The window between a taker's lease and its fence: a commit landing there is void,
    and no reader may see it as valid meanwhile."""
    old = store_at(tmp_path)
    old.acquire_lease(seconds=0.2, keep=False)
    old.save(STATE)
    time.sleep(0.3)
    storage = LocalStorage(tmp_path, fsync=False)
    record = _lease.LeaseRecord(2, "taker", time.time() + 30, time.time())
    storage.replace("leases/writer.json", msgspec.json.encode(record), etag=storage.etag("leases/writer.json"))
    # The taker listed (sequence 1 is the last), and is slow to write its fence at 2.
    threading.Timer(0.5, lambda: storage.put("fences/0000000000000000002", [b"000000000002"])).start()
    began = time.monotonic()
    with pytest.raises(amber.FencedError, match="token 2"):
        old.save({"n": "landed in the window"})  # its own check waits for the fence
    assert time.monotonic() - began >= 0.4
    assert store_at(tmp_path).ids() == ["000000000001"]


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_a_manager_on_a_store_taken_over_aborts_with_the_fencing_error(tmp_path: Path, capture: str) -> None:
    store = store_at(tmp_path)
    store.acquire_lease(seconds=0.2, keep=False)
    counter = Counter()
    manager = amber.Manager(store, [counter], capture=capture, exclusive=False)  # type: ignore[arg-type]
    manager.checkpoint()
    time.sleep(0.3)
    taker = store_at(tmp_path)
    taker.acquire_lease()
    counter.n = 7
    with pytest.raises(amber.CheckpointAbortedError, match="taken over") as aborted:
        manager.checkpoint()
    assert isinstance(aborted.value.__cause__, amber.FencedError)
    with pytest.raises(amber.CheckpointAbortedError) as again:
        manager.checkpoint()  # the lease is known lost in this process: nothing is written
    assert isinstance(again.value.__cause__, amber.FencedError) and len(os.listdir(tmp_path / "data")) == 1
    restored = Counter()
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
        assert state["writer"] == "new" or int(cid) < taker.manifests.fences()[-1][1]
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


def test_a_taker_that_died_before_its_fence_delays_readers_once(tmp_path: Path, monkeypatch: Any) -> None:
    from amber._store import _fencing

    store = store_at(tmp_path)
    store.save(STATE)
    storage = LocalStorage(tmp_path, fsync=False)
    monkeypatch.setattr(_fencing, "FENCE_WAIT", 0.3)
    record = _lease.LeaseRecord(7, "died before its fence", time.time() + 1e9, time.time())  # and a far expiry
    storage.put("leases/writer.json", [msgspec.json.encode(record)])
    began = time.monotonic()
    assert store_at(tmp_path).ids() == ["000000000001"]
    assert 0.5 < time.monotonic() - began < 5, "a reader waits twice the fence wait..."
    assert [t for t, _ in store.manifests.fences()] == [1, 2, 3, 4, 5, 6, 7], (
        "...then closes the tokens that never got one"
    )
    began = time.monotonic()
    assert store_at(tmp_path).load() == STATE and time.monotonic() - began < 0.3, "settled for everyone"


def test_an_unreadable_fence_settles_its_token(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.acquire_lease(seconds=0.2, keep=False)
    store.save(STATE)
    (tmp_path / "fences" / "0000000000000000001").write_bytes(b"")  # a power cut without fsync
    began = time.monotonic()
    assert store_at(tmp_path).load() == STATE and time.monotonic() - began < 1


def test_a_damaged_lease_object_does_not_stop_readers(tmp_path: Path) -> None:
    store = store_at(tmp_path)
    store.save(STATE)
    (tmp_path / "leases").mkdir()
    (tmp_path / "leases" / "writer.json").write_bytes(b"{damaged")
    assert store_at(tmp_path).load() == STATE
    with pytest.raises(amber.StoreError, match="not a lease object"):
        store_at(tmp_path).acquire_lease()


def test_the_cli_takes_the_lease_to_roll_back_on_a_leased_store(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from amber._cli import cli

    store = store_at(tmp_path)
    store.acquire_lease(seconds=60)
    store.save({"v": 1})
    store.save({"v": 2})
    store.release_lease()  # the service stopped
    refused = CliRunner().invoke(cli, ["rollback", str(tmp_path), "--to", "1"])
    assert refused.exit_code == 1 and "--lease in the CLI" in refused.output
    assert store_at(tmp_path).ids() == ["000000000001", "000000000002"], "refused before writing anything"
    done = CliRunner().invoke(cli, ["rollback", str(tmp_path), "--to", "1", "--lease", "5"])
    assert done.exit_code == 0, done.output
    assert store_at(tmp_path).load() == {"v": 1}
    assert store_at(tmp_path).acquire_lease().token == 3, "the CLI released the lease it took"


def test_the_cli_lease_option_does_not_turn_an_unleased_store_into_a_leased_one(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from amber._cli import cli

    store = store_at(tmp_path)
    store.save({"v": 1})
    store.save({"v": 2})
    done = CliRunner().invoke(cli, ["rollback", str(tmp_path), "--to", "1", "--lease", "5"])
    assert done.exit_code == 0, done.output
    assert store.manifests.fences() == [] and store.save({"v": 3}).id == "000000000004"  # the service goes on


def _stalled_fence(store: amber.CheckpointStore, seconds: float) -> None:
    """Make ``store``'s next takeover stall ``seconds`` between its lease and its fence."""
    write = store.manifests.fencing.write

    def slow(token: int, first: int) -> bool:
        time.sleep(seconds)
        return write(token, first)

    store.manifests.fencing.write = slow  # type: ignore[method-assign]


def test_a_taker_stalled_past_the_fence_wait_loses_and_the_commit_it_missed_stands(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from amber._store import _fencing

    monkeypatch.setattr(_fencing, "FENCE_WAIT", 0.5)
    old = store_at(tmp_path)
    old.acquire_lease(seconds=0.2, keep=False)
    old.save({"v": 1})
    time.sleep(0.3)
    taker = store_at(tmp_path)
    _stalled_fence(taker, 1.5)
    outcome: list[Any] = []

    def take() -> None:
        try:
            outcome.append(taker.acquire_lease(keep=False))
        except amber.AmberError as e:
            outcome.append(e)

    thread = threading.Thread(target=take)
    thread.start()
    time.sleep(0.2)  # the taker holds token 2 and stalls before its fence
    info = old.save({"v": 2})  # waits for the fence, then closes token 2: this commit stands
    thread.join()
    assert isinstance(outcome[0], amber.FencedError) and "was closed before its fence" in str(outcome[0])
    assert store_at(tmp_path).load() == {"v": 2} and store_at(tmp_path).ids()[-1] == info.id
    with pytest.raises(amber.FencedError):
        old.save({"v": 3})  # the old holder knows it lost the lease all the same
    assert store_at(tmp_path).acquire_lease().token == 3 and store_at(tmp_path).load() == {"v": 2}


def test_the_next_taker_closes_a_stalled_takers_token(tmp_path: Path) -> None:
    first = store_at(tmp_path)
    first.acquire_lease()
    first.save({"v": 1})
    first.release_lease()
    stalled = store_at(tmp_path)
    _stalled_fence(stalled, 1.0)
    outcome: list[Any] = []

    def take() -> None:
        try:
            outcome.append(stalled.acquire_lease(seconds=0.2, keep=False))
        except amber.AmberError as e:
            outcome.append(e)

    thread = threading.Thread(target=take)
    thread.start()
    time.sleep(0.4)  # its lease (token 2) expired before its fence
    third = store_at(tmp_path)
    assert third.acquire_lease().token == 3
    third.save({"v": 3})
    thread.join()
    assert isinstance(outcome[0], amber.FencedError)
    assert third.manifests.fences() == [(1, 1), (2, _fencing_closed()), (3, 2)]
    assert store_at(tmp_path).ids() == ["000000000001", "000000000002"] and store_at(tmp_path).load() == {"v": 3}
    third.release_lease()


def _fencing_closed() -> int:
    from amber._store import _fencing

    return _fencing.CLOSED


def test_a_writer_settles_every_unfenced_token_below_the_lease(tmp_path: Path, monkeypatch: Any) -> None:
    """Two takers stall in turn (the second takes the first's lapsed lease): the stale
    holder that commits meanwhile closes both tokens, and neither fence can void its commit."""
    from amber._store import _fencing

    monkeypatch.setattr(_fencing, "FENCE_WAIT", 0.3)
    holder = store_at(tmp_path)
    holder.acquire_lease(seconds=0.3, keep=False)
    holder.save({"v": 1})
    time.sleep(0.4)
    takers = [store_at(tmp_path), store_at(tmp_path)]
    stalled = [threading.Event(), threading.Event()]
    go = threading.Event()
    outcomes: list[Any] = []

    def stall(step: Callable[..., Any], index: int) -> Callable[..., Any]:
        def stalled_step(*args: Any) -> Any:
            stalled[index].set()
            go.wait()
            return step(*args)

        return stalled_step

    takers[0].manifests.fencing.write = stall(takers[0].manifests.fencing.write, 0)  # type: ignore[method-assign]
    takers[1].manifests.fencing.close = stall(takers[1].manifests.fencing.close, 1)  # type: ignore[method-assign]

    def take(store: amber.CheckpointStore) -> None:
        try:
            outcomes.append(store.acquire_lease(seconds=0.3, keep=False))
        except amber.AmberError as e:
            outcomes.append(e)

    threads = [threading.Thread(target=take, args=(t,)) for t in takers]
    threads[0].start()
    stalled[0].wait()
    time.sleep(0.4)  # the first taker's lease (token 2) lapses; the second takes token 3 and stalls
    threads[1].start()
    stalled[1].wait()
    info = holder.save({"v": 2})
    assert store_at(tmp_path).load() == {"v": 2}
    go.set()
    for t in threads:
        t.join()
    assert all(isinstance(o, amber.FencedError) for o in outcomes), outcomes
    assert store_at(tmp_path).ids()[-1] == info.id and store_at(tmp_path).load() == {"v": 2}
