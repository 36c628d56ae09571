"""`amber copy`: moving a store to another place (a folder to S3), checkpoint by checkpoint."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import amber
from amber import commands
from amber._maintenance import _copy
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
    assert commands.log(target) == commands.log(source)
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
