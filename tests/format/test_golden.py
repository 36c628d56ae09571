"""Golden checkpoints: what every released format version wrote must keep loading."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

import amber
from amber import commands
from amber._format import _format
from amber.testing._roundtrip import same_state
from tests.support.helpers import tree_digest
from tests.support.sample import golden_chain, golden_state, kinds_state, registry

GOLDEN = sorted((Path(__file__).parents[1] / "golden").glob("format-*"))
FORMAT_1 = Path(__file__).parents[1] / "golden" / "format-1"
FORMAT_2 = Path(__file__).parents[1] / "golden" / "format-2"
FORMAT_3 = Path(__file__).parents[1] / "golden" / "format-3"


def test_there_is_a_golden_checkpoint_for_the_current_format() -> None:
    assert Path(__file__).parents[1] / "golden" / f"format-{amber.FORMAT_VERSION}" in GOLDEN


def test_golden_checkpoints_load_into_the_same_state() -> None:
    golden = FORMAT_1
    store = amber.open_store(golden / "store", registry=registry, create=False)
    before = tree_digest(golden)
    loaded, expected = store.load(), golden_state()
    for key in ("customers", "accounts", "everything", "points", "misc"):
        assert loaded[key] == expected[key], key
    assert loaded["accounts"][5].owner is loaded["customers"][0]
    head = loaded["branches"]
    assert [c.name for c in head.children] == [c.name for c in expected["branches"].children]
    assert all(c.parent is head for c in head.children)
    assert tree_digest(golden) == before


def test_the_format_2_golden_chain_loads_every_checkpoint_with_shared_customers() -> None:
    store = amber.open_store(FORMAT_2 / "store", registry=registry, create=False)
    before = tree_digest(FORMAT_2)
    expected = golden_chain(amber.open_store("memory://", registry=registry))
    for checkpoint_id, want in zip(store.ids(), expected, strict=True):
        state = store.load(checkpoint_id)
        tables = state["tables"]
        assert dict(tables["customers"]) == want["customers"] and dict(tables["accounts"]) == want["accounts"]
        assert state["version"] == want["version"]
        for account in tables["accounts"].values():  # links resolved to the one shared customer
            if tables["customers"].get(account.owner.id) == account.owner:
                assert account.owner is tables["customers"][account.owner.id]
    assert tree_digest(FORMAT_2) == before


def test_the_format_3_golden_store_hides_the_fenced_writers_commit() -> None:
    store = amber.open_store(FORMAT_3 / "store", registry=registry, create=False)
    before = tree_digest(FORMAT_3)
    assert store.ids() == ["000000000001", "000000000002", "000000000003", "000000000005"]
    assert store.manifests.fences() == [(1, 1), (2, 4)]
    with pytest.raises(amber.CheckpointNotFoundError, match="fenced off by token 2 from sequence 4"):
        store.load(4)  # written by token 1 after token 2 took the lease over: void for every reader
    newest = store.load()
    expected = golden_chain(amber.open_store("memory://", registry=registry))[-1]
    assert dict(newest["tables"]["accounts"]) == expected["accounts"] and newest["version"] == 4
    assert [store.manifest(i).token for i in store.ids()] == [1, 1, 1, 2]
    assert tree_digest(FORMAT_3) == before


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_golden_checkpoints_verify_and_dump_without_app_code(golden: Path) -> None:
    store = amber.open_store(golden / "store", registry=amber.Registry(), create=False)
    for checkpoint_id in store.ids():
        assert store.verify(checkpoint_id).records == sum(store.info(checkpoint_id).counts.values())
    expected = msgspec.json.decode((golden / "dump.json").read_bytes())
    dumps = (
        [commands.dump_changes(store, i) for i in store.ids()] if golden != FORMAT_1 else commands.dump_changes(store)
    )
    assert msgspec.json.decode(msgspec.json.encode(dumps)) == expected


def test_the_current_writer_reproduces_the_golden_chain_bytes(tmp_path: Path) -> None:
    """Format stability for tables and deltas: the same chain gives the same data files."""
    golden = amber.open_store(FORMAT_2 / "store", registry=registry, create=False)
    store = amber.open_store(tmp_path, registry=registry)
    golden_chain(store)
    for checkpoint_id in golden.ids():
        old, new = golden.manifest(checkpoint_id), store.manifest(checkpoint_id)
        assert (new.digest, new.types, new.segments, new.tables) == (old.digest, old.types, old.segments, old.tables)
        assert (tmp_path / new.data).read_bytes() == (FORMAT_2 / "store" / old.data).read_bytes()


def test_the_current_writer_reproduces_the_golden_bytes(tmp_path: Path) -> None:
    """Format stability: saving the golden state today gives the golden data file's segments,
    byte for byte. Its enums now carry their names, so the header says format 4 and the
    schemas gain the names; described by value, they are format 1's."""
    golden = FORMAT_1 / "store"
    store = amber.open_store(tmp_path, registry=registry)
    info = store.save(golden_state())
    old = amber.open_store(golden, registry=registry, create=False).manifest()
    new = store.manifest(info.id)
    new_bytes, old_bytes = (tmp_path / new.data).read_bytes(), (golden / old.data).read_bytes()
    assert (new.format_version, new_bytes[:16]) == (4, _format.data_header(4))
    assert new_bytes[16:] == old_bytes[16:] and new.segments == old.segments
    assert [_by_value(t.schema) for t in new.types] == [t.schema for t in old.types]


def _by_value(schema: amber.RecordSchema) -> amber.RecordSchema:
    fields = tuple(msgspec.structs.replace(f, type=f.type.by_value()) for f in schema.fields)
    return msgspec.structs.replace(schema, fields=fields)


def test_the_format_4_golden_store_names_its_enums_and_loads_by_name() -> None:
    """Format 4 added enums' stable names and member names: the golden state, written with them."""
    golden = Path(__file__).parents[1] / "golden" / "format-4"
    store = amber.open_store(golden / "store", registry=registry, create=False)
    before = tree_digest(golden)
    manifest = store.manifest(6)
    enums = [t for e in manifest.types for f in e.schema.fields for t in f.type.walk() if t.kind == "enum"]
    assert manifest.format_version == 4 and enums and all(t.members and t.enum for t in enums)
    loaded, expected = store.load(6), golden_state()
    for key in ("customers", "accounts", "everything", "points", "misc"):
        assert loaded[key] == expected[key], key
    assert store.manifest(5).format_version == 3, "a checkpoint without enums keeps the older version"
    assert tree_digest(golden) == before


def test_the_format_5_golden_chain_binds_each_delta_to_its_parents_content(tmp_path: Path) -> None:
    """Format 5 added ``parent_digest``: a manifest of another checkpoint put under a parent's
    id (the id reused after a deletion) no longer passes for that parent."""
    golden = Path(__file__).parents[1] / "golden" / "format-5"
    store = amber.open_store(golden / "store", registry=registry, create=False)
    deltas = [store.manifest(i) for i in ("2", "3", "5")]
    assert all(m.format_version == 5 and m.parent_digest for m in deltas)
    assert deltas[2].parent_digest == _format.manifest_digest(store.manifest(3))
    copy = tmp_path / "store"
    shutil.copytree(golden / "store", copy)
    stand_in = copy / "checkpoints" / "000000000003.manifest"
    other = _format.parse_manifest((copy / "checkpoints" / "000000000004.manifest").read_bytes(), "4")
    stand_in.write_bytes(_format.encode_manifest(msgspec.structs.replace(other, id="000000000003", sequence=3)))
    with pytest.raises(amber.CorruptCheckpointError, match="checkpoint 000000000005: parent: .*another checkpoint"):
        amber.open_store(copy, registry=registry, create=False).load(5)


def test_the_format_6_golden_checkpoint_holds_each_new_kind_and_is_reproduced(tmp_path: Path) -> None:
    """Format 6 added field kinds (deque, OrderedDict, Counter, defaultdict, paths, Fraction,
    bytearray, Literal): the golden checkpoint loads into the same state, and today's writer
    gives the same data file byte for byte."""
    golden = Path(__file__).parents[1] / "golden" / "format-6"
    store = amber.open_store(golden / "store", registry=registry, create=False)
    before = tree_digest(golden)
    manifest = store.manifest(7)
    assert manifest.format_version == 6 and store.manifest(6).format_version == 4
    loaded = store.load(7)
    assert same_state(loaded, kinds_state(), registry) and loaded[0].recent.maxlen == 4
    assert loaded[0].owners[0] is loaded[0].owners[1]
    fresh = amber.open_store(tmp_path, registry=registry)
    info = fresh.save(kinds_state())
    new = fresh.manifest(info.id)
    assert (new.digest, new.segments, new.types) == (manifest.digest, manifest.segments, manifest.types)
    assert (tmp_path / new.data).read_bytes() == (golden / "store" / manifest.data).read_bytes()
    assert tree_digest(golden) == before


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_every_golden_checkpoint_dumps_diffs_and_exports_without_app_code(golden: Path, tmp_path: Path) -> None:
    """The operator tools read every format version: each checkpoint's resolved dump reaches
    as many records of each type as its Arrow tables hold, and it differs from itself in
    nothing. (The golden folders stay untouched.)"""
    before = tree_digest(golden)
    store = amber.open_store(golden / "store", registry=amber.Registry(), create=False)
    for checkpoint_id in store.ids():
        dumped = commands.dump(store, checkpoint_id)
        per_type: dict[str, int] = {}
        for record in dumped["records"]:
            name = record["$id"].rsplit("/", 1)[0]
            per_type[name] = per_type.get(name, 0) + 1
        tables = store.to_arrow(checkpoint_id)
        assert {name: t.num_rows for name, t in tables.items() if t.num_rows} == per_type, checkpoint_id
        changes = commands.diff(store, checkpoint_id, checkpoint_id)
        assert (changes["types"], changes["paths"], changes["schemas"]) == ({}, {}, [])
    assert tree_digest(golden) == before
