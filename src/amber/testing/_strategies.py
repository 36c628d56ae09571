"""Hypothesis strategies for persisted record types, built from their declared schemas."""

from __future__ import annotations

import collections
import datetime as dt
import pathlib
from typing import Any

from hypothesis import strategies as st

from .._schema._record_type import RecordRejected, RecordType
from .._schema._registry import Registry, default_registry
from .._schema._types import CONTAINER_KINDS, FieldType
from .._schema._wrapped import default_factory

# What the format can hold: integers within 64 bits (signed below zero, unsigned above), text
# without lone surrogates, datetimes as instants (a typed field loads as UTC), times with
# offsets of whole minutes. NaN is left out (it is stored, but never equal to itself).
_INTEGERS = st.integers(-(2**63), 2**64 - 1)
_UTC = st.just(dt.UTC)
_SCALARS: dict[str, st.SearchStrategy[Any]] = {
    "none": st.none(),
    "bool": st.booleans(),
    "int": _INTEGERS,
    "float": st.floats(allow_nan=False),
    "str": st.text(max_size=40),
    "bytes": st.binary(max_size=40),
    "datetime": st.datetimes(timezones=_UTC),
    "date": st.dates(),
    "time": st.times(),
    "timedelta": st.timedeltas(),
    "decimal": st.decimals(allow_nan=False, allow_infinity=False, places=6, max_value=10**12, min_value=-(10**12)),
    "uuid": st.uuids(),
    "bytearray": st.binary(max_size=40).map(bytearray),
    "path": st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=20).map(pathlib.Path),
    "pureposixpath": st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=20).map(
        pathlib.PurePosixPath
    ),
    "fraction": st.fractions(max_denominator=10**6),
}
_HASHABLE_ANY = st.one_of(st.none(), st.booleans(), _INTEGERS, st.text(max_size=10))
_ANY = st.recursive(
    st.one_of(_HASHABLE_ANY, st.floats(allow_nan=False), st.binary(max_size=10)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=10,
)


def records(cls: type, *, registry: Registry | None = None, max_depth: int = 3) -> st.SearchStrategy[Any]:
    """Instances of a declared record type with every field drawn from its declared type:
    the values Amber can store, so ``assert_roundtrip`` must hold for each of them.

    Record fields are drawn recursively, ``max_depth`` levels deep; beyond, optional and
    collection fields stay empty (a required self-reference cannot be drawn that deep)."""
    registry = registry or default_registry
    record_type = registry.type_of(cls)
    if record_type is None:
        raise TypeError(f"{cls.__qualname__} is not a persisted record type of this registry")
    return _Builder(registry, max_depth).record(record_type.name, record_type.version, 0)


class _Builder:
    def __init__(self, registry: Registry, max_depth: int) -> None:
        self.registry = registry
        self.max_depth = max_depth

    def record(self, name: str, version: int | None, depth: int) -> st.SearchStrategy[Any]:
        rt = self.registry.lookup(name, version) if version is not None else self.registry.current(name)
        if rt is None:
            raise TypeError(f"no declared record type {name!r}")
        fields = [self.value(f.type, rt.classes, depth + 1) for f in rt.schema.fields]
        return st.tuples(*fields).map(lambda values: _built(rt, values)).filter(lambda r: r is not _REFUSED)

    def value(self, t: FieldType, classes: dict[FieldType, type], depth: int) -> st.SearchStrategy[Any]:  # noqa: PLR0911 - one return per kind
        deep = depth > self.max_depth
        if t.kind in _SCALARS:
            return _SCALARS[t.kind]
        if t.kind == "any":
            return _ANY
        if t.kind == "enum":
            return st.sampled_from(list(classes[t]))  # type: ignore[call-overload]
        if t.kind == "literal":
            return st.sampled_from(t.values)
        if t.kind == "ndarray":
            return _arrays(t.dtype or "<f8")
        if t.kind == "record":  # deferred: a type pointing at itself is built as it is drawn
            version = _version_of(classes.get(t), self.registry)
            return st.deferred(lambda: self.record(t.record, version, depth))
        if t.kind == "union":
            members = [m for m in t.items if not (deep and m.kind != "none")] or list(t.items)
            return st.one_of(*(self.value(m, classes, depth) for m in members))
        return self.container(t, classes, depth, 0 if deep else 4)

    def container(self, t: FieldType, classes: dict[FieldType, type], depth: int, size: int) -> st.SearchStrategy[Any]:  # noqa: PLR0911 - one return per kind
        if t.kind in _WRAPPED_CONTAINERS:
            return self._wrapped(t, classes, depth, size)
        if size == 0 and t.kind != "tuple":
            return st.builds(CONTAINER_KINDS[t.kind])  # deep enough: empty (a new one each time: never shared)
        items = [self.value(i, classes, depth) for i in t.items]
        if t.kind == "list":
            return st.lists(items[0], max_size=size)
        if t.kind in ("set", "frozenset"):
            made = st.sets(items[0], max_size=size)
            return made if t.kind == "set" else made.map(frozenset)
        if t.kind == "dict":
            return st.dictionaries(items[0], items[1], max_size=size)
        if t.variadic:
            return st.lists(items[0], max_size=size).map(tuple)
        return st.tuples(*items)

    def _wrapped(self, t: FieldType, classes: dict[FieldType, type], depth: int, size: int) -> st.SearchStrategy[Any]:
        items = [self.value(i, classes, depth) for i in t.items]
        if t.kind == "deque":
            maxlen = st.none() | st.integers(size, size + 3)
            return st.tuples(st.lists(items[0], max_size=size), maxlen).map(lambda x: collections.deque(*x))
        if t.kind == "counter":
            return st.dictionaries(items[0], _INTEGERS, max_size=size).map(collections.Counter)
        pairs = st.dictionaries(items[0], items[1], max_size=size)
        if t.kind == "ordereddict":
            return pairs.map(collections.OrderedDict)
        factory = default_factory(t.items[1])
        return pairs.map(lambda d: collections.defaultdict(factory, d))


_WRAPPED_CONTAINERS = ("deque", "counter", "ordereddict", "defaultdict")
_REFUSED = object()  # a draw the class's own validation refused: left out


def _built(rt: RecordType, values: tuple[Any, ...]) -> Any:
    """A record of the drawn values, through its class's constructor and validation (pydantic
    constraints, attrs validators): what it refuses is not a state a service can hold."""
    try:
        return rt.build([[v] for v in values], 1)[0]
    except RecordRejected:
        return _REFUSED


def _arrays(dtype: str) -> st.SearchStrategy[Any]:
    """numpy arrays of a dtype (hypothesis's own strategy; numpy is there when a field holds arrays)."""
    from hypothesis.extra import numpy as hnp

    return hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4))


def _version_of(cls: type | None, registry: Registry) -> int | None:
    found = registry.type_of(cls) if cls is not None else None
    return found.version if found is not None else None
