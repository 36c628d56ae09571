"""The tagged encoding, writer side: any value into tagged nodes, records handed to a sink.

The tagged encoding is self-describing and carries everything whose type the schema does
not pin down: the root of the state and fields typed ``Any`` (docs/format.md). Containers
are values, so the encoder refuses a container that contains itself or is held twice;
records go to a :class:`RefSink`, which gives each its (type index, row).
"""

from __future__ import annotations

import datetime as dt
import decimal
import sys
import uuid
import zoneinfo
from collections.abc import Callable
from typing import Any, Protocol

from .._schema._keyed import Table
from .._schema._wrapped import WRAPPED_CLASSES
from ._canonical import content_key, sort_key
from ._errors import BadValue
from ._tagged import (
    DATE,
    DATETIME,
    DECIMAL,
    DICT,
    FROZENSET,
    LIST,
    MAX_DEPTH,
    PLAIN,
    REF,
    REFRANGE,
    REFS,
    SCALARS,
    SET,
    TIME,
    TIMEDELTA,
    TUPLE,
    UUID,
)
from ._zones import kept_as_offset, refuse_floating_time, say_changed_offsets, token_of

ROOT = "the state's root"


class RefSink(Protocol):
    """Where the tagged encoder turns records into (type index, row) references."""

    def ref(self, obj: Any) -> tuple[int, int] | None: ...

    def ref_many(self, objs: list[Any]) -> tuple[int, range | list[int]] | None: ...

    def keyed(self, table: Table[Any, Any], encoder: TaggedEncoder) -> list[Any]:
        """The node of an ``amber.Table``: whole, or its changes in a delta."""
        ...


class NoRefs:
    """A sink for values that hold no records (table keys, values converted by rules)."""

    def ref(self, obj: Any) -> None:
        return None

    def ref_many(self, objs: list[Any]) -> None:
        return None

    def keyed(self, table: Table[Any, Any], encoder: TaggedEncoder) -> list[Any]:
        raise BadValue("an amber.Table cannot sit here (only in the state's containers)")


_NO_REFS: RefSink = NoRefs()
_MUTABLE = (list, dict, set)


def _shared(container: Any) -> str:
    kind = type(container).__name__
    return (
        f"one {kind} object is held in two places: containers are stored by value, so they would come back as "
        f"two {kind}s; hold it in one place, copy it, or keep it in a record (records keep their identity)"
    )


class TaggedEncoder:
    """Encodes arbitrary values into tagged nodes, handing records to a RefSink."""

    def __init__(self, refs: RefSink) -> None:
        self._refs = refs
        self._open: set[int] = set()  # containers being encoded, to refuse container cycles
        self._held: dict[int, Any] = {}  # mutable containers encoded: one met twice would come back as two
        self.tracking = True  # off once the state has been searched: storing encodes fields again
        self.place = ROOT  # where the values encoded now sit, as a warning names it
        self._last_zone: dt.tzinfo | None = None  # the last zone found kept as written (a plain offset)
        self.zoned = False  # a zone key written (format 6): the segment being encoded says so
        self._handlers: dict[type, Callable[[Any], Any]] = {
            list: self._list,
            tuple: lambda v: [TUPLE, self._contained(v, self.sequence, list(v))],
            set: lambda v: [SET, self._contained(v, self._unordered, v)],
            frozenset: lambda v: [FROZENSET, self._contained(v, self._unordered, v)],
            dict: lambda v: self._contained(v, self._dict, v),
            dt.datetime: self._datetime,
            dt.date: lambda v: [DATE, v.isoformat()],
            dt.time: self._time,
            dt.timedelta: lambda v: [TIMEDELTA, v.days, v.seconds, v.microseconds],
            decimal.Decimal: lambda v: [DECIMAL, str(v)],
            uuid.UUID: lambda v: [UUID, v.bytes],
            Table: lambda v: self._contained(v, self._keyed, v),
        }

    def close(self) -> None:
        """Drop what the encoder holds: its sink (a writer holding every table it found) and
        its handlers refer back to it, a cycle only the cyclic GC would otherwise free."""
        self._handlers.clear()
        self._refs = _NO_REFS

    def keys(self, keys: list[Any]) -> list[Any]:
        """The node of a table's keys: storable values without records."""
        if set(map(type, keys)) <= PLAIN:
            return [SCALARS, keys]
        try:
            encoder = TaggedEncoder(NoRefs())
            node = encoder.sequence(keys)
            self.zoned |= encoder.zoned  # a key in a zone: the segment holding it says so
            return node
        except BadValue as e:
            raise BadValue(f"table keys must be plain values, not records: {e.message}", e.path) from None

    def _keyed(self, table: Table[Any, Any]) -> list[Any]:
        return self._refs.keyed(table, self)

    def _datetime(self, value: dt.datetime) -> list[Any]:
        zone = value.tzinfo
        key = token_of(zone) if type(zone) is zoneinfo.ZoneInfo else None
        if key is not None:  # format 6: the zone by its key (the wall time and offset in the ISO text)
            self.zoned = True
            return [DATETIME, value.isoformat(), key]
        if zone is not None and zone is not self._last_zone:  # most values share one zone object
            self._check_zone(zone)
        return [DATETIME, value.isoformat()]

    def _time(self, value: dt.time) -> list[Any]:
        refuse_floating_time(value)
        zone = value.tzinfo
        if zone is not None and zone is not self._last_zone:
            self._check_zone(zone)
        return [TIME, value.isoformat()]

    def _check_zone(self, zone: dt.tzinfo) -> None:
        """ISO 8601 keeps the offset, not what the zone was (``_zones``): said once per place."""
        if type(zone) is dt.timezone and kept_as_offset(zone):
            self._last_zone = zone  # kept: the values that share it need no second look
        else:
            say_changed_offsets(self.place, [zone])  # returns at once once this place is said

    def encode(self, value: Any) -> Any:
        kind = type(value)
        if kind in PLAIN:
            return value
        handler = self._handlers.get(kind)
        if handler is not None:
            return handler(value)
        ref = self._refs.ref(value)
        if ref is not None:
            return [REF, *ref]
        if (
            kind in WRAPPED_CLASSES or kind is bytearray or _is_ndarray(kind)
        ):  # typed only: Any holds self-described values
            typed = WRAPPED_CLASSES[kind].kind if kind in WRAPPED_CLASSES else kind.__name__
            raise BadValue(
                f"{kind.__module__}.{kind.__qualname__} is stored only in a typed field (a record's {typed} "
                "field), not in Any or the root"
            )
        raise BadValue(f"{kind.__module__}.{kind.__qualname__} is not a persisted type or a supported value")

    def sequence(self, items: list[Any]) -> list[Any]:
        """A node standing for a list, with bulk forms for all-scalar and all-record lists."""
        kinds = set(map(type, items))
        if kinds <= PLAIN:
            return [SCALARS, items]
        if len(kinds) == 1:
            bulk = self._refs.ref_many(items)
            if bulk is not None:
                table, rows = bulk
                if isinstance(rows, range):
                    return [REFRANGE, table, rows.start, len(rows)]
                return [REFS, table, rows]
        return [LIST, [self._item(i, x) for i, x in enumerate(items)]]

    def _item(self, key: Any, value: Any) -> Any:
        try:
            return self.encode(value)
        except BadValue as e:
            e.path.append(f"[{key!r}]")
            raise

    def held(self) -> list[Any]:
        """The mutable containers encoded so far (while tracking)."""
        return list(self._held.values())

    def _list(self, value: list[Any]) -> Any:
        return self._contained(value, self.sequence, value)

    def _contained(self, container: Any, encode: Callable[[Any], Any], arg: Any) -> Any:
        key = id(container)
        if key in self._open:
            raise BadValue("a container contains itself; only records may form cycles")
        if self.tracking and type(container) in _MUTABLE:
            if key in self._held:
                raise BadValue(_shared(container))
            self._held[key] = container
        if len(self._open) >= MAX_DEPTH:
            raise BadValue(f"containers nested more than {MAX_DEPTH} deep (readers follow at most {MAX_DEPTH})")
        self._open.add(key)
        try:
            return encode(arg)
        finally:
            self._open.discard(key)

    def _unordered(self, value: set[Any] | frozenset[Any]) -> Any:
        # Canonical order: by content first (so records get rows in a stable order), then
        # by the bytes of each encoded element.
        items = sorted(value, key=content_key)
        node = self.sequence(items)
        if node[0] in (SCALARS, LIST):
            node[1] = sorted(node[1], key=sort_key)
        return node

    def _dict(self, value: dict[Any, Any]) -> Any:
        keys = self.sequence(list(value))
        try:
            values = self.sequence(list(value.values()))
        except BadValue as e:
            if e.path and e.path[-1].startswith("["):
                position = int(e.path.pop()[1:-1])
                e.path.append(f"[{list(value)[position]!r}]")
            raise
        return [DICT, keys, values]


def _is_ndarray(kind: type) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and issubclass(kind, numpy.ndarray)
