"""What a class's own code keeps: a record rebuilt through its validators, converters or
``__post_init__`` must hold exactly the values it was built from.

Code that changes a value it made before (a validator that appends, a converter that
doubles, a ``__post_init__`` that sorts a list in place or drops a deque's ``maxlen``) would
change the state at every restart, unsaid; the load refuses it instead, naming the field
and the row. Values are compared in their stored form, taken *before* the code runs (it may
change them in place): records by identity, everything else by the bytes it would be saved
as (a deque's ``maxlen``, a Counter's zero counts and an OrderedDict's order included).
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from typing import Any

import msgspec

from .._format._arrays import content
from .._format._columns import encode_column
from .._schema._record_type import RecordRejected, RecordType
from .._schema._types import FieldType

_encode = msgspec.msgpack.Encoder(uuid_format="bytes").encode
_PLAIN = (str, int, float, bool, type(None), bytes)
_TEXT = (dt.datetime, dt.date, dt.time, dt.timedelta, decimal.Decimal, uuid.UUID)


def _ids(records: list[Any]) -> list[int]:
    """Rows of records for ``encode_column``: a record's identity stands for its row."""
    return list(map(id, records))


class _ArrayIds:
    """Array headers for ``encode_column``: an array's content stands for its number (code
    may copy an array unchanged, but not change it)."""

    def header(self, array: Any, declared: str) -> list[Any]:
        return content(array)


def forms(rt: RecordType, columns: list[list[Any]]) -> list[bytes]:
    """Each column in its stored form (records by identity), as bytes: taken before the
    class's code runs, they cannot be changed in place by it."""
    return [_encode(_column_form(fs.type, c, rt)) for fs, c in zip(rt.schema.fields, columns, strict=True)]


def _column_form(t: FieldType, values: list[Any], rt: RecordType) -> list[Any]:
    if t.is_tagged():
        return list(map(_shape, values))
    try:
        return encode_column(t, values, lambda _: _ids, rt.classes, _ArrayIds())  # type: ignore[arg-type]
    except Exception:  # the class's code made values its type does not allow: differ from any stored
        return [["?", id(v)] for v in values]


def _shape(value: Any) -> Any:
    """A self-described (``Any``) value as comparable data: records by identity."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind in (list, tuple):
        return [kind.__name__, [_shape(x) for x in value]]
    if kind in (set, frozenset):
        return [kind.__name__, sorted(_encode(_shape(x)) for x in value)]
    if kind is dict:
        return ["dict", [[_shape(k), _shape(x)] for k, x in value.items()]]
    if kind in _TEXT:
        return [kind.__name__, repr(value)]  # a datetime's repr names its tzinfo
    return ["@", id(value)]


def check_kept(rt: RecordType, before: list[bytes], built: list[Any], first_row: int = 0) -> None:
    """Refuse records whose fields no longer hold what they were built from: each column's
    bytes compared whole, a row looked for only when they differ."""
    try:
        after = forms(rt, [list(map(getter, built)) for getter in rt.getters])
    except Exception as e:  # an adapter's from_value on the value its to_value made
        raise RecordRejected(f"{rt.name} v{rt.version}", first_row, e) from e
    for fs, was, now in zip(rt.schema.fields, before, after, strict=True):
        if was == now:
            continue
        old, new = msgspec.msgpack.decode(was), msgspec.msgpack.decode(now)
        row = next((i for i, (a, b) in enumerate(zip(old, new, strict=True)) if _encode(a) != _encode(b)), 0)
        stored = old[row]
        made = getattr(built[row], fs.name, None)
        cause = ValueError(
            f"{fs.name}: stored {shown(stored)}, but the class's own code made it {shown(made)} "
            "(a validator, converter or __post_init__ that changes values it made before)"
        )
        raise RecordRejected(f"{rt.name} v{rt.version}", first_row + row, cause)


def shown(value: Any, width: int = 200) -> str:
    """A value for an error message: its repr may itself fail (a Fraction past 4300 digits)."""
    try:
        return f"{value!r:.{width}}"
    except Exception:
        return f"a {type(value).__qualname__}"


def built_checked(rt: RecordType, columns: list[list[Any]], count: int) -> list[Any]:
    """Records built with every field in, their class's code checked."""
    if not rt.reruns_code:
        return rt.build(columns, count)
    before = forms(rt, columns)
    built = rt.build(columns, count)
    check_kept(rt, before, built)
    return built


def finish(rt: RecordType, records: list[Any]) -> None:
    """Records built before their fields were all in (``complete=False``): construct each for
    real now, through its class's code, and check it against the record (which keeps its
    identity: the constructed copy is only compared)."""
    if not (rt.reruns_code or rt.validates):
        return
    for row, record in enumerate(records):
        values = [[getter(record)] for getter in rt.getters]
        before = forms(rt, values)
        try:
            real = rt.build(values, 1)
        except RecordRejected as e:
            raise RecordRejected(e.where, row, e.cause) from e.cause
        check_kept(rt, before, real, first_row=row)
