"""Golden checkpoints: what every released format version wrote must keep loading."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

import amber
from amber import commands
from tests.helpers import tree_digest
from tests.sample import golden_state, registry

GOLDEN = sorted((Path(__file__).parent / "golden").glob("format-*"))


def test_there_is_a_golden_checkpoint_for_the_current_format() -> None:
    assert Path(__file__).parent / "golden" / f"format-{amber.FORMAT_VERSION}" in GOLDEN


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_golden_checkpoints_load_into_the_same_state(golden: Path) -> None:
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


@pytest.mark.parametrize("golden", GOLDEN, ids=lambda p: p.name)
def test_golden_checkpoints_verify_and_dump_without_app_code(golden: Path) -> None:
    store = amber.open_store(golden / "store", registry=amber.Registry(), create=False)
    assert store.verify().records == sum(store.info().counts.values())
    expected = msgspec.json.decode((golden / "dump.json").read_bytes())
    assert msgspec.json.decode(msgspec.json.encode(commands.dump(store))) == expected


def test_the_current_writer_reproduces_the_golden_bytes(tmp_path: Path) -> None:
    """Format stability: saving the golden state today gives the golden data file, byte for byte."""
    golden = Path(__file__).parent / "golden" / f"format-{amber.FORMAT_VERSION}" / "store"
    store = amber.open_store(tmp_path, registry=registry)
    info = store.save(golden_state())
    old = amber.open_store(golden, registry=registry, create=False).manifest()
    new = store.manifest(info.id)
    assert new.digest == old.digest
    assert (tmp_path / new.data).read_bytes() == (golden / old.data).read_bytes()
    assert new.types == old.types and new.segments == old.segments
