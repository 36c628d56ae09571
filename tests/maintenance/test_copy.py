"""`amber copy`: moving a store to another place (a folder to S3), checkpoint by checkpoint."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

import amber
from amber import commands
from amber._maintenance import _copy
from amber.testing import Crash, Faults, faulty_store, power_loss
from tests.support.bank_service import Bank, registry
from tests.support.helpers import amber_cli


def service_store(path: Path) -> tuple[amber.CheckpointStore, Bank]:
    """A store a service wrote: a full checkpoint, deltas, a migration-free rollback, a quarantine note."""
    store = amber.open_store(path, registry=registry)
    bank = Bank()
    with amber.Manager(store, bank.participants) as manager:
        bank.open_accounts(5, 200)
        manager.checkpoint()
        for source in range(3):
            bank.transfer(source, source + 1, 7)
            manager.checkpoint()
    commands.rollback(store, to=store.ids()[-2])  # shares its target's data file
    store.storage.put("quarantine/000000000002.json", [b'{"reason": "a note"}'])
    return store, bank


@pytest.mark.usefixtures("s3_endpoint")
def test_a_local_store_moves_to_s3_with_every_checkpoint_and_its_history(tmp_path: Path, s3_url: str) -> None:
    source, _ = service_store(tmp_path / "local")
    report = commands.copy(source, s3_url)
    target = amber.open_store(s3_url, registry=registry)
    assert report["checkpoints"] == source.ids() == target.ids() and report["verified"]
    for cid in source.ids():
        assert target.load(cid) == source.load(cid)
    assert target.quarantined() == source.quarantined()
    copied_log, source_log = commands.log(target), commands.log(source)
    assert [{**e, "undo": ""} for e in copied_log] == [{**e, "undo": ""} for e in source_log]
    assert [e["undo"] for e in copied_log if e.get("undo")] == [f"amber rollback {target.url} --to {source.ids()[-2]}"]
    assert len(target.storage.list("data/")) == len(source.storage.list("data/"))  # the shared file once
    again, expected = Bank(), Bank()
    amber.Manager(target, again.participants).restore()  # the service can start from the copy
    amber.Manager(source, expected.participants, exclusive=False).restore()
    assert again.balances() == expected.balances()


def test_an_interrupted_copy_is_finished_by_running_it_again(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    commands.copy(source, str(tmp_path / "b"))
    (tmp_path / "b" / "checkpoints" / f"{source.ids()[-1]}.manifest").unlink()  # as if cut off there
    report = commands.copy(source, str(tmp_path / "b"))
    assert report["present"] == source.ids()[:-1] and report["checkpoints"] == source.ids()[-1:]
    assert amber.open_store(tmp_path / "b").ids() == source.ids()


def test_a_copy_into_another_store_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    other = amber.open_store(tmp_path / "b", registry=registry)
    other.save({"something": "else"})
    before = sorted(p.name for p in (tmp_path / "b").rglob("*"))
    with pytest.raises(amber.StoreError, match="copy target: checkpoint 000000000001 differs"):
        commands.copy(source, str(tmp_path / "b"))
    assert sorted(p.name for p in (tmp_path / "b").rglob("*")) == before


def test_a_quarantined_checkpoint_is_copied_but_not_verified(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    data = tmp_path / "a" / source.manifest("2").data
    data.write_bytes(data.read_bytes()[:-3])  # damaged, and quarantined by the service_store's note
    report = commands.copy(source, str(tmp_path / "b"))
    assert report["unverified"] == ["000000000002"] and report["checkpoints"] == source.ids()
    with pytest.raises(amber.CorruptCheckpointError, match="000000000002"):
        amber.open_store(tmp_path / "b").verify("2")


def test_a_damaged_manifest_stops_the_copy_before_anything_is_written(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    manifest = tmp_path / "a" / "checkpoints" / f"{source.ids()[2]}.manifest"
    manifest.write_bytes(manifest.read_bytes()[:-5])
    with pytest.raises(amber.CheckpointError, match=source.ids()[2]):
        commands.copy(source, str(tmp_path / "b"))
    assert not (tmp_path / "b" / "checkpoints").exists()


def test_data_files_are_copied_in_bounded_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = service_store(tmp_path / "a")
    monkeypatch.setattr(_copy, "CHUNK", 1000)
    sizes: list[int] = []
    real = _copy._chunks

    def counted(storage: amber.storage.Storage, key: str, size: int):  # type: ignore[no-untyped-def]
        for chunk in real(storage, key, size):
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(_copy, "_chunks", counted)
    commands.copy(source, str(tmp_path / "b"))
    assert max(sizes) == 1000 and amber.open_store(tmp_path / "b", registry=registry).load() == source.load()


def test_the_cli_copies_and_says_what_it_did(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    result = amber_cli("copy", str(tmp_path / "a"), str(tmp_path / "b"), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["checkpoints"] == source.ids()
    human = amber_cli("copy", str(tmp_path / "a"), str(tmp_path / "c"))
    assert f"copied {len(source.ids())} checkpoints" in human.stdout and "verified" in human.stdout


def test_the_undo_commands_of_a_copys_log_roll_back_the_copy_not_the_original(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    commands.copy(source, str(tmp_path / "b"))
    copied = amber.open_store(tmp_path / "b", registry=registry)
    (undo,) = [e["undo"] for e in commands.log(copied) if e.get("undo")]
    assert undo == f"amber rollback {copied.url} --to {source.ids()[-2]}" and source.url not in undo
    before = source.ids()
    result = amber_cli(*shlex.split(undo)[1:])  # as an operator pastes it
    assert result.returncode == 0, result.stderr
    assert source.ids() == before, "the original is untouched"
    assert copied.ids() == [*before, f"{int(before[-1]) + 1:012d}"]
    assert copied.load() == copied.load(before[-2])


def test_a_log_written_with_its_stores_url_inside_names_the_store_it_is_read_from(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    entry = next(p for p in sorted((tmp_path / "a" / "log").iterdir()) if b'"committed"' in p.read_bytes())
    written = json.loads(entry.read_bytes())
    del written["undo_to"]  # as versions before this one wrote it: the command, with the writer's URL
    entry.write_text(json.dumps({**written, "undo": "amber rollback file:///old/place --to 000000000005"}))
    commands.copy(source, str(tmp_path / "b"))
    copied = amber.open_store(tmp_path / "b", registry=registry)
    assert [e["undo"] for e in commands.log(copied) if e.get("undo")] == [
        f"amber rollback {copied.url} --to 000000000005"
    ]
    assert [e["undo"] for e in commands.log(source) if e.get("undo")] == [
        f"amber rollback {source.url} --to 000000000005"
    ]


def test_a_damaged_segment_in_the_source_is_refused_before_its_checkpoint_lands(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    damaged = source.manifest("5")  # a full checkpoint no later one reads
    segment = damaged.segments[-1]
    data = tmp_path / "a" / damaged.data
    content = bytearray(data.read_bytes())
    content[segment.offset + segment.length // 2] ^= 0xFF  # same size, same header: only its digest tells
    data.write_bytes(bytes(content))
    with pytest.raises(amber.CorruptCheckpointError, match=r"checkpoint 000000000005: segment .* expected xxh3-128"):
        commands.copy(source, str(tmp_path / "b"))
    target = amber.open_store(tmp_path / "b", registry=registry)
    assert target.ids() == source.ids()[:4], "the checkpoints before it, each whole, and nothing after"
    assert target.load() == source.load(4)
    source.quarantine("5", "damaged on disk")  # set aside: the copy carries it for the post-mortem
    report = commands.copy(source, str(tmp_path / "b"))
    assert report["present"] == source.ids()[:4] and report["unverified"] == ["000000000002", "000000000005"]
    assert target.ids() == source.ids() and target.load() == source.load()


def test_a_rerun_verifies_what_an_earlier_copy_left_in_the_target(tmp_path: Path) -> None:
    source, _ = service_store(tmp_path / "a")
    commands.copy(source, str(tmp_path / "b"), verify=False)
    manifest = source.manifest("3")
    data = tmp_path / "b" / manifest.data
    content = bytearray(data.read_bytes())
    content[manifest.segments[0].offset] ^= 0xFF
    data.write_bytes(bytes(content))
    with pytest.raises(
        amber.CorruptCheckpointError, match=rf"checkpoint 000000000003: segment 0 .* in {tmp_path.as_uri()}/b"
    ):
        commands.copy(source, str(tmp_path / "b"))


@pytest.mark.parametrize(
    ("operation", "at"),
    [("link", 1), ("link", 3), ("rename", 2), ("fsync_dir", 4), ("fsync", 6), ("create", 9)],
)
def test_a_copy_cut_off_by_a_power_loss_leaves_whole_checkpoints_and_a_rerun_finishes_it(
    tmp_path: Path, operation: str, at: int
) -> None:
    source, _ = service_store(tmp_path / "a")
    cut = faulty_store(tmp_path / "b", Faults().crash(operation, at=at), registry=registry)  # type: ignore[arg-type]
    with pytest.raises(Crash):
        _copy.copy_store(source, cut)
    power_loss(cut)
    target = amber.open_store(tmp_path / "b", registry=registry)
    survived = target.ids()
    assert survived == source.ids()[: len(survived)], "a prefix of the source's checkpoints"
    for cid in survived:
        assert target.load(cid) == source.load(cid)
    report = commands.copy(source, str(tmp_path / "b"))
    assert report["present"] == survived and report["verified"]
    assert target.ids() == source.ids()
    for cid in source.ids():
        assert target.load(cid) == source.load(cid)
