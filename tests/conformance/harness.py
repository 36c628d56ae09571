"""Runs one conformance case for real: classes built from its data, a save with the writer's
registry, a load with the reader's, and ``amber schema check`` of the reader's code against
a lock of the writer's history."""

from __future__ import annotations

import collections
import enum
import fractions
import pathlib
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import msgspec
import numpy as np
import numpy.typing as npt

import amber
from amber._evolution import _lockfile
from tests.conformance.model import REQUIRED, Case, E, Enum, F

NAME = "t.Rec"


@dataclass
class Outcome:
    rows: list[dict[str, Any]] | None  # what the load gave, or None when it raised
    error: amber.AmberError | None
    check_errors: list[str]  # the check's error findings (each rendered)


def run(case: Case, tmp: Path) -> Outcome:
    writer_enums = _enums(case.writer_enums)
    reader_enums = _enums(case.reader_enums)
    write_version = 2 + len(case.between) if case.newer else 1
    read_version = 1 if case.newer else 2 + len(case.between)
    writer = amber.Registry()
    written = _declare(writer, NAME, write_version, case.writer, writer_enums)
    history = amber.Registry()  # what was released before the reader: the lock records it
    _declare(history, NAME, write_version, case.writer, writer_enums)
    reader = amber.Registry()
    for offset, fields in enumerate(case.between):
        _declare(reader, NAME, 2 + offset, fields, reader_enums)
        _declare(history, NAME, 2 + offset, fields, reader_enums)
    name = case.renamed_to or NAME
    read = _declare(reader, name, read_version, case.reader, reader_enums, aliases=[NAME] if case.renamed_to else [])
    store = amber.open_store(tmp / "store", registry=writer)
    store.save([written(**_values(row, writer_enums)) for row in case.rows])
    store.registry = reader
    try:
        loaded = store.load()
    except amber.AmberError as e:
        outcome = Outcome(None, e, [])
    else:
        names = [f.name for f in case.reader]
        assert all(type(r) is read for r in loaded)
        outcome = Outcome([{n: getattr(r, n) for n in names} for r in loaded], None, [])
    if not case.newer:  # the check looks at upgrades: a lock of the past, the code of the present
        lock = _lockfile.build_lock(history, None)
        outcome.check_errors = [str(f) for f in _lockfile.check(reader, lock) if f.severity == "error"]
    return outcome


def expected_rows(case: Case) -> list[dict[str, Any]]:
    assert isinstance(case.expect, tuple)
    return [_values(row, _enums(case.reader_enums)) for row in case.expect]


def typed(value: Any) -> Any:  # noqa: PLR0911 - one return per kind
    """A value with its types spelled out, for comparisons where 1 and 1.0 and True differ."""
    if isinstance(value, enum.Enum):
        return ("enum", type(value).__name__, value.name)
    if isinstance(value, np.ndarray):  # bit for bit: dtype, shape and bytes
        return ("ndarray", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, collections.deque):
        return ("deque", value.maxlen, [typed(v) for v in value])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(v) for v in value])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(map(repr, map(typed, value))))
    if type(value) is dict:
        return ("dict", sorted((repr(typed(k)), typed(v)) for k, v in value.items()))
    if isinstance(value, dict):  # Counter, OrderedDict, defaultdict: in order (an OrderedDict's is its value)
        return (type(value).__name__, [(typed(k), typed(v)) for k, v in value.items()])
    return (type(value).__name__, value)


KIND_SCOPE = {"collections": collections, "pathlib": pathlib, "fractions": fractions, "np": np, "npt": npt}
_cache: dict[str, dict[str, type]] = {}


def _enums(declared: tuple[Enum, ...]) -> dict[str, type]:
    key = repr(declared)
    if key not in _cache:  # one class per declaration: rows and expectations share it
        classes: dict[str, type] = {}
        for e in declared:
            cls: type = enum.Enum(e.cls, e.members)  # type: ignore[misc]
            amber.enum(e.name, aliases=e.aliases, default=e.default)(cls)
            classes[e.cls] = cls
        _cache[key] = classes
    return _cache[key]


def _values(row: dict[str, Any], enums: dict[str, type]) -> dict[str, Any]:
    return {k: _value(v, enums) for k, v in row.items()}


def _value(value: Any, enums: dict[str, type]) -> Any:
    if isinstance(value, E):
        return enums[value.cls][value.member]  # type: ignore[index]
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_value(v, enums) for v in value)
    if type(value) is dict:  # Counter, OrderedDict and defaultdict hold no enums here: kept as they are
        return {_value(k, enums): _value(v, enums) for k, v in value.items()}
    return value


def _copier(value: Any) -> Any:
    return lambda: type(value)(value)


def _declare(
    registry: amber.Registry,
    name: str,
    version: int,
    fields: tuple[F, ...],
    enums: dict[str, type],
    *,
    aliases: list[str] | None = None,
) -> type:
    scope = {"Any": Any, "Optional": Optional, "Literal": Literal, **KIND_SCOPE, **enums}
    spec: list[tuple[Any, ...]] = []
    for f in fields:
        annotation = eval(f.type, scope)
        if f.aliases or f.new:
            annotation = Annotated[annotation, amber.field(aliases=f.aliases, new=f.new)]
        if f.default is REQUIRED:
            spec.append((f.name, annotation))
        elif isinstance(f.default, list | dict | set):  # msgspec wants a factory for these
            spec.append((f.name, annotation, msgspec.field(default_factory=_copier(f.default))))
        else:
            spec.append((f.name, annotation, f.default))
    cls = msgspec.defstruct(f"Rec{version}", spec, bases=(amber.Record,), kw_only=True)
    registry.register(cls, name, version=version, aliases=aliases or [])
    return typing.cast(type, cls)
