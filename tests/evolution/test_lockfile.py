"""The schema lock file, the CI check against it, and the supported-versions policy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Annotated

import msgspec
import pytest

import amber
from amber import commands
from tests.support import lock_apps

ROOT = Path(__file__).parents[2]


def app(name: str) -> str:
    return f"tests.support.lock_apps:{name}"


def locked(tmp_path: Path, *releases: str) -> Path:
    path = tmp_path / "amber.lock"
    for name in releases:
        commands.schema_lock(app(name), str(path))
    return path


def errors(name: str, path: Path) -> list[str]:
    return [
        f"{f['type']}: {f['message']}" for f in commands.schema_check(app(name), str(path)) if f["severity"] == "error"
    ]


def test_the_lock_records_versions_fingerprints_steps_and_tombstones(tmp_path: Path) -> None:
    path = locked(tmp_path, "v1", "v2_step")
    lock = json.loads(path.read_text())
    item = lock["types"]["shop.Item"]
    assert (item["current"], item["oldest_supported"], item["upgrades"]) == (2, 1, [1])
    assert set(item["versions"]) == {"1", "2"}, "the v1 schema stays although its class is gone"
    assert item["fingerprints"]["1"] == amber.RecordSchema(**item["versions"]["1"]).fingerprint
    assert lock["min_format_version"] == amber.FORMAT_VERSION
    (tmp_path / "other").mkdir()
    dropped = json.loads(locked(tmp_path / "other", "v1", "v2_dropped_note").read_text())
    assert dropped["types"]["shop.Item"]["tombstones"] == {"note": "str"}


def test_unchanged_code_passes(tmp_path: Path) -> None:
    path = locked(tmp_path, "v1")
    assert errors("v1", path) == []
    result = subprocess.run(
        [sys.executable, "-m", "amber", "schema", "check", "--app", app("v1"), "--file", str(path)],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0 and "schema check passed" in result.stdout


@pytest.mark.parametrize(
    ("release", "expected"),
    [
        ("v1_changed", "shop.Item: v1 changed without a version bump"),
        ("v2_required", "shop.Item: v1 data: v1 -> v2: new required field 'price_cents'"),
        ("v2_retyped", "shop.Item: v1 data: v1 -> v2: field 'sku' changed from str to int"),
        ("renamed_no_alias", "shop.Item: looks renamed to shop.Product without an alias"),
    ],
)
def test_breaking_changes_fail_the_check_with_a_fix(tmp_path: Path, release: str, expected: str) -> None:
    path = locked(tmp_path, "v1")
    assert expected in errors(release, path)
    result = subprocess.run(
        [sys.executable, "-m", "amber", "schema", "check", "--app", app(release), "--file", str(path), "--json"],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert all(f["fix"] for f in json.loads(result.stdout) if f["severity"] == "error")


@pytest.mark.parametrize("release", ["v2_default", "v2_step", "v2_dropped_note", "renamed_alias"])
def test_safe_changes_pass(tmp_path: Path, release: str) -> None:
    assert errors(release, locked(tmp_path, "v1")) == []


def test_a_removed_name_cannot_come_back_with_another_type(tmp_path: Path) -> None:
    path = locked(tmp_path, "v1", "v2_dropped_note")
    assert "shop.Item: field 'note' reuses a removed name (was str)" in errors("v3_note_reused", path)


def test_a_missing_lock_file_is_an_error(tmp_path: Path) -> None:
    assert errors("v1", tmp_path / "absent.lock") == ["*: no lock file"]


def test_the_policy_refuses_checkpoints_older_than_the_oldest_supported(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    item_v1 = lock_apps.v1.current("shop.Item")
    assert item_v1 is not None
    amber.open_store(store_dir, registry=lock_apps.v1).save([item_v1.cls("a", 1.5)])
    path = tmp_path / "amber.lock"
    commands.schema_lock(app("v2_step"), str(path), oldest={"shop.Item": 2})
    assert json.loads(path.read_text())["types"]["shop.Item"]["oldest_supported"] == 2
    assert amber.open_store(store_dir, registry=lock_apps.v2_step).load()[0].price_cents == 0, "no policy: upgraded"
    guarded = amber.open_store(store_dir, registry=lock_apps.v2_step, policy=path)
    with pytest.raises(amber.IncompatibleSchemaError, match="v1 is older than the oldest supported v2"):
        guarded.load()


def test_the_cli_writes_the_lock_with_a_policy(tmp_path: Path) -> None:
    path = tmp_path / "amber.lock"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "amber",
            "schema",
            "lock",
            "--app",
            app("v2_step"),
            "--file",
            str(path),
            "--oldest",
            "shop.Item=2",
        ],
        cwd=ROOT,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "shop.Item: current v2, supported from v2" in result.stdout
    assert msgspec.json.decode(path.read_bytes())["types"]["shop.Item"]["oldest_supported"] == 2


def test_deprecated_fields_are_locked_and_reported() -> None:
    reg = amber.Registry()

    @reg.record("shop.Thing", version=1)
    class Thing(amber.Record):
        sku: str
        legacy: Annotated[str, amber.field(deprecated=True)] = ""

    from amber._evolution import _lockfile

    built = _lockfile.build_lock(reg, None)
    assert built.types["shop.Thing"].deprecated == ["legacy"]
    notes = [str(f) for f in _lockfile.check(reg, built)]
    assert notes == [
        "note: shop.Thing: deprecated field 'legacy' is still held by supported versions v1 "
        "(fix: remove it once oldest_supported is past them)"
    ]
