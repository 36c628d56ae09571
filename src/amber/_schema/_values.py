"""The JSON text rendering of stored values.

Plain JSON values stand for themselves; everything JSON cannot say unambiguously is an
object with one ``$``-key, e.g. ``{"$set": [1, 2]}`` or ``{"$ref": "bank.Customer/12"}``.
Used for ``amber dump`` and for field defaults in schema descriptions.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import decimal
import enum
import fractions
import math
import pathlib
import uuid
from collections.abc import Callable
from typing import Any

import msgspec


class ValueRenderError(ValueError):
    """A value has no JSON rendering (internal; callers translate it)."""


class Ref(msgspec.Struct, frozen=True, array_like=True):
    """A reference to row ``row`` of the table of type ``name``, as read without app code."""

    name: str
    row: int


class Link(msgspec.Struct, frozen=True, array_like=True):
    """A delta's row standing for the value at ``key`` of table ``table`` in its parent."""

    table: int
    key: Any


class ArrayRef(msgspec.Struct, frozen=True, array_like=True):
    """A numpy array as read without app code: its dtype, its shape, its number (its bytes stay unread)."""

    dtype: str
    shape: list[int]
    number: int
    data: bytes = b""  # a small array's bytes, held in its header (number < 0)


class TableNode(msgspec.Struct, frozen=True):
    """An ``amber.Table`` as read without app code: whole (``deleted`` None) or its changes."""

    token: int
    entries: dict[Any, Any]
    deleted: list[Any] | None = None


def _render_table(node: TableNode, special: Special) -> Any:
    body = {"token": str(node.token), "entries": _render_dict(node.entries, special)}
    if node.deleted is not None:
        body["deleted"] = [to_json_value(k) for k in node.deleted]
    return {"$table" if node.deleted is None else "$table-changes": body}


Special = Callable[[Any], Any] | None  # renders a Ref, Link, ArrayRef or TableNode its own way


def to_json_value(value: Any, special: Special = None) -> Any:
    """Render a value as plain JSON data using the ``$``-tag conventions of docs/format.md.
    ``special``: how to render references, links, arrays and tables (a resolved state's
    dump renders them by the ids it gives); by default, as read from one checkpoint."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    if special is not None and kind in _SPECIAL:
        return special(value)
    renderer = _RENDERERS.get(kind)
    if renderer is not None:
        return renderer(value, special)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    raise ValueRenderError(f"{kind.__qualname__} values have no JSON rendering")


def _render_dict(value: dict[Any, Any], special: Special = None) -> Any:
    if all(type(k) is str and not k.startswith("$") for k in value):
        return {k: to_json_value(v, special) for k, v in value.items()}
    return {"$dict": [[to_json_value(k, special), to_json_value(v, special)] for k, v in value.items()]}


def _zone_suffix(value: dt.datetime) -> str:
    """RFC 9557 (IXDTF): a ``zoneinfo`` zone's key after the offset, ``[Europe/Paris]``."""
    key = getattr(value.tzinfo, "key", None)
    return f"[{key}]" if type(value.tzinfo).__name__ == "ZoneInfo" and isinstance(key, str) else ""


def _render_unordered(tag: str, value: set[Any] | frozenset[Any], special: Special) -> Any:
    items = [to_json_value(v, special) for v in value]
    items.sort(key=msgspec.json.encode)
    return {tag: items}


_RENDERERS: dict[type, Any] = {
    list: lambda v, s: [to_json_value(x, s) for x in v],
    tuple: lambda v, s: {"$tuple": [to_json_value(x, s) for x in v]},
    set: lambda v, s: _render_unordered("$set", v, s),
    frozenset: lambda v, s: _render_unordered("$frozenset", v, s),
    dict: _render_dict,
    bytes: lambda v, s: {"$bytes": base64.b64encode(v).decode("ascii")},
    dt.datetime: lambda v, s: {"$datetime": v.isoformat() + _zone_suffix(v)},
    dt.date: lambda v, s: {"$date": v.isoformat()},
    dt.time: lambda v, s: {"$time": v.isoformat()},
    dt.timedelta: lambda v, s: {"$timedelta": [v.days, v.seconds, v.microseconds]},
    decimal.Decimal: lambda v, s: {"$decimal": str(v)},
    uuid.UUID: lambda v, s: {"$uuid": str(v)},
    Ref: lambda v, s: {"$ref": f"{v.name}/{v.row}"},
    Link: lambda v, s: {"$link": [str(v.table), to_json_value(v.key)]},
    ArrayRef: lambda v, s: {"$ndarray": {"dtype": v.dtype, "shape": v.shape, "array": v.number}},
    TableNode: _render_table,
    bytearray: lambda v, s: {"$bytearray": base64.b64encode(v).decode("ascii")},
    collections.deque: lambda v, s: {"$deque": {"maxlen": v.maxlen, "items": [to_json_value(x, s) for x in v]}},
    collections.OrderedDict: lambda v, s: {"$ordereddict": _render_dict(v, s)},
    collections.Counter: lambda v, s: {"$counter": _render_dict(v, s)},
    collections.defaultdict: lambda v, s: {"$defaultdict": _render_dict(v, s)},
    type(pathlib.Path()): lambda v, s: {"$path": str(v)},
    pathlib.PurePosixPath: lambda v, s: {"$pureposixpath": str(v)},
    fractions.Fraction: lambda v, s: {"$fraction": f"{v.numerator}/{v.denominator}"},
}
_SPECIAL = (Ref, Link, ArrayRef, TableNode)
