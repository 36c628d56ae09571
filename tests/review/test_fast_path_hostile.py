"""Hostile review of the compiled save path (src/amber/_kernels): inputs compared between the
compiled kernels and the pure-Python ones in one process (patched as in
tests/kernels/test_same_bytes.py), and save/load round trips that must refuse or give back
exactly what was written. Run under both paths (AMBER_PURE_PYTHON=1 too)."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
from pathlib import Path
from typing import Any

import pytest

import amber
from amber.errors import SerializationError
from tests.kernels.test_same_bytes import pure_kernels

registry = amber.Registry()


@registry.record("review.S", version=1)
class S(amber.Record):
    i: int
    f: float
    s: str
    b: bool
    o: int | None
    ls: list[str]
    si: set[int]
    fs: frozenset[str]
    lf: list[float]


@registry.record("review.D", version=1)
@dataclasses.dataclass(slots=True)
class D:
    a: int
    tags: list[str]


@registry.record("review.R", version=1)
class R(amber.Record):
    a: int
    tags: list[str]


class Color(enum.IntEnum):
    RED = 1


class Name(enum.StrEnum):
    A = "a"


class MyStr(str):
    pass


BASE: dict[str, Any] = {
    "i": 1,
    "f": 1.5,
    "s": "x",
    "b": True,
    "o": None,
    "ls": ["a"],
    "si": {1},
    "fs": frozenset({"a"}),
    "lf": [1.0],
}
CASES = [
    ("i", Color.RED), ("i", True), ("i", 2**70), ("f", 3), ("f", float("nan")), ("f", -0.0), ("f", 2**60 + 1),
    ("s", MyStr("q")), ("s", Name.A), ("s", "\ud800"), ("b", 1), ("o", True), ("o", 2**64),
    ("ls", ["a", MyStr("b")]), ("ls", ["a", 1]), ("si", {True}), ("fs", frozenset({Name.A})),
    ("lf", [1, 2.0]), ("lf", [2**60 + 1]), ("ls", ("a",)), ("si", frozenset({1})), ("fs", {"a"}),
]  # fmt: skip


def _outcome(root: Path, state: Any) -> tuple[str, Any]:
    store = amber.open_store(str(root), registry=registry)
    try:
        info = store.save(state)
    except Exception as e:
        return "error", (type(e).__name__, str(e))
    return "saved", (root / store.manifest(info.id).data).read_bytes()


@pytest.mark.parametrize(("field", "value"), CASES, ids=[f"{f}-{v!r}"[:40] for f, v in CASES])
def test_scalar_and_item_subclasses_same_on_both_paths(tmp_path: Path, field: str, value: Any) -> None:
    state = {"r": [S(**{**BASE, field: value})]}
    compiled = _outcome(tmp_path / "c", state)
    with pure_kernels():
        pure = _outcome(tmp_path / "p", state)
    assert compiled == pure


def test_missing_slot_same_error_on_both_paths(tmp_path: Path) -> None:
    bare = D(1, ["a"])
    del bare.a
    state = {"x": [D(2, []), bare]}
    compiled = _outcome(tmp_path / "c", state)
    with pure_kernels():
        pure = _outcome(tmp_path / "p", state)
    assert compiled == pure and compiled[0] == "error"


def _shared_survives_or_refused(tmp_path: Path, state: Any, first: Any, second: Any) -> None:
    store = amber.open_store(str(tmp_path), registry=registry)
    with pytest.raises(SerializationError, match="held by both"):  # was saved, and loaded as two lists
        store.save(state)
    assert store.list() == [], "nothing committed"


def test_list_shared_between_two_record_types(tmp_path: Path) -> None:
    shared = ["s"]
    state = {"x": [D(1, shared), R(2, shared)]}
    _shared_survives_or_refused(tmp_path, state, lambda s: s["x"][0].tags, lambda s: s["x"][1].tags)


def test_list_shared_across_chunks(tmp_path: Path) -> None:
    records = [R(i, ["q"]) for i in range(65_537)]
    records[-1] = R(-1, records[0].tags)
    state = {"x": records}
    _shared_survives_or_refused(tmp_path, state, lambda s: s["x"][0].tags, lambda s: s["x"][-1].tags)


def test_list_shared_by_the_root_and_a_typed_field_is_refused(tmp_path: Path) -> None:
    shared = ["s"]
    state = {"x": [R(1, shared)], "loose": shared}
    _shared_survives_or_refused(tmp_path, state, lambda s: s["x"][0].tags, lambda s: s["loose"])


def test_list_shared_within_a_chunk_is_refused(tmp_path: Path) -> None:
    shared = ["s"]
    for patch in (contextlib.nullcontext(), pure_kernels()):
        with patch, pytest.raises(SerializationError, match="held by both"):
            amber.open_store(str(tmp_path / "s"), registry=registry).save({"x": [R(1, shared), R(2, shared)]})
