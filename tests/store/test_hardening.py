"""Hardening found by a hostile review: verify-only keys, chains bound by content, planted
symlinks, gc racing writers, outcomes on a full disk, typed errors at every boundary. Each
test failed before its fix; the races run in real processes."""

from __future__ import annotations

import errno
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

import amber
from amber import commands
from amber._cli import cli
from amber._store._capture import capture, take_tables
from amber._store._commit import Committer
from amber._store._gc_guard import writing
from amber.storage import LocalStorage
from amber.storage._local import FileSystem
from tests.support import migration_app
from tests.support.helpers import tree_digest
from tests.support.sample import Account, Customer, bank, golden_state, registry

KEY = "k" * 32


def signed(root: Path, key: str | None = KEY, verify: tuple[str, ...] = ()) -> amber.CheckpointStore:
    return amber.open_store(root, registry=registry, signing_key=key, verify_keys=verify)


# --- 1. a verify-only store refuses to write -------------------------------------------


def test_a_store_with_verify_keys_only_refuses_to_save_and_says_which_key_is_missing(tmp_path: Path) -> None:
    signed(tmp_path).save(bank(accounts=2))
    reader = signed(tmp_path, key=None, verify=(KEY,))
    assert len(reader.load()["accounts"]) == 2, "verifying still reads"
    before = tree_digest(tmp_path)
    with pytest.raises(amber.SigningKeyError, match="checks signatures .* but has no signing key.*signing_key="):
        reader.save(bank(accounts=3))
    with pytest.raises(amber.SigningKeyError):
        reader.acquire_lease()  # it would fence off the writer that can sign
    with pytest.raises(amber.SigningKeyError):
        commands.migrate(reader, "tests.support.migration_app:registry")
    assert tree_digest(tmp_path) == before, "nothing was written, not even a history entry or a log's"


def test_a_signed_checkpoint_of_a_newer_format_verifies(tmp_path: Path) -> None:
    """The format version is signed: it was set after signing, so every signed checkpoint
    with enum names (format 4) failed its own signature check."""
    signed(tmp_path).save(golden_state())
    assert signed(tmp_path).manifest().format_version == 4
    assert signed(tmp_path).load()["customers"] == golden_state()["customers"]


def test_rollback_with_the_verify_key_only_exits_1_and_commits_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = signed(tmp_path)
    store.save(bank(accounts=1))
    store.save(bank(accounts=2))
    monkeypatch.setenv("AMBER_VERIFY_KEYS", KEY)
    before = tree_digest(tmp_path)
    result = CliRunner().invoke(cli, ["rollback", str(tmp_path), "--to", "1"])
    assert result.exit_code == 1 and "AMBER_SIGNING_KEY" in result.output
    assert tree_digest(tmp_path) == before, "no log entry"
    assert not (tmp_path / ".amber-writer.lock").exists(), "not even the writer lock's file"


class _Holder:
    name = "holder"

    def __init__(self) -> None:
        self.state: dict[str, Any] = {"n": 0}

    def snapshot(self) -> Any:
        return self.state

    def restore(self, state: Any) -> None:
        self.state = state


# --- 3. a delta names its parent by content --------------------------------------------


def _chain(store: amber.CheckpointStore) -> dict[str, Any]:
    people = amber.Table({i: Customer(i, f"c{i}") for i in range(3)})
    accounts = amber.Table({i: Account(i, people[i % 3], i) for i in range(5)})
    state = {"people": people, "accounts": accounts}
    first = store.save(state)
    accounts[9] = Account(9, people[0], 900)
    second = store.save(state, parent=first.id)
    del accounts[0]
    store.save(state, parent=second.id)
    return state


def test_a_signed_delta_put_back_over_a_reused_id_is_refused(tmp_path: Path) -> None:
    """The attack: delete the two newest manifests (no key needed), let the service write a
    new checkpoint under the freed id 2, put the old signed delta 3 back. Before format 5
    it verified and loaded onto the new 2: a state no key holder ever wrote."""
    store = signed(tmp_path)
    _chain(store)
    kept = tmp_path / "kept.manifest"
    shutil.copy(tmp_path / "checkpoints" / "000000000003.manifest", kept)
    for cid in ("000000000003", "000000000002"):
        (tmp_path / "checkpoints" / f"{cid}.manifest").unlink()
    service = signed(tmp_path)
    state = service.load()
    state["accounts"][7] = Account(7, state["people"][1], 7)
    assert service.save(state, parent="1").id == "000000000002"
    shutil.copy(kept, tmp_path / "checkpoints" / "000000000003.manifest")
    with pytest.raises(amber.CorruptCheckpointError, match=r"checkpoint 000000000003: parent: .*another checkpoint"):
        signed(tmp_path).verify(3)
    with pytest.raises(amber.CorruptCheckpointError, match="parent"):
        signed(tmp_path).load(3)
    report = commands.verify_all(signed(tmp_path))
    assert [r["ok"] for r in report] == [True, True, False]
    manager = amber.Manager(signed(tmp_path), [_Holder()], exclusive=False)
    with pytest.raises(amber.RestoreError):
        manager.restore()  # 3 is refused and nothing else holds the participant's state


def test_every_delta_of_format_5_names_its_parents_digest(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=registry)
    _chain(store)
    two, three = store.manifest(2), store.manifest(3)
    assert two.format_version == 5 and three.parent_digest == amber._format._format.manifest_digest(two)
    forged = amber._format._format.encode_manifest(msgspec.structs.replace(three, parent_digest=""))
    (tmp_path / "checkpoints" / "000000000003.manifest").write_bytes(forged)
    with pytest.raises(amber.CorruptCheckpointError, match="parent's manifest digest"):
        store.load(3)


# --- 6. ids are ASCII digits; short keys are a typed error --------------------------------


@pytest.mark.parametrize("text", ["²", "①", "٣", "\uff13", "1\n", " 1", "+1", "1_0"])
def test_ids_in_anything_but_ascii_digits_are_refused(tmp_path: Path, text: str) -> None:
    store = amber.open_store(tmp_path, registry=registry)
    for n in range(3):
        store.save(bank(accounts=n + 1))
    with pytest.raises(amber.CheckpointNotFoundError, match="a checkpoint id"):
        store.load(text)
    result = CliRunner().invoke(cli, ["show", str(tmp_path), text])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Traceback" not in result.output


@pytest.mark.parametrize("variable", ["AMBER_SIGNING_KEY", "AMBER_VERIFY_KEYS"])
def test_a_short_key_in_the_environment_is_one_line_naming_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    amber.open_store(tmp_path, registry=registry).save(bank())
    monkeypatch.setenv(variable, "short")
    result = CliRunner().invoke(cli, ["ls", str(tmp_path)])
    assert result.exit_code == 1 and result.output.count("\n") == 1
    assert variable in result.output and "at least 16 bytes" in result.output
    with pytest.raises(amber.SigningKeyError, match=variable):
        amber.open_store(tmp_path, registry=registry)


# --- 6. whatever is in the store's way is a typed error, never a raw OSError ----------------


@pytest.mark.parametrize("planted", ["folder", "symlink"])
def test_a_folder_or_symlink_at_the_writer_locks_path_is_a_typed_error(tmp_path: Path, planted: str) -> None:
    store_dir = tmp_path / "store"
    commands_store = amber.open_store(store_dir, registry=registry)
    commands_store.save(bank(accounts=1))
    commands_store.save(bank(accounts=2))
    lock = store_dir / ".amber-writer.lock"
    outside = tmp_path / "outside"
    if planted == "folder":
        lock.mkdir()
    else:
        lock.symlink_to(outside)
    manager = amber.Manager(amber.open_store(store_dir, registry=registry), [_Holder()])
    with pytest.raises(amber.StoreLockedError, match=r"\.amber-writer\.lock: cannot take the store's writer lock"):
        manager.restore()
    app = "tests.support.sample:registry"
    for argv in (["rollback", str(store_dir), "--to", "1"], ["migrate", str(store_dir), "--app", app]):
        result = CliRunner().invoke(cli, argv)
        assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
        assert "writer lock" in result.output and "Traceback" not in result.output
    assert not outside.exists(), "nothing is created through the link"


def test_a_store_whose_paths_pass_the_systems_limit_fails_with_a_typed_error(tmp_path: Path) -> None:
    deep = tmp_path
    while len(str(deep)) < 4096 - 60:  # room for the store's folder and lock, not for its files
        deep = deep / ("d" * min(200, 4096 - 60 - len(str(deep))))
    deep.mkdir(parents=True)
    store = amber.open_store(deep / "s", registry=registry)
    with pytest.raises(amber.StoreError, match="File name too long"):
        store.save(bank())
    manager = amber.Manager(amber.open_store(deep / "s", registry=registry), [_Holder()])
    with pytest.raises(amber.AmberError):
        manager.checkpoint()
    manager.close(final=False)


# --- 4. a planted symlink is never followed, whatever file it stands for --------------------

SECRET = b"AMBER-MANIFEST 1\nTOP SECRET outside the store\n"


def _plant(link: Path, target: Path) -> None:
    link.unlink(missing_ok=True)
    link.symlink_to(target)


def test_a_manifest_planted_as_a_symlink_is_an_error_that_shows_nothing_of_its_target(tmp_path: Path) -> None:
    store_dir, outside = tmp_path / "store", tmp_path / "secret"
    outside.write_bytes(SECRET)
    store = amber.open_store(store_dir, registry=registry)
    store.save(bank(accounts=1))
    _plant(store_dir / "checkpoints" / "000000000002.manifest", outside)
    with pytest.raises(amber.CorruptCheckpointError, match=r"000000000002: manifest: .*a symbolic link"):
        store.load(2)
    rows = commands.ls(store)
    assert [r["id"] for r in rows] == ["000000000001", "000000000002"] and "symbolic link" in rows[1]["error"]
    for argv in (["ls", str(store_dir)], ["show", str(store_dir), "2"], ["verify", str(store_dir), "--all"]):
        result = CliRunner().invoke(cli, argv)
        assert "SECRET" not in result.output and "Traceback" not in result.output, argv
    assert outside.read_bytes() == SECRET


def test_a_data_file_or_quarantine_note_planted_as_a_symlink_is_not_read_through(tmp_path: Path) -> None:
    store_dir, outside = tmp_path / "store", tmp_path / "secret"
    outside.write_bytes(SECRET)
    store = amber.open_store(store_dir, registry=registry)
    store.save(bank(accounts=1))
    (store_dir / "quarantine").mkdir()
    _plant(store_dir / "quarantine" / "000000000001.json", outside)
    assert store.quarantined() == {"000000000001": "(unreadable quarantine note)"}
    real = store_dir / store.manifest(1).data
    real.rename(tmp_path / "moved.seg")
    _plant(real, tmp_path / "moved.seg")
    with pytest.raises(amber.CorruptCheckpointError, match="data file: .*a symbolic link"):
        store.load(1)


def test_a_lease_lock_planted_as_a_symlink_creates_nothing_outside_the_store(tmp_path: Path) -> None:
    store_dir, outside = tmp_path / "store", tmp_path / "created-outside"
    store = amber.open_store(store_dir, registry=registry)
    (store_dir / "leases").mkdir(parents=True, exist_ok=True)
    _plant(store_dir / "leases" / ".writer.json.lock", outside)
    with pytest.raises(amber.PlantedLinkError, match=r"leases/\.writer\.json\.lock"):
        store.acquire_lease()
    assert not outside.exists()
    _plant(store_dir / "leases" / "writer.json", outside)
    (store_dir / "leases" / ".writer.json.lock").unlink()
    with pytest.raises(amber.PlantedLinkError, match="writer.json"):
        store.acquire_lease()
    assert not outside.exists()


# --- 2. a collection never runs inside a write's window ---------------------------------------


class _PausingFileSystem(FileSystem):
    """Pauses before creating a file whose path holds ``where``, after touching ``flag``."""

    def __init__(self, where: str, flag: Path, seconds: float) -> None:
        self.where, self.flag, self.seconds = where, flag, seconds

    def create(self, path: Path) -> int:
        if self.where in str(path) and not self.flag.exists():
            self.flag.touch()
            time.sleep(self.seconds)
        return super().create(path)


def _gc(store_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "amber", "gc", str(store_dir), "--keep-last", "1", "--grace", "0s", *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _wait_for(flag: Path, writer: Any) -> None:
    deadline = time.monotonic() + 60
    while not flag.exists():
        assert writer.is_alive() and time.monotonic() < deadline, "the writer never reached its pause"
        time.sleep(0.01)


def _rollback_paused(store_dir: Path, flag: Path) -> None:
    storage = LocalStorage(store_dir, fs=_PausingFileSystem("checkpoints/", flag, 1.5))
    commands.rollback(amber.CheckpointStore(storage, registry=registry), "1")


def test_gc_waits_for_a_rollback_between_reading_its_source_and_committing(tmp_path: Path) -> None:
    """Before: gc deleted checkpoint 1 and its data file while the rollback (in another
    process) had read 1's manifest; the rollback then committed a manifest naming nothing."""
    store_dir, flag = tmp_path / "store", tmp_path / "paused"
    store = amber.open_store(store_dir, registry=registry)
    store.save(bank(accounts=1))
    store.save(bank(accounts=2))
    rollback = multiprocessing.get_context("fork").Process(target=_rollback_paused, args=(store_dir, flag))
    rollback.start()
    _wait_for(flag, rollback)
    collected = _gc(store_dir)
    rollback.join(60)
    assert rollback.exitcode == 0 and collected.returncode == 0, collected.stderr
    fresh = amber.open_store(store_dir, registry=registry)
    assert fresh.ids()[-1] == "000000000003" and len(fresh.load()["accounts"]) == 1


def _checkpoint_slowly(store_dir: Path, flag: Path) -> None:
    storage = LocalStorage(store_dir, fs=_PausingFileSystem("checkpoints/", flag, 1.5))  # data file written
    manager = amber.Manager(amber.CheckpointStore(storage, registry=registry), [_Holder()], capture="fork")
    manager.restore()
    manager.checkpoint()
    manager.close(final=False)


def test_gc_with_no_grace_leaves_a_fork_childs_staged_data_file_alone(tmp_path: Path) -> None:
    """Before: with a short --grace (or clocks apart), gc deleted the data file a forked
    child was writing, before its manifest named it."""
    store_dir, flag = tmp_path / "store", tmp_path / "paused"
    first = amber.Manager(amber.open_store(store_dir, registry=registry), [_Holder()])
    first.checkpoint()
    first.close(final=False)
    service = multiprocessing.get_context("fork").Process(target=_checkpoint_slowly, args=(store_dir, flag))
    service.start()
    _wait_for(flag, service)
    collected = _gc(store_dir)
    service.join(60)
    assert service.exitcode == 0 and collected.returncode == 0, collected.stderr
    fresh = amber.open_store(store_dir, registry=registry)
    assert fresh.ids() == ["000000000002"], "gc ran after the commit: the newest stays, the rest goes"
    assert fresh.load() is not None


def test_gc_gives_up_with_one_line_when_a_write_outlasts_its_wait(tmp_path: Path) -> None:
    store_dir, flag = tmp_path / "store", tmp_path / "paused"
    amber.open_store(store_dir, registry=registry).save(bank())
    with writing(LocalStorage(store_dir)):
        with pytest.raises(amber.StoreLockedError, match="a checkpoint is being written"):
            commands.gc(str(store_dir), keep_last=1, wait="0.2s")
        collected = _gc(store_dir, "--wait", "0.2s")
        assert collected.returncode == 1 and collected.stderr.count("\n") == 1
        assert "a checkpoint is being written" in collected.stderr
    assert not flag.exists()


def test_a_commit_whose_data_file_vanished_is_quarantined_and_not_acknowledged(tmp_path: Path) -> None:
    """Where no lock keeps a collection out (S3 with a --grace shorter than a write), the
    commit checks its data file afterwards: a manifest naming nothing is no checkpoint."""
    store = amber.open_store(tmp_path, registry=registry)
    store.save(bank(accounts=1))
    staged: list[str] = []

    def collected_meanwhile(phase: str) -> None:
        if phase == "commit":
            store.storage.delete(staged[0])

    captured = capture(store, bank(accounts=2), take_tables(store, bank(accounts=2)))
    with pytest.raises(amber.StoreError, match="000000000002 was committed but its data file is gone"):
        Committer(store).write(captured, check=collected_meanwhile, on_data=staged.append)
    assert store.quarantined().keys() == {"000000000002"}
    with pytest.raises(amber.CorruptCheckpointError, match="data file"):
        store.load(2)
    assert len(store.load(1)["accounts"]) == 1


# --- 5. an outcome is reported as it is, whatever happens to its log entry -------------------


class _LogDiskFull(FileSystem):
    """A disk that fills up after a run's "started" entry: every later log entry fails."""

    def __init__(self) -> None:
        self.log_entries = 0
        self.full = True

    def create(self, path: Path) -> int:
        if "/log/" in str(path) and self.full:
            self.log_entries += 1
            if self.log_entries > 1:
                raise OSError(errno.ENOSPC, "No space left on device")
        return super().create(path)


@pytest.mark.parametrize("action", ["migrate", "rollback"])
def test_a_commit_whose_log_entry_hits_a_full_disk_is_reported_committed_and_logged_later(
    tmp_path: Path, action: str, caplog: pytest.LogCaptureFixture
) -> None:
    amber.open_store(tmp_path, registry=registry).save(bank(accounts=2))
    amber.open_store(tmp_path, registry=registry).save(bank(accounts=3))
    disk = _LogDiskFull()
    store = amber.CheckpointStore(LocalStorage(tmp_path, fs=disk), registry=migration_app.registry)
    if action == "migrate":
        result = commands.migrate(store)
        target, before = result["target"], "000000000002"
    else:
        result = commands.rollback(store, "1")
        target, before = result["target"], "000000000002"
    assert target == "000000000003", "the command returns what it committed"
    assert "its log entry could not be written (" in caplog.text, "and says the log lags, loudly"
    lagging = commands.log(faulty_store(tmp_path, disk))  # the disk still full: shown, not written
    assert [(e["outcome"], e["sequence"]) for e in lagging] == [("started", 1), ("committed", 0)]
    disk.full = False
    entries = commands.log(str(tmp_path))  # the next command repairs the log from the manifest
    assert [(e["outcome"], e.get("target"), e.get("recovered")) for e in entries] == [
        ("started", None, None),
        ("committed", "000000000003", True),
    ]
    assert entries[1]["undo"].endswith(f"--to {before}")
    assert commands.log(str(tmp_path)) == entries, "repaired once"


def faulty_store(root: Path, fs: FileSystem) -> amber.CheckpointStore:
    return amber.CheckpointStore(LocalStorage(root, fs=fs), registry=registry)


def test_amber_migrate_on_a_disk_full_after_its_commit_exits_0_saying_so(tmp_path: Path) -> None:
    """The CLI, in a real process: the commit is the outcome, the log's lag a warning."""
    amber.open_store(tmp_path, registry=registry).save(bank(accounts=2))
    script = (
        "import errno, sys\n"
        "from amber.storage._local import FileSystem\n"
        "original = FileSystem.create\n"
        "seen = []\n"
        "def create(self, path):\n"
        "    if '/log/' in str(path):\n"
        "        seen.append(path)\n"
        "        if len(seen) > 1: raise OSError(errno.ENOSPC, 'No space left on device')\n"
        "    return original(self, path)\n"
        "FileSystem.create = create\n"
        "from amber._cli import main\n"
        "sys.argv = ['amber', 'migrate', sys.argv[1], '--app', 'tests.support.migration_app:registry']\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "000000000002" in done.stdout and "could not be written" in done.stderr and "Traceback" not in done.stderr
    assert [e["outcome"] for e in commands.log(str(tmp_path))] == ["started", "committed"]


def test_a_read_only_store_is_a_typed_error_for_a_manager_and_one_line_for_the_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-only file system (EROFS) at the writer lock. Mocked at os.open: these tests run
    as root here, whom permission bits do not stop, and mounting needs privileges we lack."""
    store_dir = tmp_path / "store"
    store = amber.open_store(store_dir, registry=registry)
    store.save(bank(accounts=1))
    store.save(bank(accounts=2))
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise OSError(errno.EROFS, "Read-only file system", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", read_only)
    manager = amber.Manager(amber.open_store(store_dir, registry=registry), [_Holder()])
    with pytest.raises(amber.StoreLockedError, match="Read-only file system"):
        manager.restore()
    result = CliRunner().invoke(cli, ["rollback", str(store_dir), "--to", "1"])
    assert result.exit_code == 1 and result.output.count("\n") == 1 and "Read-only" in result.output
    assert len(amber.open_store(store_dir, registry=registry, create=False).load()["accounts"]) == 2


def test_a_delta_is_never_written_on_another_checkpoint_that_took_its_parents_id(tmp_path: Path) -> None:
    """Found by a hostile review: checkpoint 2 deleted, another writer (the same service's
    state loaded from 1) commits its own 2, and the service's next delta on "2" applied its
    changes to that one: a load returned a state no one had."""
    store = amber.open_store(tmp_path, registry=registry)
    people = amber.Table({i: Customer(i, f"c{i}") for i in range(3)})
    accounts = amber.Table({i: Account(i, people[0], 100) for i in range(4)})
    state = {"people": people, "accounts": accounts}
    first = store.save(state)
    accounts[1] = Account(1, people[0], 222)
    store.save(state, parent=first.id)
    (tmp_path / "checkpoints" / "000000000002.manifest").unlink()
    other = amber.open_store(tmp_path, registry=registry)
    theirs = other.load(1)  # the same table tokens
    theirs["accounts"][2] = Account(2, theirs["people"][0], 777)
    assert other.save(theirs, parent="1").id == "000000000002"
    accounts[0] = Account(0, people[0], 111)
    with pytest.raises(amber.SerializationError, match="whose id another checkpoint has taken since"):
        store.save(state, parent="2")
    info = store.save(state)
    assert {k: a.balance for k, a in store.load(info.id)["accounts"].items()} == {0: 111, 1: 222, 2: 100, 3: 100}


def test_log_repair_takes_no_checkpoint_for_a_run_it_does_not_continue_and_shows_each_outcome_once(
    tmp_path: Path,
) -> None:
    """Found by a hostile review: a checkpoint the application saved with the run's key in
    its metadata was logged as the rollback's outcome; racing repairs logged one outcome
    several times; a store that could not be written showed a committed run as interrupted."""
    store = amber.open_store(tmp_path, registry=registry)
    store.save(bank(accounts=1))
    store.save(bank(accounts=2))
    log = amber._maintenance._migration_log.MigrationLog(store)
    started = log.append(action="rollback", outcome="started", source="000000000001")  # then killed
    store.save(bank(accounts=3), meta={"amber.log_run": started.run})  # names the run, not its lineage
    assert [e["outcome"] for e in commands.log(store)] == ["started"]
    committed = Committer(store).recommit(1, meta={"restores": "000000000001", "amber.log_run": started.run})
    for _ in range(3):  # as if three repairs raced
        log.append(**amber._maintenance._migration_log.recovered_outcome(started, committed.id, {}))
    shown = commands.log(store)
    assert [(e["outcome"], e.get("target")) for e in shown] == [("started", None), ("committed", "000000000004")]


def test_a_read_only_log_still_shows_a_committed_outcome(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = amber.open_store(tmp_path, registry=registry)
    store.save(bank(accounts=1))
    log = amber._maintenance._migration_log.MigrationLog(store)
    started = log.append(action="migrate", outcome="started", source="000000000001")
    store.save(bank(accounts=1), meta={"migrated_from": "000000000001", "amber.log_run": started.run})

    def full(*args: Any, **kwargs: Any) -> None:
        raise amber.StoreError("the disk is full")

    monkeypatch.setattr(amber._maintenance._migration_log.MigrationLog, "append", full)
    shown = commands.log(str(tmp_path))
    assert [(e["outcome"], e.get("target"), e.get("recovered")) for e in shown] == [
        ("started", None, None),
        ("committed", "000000000002", True),
    ]


def test_a_fleet_workers_writes_hold_off_gc_of_its_folder(tmp_path: Path) -> None:
    """Found by a hostile review: a worker writes through its fleet's folder with a prefix,
    and took no gc lock: `amber gc fleet/workers/0` deleted an acknowledged shard's data."""
    fleet = amber.open_fleet(tmp_path / "fleet", key_groups=4, registry=registry, fsync=False)
    worker = fleet.join(0, 1)
    worker.store.save(bank())  # the worker's folder exists
    with writing(worker.store.storage):
        collected = _gc(tmp_path / "fleet" / "workers" / "0", "--wait", "0.2s")
    assert collected.returncode == 1 and "a checkpoint is being written" in collected.stderr
    worker.leave()


def _child_sleeps(seconds: float) -> None:
    time.sleep(seconds)


def test_a_child_forked_during_a_write_does_not_hold_gc_off(tmp_path: Path) -> None:
    """Found by a hostile review: a process forked while a write held the gc lock (a
    multiprocessing worker) kept it for its whole life, and gc waited it out."""
    store_dir = tmp_path / "store"
    amber.open_store(store_dir, registry=registry).save(bank())
    child = multiprocessing.get_context("fork").Process(target=_child_sleeps, args=(30,))
    with writing(LocalStorage(store_dir)):
        child.start()
    try:
        collected = _gc(store_dir, "--wait", "5s")
        assert collected.returncode == 0, collected.stderr
    finally:
        child.kill()
        child.join()


def test_a_delta_whose_parent_a_collection_removed_meanwhile_is_not_acknowledged(tmp_path: Path) -> None:
    """Found by a hostile re-check: writer A read its parent 1, writer B committed 2, gc
    (keep the newest) removed 1, and A's delta on 1 was acknowledged: its chain was broken."""
    store = amber.open_store(tmp_path, registry=registry)
    people = amber.Table({i: Customer(i, f"c{i}") for i in range(3)})
    state = {"people": people}
    first = store.save(state)
    people[7] = Customer(7, "new")
    captured = capture(store, state, take_tables(store, state, first.id))  # the parent is read here
    amber.open_store(tmp_path, registry=registry).save(bank())  # B
    commands.gc(str(tmp_path), keep_last=1, grace="0s")  # before A's window opens: 1 goes
    with pytest.raises(amber.StoreError, match="000000000003 was committed but its parent 000000000001 is gone"):
        Committer(store).write(captured)
    assert "000000000003" in store.quarantined()
    assert len(amber.open_store(tmp_path, registry=registry).load(2)["accounts"]) == 20


def test_a_manager_on_a_verify_only_store_does_not_take_the_writer_lock(tmp_path: Path) -> None:
    writer = amber.Manager(signed(tmp_path), [_Holder()])
    writer.checkpoint()
    writer.close(final=False)
    before = tree_digest(tmp_path)
    with pytest.raises(amber.SigningKeyError):
        amber.Manager(signed(tmp_path, key=None, verify=(KEY,)), [_Holder()]).restore()
    assert tree_digest(tmp_path) == before
    signer = amber.Manager(signed(tmp_path), [_Holder()])  # not locked out
    signer.restore()
    signer.close(final=False)


def test_the_html_report_is_never_written_inside_the_store(tmp_path: Path) -> None:
    """Found by a hostile re-check: --html pointed at a manifest replaced it with the page."""
    store = amber.open_store(tmp_path / "s", registry=registry)
    store.save(bank())
    before = tree_digest(tmp_path / "s")
    result = CliRunner().invoke(
        cli, ["report", str(tmp_path / "s"), "--html", str(tmp_path / "s" / "checkpoints" / "x")]
    )
    assert result.exit_code == 2 and "inside the store" in result.output
    assert tree_digest(tmp_path / "s") == before


def test_a_data_file_with_one_fresh_marker_among_stale_ones_is_spared(tmp_path: Path) -> None:
    """Two writers may mark one data file (two rollbacks to one checkpoint): one stale marker
    (a crashed writer's) must not outvote a live one. Only the last listed counted before."""
    store = amber.open_store(tmp_path, registry=registry)
    store.save(bank(accounts=1))
    data = store.manifest(1).data
    store.save(bank(accounts=2))
    (tmp_path / "pending").mkdir()
    name = data.removeprefix("data/")
    fresh, stale = tmp_path / "pending" / f"{name}.00000000", tmp_path / "pending" / f"{name}.ffffffff"
    fresh.touch()
    stale.touch()
    os.utime(stale, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    report = commands.gc(str(tmp_path), keep_last=1, grace="0s")
    assert data not in report["deleted_files"] and (tmp_path / data).exists()
    assert not stale.exists() and fresh.exists(), "the stale marker goes, the live one stays"
