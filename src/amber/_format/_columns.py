"""Typed columns: one field of many records, in the storage form its schema pins down.

Because a field's type is known, msgspec encodes and decodes a whole column in C. The
writer checks a column against the field's type (:func:`check_column`, which also collects
the records met) and gives its storage form (:func:`encode_column`: records as row numbers,
sets as sorted lists); the reader decodes the stored values as :func:`column_type` and turns
their row numbers back into records (:func:`decode_column`). Specified in docs/format.md.
"""

from __future__ import annotations

import collections
import datetime as dt
import functools
import typing
from collections.abc import Callable
from functools import partial
from itertools import chain, compress
from operator import is_, is_not, itemgetter
from typing import Any, Literal

from .._kernels import distinct
from .._schema._types import CONTAINER_KINDS, SCALAR_TYPES, FieldType, family
from .._schema._wrapped import WRAPPED, default_factory, wraps
from ._arrays import ArrayPlaces, numpy
from ._canonical import sort_key
from ._errors import BadValue, Corrupt
from ._tagged import rows_to_objects
from ._zones import (
    changed_in_typed_datetimes,
    changed_in_typed_times,
    kept_by_token,
    refuse_floating_time,
    token_of,
    zones_of,
)

Classes = dict[FieldType, type]
MUTABLE_CLASSES: tuple[type, ...] = (list, dict, set, bytearray, collections.deque, collections.OrderedDict)
MUTABLE_CLASSES += (collections.Counter, collections.defaultdict)


def shared_rows(column: list[Any]) -> tuple[int, int] | None:
    """Two rows of a column holding the same mutable container object, if any (checked in C)."""
    if set(map(type, column)) <= set(MUTABLE_CLASSES) and distinct(column):  # the usual case: one container per row
        return None
    ids = [id(v) for v in column if type(v) in MUTABLE_CLASSES]
    if len(set(ids)) == len(ids):
        return None
    rows = [i for i, v in enumerate(column) if type(v) in MUTABLE_CLASSES]
    first: dict[int, int] = {}
    for row in rows:
        other = first.setdefault(id(column[row]), row)
        if other != row:
            return other, row
    return None


def _allowed(t: FieldType, classes: Classes) -> tuple[type, ...]:
    if t.kind in SCALAR_TYPES:
        return (SCALAR_TYPES[t.kind],)
    if t.kind in CONTAINER_KINDS:
        return (CONTAINER_KINDS[t.kind],)
    if t.kind in WRAPPED:
        return WRAPPED[t.kind].classes
    if t.kind == "literal":
        return (type(t.values[0]),)
    if t.kind == "ndarray":
        return (numpy().ndarray,)
    return (classes[t],)  # record and enum: the declared class, exactly


def _members_by_type(t: FieldType, classes: Classes) -> dict[type, FieldType]:
    """Which member of a (union) type each runtime type belongs to. An int is accepted
    where a float is expected, unless another member takes ints exactly."""
    members = t.items if t.kind == "union" else (t,)
    by_type = {py: m for m in members for py in _allowed(m, classes)}
    floats = [m for m in members if m.kind == "float"]
    if floats and int not in by_type:
        by_type[int] = floats[0]
    return by_type


def check_column(t: FieldType, values: list[Any], classes: Classes, found: dict[FieldType, list[Any]]) -> None:
    """Refuse any value whose runtime type the field's type does not allow, in bulk.

    Records met on the way are added to ``found`` under their record type.
    """
    if not values or t.kind == "any":
        return
    by_type = _members_by_type(t, classes)
    present = set(map(type, values))
    if not present <= by_type.keys():
        row = next(i for i, v in enumerate(values) if type(v) not in by_type)
        raise BadValue(f"expected {t.render()}, got {type(values[row]).__qualname__}", [f"[{row}]"])
    for py in present:
        member = by_type[py]
        inner = values if len(present) == 1 else [v for v in values if type(v) is py]
        if member.kind == "time":
            _check_times(inner)
        _check_inside(member, inner, classes, found)


def _check_times(values: list[Any]) -> None:
    """Typed times keep their UTC offset only to the minute (ISO 8601 as msgspec writes it)."""
    minute = dt.timedelta(minutes=1)
    for row, value in enumerate(values):
        try:
            refuse_floating_time(value)
        except BadValue as e:
            raise BadValue(e.message, [f"[{row}]"]) from None
        offset = value.utcoffset()
        if offset is not None and offset % minute:
            raise BadValue(f"a time whose UTC offset {offset} is not whole minutes", [f"[{row}]"])


def changed_zones(
    t: FieldType, values: list[Any], leaf: Literal["datetime", "time"], top: bool = True
) -> list[dt.tzinfo]:
    """The time zones of a typed column's datetimes (or times), inside its containers too,
    that will not load as written (``_zones``): a column's own datetimes (``top``) keep the
    zones a token says (``zone_tokens``). Only C-level passes over the values."""
    if not values or not _holds(t, leaf):
        return []
    if t.kind == leaf:
        return changed_in_typed_datetimes(values, tokens=top) if leaf == "datetime" else changed_in_typed_times(values)
    inner_top = top and t.kind == "union"
    return [z for item, inner in _inside(t, values) for z in changed_zones(item, inner, leaf, inner_top)]


def keeps_zones(t: FieldType) -> bool:
    """Whether a typed column keeps its datetimes' zone tokens: a ``datetime`` field, or a
    typed union holding ``datetime`` (``datetime | None``)."""
    return t.kind == "datetime" or (
        t.kind == "union" and not t.is_tagged() and any(m.kind == "datetime" for m in t.items)
    )


def zone_tokens(t: FieldType, values: list[Any]) -> tuple[list[str | None] | None, list[dt.tzinfo]]:
    """Each row's zone token (docs/format.md §14), or None when no row needs one (the usual
    column: naive or UTC datetimes, found in C); and the zones of values their instant does
    not give back (a wall time in a daylight-saving gap): those keep their offset only."""
    if not keeps_zones(t):
        return None, []
    datetimes = values if t.kind == "datetime" else _of_class(values, dt.datetime)
    if not any(token_of(z) for z in zones_of(datetimes)):
        return None, []
    tokens: list[str | None] = []
    lost: list[dt.tzinfo] = []
    for v in values:
        token = token_of(v.tzinfo) if type(v) is dt.datetime else None
        if token is not None and not kept_by_token(v):
            token = token_of(dt.timezone(v.utcoffset()))
            lost.append(v.tzinfo)
        tokens.append(token)
    return tokens, lost


def _inside(t: FieldType, values: list[Any]) -> list[tuple[FieldType, list[Any]]]:  # noqa: PLR0911 - one return per kind
    """The values a typed container or union column holds, grouped by their declared type.
    A typed union has one member per msgpack family, so a value's class picks its member."""
    kind = t.kind
    if kind in WRAPPED:
        return [(WRAPPED[kind].stored(t), list(map(WRAPPED[kind].to_stored, values)))]
    if kind == "union":
        members = [m for m in t.items if m.kind in ("datetime", "time") or m.kind in CONTAINER_KINDS]
        if len(t.items) == 2 and any(m.kind == "none" for m in t.items):  # X | None: None is all else
            return [(m, list(filter(partial(is_not, None), values))) for m in members]
        return [(m, _of_class(values, SCALAR_TYPES.get(m.kind) or CONTAINER_KINDS[m.kind])) for m in members]
    if kind in ("list", "set", "frozenset") or (kind == "tuple" and t.variadic):
        return [(t.items[0], list(chain.from_iterable(values)))]
    if kind == "tuple":
        return [(item, list(map(itemgetter(i), values))) for i, item in enumerate(t.items)]
    if kind == "dict":
        keys = list(chain.from_iterable(values))
        return [(t.items[0], keys), (t.items[1], list(chain.from_iterable(map(dict.values, values))))]
    return []


def _of_class(values: list[Any], cls: type) -> list[Any]:
    return list(compress(values, map(partial(is_, cls), map(type, values))))


@functools.cache
def _holds(t: FieldType, leaf: str) -> bool:
    return t.kind == leaf or (t.kind != "record" and any(_holds(item, leaf) for item in t.items))


def _check_inside(t: FieldType, values: list[Any], classes: Classes, found: dict[FieldType, list[Any]]) -> None:
    kind = t.kind
    wrapped = WRAPPED.get(kind)
    if wrapped is not None:
        if kind == "defaultdict":
            _check_factories(t, values)
        check_column(wrapped.stored(t), _stored_forms(wrapped.to_stored, values), classes, found)
    elif kind == "literal":
        allowed = set(t.values)
        if not set(values) <= allowed:
            row = next(i for i, v in enumerate(values) if v not in allowed)
            raise BadValue(f"expected one of {t.render()}, got {values[row]!r}", [f"[{row}]"])
    elif kind == "record":
        found.setdefault(t, []).extend(values)
    elif kind in ("list", "set", "frozenset") or (kind == "tuple" and t.variadic):
        check_column(t.items[0], list(chain.from_iterable(values)), classes, found)
    elif kind == "tuple":
        if set(map(len, values)) != {len(t.items)}:
            raise BadValue(f"expected tuples of {len(t.items)} items")
        for i, item in enumerate(t.items):
            check_column(item, list(map(itemgetter(i), values)), classes, found)
    elif kind == "dict":
        check_column(t.items[0], list(chain.from_iterable(values)), classes, found)
        check_column(t.items[1], list(chain.from_iterable(map(dict.values, values))), classes, found)


def _stored_forms(to_stored: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    try:
        return list(map(to_stored, values))
    except ValueError as e:  # a Fraction beyond Python's int-to-text limit (4300 digits)
        raise BadValue(f"a value that has no text form: {e}") from None


def _check_factories(t: FieldType, values: list[Any]) -> None:
    """A defaultdict's factory is not stored: the one its type implies must be the one it has."""
    expected = default_factory(t.items[1])
    for row, value in enumerate(values):
        if value.default_factory is not expected:
            raise BadValue(
                f"a defaultdict whose default_factory is {value.default_factory!r}, not {expected.__name__} as "
                f"{t.render()} says (the factory is not stored: it follows from the type)",
                [f"[{row}]"],
            )


def locate_bad_row(t: FieldType, values: list[Any], classes: Classes) -> int | None:
    """The first row whose value fails :func:`check_column` (slow; for error messages)."""
    for row, value in enumerate(values):
        try:
            check_column(t, [value], classes, {})
        except BadValue:
            return row
    return None


def _needs_rewrite(t: FieldType) -> bool:
    # records become rows, sets sorted lists, ints in float places floats, wrapped kinds their stored form
    return any(x.kind in _REWRITTEN for x in t.walk())


_REWRITTEN = frozenset(["record", "set", "frozenset", "float", "ndarray", *WRAPPED])


RowsOf = Callable[[FieldType], Callable[[list[Any]], list[int]]]  # a record type -> its records' rows


def encode_column(
    t: FieldType, values: list[Any], rows_of: RowsOf, classes: Classes, arrays: ArrayPlaces | None = None
) -> list[Any]:
    """The storage form of a checked typed column: records become rows, sets sorted lists,
    arrays their headers (their bytes are placed in ``arrays``)."""
    if t.kind == "record":
        return rows_of(t)(values)
    if t.kind == "float":
        return values if int not in set(map(type, values)) else list(map(_to_float, values))
    if not _needs_rewrite(t):
        return values
    return [_encode_value(t, v, rows_of, classes, arrays) for v in values]


def _encode_value(  # noqa: PLR0911 - one return per kind
    t: FieldType, value: Any, rows_of: RowsOf, classes: Classes, arrays: ArrayPlaces | None = None
) -> Any:
    if t.kind == "union":
        t = _members_by_type(t, classes)[type(value)]
    kind = t.kind
    if kind == "record":
        return rows_of(t)([value])[0]
    if kind == "ndarray":
        if arrays is None:
            raise BadValue("an array where arrays cannot be stored")
        return arrays.header(value, t.dtype)
    if kind == "float":
        return _to_float(value)
    if not _needs_rewrite(t):
        return value
    wrapped = WRAPPED.get(kind)
    if wrapped is not None:
        return _encode_value(wrapped.stored(t), wrapped.to_stored(value), rows_of, classes, arrays)
    if kind == "tuple":
        items = t.items * len(value) if t.variadic else t.items
        return [_encode_value(i, v, rows_of, classes, arrays) for i, v in zip(items, value, strict=True)]
    if kind == "dict":
        k, v = t.items
        return {
            _hashable(_encode_value(k, x, rows_of, classes, arrays)): _encode_value(v, y, rows_of, classes, arrays)
            for x, y in value.items()
        }
    stored = [_encode_value(t.items[0], x, rows_of, classes, arrays) for x in value]
    return sorted(stored, key=sort_key) if kind in ("set", "frozenset") else stored


def _hashable(stored: Any) -> Any:
    """Stored containers are lists; as dict keys they must be tuples (msgpack arrays alike)."""
    return tuple(_hashable(x) for x in stored) if type(stored) is list else stored


def _to_float(value: Any) -> float:
    """An int in a float field becomes float64, only when that loses nothing."""
    if type(value) is float:
        return value
    try:
        converted = float(value)
    except OverflowError:
        raise BadValue(f"the int {value} is too large for a float field") from None
    if int(converted) != value:
        raise BadValue(f"the int {value} has no exact float value (declare the field int)")
    return converted


def column_type(t: FieldType, classes: Classes) -> Any:
    """The type msgspec decodes a stored column value into (records as row numbers)."""
    if t.is_tagged():
        return Any
    return _column_type(t, classes)


def _column_type(t: FieldType, classes: Classes, plain: bool = False) -> Any:  # noqa: PLR0911 - one return per kind
    """``plain``: no ``Literal`` members. msgspec 0.18-0.22 crashes (segfault) decoding a union
    of a constrained or literal scalar and an array type, so unions get plain scalars. Record
    rows are plain ints everywhere; their bounds are checked when they are resolved."""
    kind = t.kind
    if kind in SCALAR_TYPES or kind == "record":
        return SCALAR_TYPES.get(kind, int)
    if kind in WRAPPED:
        return _column_type(WRAPPED[kind].stored(t), classes, plain)
    if kind == "ndarray":  # [dtype, shape, number] or, for a small array, [dtype, shape, number, bytes]
        return list[Any]
    if kind == "literal":
        return type(t.values[0]) if plain else Literal[t.values]
    if kind == "enum":
        enum_class = classes.get(t)
        if enum_class is not None:
            return enum_class
        return type(t.values[0]) if plain else Literal[t.values]
    items = tuple(_column_type(i, classes, plain or kind == "union") for i in t.items)
    if kind == "union":
        return typing.Union[items]  # noqa: UP007 - built from a runtime tuple
    if kind == "tuple":
        return tuple[items[0], ...] if t.variadic else tuple[items]  # type: ignore[valid-type]
    return CONTAINER_KINDS[kind][items]  # type: ignore[index]


ObjectsOf = Callable[[FieldType], Any]  # a record type's objects; for "ndarray", the checkpoint's arrays


def decode_column(t: FieldType, values: list[Any], objects_of: ObjectsOf) -> list[Any]:
    """Turn the row numbers in a decoded typed column back into the records they name."""
    if t.kind == "record":
        return rows_to_objects(objects_of(t), values)
    if not needs_decoding(t):
        return values
    return [decode_value(t, v, objects_of) for v in values]


def needs_decoding(t: FieldType) -> bool:
    """Whether a typed column's decoded values are not yet what the field holds (or checked:
    a Literal in a union is decoded as its plain kind, see ``_column_type``)."""
    return bool(t.references()) or wraps(t) or any(n.kind in ("ndarray", "literal") for n in t.walk())


def decode_value(t: FieldType, value: Any, objects_of: ObjectsOf) -> Any:  # noqa: PLR0911 - one return per kind
    """One decoded typed value with its row numbers turned into the records they name."""
    kind = t.kind
    if kind == "union":
        match = [m for m in t.items if _decoded_family(m) == _family_of_value(value)]
        if not match:
            return value
        t, kind = match[0], match[0].kind
    if kind == "record":
        return rows_to_objects(objects_of(t), [value])[0]
    if kind == "ndarray":
        return objects_of(t).array(value, t.dtype)
    if kind == "literal":
        if value not in t.values or type(value) is bool:
            raise Corrupt(f"one of {t.render()}", f"{value!r:.80}", part="values")
        return value
    if not needs_decoding(t):
        return value
    wrapped = WRAPPED.get(kind)
    if wrapped is not None:
        try:
            return wrapped.from_stored(t, decode_value(wrapped.stored(t), value, objects_of))
        except (TypeError, ValueError, ArithmeticError) as e:  # a stored form the class does not take (forged)
            raise Corrupt(f"a {t.render()} its class takes", f"{value!r:.80}: {e}", part="values") from None
    if kind == "dict":
        k, v = t.items
        return {decode_value(k, x, objects_of): decode_value(v, y, objects_of) for x, y in value.items()}
    if kind == "tuple":
        items = t.items * len(value) if t.variadic else t.items
        return tuple(decode_value(i, v, objects_of) for i, v in zip(items, value, strict=True))
    resolved = [decode_value(t.items[0], x, objects_of) for x in value]
    return CONTAINER_KINDS[kind](resolved)


def _decoded_family(t: FieldType) -> str | None:
    """The msgpack family of a typed union's member (distinct among its members)."""
    return family(t)


_FAMILIES_OF_VALUES = {int: "int", bool: "bool", float: "float", str: "str", bytes: "str", bytearray: "str"}
_FAMILIES_OF_VALUES |= {type(None): "nil", dict: "map", list: "array", tuple: "array", set: "array"}
_FAMILIES_OF_VALUES[frozenset] = "array"


def _family_of_value(value: Any) -> str:
    return _FAMILIES_OF_VALUES.get(type(value), "other")
