"""The tagged encoding, reader side: tagged nodes back into values, records looked up by row.

Every node is checked against the grammar before it is trusted (docs/format.md): a
malformed one raises ``Corrupt``, which the store reports as a corrupt checkpoint. Table
nodes are handed to a hook, because what they become depends on the caller: a new
``amber.Table``, changes applied to the parent's, or a marker when reading without app code.
"""

from __future__ import annotations

import datetime as dt
import decimal
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from .._schema._keyed import Table
from ._errors import Corrupt
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
    TABLE,
    TABLEDELTA,
    TIME,
    TIMEDELTA,
    TUPLE,
    UUID,
    rows_to_objects,
)
from ._zones import zone_of

KeyedHook = Callable[[int, dict[Any, Any], "list[Any] | None"], Any]


def refuse_table(token: int, entries: dict[Any, Any], deleted: list[Any] | None) -> Any:
    """Table nodes where none may be: a record's fields, table keys, links."""
    raise Corrupt("tables only in the state's containers", f"table {token} inside a record or a key")


def whole_tables() -> KeyedHook:
    """Table nodes of a full checkpoint's root: whole tables, each token once."""
    seen: set[int] = set()

    def restore(token: int, entries: dict[Any, Any], deleted: list[Any] | None) -> Any:
        if deleted is not None:
            raise Corrupt("whole tables only, outside a delta checkpoint", f"changes to table {token}")
        if token in seen:
            raise Corrupt("each table once in the state", f"table {token} twice")
        seen.add(token)
        return Table._restored(token, entries)

    return restore


class TaggedDecoder:
    """Decodes tagged nodes; ``tables[i][row]`` gives the record a reference points at.

    ``keyed(token, entries, deleted)`` builds an ``amber.Table`` from its node (``deleted``
    is None for a whole table, the tombstones for changes).
    """

    def __init__(
        self, tables: Sequence[Sequence[Any]], max_depth: int = MAX_DEPTH, keyed: KeyedHook = refuse_table
    ) -> None:
        self._tables = tables
        self._max_depth = max_depth
        self._keyed = keyed
        self._in_table = False  # tables cannot nest

    def decode(self, node: Any, depth: int = 0) -> Any:
        kind = type(node)
        if kind in PLAIN:
            return node
        if kind is not list or not node or type(node[0]) is not int:
            raise Corrupt("a scalar or a tagged array", kind.__name__)
        if depth > self._max_depth:
            raise Corrupt(f"nesting at most {self._max_depth} deep")
        tag = node[0]
        scalar = _SCALARS.get(tag)
        if scalar is not None or tag == REF:
            try:
                return scalar(node) if scalar is not None else self._ref(node)
            except (ValueError, TypeError, OverflowError, decimal.InvalidOperation) as e:
                raise Corrupt(f"a valid value for tag {tag}", str(e)) from None
        return self._container(tag, node, depth + 1)

    def _container(self, tag: int, node: list[Any], depth: int) -> Any:
        if tag in (LIST, SCALARS, REFS, REFRANGE):
            return self.sequence(node, depth)
        if tag == DICT and len(node) == 3:
            return self._mapping(node[1], node[2], depth)
        if tag in (TABLE, TABLEDELTA) and len(node) == (4 if tag == TABLE else 5):
            return self._table_node(tag, node, depth)
        wrap = {TUPLE: tuple, SET: set, FROZENSET: frozenset}.get(tag)
        if wrap is None or len(node) != 2:
            raise Corrupt("a known tag with its arguments", f"tag {tag}, {len(node)} items")
        try:
            return wrap(self.sequence(node[1], depth))
        except TypeError as e:
            raise Corrupt("hashable set members", str(e)) from None

    def _table_node(self, tag: int, node: list[Any], depth: int) -> Any:
        token = node[1]
        if type(token) is not int or not 0 <= token < 2**63:
            raise Corrupt("a table token (a 63-bit number)", repr(token)[:40])
        if self._in_table:
            raise Corrupt("no table inside another table", f"table {token}")
        self._in_table = True
        try:
            entries = self._mapping(node[2], node[3], depth)
            deleted = self.sequence(node[4], depth) if tag == TABLEDELTA else None
        finally:
            self._in_table = False
        if deleted is not None:
            try:
                set(deleted)
            except TypeError as e:
                raise Corrupt("hashable deleted keys", str(e)) from None
        return self._keyed(token, entries, deleted)

    def _mapping(self, keys_node: Any, values_node: Any, depth: int) -> dict[Any, Any]:
        keys = self.sequence(keys_node, depth)
        values = self.sequence(values_node, depth)
        try:
            result = dict(zip(keys, values, strict=True))
        except (TypeError, ValueError) as e:
            raise Corrupt("hashable keys and as many values as keys", str(e)) from None
        if len(result) != len(keys):
            raise Corrupt("distinct keys", f"{len(keys) - len(result)} duplicates")
        return result

    def sequence(self, node: Any, depth: int) -> list[Any]:
        if type(node) is not list or len(node) < 2:
            raise Corrupt("a sequence node", type(node).__name__)
        tag = node[0]
        if tag == SCALARS and len(node) == 2 and type(node[1]) is list:
            if not set(map(type, node[1])) <= PLAIN:
                raise Corrupt("only scalars in a scalar list")
            return node[1]
        if tag == LIST and len(node) == 2 and type(node[1]) is list:
            return [self.decode(x, depth) for x in node[1]]
        if tag == REFS and len(node) == 3:
            return self._refs(node[1], node[2])
        if tag == REFRANGE and len(node) == 4:
            table = self._table(node[1])
            start, count = node[2], node[3]
            if not (type(start) is int and type(count) is int and 0 <= start <= start + count <= len(table)):
                raise Corrupt(f"a row range within 0-{len(table)}", f"{start}+{count}")
            return list(table[start : start + count])
        raise Corrupt("a sequence node (tags 0-3)", f"tag {tag!r}")

    def _table(self, index: Any) -> Sequence[Any]:
        if type(index) is not int or not 0 <= index < len(self._tables):
            raise Corrupt(f"a type index below {len(self._tables)}", repr(index))
        return self._tables[index]

    def _refs(self, index: Any, rows: Any) -> list[Any]:
        table = self._table(index)
        if type(rows) is not list:
            raise Corrupt("a list of rows", type(rows).__name__)
        return rows_to_objects(table, rows)

    def _ref(self, node: list[Any]) -> Any:
        if len(node) != 3:
            raise ValueError("a reference has a type index and a row")
        return self._refs(node[1], [node[2]])[0]


def _arg(node: list[Any], kind: type) -> Any:
    if len(node) != 2 or type(node[1]) is not kind:
        raise ValueError(f"one {kind.__name__} argument")
    return node[1]


def _datetime(node: list[Any]) -> dt.datetime:
    """``[9, iso]``, or (format 6) ``[9, iso, zone key]``: the same instant, in that zone."""
    if len(node) == 3 and type(node[1]) is str and type(node[2]) is str:
        value = dt.datetime.fromisoformat(node[1])
        if value.tzinfo is None:
            raise ValueError("a zone key beside a datetime with a UTC offset")
        zone = zone_of(node[2])
        for fold in (0, 1):  # the written wall time in its zone, where that zone gives the written offset
            kept = value.replace(tzinfo=zone, fold=fold)
            if kept.utcoffset() == value.utcoffset():
                return kept
        return value.astimezone(zone)  # no wall time of that zone has that offset: the instant, there
    return dt.datetime.fromisoformat(_arg(node, str))


def _timedelta(node: list[Any]) -> dt.timedelta:
    if len(node) != 4 or not all(type(x) is int for x in node[1:]):
        raise ValueError("days, seconds and microseconds")
    return dt.timedelta(days=node[1], seconds=node[2], microseconds=node[3])


# Tags of scalar values, by tag. Module-level, not per decoder: a decoder holding its own
# bound methods would be a reference cycle, keeping every table it saw alive until the
# cyclic GC runs (hundreds of ms after loading a million records).
_SCALARS: dict[int, Callable[[list[Any]], Any]] = {
    DATETIME: _datetime,
    DATE: lambda n: dt.date.fromisoformat(_arg(n, str)),
    TIME: lambda n: dt.time.fromisoformat(_arg(n, str)),
    TIMEDELTA: _timedelta,
    DECIMAL: lambda n: decimal.Decimal(_arg(n, str)),
    UUID: lambda n: uuid.UUID(bytes=_arg(n, bytes)),
}
