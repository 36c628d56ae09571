"""Signed checkpoints: an HMAC over each manifest, SHA-256 over each segment, key rotation."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

import amber
from amber import commands
from amber._cli import cli
from amber._format import _format
from amber._format._signing import Keyring
from tests.support.sample import bank, registry

KEY_A = "a" * 32
KEY_B = "b" * 32


def store_at(root: Path, key: str | None = None, verify: tuple[str, ...] = ()) -> amber.CheckpointStore:
    return amber.open_store(root, registry=registry, signing_key=key, verify_keys=verify, history=False)


def rewrite(root: Path, checkpoint_id: str, change: dict[str, object]) -> None:
    """Change a manifest and give it a valid digest line: what an attacker with write
    access (and no key) can do."""
    path = root / "checkpoints" / f"{checkpoint_id}.manifest"
    manifest = _format.parse_manifest(path.read_bytes(), checkpoint_id)
    path.write_bytes(_format.encode_manifest(msgspec.structs.replace(manifest, **change)))


def test_a_signed_store_signs_every_manifest_and_every_segment(tmp_path: Path) -> None:
    store = store_at(tmp_path, KEY_A)
    store.save(bank())
    manifest = store.manifest()
    assert manifest.format_version == 3 and manifest.signature.count(":") == 1
    assert all(len(s.sha256) == 64 for s in manifest.segments)
    assert len(store_at(tmp_path, KEY_A).load()["accounts"]) == 20
    assert len(store_at(tmp_path).load()["accounts"]) == 20, "without keys, signatures are not checked"


def test_unsigned_resigned_and_tampered_checkpoints_are_refused(tmp_path: Path) -> None:
    store_at(tmp_path).save(bank())  # unsigned
    store_at(tmp_path, KEY_B).save(bank(accounts=3))  # another key
    store_at(tmp_path, KEY_A).save(bank(accounts=4))
    rewrite(tmp_path, "000000000003", {"meta": {"injected": True}})  # tampered
    reader = store_at(tmp_path, KEY_A)
    with pytest.raises(amber.SignatureError, match=r"checkpoint 000000000001: signature: .* found none \(unsigned\)"):
        reader.load(1)
    with pytest.raises(amber.SignatureError, match="checkpoint 000000000002: signature: expected a signature by key"):
        reader.load(2)
    with pytest.raises(amber.SignatureError, match=r"checkpoint 000000000003: signature: .*another \(tampered\)"):
        reader.load(3)
    restored = amber.Manager(reader, [_Holder()], exclusive=False)
    with pytest.raises(amber.RestoreError):
        restored.restore()  # the service does not start on a state it cannot trust


class _Holder:
    name = "bank"

    def snapshot(self) -> object:
        return None

    def restore(self, state: object) -> None:
        pass


def test_a_segment_that_is_not_what_was_signed_is_refused(tmp_path: Path) -> None:
    store = store_at(tmp_path, KEY_A)
    store.save(bank())
    manifest = store.manifest()
    forged = msgspec.structs.replace(
        manifest, segments=(msgspec.structs.replace(manifest.segments[0], sha256="0" * 64), *manifest.segments[1:])
    )
    signed = Keyring.of(KEY_A).sign(forged)  # type: ignore[union-attr]
    (tmp_path / "checkpoints" / f"{manifest.id}.manifest").write_bytes(_format.encode_manifest(signed))
    with pytest.raises(amber.CorruptCheckpointError, match="expected SHA-256 0000"):
        store_at(tmp_path, KEY_A).load()


def test_keys_rotate_with_verification_keys(tmp_path: Path) -> None:
    store_at(tmp_path, KEY_A).save(bank(accounts=1))
    rotated = store_at(tmp_path, KEY_B, verify=(KEY_A,))
    rotated.save(bank(accounts=2))
    assert len(rotated.load(1)["accounts"]) == 1 and len(rotated.load(2)["accounts"]) == 2
    with pytest.raises(amber.SignatureError):
        store_at(tmp_path, KEY_B).load(1)  # key A retired


def test_keys_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBER_SIGNING_KEY", KEY_A)
    amber.open_store(tmp_path, registry=registry).save(bank())
    monkeypatch.setenv("AMBER_SIGNING_KEY", KEY_B)
    with pytest.raises(amber.SignatureError):
        amber.open_store(tmp_path, registry=registry).load()
    monkeypatch.setenv("AMBER_VERIFY_KEYS", f"{KEY_A},{'c' * 32}")
    assert len(amber.open_store(tmp_path, registry=registry).load()["accounts"]) == 20
    monkeypatch.delenv("AMBER_VERIFY_KEYS")
    refused = CliRunner().invoke(cli, ["verify", str(tmp_path)])  # the CLI reads the same variables
    assert refused.exit_code == 1 and "signature: expected a signature by key" in refused.output
    with pytest.raises(ValueError, match="at least 16 bytes"):
        amber.open_store(tmp_path, signing_key="short")


def test_a_rollback_is_signed_anew_and_a_writer_without_the_key_is_refused_by_readers(tmp_path: Path) -> None:
    store = store_at(tmp_path, KEY_A)
    store.save(bank(accounts=1))
    store.save(bank(accounts=2))
    commands.rollback(store, "1")
    assert len(store_at(tmp_path, KEY_A).load()["accounts"]) == 1
    commands.rollback(store_at(tmp_path), "2")  # no key: its manifest is unsigned
    with pytest.raises(amber.SignatureError, match="unsigned"):
        store_at(tmp_path, KEY_A).load()
