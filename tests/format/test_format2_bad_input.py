"""Hostile format 2 input (tables, deltas, links): a typed error naming the checkpoint from
every reader (load, verify, dump, diff, restore), never a raw exception, and nothing lost."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import amber
from amber import commands
from tests.support.bank_service import Bank
from tests.support.bank_service import registry as bank_registry
from tests.support.helpers import forge, tree_digest
from tests.support.sample import golden_chain, registry

LINKS = [[1001, 1001], [1, [5, 2]]]  # checkpoint 2's links segment: customers 5 and 2


def chain(tmp_path: Path) -> Path:
    golden_chain(amber.open_store(tmp_path, registry=registry))
    return tmp_path


def readers(store: amber.CheckpointStore, cid: str) -> dict[str, Callable[[], Any]]:
    return {
        "load": lambda: store.load(cid),
        "verify": lambda: store.verify(cid),
        "dump": lambda: commands.dump(store, cid),
        "dump_changes": lambda: commands.dump_changes(store, cid),
        "diff": lambda: commands.diff(store, "1", cid),
    }


def refused_everywhere(root: Path, cid: str, match: str, *, skip: tuple[str, ...] = ()) -> None:
    """Every reader refuses; ``skip`` names those that need not (dump_changes shows a delta's own
    content without its chain)."""
    store = amber.open_store(root, registry=registry)
    before = tree_digest(root)
    for name, read in readers(store, cid).items():
        if name in skip:
            continue
        with pytest.raises(amber.CorruptCheckpointError, match=match) as caught:
            read()
        assert caught.value.checkpoint == cid
    assert tree_digest(root) == before


def links_segment(root: Path) -> int:
    manifest = amber.open_store(root, registry=registry).manifest("2")
    return next(i for i, s in enumerate(manifest.segments) if s.kind == "links")


@pytest.mark.parametrize(
    "key",
    [[0, [5]], [5, [1, [5]]], [15, 1, [1, []], [1, []]]],
    ids=["list", "set", "table"],
)
def test_a_link_key_that_cannot_be_a_key(tmp_path: Path, key: Any) -> None:
    root = chain(tmp_path)
    forge(root, "000000000002", table=(links_segment(root), msgspec.msgpack.encode([[1001, 1001], [0, [key, 2]]])))
    refused_everywhere(root, "000000000002", "hashable keys|tables only")


def test_links_nested_too_deep(tmp_path: Path) -> None:
    root = chain(tmp_path)
    deep = b"\x92\x00\x91" * 100_000 + b"\x00"
    forge(root, "000000000002", table=(links_segment(root), b"\x92\x92\xcd\x03\xe9\xcd\x03\xe9\x92\x00\x92" + deep))
    refused_everywhere(root, "000000000002", "links of bank.Customer")


def test_links_to_keys_the_parent_lacks(tmp_path: Path) -> None:
    root = chain(tmp_path)
    forge(root, "000000000002", table=(links_segment(root), msgspec.msgpack.encode([[1001, 1001], [1, [999, 2]]])))
    refused_everywhere(root, "000000000002", "links", skip=("dump_changes",))


def root_of(root: Path, cid: str) -> Any:
    store = amber.open_store(root, registry=registry)
    manifest = store.manifest(cid)
    data = (root / manifest.data).read_bytes()
    seg = manifest.segments[0]
    from amber._format import _format

    return msgspec.msgpack.decode(_format.inflate(data[seg.offset : seg.offset + seg.length], seg.raw_length))


def find_tag(node: Any, tag: int) -> list[Any]:
    if isinstance(node, list) and node and node[0] == tag:
        return node
    for child in node if isinstance(node, list) else []:
        found = find_tag(child, tag)
        if found:
            return found
    return []


def test_unhashable_tombstones(tmp_path: Path) -> None:
    root = chain(tmp_path)
    tree = root_of(root, "000000000002")
    find_tag(tree, 16)[4] = [0, [[0, [4]]]]
    forge(root, "000000000002", root=msgspec.msgpack.encode(tree))
    refused_everywhere(root, "000000000002", "hashable deleted keys")


def test_changes_in_a_full_checkpoint_and_duplicate_tokens(tmp_path: Path) -> None:
    root = chain(tmp_path)
    tree = root_of(root, "000000000001")
    table = find_tag(tree, 15)
    table[:] = [16, table[1], table[2], table[3], [1, []]]
    forge(root, "000000000001", root=msgspec.msgpack.encode(tree))
    refused_everywhere(root, "000000000001", "whole tables only")
    tree = root_of(chain(tmp_path / "again"), "000000000001")
    tables = [n for n in tree[2] if isinstance(n, list) and n and n[0] == 15] if tree[0] == 7 else []
    customers = find_tag(tree, 15)
    customers[1] = 1002  # the accounts table's token too
    forge(tmp_path / "again", "000000000001", root=msgspec.msgpack.encode(tree))
    refused_everywhere(tmp_path / "again", "000000000001", "table 1002 twice")
    assert tables is not None


@pytest.mark.parametrize("token", ["²", "1" * 5000, "-1"])
def test_table_tokens_that_are_not_numbers(tmp_path: Path, token: str) -> None:
    root = chain(tmp_path)
    forge(root, "000000000003", edit=lambda m: {**m, "tables": {**m["tables"], token: 1}})
    refused_everywhere(root, "000000000003", "table tokens")


def test_links_without_a_parent_and_naive_creation_times(tmp_path: Path) -> None:
    root = chain(tmp_path)
    without_parent = {"parent": "", "depth": 0, "parent_digest": ""}  # format 5 names the parent twice
    forge(root, "000000000002", edit=lambda m: {**m, **without_parent})
    refused_everywhere(root, "000000000002", "only in a delta")
    forge(root, "000000000003", edit=lambda m: {**m, "created": "2020-01-01T00:00:00"})
    with pytest.raises(amber.CorruptCheckpointError, match="UTC offset"):
        amber.open_store(root, registry=registry).load("3")


def test_tables_nested_in_tables_or_records_are_refused_both_ways(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=registry)
    with pytest.raises(amber.SerializationError, match="value of another amber.Table"):
        store.save({"t": amber.Table({1: amber.Table({2: "x"})})})
    root = chain(tmp_path / "c")
    tree = root_of(root, "000000000001")
    customers = find_tag(tree, 15)
    customers[3] = [0, [[15, 77, [1, [1]], [1, ["x"]]]] * len(customers[2][1])]
    forge(root, "000000000001", root=msgspec.msgpack.encode(tree))
    refused_everywhere(root, "000000000001", "no table inside another table")


def test_nesting_the_writer_accepts_is_nesting_the_reader_reads(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=registry)
    deep: Any = 0
    for _ in range(99):
        deep = (deep,)
    assert store.load(store.save({"x": deep}).id)["x"] == {"x": deep}["x"]
    with pytest.raises(amber.SerializationError, match="deep"):
        store.save({"x": ((deep,),)})


def test_gc_keeps_the_ancestors_of_a_checkpoint_it_cannot_read(tmp_path: Path) -> None:
    root = chain(tmp_path)
    os.remove(root / amber.open_store(root, registry=registry).manifest("2").data)  # 2 unreadable
    small = amber.open_store(root, registry=registry, max_load_bytes=10)
    report = commands.gc(small, keep_last=1, grace="0s")
    assert report["deleted_checkpoints"] == [] and "000000000001" in report["kept"]


def test_restore_falls_back_past_a_hostile_delta(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=bank_registry)
    bank = Bank()
    manager = amber.Manager(store, bank.participants, max_delta_ratio=100.0, exclusive=False)
    bank.open_accounts(5, 50)
    manager.checkpoint()
    bank.transfer(1, 2, 3)
    manager.checkpoint()
    expected = bank.balances()
    bank.transfer(2, 3, 3)
    assert manager.checkpoint().kind == "delta"
    forge(tmp_path, "000000000003", edit=lambda m: {**m, "tables": {**m["tables"], "²": 1}})
    again = Bank()
    report = amber.Manager(amber.open_store(tmp_path, registry=bank_registry), again.participants).restore()
    assert report.checkpoint == "000000000002" and again.balances() == expected
