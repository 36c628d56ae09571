"""``store.to_arrow``, ``amber export`` and ``amber query``: a checkpoint's record types as
tables, read without the application's code, on full checkpoints and resolved deltas."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import amber
from amber import commands
from tests.maintenance.test_dump_diff_resolved import build
from tests.support.helpers import amber_cli

registry = amber.Registry()


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@registry.record("k.Owner", version=1)
class Owner(amber.Record):
    name: str


@registry.record("k.Kinds", version=1)
class Kinds(amber.Record):
    count: int
    huge: int
    ratio: float
    flag: bool
    label: str
    blob: bytes
    when: dt.datetime
    naive: dt.datetime
    day: dt.date
    amount: decimal.Decimal
    ident: uuid.UUID
    colour: Colour
    tags: set[str]
    scores: dict[str, int]
    pair: tuple[int, str]
    owner: Owner | None
    owners: list[Owner]
    anything: Any


def kinds_store(tmp_path: Path) -> amber.CheckpointStore:
    store = amber.open_store(tmp_path / "k", registry=registry)
    alice, bob = Owner("alice"), Owner("bob")
    rows = amber.Table(
        {
            i: Kinds(
                count=i,
                huge=2**63 + 5 if i == 1 else i,
                ratio=i / 3,
                flag=i % 2 == 0,
                label=f"l{i}",
                blob=bytes([i]),
                when=dt.datetime(2026, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))),
                naive=dt.datetime(2026, 1, 2, 3, 4, 5),
                day=dt.date(2026, 3, i + 1),
                amount=decimal.Decimal("1.10"),
                ident=uuid.UUID(int=i),
                colour=Colour.BLUE,
                tags={"b", "a"},
                scores={"x": i},
                pair=(i, "p"),
                owner=alice if i else None,
                owners=[alice, bob],
                anything={"k": [1, 2.5]},
            )
            for i in range(3)
        }
    )
    store.save({"rows": rows})
    return store


def test_every_field_kind_is_a_column_that_keeps_its_values(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = kinds_store(tmp_path)
    tables = amber.open_store(tmp_path / "k").to_arrow()  # no application code
    kinds, owners = tables["k.Kinds"], tables["k.Owner"]
    schema = {f.name: f.type for f in kinds.schema}
    assert schema["count"] == pa.int64() and schema["ratio"] == pa.float64() and schema["flag"] == pa.bool_()
    assert schema["when"] == pa.timestamp("us", tz="UTC") and schema["naive"] == pa.timestamp("us")
    assert schema["tags"] == pa.list_(pa.string()) and schema["scores"] == pa.map_(pa.string(), pa.int64())
    assert schema["owner"] == pa.int64() and schema["owners"] == pa.list_(pa.int64())
    assert schema["huge"] == pa.string()  # 2**63 + 5 fits no int64: its JSON text, said aloud
    assert "k.Kinds.huge" in caplog.text
    row = kinds.to_pylist()[1]
    assert row["_key"] == 1 and row["_table"] == "/rows"
    assert json.loads(row["huge"]) == 2**63 + 5
    assert row["when"] == dt.datetime(2026, 1, 1, 10, tzinfo=dt.UTC)  # the same instant
    assert row["amount"] == "1.10" and row["ident"] == str(uuid.UUID(int=1)) and row["colour"] == "blue"
    assert row["tags"] == ["a", "b"] and row["scores"] == [("x", 1)] and row["pair"] == {"0": 1, "1": "p"}
    names = owners.column("name").to_pylist()
    assert names[row["owner"]] == "alice" and [names[i] for i in row["owners"]] == ["alice", "bob"]
    assert kinds.to_pylist()[0]["owner"] is None
    assert json.loads(row["anything"]) == {"k": [1, 2.5]}
    assert store.load()["rows"][1].count == 1


def test_to_arrow_of_every_checkpoint_of_a_history_is_the_state_a_load_gives(tmp_path: Path) -> None:
    store, ids = build(tmp_path, 7, "DDFDD")
    for cid in ids:
        loaded = store.load(cid)
        tables = store.to_arrow(cid)
        accounts = {row["_key"]: row for row in tables["t.Account"].to_pylist() if row["_table"] == "/accounts"}
        customers = tables["t.Customer"].to_pylist()
        assert set(accounts) == set(loaded["accounts"])
        for key, account in loaded["accounts"].items():
            row = accounts[key]
            assert (row["balance"], sorted(row["tags"])) == (account.balance, sorted(account.tags))
            assert customers[row["owner"]]["name"] == account.owner.name
        reached = {id(c) for c in loaded["customers"].values()} | {id(a.owner) for a in loaded["accounts"].values()}
        assert tables["t.Customer"].num_rows == len(reached)  # what the state reaches: a replaced one still pointed at


def test_export_writes_one_file_per_type_in_each_format(tmp_path: Path) -> None:
    store, _ = build(tmp_path, 8, "DD")
    tables = store.to_arrow()
    for fmt in ("parquet", "arrow", "csv"):
        out = tmp_path / fmt
        written = commands.export(store, str(out), fmt=fmt)
        assert {f["type"] for f in written["files"]} == set(tables)
        path = out / f"t.Account.{fmt}"
        if fmt == "parquet":
            assert pq.read_table(path).equals(tables["t.Account"])
        elif fmt == "arrow":
            assert pa.ipc.open_file(pa.OSFile(str(path))).read_all().equals(tables["t.Account"])
        else:
            header, first = path.read_text().splitlines()[:2]
            assert header.startswith('"_id","_table","_key"') and '"[' in first  # lists as JSON text
    assert sorted(p.name for p in (tmp_path / "parquet").iterdir()) == sorted(f"{n}.parquet" for n in tables)


def test_export_refuses_a_folder_inside_the_store(tmp_path: Path) -> None:
    build(tmp_path, 9, "D")
    result = amber_cli("export", str(tmp_path / "s9"), str(tmp_path / "s9" / "out"))
    assert result.returncode == 2 and "inside the store" in result.stderr


def test_query_joins_types_by_id_and_answers_from_its_cache_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AMBER_CACHE_DIR", str(tmp_path / "cache"))
    store, _ = build(tmp_path, 10, "DD")
    loaded = store.load()
    sql = "SELECT a._key, c.name FROM \"t.Account\" a JOIN Customer c ON a.owner = c._id WHERE a._table = '/accounts'"
    first = commands.query(store, sql)
    expected = sorted([k, a.owner.name] for k, a in loaded["accounts"].items())
    assert sorted(first["rows"]) == expected and first["columns"] == ["_key", "name"]
    cached = list((tmp_path / "cache" / "query").iterdir())
    assert len(cached) == 1
    for data in (tmp_path / "s10" / "data").iterdir():  # the checkpoint is not read again: the cache answers
        raw = data.read_bytes()
        data.write_bytes(raw[:16] + bytes(len(raw) - 16))  # the header kept: the segments zeroed
    assert sorted(commands.query(store, sql)["rows"]) == expected
    next(cached[0].glob("*.parquet")).write_bytes(b"damaged")
    with pytest.raises(amber.CheckpointError):  # a damaged cache is not used: the (zeroed) checkpoint is read
        commands.query(store, sql)


def test_query_without_the_cache_writes_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AMBER_CACHE_DIR", str(tmp_path / "cache"))
    store, _ = build(tmp_path, 11, "D")
    assert commands.query(store, "SELECT count(*) FROM Customer", cache=False)["rows"] == [[4]]
    assert not (tmp_path / "cache").exists()


def test_a_refused_query_is_one_typed_line(tmp_path: Path) -> None:
    store, ids = build(tmp_path, 12, "D")
    with pytest.raises(amber.QueryError, match="nope") as caught:
        commands.query(store, "SELECT nope FROM Account", cache=False)
    assert caught.value.checkpoint == ids[-1]
    result = amber_cli("query", str(tmp_path / "s12"), "SELECT nope FROM Account", "--json", "--no-cache")
    assert result.returncode == 1
    assert msgspec.json.decode(result.stderr)["error"]["type"] == "QueryError"


def test_query_on_the_command_line_prints_a_table_or_json(tmp_path: Path) -> None:
    _, ids = build(tmp_path, 13, "DD")
    url = str(tmp_path / "s13")
    text = amber_cli("query", url, ids[0], "SELECT count(*) AS n FROM Tree", "--no-cache")
    assert text.returncode == 0 and text.stdout.splitlines()[0] == "n"
    as_json = msgspec.json.decode(amber_cli("query", url, "SELECT 1 AS one", "--json", "--no-cache").stdout)
    assert as_json == {"checkpoint": ids[-1], "columns": ["one"], "rows": [[1]]}


def test_without_the_extra_the_error_names_it(tmp_path: Path) -> None:
    build(tmp_path, 14, "D")
    code = (
        "import sys; sys.modules['duckdb'] = None; sys.modules['pyarrow'] = None\nfrom amber._cli import main; main()"
    )
    for argv in (["query", str(tmp_path / "s14"), "SELECT 1"], ["export", str(tmp_path / "s14"), str(tmp_path / "x")]):
        result = subprocess.run(
            [sys.executable, "-c", code, *argv], capture_output=True, text=True, check=False, timeout=60
        )
        assert result.returncode == 1 and "pip install 'amber-state[" in result.stderr, result.stderr


def test_a_table_in_a_list_has_its_place_and_a_field_named_as_a_built_in_column_keeps_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = amber.open_store(tmp_path / "s", registry=registry)
    store.save([amber.Table({1: Owner("a")})])
    assert store.to_arrow()["k.Owner"].to_pylist() == [{"_id": 0, "_table": "/0", "_key": 1, "name": "a"}]
    clash = amber.Registry()

    @clash.record("k.Clash", version=1)
    class Clash(amber.Record):
        _id: str

    other = amber.open_store(tmp_path / "c", registry=clash)
    other.save({"c": amber.Table({7: Clash("abc")})})
    assert other.to_arrow()["k.Clash"].to_pylist() == [{"_id": 0, "_table": "/c", "_key": 7, "_id_": "abc"}]
    assert "exported as _id_" in caplog.text
