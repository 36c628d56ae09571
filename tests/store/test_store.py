"""Stores: the commit protocol, listing, ids, concurrency between processes, permissions."""

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
from pathlib import Path
from typing import Any

import pytest

import amber
from amber import commands
from amber.storage import LocalStorage
from tests.support.helpers import tree_digest
from tests.support.sample import Customer, bank, registry


def open_(url: Any, **kw: Any) -> amber.CheckpointStore:
    return amber.open_store(url, registry=registry, **kw)


def test_save_list_info_load_by_id(store_url: str) -> None:
    store = open_(store_url)
    first = store.save(bank(accounts=3), meta={"release": "1"})
    second = store.save(bank(accounts=4))
    assert [i.id for i in store.list()] == [first.id, second.id] == ["000000000001", "000000000002"]
    assert first.types == {"bank.Customer": 1, "bank.Account": 1, "bank.Branch": 1}
    assert first.counts == {"bank.Customer": 5, "bank.Account": 3, "bank.Branch": 4}
    assert store.info(1) == store.info("000000000001") == first
    assert len(store.load(1)["accounts"]) == 3
    assert len(store.load()["accounts"]) == 4, "the newest committed checkpoint by default"
    assert store.info().meta == {} and store.info(1).meta == {"release": "1"}
    assert first.size > 0 and first.time <= second.time


def test_an_empty_store_has_no_checkpoint(store_url: str) -> None:
    store = open_(store_url)
    assert store.list() == []
    with pytest.raises(amber.CheckpointNotFoundError, match="at least one committed checkpoint"):
        store.load()
    with pytest.raises(FileNotFoundError):
        store.load(7)


def test_bad_ids_are_not_found_and_never_touch_the_filesystem(tmp_path: Path) -> None:
    store = open_(tmp_path)
    store.save({})
    for bad in ["../x", "1/2", "abc", "0" * 13, "-1"]:
        with pytest.raises(amber.CheckpointNotFoundError):
            store.load(bad)


def test_missing_store_is_an_error_when_not_creating(tmp_path: Path) -> None:
    with pytest.raises(amber.StoreNotFoundError):
        open_(tmp_path / "nope", create=False)
    with pytest.raises(ValueError, match="unsupported store URL"):
        open_("ftp://example/x")


def test_file_urls_and_plain_paths_name_the_same_store(tmp_path: Path) -> None:
    open_(tmp_path).save({"n": 1})
    assert open_(tmp_path.as_uri()).load() == {"n": 1}
    assert open_(tmp_path).url == tmp_path.as_uri()


def test_a_data_file_without_a_manifest_does_not_exist_for_readers(tmp_path: Path) -> None:
    store = open_(tmp_path)
    store.save({"n": 1})
    # What a crash between the data write and the manifest write leaves behind:
    (tmp_path / "data" / ("ab" * 16 + ".seg")).write_bytes(b"half a checkpoint")
    (tmp_path / "checkpoints" / ".000000000002.manifest.1234.tmp").write_bytes(b"AMBER-MANIFEST 1\n{")
    assert store.ids() == ["000000000001"]
    assert store.load() == {"n": 1}
    assert store.save({"n": 2}).id == "000000000002"


def test_a_failed_save_commits_nothing_and_leaves_no_files(tmp_path: Path) -> None:
    store = open_(tmp_path)
    store.save({"n": 1})
    before = tree_digest(tmp_path, history=False)
    with pytest.raises(amber.SerializationError):
        store.save({"n": object()})
    with pytest.raises(amber.SerializationError):
        store.save([Customer("not an int", "x")])  # type: ignore[arg-type]
    assert tree_digest(tmp_path, history=False) == before


def test_manifests_are_create_only(tmp_path: Path) -> None:
    storage = amber.storage.LocalStorage(tmp_path)
    storage.put("checkpoints/x", [b"one"], create_only=True)
    with pytest.raises(amber.ConflictError):
        storage.put("checkpoints/x", [b"two"], create_only=True)
    assert storage.get_range("checkpoints/x", 0, 10) == b"one"
    assert not [p for p in (tmp_path / "checkpoints").iterdir() if p.name.startswith(".")], "no temp file left"


def test_files_and_folders_are_private_to_the_owner(tmp_path: Path) -> None:
    root = tmp_path / "private"
    open_(root).save({"secret": 1})
    for path in [root, *root.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_everything_a_store_creates_is_private_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0o002)  # group- and world-readable by default: the store must not be
    try:
        root = tmp_path / "all"
        store = amber.open_store(root)
        store.acquire_lease()
        store.save({"n": 1})
        store.save({"n": 2})
        store.quarantine(2, "a test")
        commands.rollback(store, "1")
        store.release_lease()
        manager = amber.Manager(amber.open_store(root), [])
        manager.close(final=False)
        fleet = amber.open_fleet(tmp_path / "fleet")
        fleet.join(0, 1).checkpoint({}, epoch=1)
    finally:
        os.umask(old)
    for path in [root, *root.rglob("*"), *(tmp_path / "fleet").rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def _saver(url: str, worker: int, rounds: int, out: Any) -> None:
    store = open_(url)
    ids = [store.save({"worker": worker, "round": r, "bank": bank(accounts=50)}).id for r in range(rounds)]
    out.put((worker, ids))


def test_two_processes_saving_at_once_both_commit_distinct_checkpoints(tmp_path: Path) -> None:
    url = str(tmp_path / "shared")
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    workers = [ctx.Process(target=_saver, args=(url, w, 15, out)) for w in range(3)]
    for p in workers:
        p.start()
    results = dict(out.get(timeout=60) for _ in workers)
    for p in workers:
        p.join(timeout=60)
        assert p.exitcode == 0
    all_ids = [i for ids in results.values() for i in ids]
    assert len(set(all_ids)) == 45
    store = open_(url)
    assert store.ids() == sorted(all_ids)
    for cid in store.ids():
        state = store.load(cid)
        assert cid in results[state["worker"]], "each checkpoint holds the state its writer saved"
        store.verify(cid)


def test_fsync_off_still_commits(tmp_path: Path) -> None:
    store = open_(tmp_path, fsync=False)
    store.save({"fast": True})
    assert open_(tmp_path).load() == {"fast": True}


def test_storage_keys_cannot_escape_the_store(tmp_path: Path) -> None:
    storage = amber.storage.LocalStorage(tmp_path / "s")
    for key in ["../evil", "/abs", "a/../../b", "a//b", ""]:
        with pytest.raises(ValueError, match="invalid storage key"):
            storage.put(key, [b"x"])
    assert not (tmp_path / "evil").exists()


def test_memory_stores_are_independent() -> None:
    a, b = open_("memory://"), open_("memory://")
    a.save({"n": 1})
    assert b.list() == []


def test_loading_changes_nothing_on_disk(tmp_path: Path) -> None:
    store = open_(tmp_path)
    store.save(bank())
    before = tree_digest(tmp_path, history=False)
    store.load()
    store.verify()
    store.list()
    assert tree_digest(tmp_path, history=False) == before
    assert os.listdir(tmp_path / "checkpoints") == ["000000000001.manifest"]


def test_a_commit_retried_after_it_succeeded_is_one_checkpoint() -> None:
    """An object store retries a create-only put whose answer was lost: the retry finds the
    manifest there. That is our own commit, not another writer's."""

    class LostAnswer(amber.storage.MemoryStorage):
        lost = False

        def put(self, key: str, chunks: Any, *, create_only: bool = False, durable: bool = True) -> int:
            size = super().put(key, chunks, create_only=create_only, durable=durable)
            if create_only and key.startswith("checkpoints/") and not self.lost:
                self.lost = True
                raise amber.ConflictError(f"{key} already exists")  # what the retried request sees
            return size

    store = amber.CheckpointStore(LostAnswer(), history=False)
    info = store.save({"n": 1})
    assert store.ids() == [info.id] == ["000000000001"]


def test_a_symlinked_folder_cannot_lead_deletions_out_of_the_store(tmp_path: Path) -> None:
    outside = tmp_path / "documents"
    outside.mkdir()
    (outside / "thesis.txt").write_text("years of work")
    store = amber.open_store(tmp_path / "store")
    store.save({"n": 1})
    data = tmp_path / "store" / "data"
    for f in data.iterdir():
        f.unlink()
    data.rmdir()
    data.symlink_to(outside)  # planted by someone who can write to the store
    with pytest.raises(amber.StoreError, match="leads out of the store"):
        commands.gc(amber.open_store(tmp_path / "store"), keep_last=1, grace="0s")
    assert (outside / "thesis.txt").read_text() == "years of work"


tiny = amber.Registry()  # small records of their own, for the commit and budget cases below


@tiny.record("r.A", version=1)
class A(amber.Record):
    n: int


@tiny.record("r.Loose", version=1)
class Loose(amber.Record):
    tags: list[Any]
    body: str | bytes = ""


@tiny.record("r.Tagged", version=1)
class Tagged(amber.Record):
    tags: list[str]


def saved_with(tmp_path: Path, state: Any) -> amber.CheckpointStore:
    store = amber.open_store(tmp_path, registry=tiny)
    store.save(state)
    return store


def test_a_failure_after_the_manifest_is_linked_keeps_the_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = amber.open_store(tmp_path, registry=tiny)
    real = LocalStorage._sync_dir

    def flaky(self: LocalStorage, folder: Path) -> None:
        if folder.name == "checkpoints":
            raise OSError(errno.EIO, "simulated EIO")
        real(self, folder)

    monkeypatch.setattr(LocalStorage, "_sync_dir", flaky)
    with pytest.raises(amber.StoreError, match="simulated EIO"):
        store.save(A(1))
    monkeypatch.setattr(LocalStorage, "_sync_dir", real)
    assert store.load() == A(1), "the checkpoint whose manifest was linked still loads"


def test_names_with_a_trailing_newline_are_not_checkpoints(tmp_path: Path) -> None:
    store = saved_with(tmp_path, A(1))
    (tmp_path / "checkpoints" / "999999999999\n.manifest").write_bytes(b"junk")
    assert store.ids() == ["000000000001"]
    assert store.save(A(2)).id == "000000000002"


def test_loads_beyond_the_stores_budget_are_refused_before_reading(tmp_path: Path) -> None:
    saved_with(tmp_path, [A(i) for i in range(1000)])
    small = amber.open_store(tmp_path, registry=tiny, max_load_bytes=100)
    with pytest.raises(amber.CheckpointTooLargeError, match="raise max_load_bytes"):
        small.load()


def test_table_chunks_are_halved_to_fit_the_segment_limit(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr("amber._store._segments.MAX_SEGMENT_BYTES", 5_000)
    state = [Loose(["x" * 100] * 10) for _ in range(50)]
    store = amber.open_store(tmp_path, registry=tiny)
    store.save(state)
    tables = [s for s in store.manifest().segments if s.kind == "table"]
    assert len(tables) > 1 and all(s.raw_length <= 5_000 for s in tables)
    assert store.load() == state
    with pytest.raises(amber.SerializationError, match="one record takes"):
        store.save([Loose(["y" * 6_000])])


def test_typed_lists_in_halved_chunks_are_not_taken_for_shared_ones(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A chunk too big for one segment is encoded again as two halves: its typed lists must
    not count twice for the end-of-save check of containers held in two places."""
    monkeypatch.setattr("amber._store._segments.MAX_SEGMENT_BYTES", 5_000)
    state = [Tagged(["x" * 100] * 10) for _ in range(50)]
    store = amber.open_store(tmp_path, registry=tiny)
    store.save(state)
    assert len([s for s in store.manifest().segments if s.kind == "table"]) > 1
    assert store.load() == state
    state.append(Tagged(state[0].tags))  # one list in two records: still refused
    with pytest.raises(amber.SerializationError, match="held by both"):
        store.save(state)


def test_a_store_is_freed_without_the_cyclic_gc(tmp_path: Path) -> None:
    """Fleets open a store per worker read: a reference cycle would keep each until a
    collection (the store's parts are made per use, not held)."""
    import gc
    import weakref

    was = gc.isenabled()
    gc.disable()
    try:
        store = amber.open_store(tmp_path)
        store.save({"v": 1})
        store.load()
        gone = weakref.ref(store)
        del store
        assert gone() is None
    finally:
        if was:
            gc.enable()


def test_a_copy_of_a_store_reads_with_its_own_settings(tmp_path: Path) -> None:
    import copy

    amber.open_store(tmp_path).save({"v": 1})
    store = amber.open_store(tmp_path)
    strict = copy.copy(store)
    strict.max_load_bytes = 1
    with pytest.raises(amber.CheckpointTooLargeError):
        strict.verify()
    assert store.verify().records == 0, "the original keeps its own bound"


@pytest.mark.parametrize(
    ("old", "call"),
    [
        ("fences", lambda s: s.fences()),
        ("void_ids", lambda s: s.void_ids()),
        ("chain", lambda s: s.chain()),
        ("parsed_manifest", lambda s: s.parsed_manifest(None)),
        ("take_tables", lambda s: s.take_tables({"v": 2})),
        ("refuse_unsigned", lambda s: s.refuse_unsigned()),
        ("recommit", lambda s: s.recommit(1, meta={})),
    ],
)
def test_the_stores_old_internal_methods_still_work_and_say_where_they_went(
    tmp_path: Path, old: str, call: Any
) -> None:
    store = amber.open_store(tmp_path)
    store.save({"v": 1})
    with pytest.warns(DeprecationWarning, match=rf"CheckpointStore\.{old} is deprecated: .* is now "):
        call(store)


def test_the_old_write_path_still_commits(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path)
    with pytest.warns(DeprecationWarning, match="take_tables is deprecated"):
        taken = store.take_tables({"v": 3})
    with pytest.warns(DeprecationWarning, match="capture is deprecated"):
        captured = store.capture({"v": 3}, taken)
    with pytest.warns(DeprecationWarning, match="write is deprecated"):
        info = store.write(captured)
    assert store.load(info.id) == {"v": 3}
