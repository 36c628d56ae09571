"""One manager writes a local store at a time: the second gets a clear error, or waits."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import amber
from tests.support import orphan_app
from tests.support.helpers import Counter

SERVICE = textwrap.dedent(
    """
    import sys, time
    import amber
    from tests.support.helpers import Counter
    manager = amber.Manager(amber.open_store(sys.argv[1], fsync=False), [Counter()])
    manager.restore()
    manager.checkpoint()
    print("online", flush=True)
    time.sleep(float(sys.argv[2]))
    manager.close()
    print("closed", flush=True)
    """
)


def service(root: Path, seconds: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen(
        [sys.executable, "-c", SERVICE, str(root), str(seconds)], stdout=subprocess.PIPE, text=True, env=env
    )
    assert process.stdout is not None and process.stdout.readline() == "online\n"
    return process


def test_a_second_manager_gets_a_clear_error_naming_the_first(tmp_path: Path) -> None:
    first = service(tmp_path, 30)
    try:
        with pytest.raises(amber.StoreLockedError, match=rf"being written by \S+ pid {first.pid}"):
            amber.Manager(amber.open_store(tmp_path), [Counter()]).restore()
        manager = amber.Manager(amber.open_store(tmp_path), [Counter()])
        with pytest.raises(amber.StoreLockedError):
            manager.checkpoint()
        assert amber.open_store(tmp_path).ids() == ["000000000001"], "the refused one wrote nothing"
    finally:
        first.kill()
        first.communicate()


def test_a_second_manager_may_wait_for_the_first_to_close(tmp_path: Path) -> None:
    first = service(tmp_path, 0.5)
    began = time.monotonic()
    counter = Counter()
    second = amber.Manager(amber.open_store(tmp_path), [counter], lock_wait=20)
    second.restore()  # waits until the first closed, after its final checkpoint
    first.communicate(timeout=20)
    assert first.returncode == 0 and time.monotonic() - began >= 0.3
    assert second.checkpoint().info.id == "000000000003"  # after the first's two: never both writing
    second.close()


def test_a_killed_managers_lock_goes_with_its_process(tmp_path: Path) -> None:
    first = service(tmp_path, 30)
    first.send_signal(signal.SIGKILL)
    first.communicate()
    manager = amber.Manager(amber.open_store(tmp_path), [Counter()])
    assert manager.restore().checkpoint == "000000000001"  # no stale lock to clear by hand
    manager.close(final=False)


def test_in_one_process_too_and_until_close(tmp_path: Path) -> None:
    first = amber.Manager(amber.open_store(tmp_path), [Counter()])
    first.checkpoint()
    with pytest.raises(amber.StoreLockedError):
        amber.Manager(amber.open_store(tmp_path), [Counter()]).checkpoint()
    amber.Manager(amber.open_store(tmp_path), [Counter()], exclusive=False).restore()  # opted out
    first.close(final=False)
    second = amber.Manager(amber.open_store(tmp_path), [Counter()])
    assert second.restore().checkpoint == "000000000001"
    second.close(final=False)
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [".amber-gc.lock", ".amber-writer.lock"]  # the writer's, and the one gc shares
    assert amber.open_store(tmp_path).ids() == ["000000000001"], "the lock file is no checkpoint"


def test_a_symlink_planted_as_the_lock_file_is_not_followed(tmp_path: Path) -> None:
    precious = tmp_path / "precious"
    precious.write_text("keep me")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    (store_dir / ".amber-writer.lock").symlink_to(precious)
    with pytest.raises((amber.StoreLockedError, OSError)):
        amber.Manager(amber.open_store(store_dir), [Counter()]).restore()
    assert precious.read_text() == "keep me"


def test_a_forked_child_does_not_keep_the_lock_after_close(tmp_path: Path) -> None:
    manager = amber.Manager(amber.open_store(tmp_path), [Counter()], capture="fork")
    manager.checkpoint()
    child = os.fork()
    if child == 0:  # a child that outlives the manager's close (a fork of the service)
        time.sleep(3)
        os._exit(0)
    try:
        manager.close(final=False)
        # Well before the child exits: the lock is not held by its copy of the descriptor.
        second = amber.Manager(amber.open_store(tmp_path), [Counter()], lock_wait=1.0)
        second.restore()
        second.close(final=False)
    finally:
        os.waitpid(child, 0)


def test_a_fork_checkpoint_orphaned_by_a_killed_service_never_commits_over_its_successor(tmp_path: Path) -> None:
    """The service dies mid-commit; its checkpoint child, slow to write, must neither let the
    next instance in while it may still commit, nor commit once its service is gone."""
    store = str(tmp_path / "store")

    def app(role: str) -> subprocess.Popen[str]:
        command = [sys.executable, "-m", "tests.support.orphan_app", store, role]
        return subprocess.Popen(command, stdout=subprocess.PIPE, text=True)

    with app("seed") as seed:
        seed.communicate(timeout=60)
    with app("a") as a:
        assert a.stdout is not None and json.loads(a.stdout.readline()) == {"phase": "committing"}
        a.kill()
        a.communicate(timeout=30)
    with app("b") as b:
        out, _ = b.communicate(timeout=90)
    assert json.loads(out) == {"restored": "000000000001", "committed": "000000000002"}
    time.sleep(1.0)  # an orphan that would still commit has had ample time
    newest = amber.open_store(store, registry=orphan_app.registry)
    assert newest.ids() == ["000000000001", "000000000002"]
    assert newest.load()["rows"]["writer"] == "b"


def test_an_orphaned_checkpoint_child_whose_invariants_hang_does_not_hold_the_store(tmp_path: Path) -> None:
    store = str(tmp_path / "store")

    def app(role: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.support.orphan_app", store, role], stdout=subprocess.PIPE, text=True
        )

    with app("seed") as seed:
        seed.communicate(timeout=60)
    with app("hang") as service:
        assert service.stdout is not None and json.loads(service.stdout.readline()) == {"phase": "validating"}
        service.kill()
        service.communicate(timeout=30)
    started = time.monotonic()
    with app("b") as b:  # waits up to 60 s for the lock: the orphan must be gone long before
        out, _ = b.communicate(timeout=90)
    assert json.loads(out) == {"restored": "000000000001", "committed": "000000000002"}
    assert time.monotonic() - started < 20


def test_only_the_checkpoint_s_own_fork_keeps_the_writer_lock(tmp_path: Path) -> None:
    """A fork by another thread while a checkpoint forks its child drops the lock, as always."""
    from amber._store._writer_lock import WriterLock, kept_by_children

    lock = WriterLock.take(amber.open_store(tmp_path).storage, wait=None)
    assert lock is not None

    def fork_and_report() -> int:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if lock._fd < 0 else 1)  # 0: the child dropped it
        return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

    other: list[int] = []
    with kept_by_children():
        assert fork_and_report() == 1  # this thread's fork: the checkpoint's child keeps it
        thread = threading.Thread(target=lambda: other.append(fork_and_report()))
        thread.start()
        thread.join()
    assert other == [0]
    lock.release()


def test_a_waiting_manager_takes_the_store_within_milliseconds_of_its_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A successor waiting for the store (a promoted follower, the next release) tries again
    every few milliseconds: a zero-downtime handover waits no longer than that for the lock."""
    first = amber.Manager(amber.open_store(tmp_path), [Counter()])
    first.checkpoint()
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 3:
            first.close(final=False)  # released while the second waits

    monkeypatch.setattr(time, "sleep", sleep)  # the lock's waits
    second = amber.Manager(amber.open_store(tmp_path), [Counter()], lock_wait=60)
    assert second.restore().checkpoint == "000000000001"
    assert len(waits) == 3, "it took the store at its first try after the release"
    assert max(waits) <= 0.01
    second.close(final=False)
