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


def _render_table(node: TableNode) -> Any:
    body = {"token": str(node.token), "entries": _render_dict(node.entries)}
    if node.deleted is not None:
        body["deleted"] = [to_json_value(k) for k in node.deleted]
    return {"$table" if node.deleted is None else "$table-changes": body}


def to_json_value(value: Any) -> Any:
    """Render a value as plain JSON data using the ``$``-tag conventions of docs/format.md."""
    kind = type(value)
    if value is None or kind in (bool, int, str):
        return value
    if kind is float:
        return value if math.isfinite(value) else {"$float": repr(value)}
    renderer = _RENDERERS.get(kind)
    if renderer is not None:
        return renderer(value)
    if isinstance(value, enum.Enum):
        return to_json_value(value.value)
    raise ValueRenderError(f"{kind.__qualname__} values have no JSON rendering")


def _render_dict(value: dict[Any, Any]) -> Any:
    if all(type(k) is str and not k.startswith("$") for k in value):
        return {k: to_json_value(v) for k, v in value.items()}
    return {"$dict": [[to_json_value(k), to_json_value(v)] for k, v in value.items()]}


def _zone_suffix(value: dt.datetime) -> str:
    """RFC 9557 (IXDTF): a ``zoneinfo`` zone's key after the offset, ``[Europe/Paris]``."""
    key = getattr(value.tzinfo, "key", None)
    return f"[{key}]" if type(value.tzinfo).__name__ == "ZoneInfo" and isinstance(key, str) else ""


def _render_unordered(tag: str, value: set[Any] | frozenset[Any]) -> Any:
    items = [to_json_value(v) for v in value]
    items.sort(key=msgspec.json.encode)
    return {tag: items}


_RENDERERS: dict[type, Any] = {
    list: lambda v: [to_json_value(x) for x in v],
    tuple: lambda v: {"$tuple": [to_json_value(x) for x in v]},
    set: lambda v: _render_unordered("$set", v),
    frozenset: lambda v: _render_unordered("$frozenset", v),
    dict: _render_dict,
    bytes: lambda v: {"$bytes": base64.b64encode(v).decode("ascii")},
    dt.datetime: lambda v: {"$datetime": v.isoformat() + _zone_suffix(v)},
    dt.date: lambda v: {"$date": v.isoformat()},
    dt.time: lambda v: {"$time": v.isoformat()},
    dt.timedelta: lambda v: {"$timedelta": [v.days, v.seconds, v.microseconds]},
    decimal.Decimal: lambda v: {"$decimal": str(v)},
    uuid.UUID: lambda v: {"$uuid": str(v)},
    Ref: lambda v: {"$ref": f"{v.name}/{v.row}"},
    Link: lambda v: {"$link": [str(v.table), to_json_value(v.key)]},
    ArrayRef: lambda v: {"$ndarray": {"dtype": v.dtype, "shape": v.shape, "array": v.number}},
    TableNode: _render_table,
    bytearray: lambda v: {"$bytearray": base64.b64encode(v).decode("ascii")},
    collections.deque: lambda v: {"$deque": {"maxlen": v.maxlen, "items": [to_json_value(x) for x in v]}},
    collections.OrderedDict: lambda v: {"$ordereddict": _render_dict(v)},
    collections.Counter: lambda v: {"$counter": _render_dict(v)},
    collections.defaultdict: lambda v: {"$defaultdict": _render_dict(v)},
    type(pathlib.Path()): lambda v: {"$path": str(v)},
    pathlib.PurePosixPath: lambda v: {"$pureposixpath": str(v)},
    fractions.Fraction: lambda v: {"$fraction": f"{v.numerator}/{v.denominator}"},
}
