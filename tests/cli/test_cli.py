"""The amber command, run as a real process, without the application's code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import amber
from tests.support.helpers import amber_cli
from tests.support.sample import bank, registry


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    store = amber.open_store(tmp_path / "s", registry=registry)
    store.save(bank(accounts=3), meta={"release": "1.0"})
    store.save(bank(accounts=7))
    return tmp_path / "s"


def test_ls_lists_checkpoints_newest_last(store_dir: Path) -> None:
    result = amber_cli("ls", str(store_dir))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("000000000001") and lines[2].startswith("000000000002")
    rows = json.loads(amber_cli("ls", str(store_dir), "--json").stdout)
    assert [r["id"] for r in rows] == ["000000000001", "000000000002"]
    assert rows[1]["records"] == 5 + 7 + 4


def test_ls_lists_the_readable_and_flags_the_unreadable(store_dir: Path) -> None:
    manifest = store_dir / "checkpoints" / "000000000001.manifest"
    manifest.write_bytes(manifest.read_bytes()[:-5])
    result = amber_cli("ls", str(store_dir))
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[1].startswith("000000000001  UNREADABLE: checkpoint 000000000001: manifest")
    assert lines[2].startswith("000000000002  ")


def test_show_names_types_versions_fingerprints_counts_and_sizes(store_dir: Path) -> None:
    text = amber_cli("show", store_dir.as_uri(), "1").stdout
    assert "bank.Account v1  fingerprint 2cce3544700096e1a494d2102edc67a8  3 records" in text
    assert "owner: @bank.Customer" in text and 'meta {"release":"1.0"}' in text
    shown = json.loads(amber_cli("show", str(store_dir), "--json").stdout)
    account = next(t for t in shown["types"] if t["name"] == "bank.Account")
    assert account["count"] == 7 and account["stored_bytes"] > 0
    assert {"name": "tags", "type": "list[str]", "required": False} in account["fields"]


def test_verify_exits_zero_only_when_sound(store_dir: Path) -> None:
    assert amber_cli("verify", str(store_dir)).returncode == 0
    assert json.loads(amber_cli("verify", str(store_dir), "2", "--json").stdout)["ok"] is True
    data = store_dir / amber.open_store(store_dir).manifest().data
    blob = bytearray(data.read_bytes())
    blob[-3] ^= 0xFF
    data.write_bytes(bytes(blob))
    result = amber_cli("verify", str(store_dir))
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "amber: error: checkpoint 00000000000" in result.stderr
    assert "digest" in result.stderr


def test_dump_renders_the_whole_state_as_json(store_dir: Path) -> None:
    dumped = json.loads(amber_cli("dump", str(store_dir), "1").stdout)
    assert dumped["checkpoint"]["meta"] == {"release": "1.0"}
    records = {r["$id"]: r for r in dumped["records"]}  # every record the root reaches, once, numbered as met
    assert dumped["root"]["accounts"] == {"$dict": [[i, {"$ref": f"bank.Account/{i}"}] for i in range(3)]}
    account = records["bank.Account/1"]
    assert account == {
        "$id": "bank.Account/1",
        "id": 1,
        "owner": account["owner"],
        "balance": 100,
        "tags": ["t1"],
        "opened": 1 / 7,
    }
    assert records[account["owner"]["$ref"]]["id"] == 1
    compact = amber_cli("dump", str(store_dir), "1", "--json").stdout
    assert compact.count("\n") == 1 and json.loads(compact) == dumped


def test_errors_are_one_line_with_a_nonzero_status(tmp_path: Path) -> None:
    missing = amber_cli("ls", str(tmp_path / "nowhere"))
    assert missing.returncode == 1 and missing.stderr.startswith("amber: error: no store at")
    amber.open_store(tmp_path / "empty").save({})
    absent = amber_cli("show", str(tmp_path / "empty"), "42")
    assert absent.returncode == 1 and "000000000042" in absent.stderr
    assert amber_cli("frobnicate").returncode == 2


def test_the_console_script_is_installed() -> None:
    exe = Path(sys.executable).with_name("amber")
    result = subprocess.run([str(exe), "--help"], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "verify" in result.stdout


def test_migrate_and_rollback_refuse_a_store_a_running_service_writes(store_dir: Path) -> None:
    service = amber.Manager(amber.open_store(store_dir, registry=registry), [])
    service.restore()  # holds the store's writer lock, as a running service does
    try:
        for args in (
            ["rollback", str(store_dir), "--to", "1"],
            ["migrate", str(store_dir), "--app", "tests.support.sample:registry"],
        ):
            result = amber_cli(*args)
            assert result.returncode == 1 and "being written by" in result.stderr, args
        dry_run = amber_cli("migrate", str(store_dir), "--app", "tests.support.sample:registry", "--dry-run")
        assert dry_run.returncode == 0
    finally:
        service.close(final=False)
    assert amber_cli("rollback", str(store_dir), "--to", "1").returncode == 0


def test_release_lifts_a_quarantine_so_restores_try_the_checkpoint_again(store_dir: Path) -> None:
    store = amber.open_store(store_dir, registry=registry)
    store.storage.put("quarantine/000000000002.json", [b'{"reason": "a stricter invariant"}'])
    assert amber_cli("release", str(store_dir)).returncode == 2  # neither ids nor --all
    missing = amber_cli("release", str(store_dir), "1")
    assert missing.returncode == 1 and "none is quarantined" in missing.stderr
    done = amber_cli("release", str(store_dir), "2")
    assert done.returncode == 0 and "released 000000000002 (it had been set aside: a stricter invariant)" in done.stdout
    assert store.quarantined() == {}


def test_verify_all_reports_every_bad_checkpoint_and_fails(store_dir: Path) -> None:
    assert amber_cli("verify", str(store_dir), "--all").stdout.endswith("2 sound, 0 bad\n")
    data = store_dir / amber.open_store(store_dir).manifest("1").data
    data.write_bytes(data.read_bytes()[:-4])  # the older one: plain `verify` (the newest) misses it
    assert amber_cli("verify", str(store_dir)).returncode == 0
    result = amber_cli("verify", str(store_dir), "--all")
    assert result.returncode == 1 and "BAD 000000000001" in result.stdout and "1 sound, 1 bad" in result.stdout


def test_an_app_that_cannot_be_imported_is_one_line_of_error(store_dir: Path) -> None:
    for app, says in [
        ("no_such_module", "ModuleNotFoundError"),
        ("tests.support.sample:nothing", "has no attribute"),
        ("tests.support.sample:bank", "is not an amber.Registry"),
    ]:
        result = amber_cli("migrate", str(store_dir), "--app", app)
        assert result.returncode == 1 and says in result.stderr and "Traceback" not in result.stderr


def test_successful_maintenance_commands_print_no_warning(store_dir: Path, tmp_path: Path) -> None:
    """A warning on stderr tells an operator something went wrong: a command that did what
    it was asked (a rollback too) prints none."""
    for args in (
        ["migrate", str(store_dir), "--app", "tests.support.migration_app:registry", "--dry-run"],
        ["migrate", str(store_dir), "--app", "tests.support.migration_app:registry"],
        ["log", str(store_dir)],
        ["rollback", str(store_dir)],
        ["rollback", str(store_dir), "--to", "1"],
        ["gc", str(store_dir), "--keep-last", "2", "--grace", "0s"],
        ["copy", str(store_dir), str(tmp_path / "copy")],
        ["release", str(store_dir), "--all"],
    ):
        result = amber_cli(*args)
        assert (result.returncode, result.stderr) == (0, ""), args


def test_rollback_says_what_it_supersedes_and_how_to_undo_it(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    for accounts in range(1, 6):
        store.save(bank(accounts=accounts))
    result = amber_cli("rollback", str(tmp_path / "s"), "--to", "2")
    assert result.returncode == 0, result.stderr
    undo = f"amber rollback {(tmp_path / 's').as_uri()} --to 000000000005"
    assert result.stdout.splitlines() == [
        "rolled back: 000000000006 restores 000000000002 (was 000000000005); nothing deleted",
        "  superseded: 3 newer checkpoint(s), kept but no longer the newest: 000000000003, 000000000004, 000000000005",
        f"  undo: {undo}",
    ]
    undone = amber_cli(*undo.split()[1:], "--json")
    assert json.loads(undone.stdout)["restored"] == "000000000005"
    assert len(store.load()["accounts"]) == 5, "the undo makes the superseded newest checkpoint's content the newest"


def test_migrate_says_which_checkpoint_it_replaces_as_the_newest_and_how_to_undo_it(store_dir: Path) -> None:
    result = amber_cli("migrate", str(store_dir), "--app", "tests.support.migration_app:registry")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "000000000003 is the newest now, replacing 000000000002, which stays" in lines[0]
    assert lines[-1] == f"  undo: amber rollback {store_dir.as_uri()} --to 000000000002"


def test_an_argument_no_file_system_can_name_is_one_error_line_text_or_json(tmp_path: Path) -> None:
    """Hypothesis found it: an unpaired surrogate in a path or id was an internal error (and,
    with --json, an exception the JSON encoder raised)."""
    from click.testing import CliRunner  # the runner passes text no shell could

    from amber._cli import cli

    amber.open_store(tmp_path / "s").save({})
    for argv in (["ls", str(tmp_path / "\ud800")], ["show", str(tmp_path / "s"), "\ud800", "--json"]):
        result = CliRunner().invoke(cli, argv, catch_exceptions=False)
        assert result.exit_code == 1 and len(result.stderr.splitlines()) == 1, result.stderr
        assert "internal error" not in result.stderr
    assert json.loads(result.stderr)["error"]["type"] == "CheckpointNotFoundError"
