"""Values to msgpack-ready data and back: the tagged encoding and typed columns (pure, no I/O).

Typed columns hold one field of many records; their storage form follows the field's
schema, so msgspec encodes and decodes them in C. The tagged encoding is self-describing
and carries everything whose type the schema does not pin down: the root of the state and
fields typed ``Any``. Both are specified in docs/format.md.
"""

from __future__ import annotations

import datetime as dt
import decimal
import typing
import uuid
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter
from typing import Any, Literal, Protocol

import msgspec

from .._schema._keyed import Table as KeyedTable
from .._schema._types import CONTAINER_KINDS, SCALAR_TYPES, FieldType

NoneType = type(None)
PLAIN = frozenset({NoneType, bool, int, float, str, bytes})

# Tags of the tagged encoding: a node is a plain msgpack scalar or an array [tag, ...].
LIST, SCALARS, REFS, REFRANGE, TUPLE, SET, FROZENSET, DICT, REF = range(9)
DATETIME, DATE, TIME, TIMEDELTA, DECIMAL, UUID = range(9, 15)
TABLE, TABLEDELTA = 15, 16  # format 2: an amber.Table, whole or as changes to its parent's

_encode_for_sort = msgspec.msgpack.Encoder(uuid_format="bytes").encode


def _sort_key(value: Any) -> bytes:
    """The canonical order of unordered collections: by the bytes of each element's encoding."""
    try:
        return _encode_for_sort(value)
    except OverflowError:
        raise BadValue("an integer is outside [-2**63, 2**64 - 1]") from None
    except UnicodeEncodeError:
        raise BadValue("a string is not valid Unicode (it holds a lone surrogate)") from None


def sort_canonically(keys: list[Any]) -> list[Any]:
    """Keys in an order that does not depend on hashing: natural, else by encoded bytes."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=_sort_key)


class BadValue(Exception):
    """A value the writer cannot store; ``path`` is filled in innermost first as it unwinds."""

    def __init__(self, message: str, path: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path or []

    def where(self, root: str) -> str:
        return root + "".join(reversed(self.path))


class Corrupt(Exception):
    """Stored data does not have the structure the format prescribes (internal)."""

    def __init__(self, expected: str, found: str = "") -> None:
        super().__init__(expected)
        self.expected = expected
        self.found = found


class RefSink(Protocol):
    """Where the tagged encoder turns records into (type index, row) references."""

    def ref(self, obj: Any) -> tuple[int, int] | None: ...

    def ref_many(self, objs: list[Any]) -> tuple[int, range | list[int]] | None: ...

    def keyed(self, table: KeyedTable[Any, Any], encoder: TaggedEncoder) -> list[Any]:
        """The node of an ``amber.Table``: whole, or its changes in a delta."""
        ...


class NoRefs:
    """A sink for values that hold no records (table keys, values converted by rules)."""

    def ref(self, obj: Any) -> None:
        return None

    def ref_many(self, objs: list[Any]) -> None:
        return None

    def keyed(self, table: KeyedTable[Any, Any], encoder: TaggedEncoder) -> list[Any]:
        raise BadValue("an amber.Table cannot sit here (only in the state's containers)")


_NO_REFS: RefSink = NoRefs()
_MUTABLE = (list, dict, set)


def _shared(container: Any) -> str:
    kind = type(container).__name__
    return (
        f"one {kind} object is held in two places: containers are stored by value, so they would come back as "
        f"two {kind}s; hold it in one place, copy it, or keep it in a record (records keep their identity)"
    )


def shared_rows(column: list[Any]) -> tuple[int, int] | None:
    """Two rows of a column holding the same mutable container object, if any (checked in C)."""
    if set(map(type, column)) <= set(_MUTABLE):  # the usual case: one container per row
        ids = list(map(id, column))
        if len(set(ids)) == len(ids):
            return None
    ids = [id(v) for v in column if type(v) in _MUTABLE]
    if len(set(ids)) == len(ids):
        return None
    rows = [i for i, v in enumerate(column) if type(v) in _MUTABLE]
    first: dict[int, int] = {}
    for row in rows:
        other = first.setdefault(id(column[row]), row)
        if other != row:
            return other, row
    return None


# --- the tagged encoding, writer side ---------------------------------------------------


class TaggedEncoder:
    """Encodes arbitrary values into tagged nodes, handing records to a RefSink."""

    def __init__(self, refs: RefSink) -> None:
        self._refs = refs
        self._open: set[int] = set()  # containers being encoded, to refuse container cycles
        self._held: set[int] = set()  # mutable containers encoded: one met twice would come back as two
        self.tracking = True  # off once the state has been searched: storing encodes fields again
        self._handlers: dict[type, Callable[[Any], Any]] = {
            list: self._list,
            tuple: lambda v: [TUPLE, self._contained(v, self.sequence, list(v))],
            set: lambda v: [SET, self._contained(v, self._unordered, v)],
            frozenset: lambda v: [FROZENSET, self._contained(v, self._unordered, v)],
            dict: lambda v: self._contained(v, self._dict, v),
            dt.datetime: lambda v: [DATETIME, v.isoformat()],
            dt.date: lambda v: [DATE, v.isoformat()],
            dt.time: lambda v: [TIME, v.isoformat()],
            dt.timedelta: lambda v: [TIMEDELTA, v.days, v.seconds, v.microseconds],
            decimal.Decimal: lambda v: [DECIMAL, str(v)],
            uuid.UUID: lambda v: [UUID, v.bytes],
            KeyedTable: lambda v: self._contained(v, self._keyed, v),
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
            return TaggedEncoder(NoRefs()).sequence(keys)
        except BadValue as e:
            raise BadValue(f"table keys must be plain values, not records: {e.message}", e.path) from None

    def _keyed(self, table: KeyedTable[Any, Any]) -> list[Any]:
        return self._refs.keyed(table, self)

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

    def _list(self, value: list[Any]) -> Any:
        return self._contained(value, self.sequence, value)

    def _contained(self, container: Any, encode: Callable[[Any], Any], arg: Any) -> Any:
        key = id(container)
        if key in self._open:
            raise BadValue("a container contains itself; only records may form cycles")
        if self.tracking and type(container) in _MUTABLE:
            if key in self._held:
                raise BadValue(_shared(container))
            self._held.add(key)
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
        items = sorted(value, key=_content_key)
        node = self.sequence(items)
        if node[0] in (SCALARS, LIST):
            node[1] = sorted(node[1], key=_sort_key)
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


def _content_key(value: Any) -> bytes:
    """Order set members by their own content, never by where they live in memory.

    Records count by their type and fields two levels deep (records further in by their
    type name alone), so the key stays small however much the records share.
    """
    try:
        return _encode_for_sort(_shallow(value, 2))
    except (TypeError, ValueError, OverflowError):
        return type(value).__qualname__.encode()


def _shallow(value: Any, depth: int) -> Any:
    kind = type(value)
    names = _field_names(kind)
    if kind in PLAIN or not (names or kind in (list, tuple, set, frozenset, dict)):
        return value
    if depth <= 0:
        return kind.__qualname__
    if names:
        return [kind.__qualname__, *(_shallow(getattr(value, n), depth - 1) for n in names)]
    if kind is dict:
        return [[_shallow(k, depth - 1), _shallow(v, depth - 1)] for k, v in value.items()]
    items = [_shallow(x, depth - 1) for x in value]
    return sorted(items, key=_encode_for_sort) if kind in (set, frozenset) else items


def _field_names(kind: type) -> list[str]:
    """The fields of a msgspec struct or dataclass type; [] for anything else."""
    names = getattr(kind, "__struct_fields__", None)
    if names is None:
        names = list(getattr(kind, "__dataclass_fields__", {}))
    return list(names)


# --- the tagged encoding, reader side ---------------------------------------------------


KeyedHook = Callable[[int, dict[Any, Any], "list[Any] | None"], Any]
# Nesting the reader follows; each level costs ~5 Python frames, so this stays well within
# the interpreter's recursion limit (1000) whatever the caller's depth.
MAX_DEPTH = 100


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
        return KeyedTable._restored(token, entries)

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


def tagged_targets(nodes: list[Any], max_nodes: int = 10_000_000) -> set[int]:
    """Type indices referenced by tagged nodes, following the grammar (iterative, bounded).

    Only positions that hold nodes are visited: a list of row numbers or scalars is data,
    even when it happens to look like a node.
    """
    found: set[int] = set()
    stack = list(nodes)
    while stack:
        max_nodes -= 1
        if max_nodes < 0:
            raise Corrupt("tagged values of a sane size")
        node = stack.pop()
        if type(node) is not list or len(node) < 2:
            continue
        tag = node[0]
        if tag in (REFS, REFRANGE, REF) and type(node[1]) is int:
            found.add(node[1])
        elif tag == LIST and type(node[1]) is list:
            stack.extend(node[1])
        elif tag in (TUPLE, SET, FROZENSET, DICT):
            stack.extend(node[1:3])
        elif tag in (TABLE, TABLEDELTA):
            stack.extend(node[2:])
    return found


def rows_to_objects(table: Sequence[Any], rows: list[Any]) -> list[Any]:
    """Map row numbers to the records they name, refusing anything outside the table."""
    if rows and not (set(map(type, rows)) <= {int} and min(rows) >= 0 and max(rows) < len(table)):
        raise Corrupt(f"row numbers within 0-{len(table) - 1}")
    return list(map(table.__getitem__, rows))


def _arg(node: list[Any], kind: type) -> Any:
    if len(node) != 2 or type(node[1]) is not kind:
        raise ValueError(f"one {kind.__name__} argument")
    return node[1]


def _timedelta(node: list[Any]) -> dt.timedelta:
    if len(node) != 4 or not all(type(x) is int for x in node[1:]):
        raise ValueError("days, seconds and microseconds")
    return dt.timedelta(days=node[1], seconds=node[2], microseconds=node[3])


# Tags of scalar values, by tag. Module-level, not per decoder: a decoder holding its own
# bound methods would be a reference cycle, keeping every table it saw alive until the
# cyclic GC runs (hundreds of ms after loading a million records).
_SCALARS: dict[int, Callable[[list[Any]], Any]] = {
    DATETIME: lambda n: dt.datetime.fromisoformat(_arg(n, str)),
    DATE: lambda n: dt.date.fromisoformat(_arg(n, str)),
    TIME: lambda n: dt.time.fromisoformat(_arg(n, str)),
    TIMEDELTA: _timedelta,
    DECIMAL: lambda n: decimal.Decimal(_arg(n, str)),
    UUID: lambda n: uuid.UUID(bytes=_arg(n, bytes)),
}


# --- typed columns ----------------------------------------------------------------------

Classes = dict[FieldType, type]


def _allowed(t: FieldType, classes: Classes) -> tuple[type, ...]:
    if t.kind in SCALAR_TYPES:
        return (SCALAR_TYPES[t.kind],)
    if t.kind in CONTAINER_KINDS:
        return (CONTAINER_KINDS[t.kind],)
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
        offset = value.utcoffset()
        if offset is not None and offset % minute:
            raise BadValue(f"a time whose UTC offset {offset} is not whole minutes", [f"[{row}]"])


def _check_inside(t: FieldType, values: list[Any], classes: Classes, found: dict[FieldType, list[Any]]) -> None:
    kind = t.kind
    if kind == "record":
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


def locate_bad_row(t: FieldType, values: list[Any], classes: Classes) -> int | None:
    """The first row whose value fails :func:`check_column` (slow; for error messages)."""
    for row, value in enumerate(values):
        try:
            check_column(t, [value], classes, {})
        except BadValue:
            return row
    return None


def _needs_rewrite(t: FieldType) -> bool:
    # records become rows, sets sorted lists, ints in float places floats
    return any(x.kind in ("record", "set", "frozenset", "float") for x in t.walk())


RowsOf = Callable[[FieldType], dict[int, int]]


def store_column(t: FieldType, values: list[Any], rows_of: RowsOf, classes: Classes) -> list[Any]:
    """The storage form of a checked typed column: records become rows, sets sorted lists."""
    if t.kind == "record":
        return list(map(rows_of(t).__getitem__, map(id, values)))
    if t.kind == "float":
        return values if int not in set(map(type, values)) else list(map(_to_float, values))
    if not _needs_rewrite(t):
        return values
    return [_store_value(t, v, rows_of, classes) for v in values]


def _store_value(t: FieldType, value: Any, rows_of: RowsOf, classes: Classes) -> Any:
    if t.kind == "union":
        t = _members_by_type(t, classes)[type(value)]
    kind = t.kind
    if kind == "record":
        return rows_of(t)[id(value)]
    if kind == "float":
        return _to_float(value)
    if not _needs_rewrite(t):
        return value
    if kind == "tuple":
        items = t.items * len(value) if t.variadic else t.items
        return [_store_value(i, v, rows_of, classes) for i, v in zip(items, value, strict=True)]
    if kind == "dict":
        k, v = t.items
        return {
            _hashable(_store_value(k, x, rows_of, classes)): _store_value(v, y, rows_of, classes)
            for x, y in value.items()
        }
    stored = [_store_value(t.items[0], x, rows_of, classes) for x in value]
    return sorted(stored, key=_sort_key) if kind in ("set", "frozenset") else stored


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


def decode_type(t: FieldType, classes: Classes) -> Any:
    """The type msgspec decodes a stored column value into (records as row numbers)."""
    if t.is_tagged():
        return Any
    return _decode_type(t, classes)


def _decode_type(t: FieldType, classes: Classes, plain: bool = False) -> Any:
    """``plain``: no ``Literal`` members. msgspec 0.18-0.22 crashes (segfault) decoding a union
    of a constrained or literal scalar and an array type, so unions get plain scalars. Record
    rows are plain ints everywhere; their bounds are checked when they are resolved."""
    kind = t.kind
    if kind in SCALAR_TYPES or kind == "record":
        return SCALAR_TYPES.get(kind, int)
    if kind == "enum":
        enum_class = classes.get(t)
        if enum_class is not None:
            return enum_class
        return type(t.values[0]) if plain else Literal[t.values]
    items = tuple(_decode_type(i, classes, plain or kind == "union") for i in t.items)
    if kind == "union":
        return typing.Union[items]  # noqa: UP007 - built from a runtime tuple
    if kind == "tuple":
        return tuple[items[0], ...] if t.variadic else tuple[items]  # type: ignore[valid-type]
    return CONTAINER_KINDS[kind][items]  # type: ignore[index]


ObjectsOf = Callable[[FieldType], Sequence[Any]]


def resolve_column(t: FieldType, values: list[Any], objects_of: ObjectsOf) -> list[Any]:
    """Turn the row numbers in a decoded typed column back into the records they name."""
    if t.kind == "record":
        return rows_to_objects(objects_of(t), values)
    if not t.references():
        return values
    return [resolve_value(t, v, objects_of) for v in values]


def resolve_value(t: FieldType, value: Any, objects_of: ObjectsOf) -> Any:
    """One decoded typed value with its row numbers turned into the records they name."""
    kind = t.kind
    if kind == "union":
        match = [m for m in t.items if m.references() and _decoded_family(m) == _family_of_value(value)]
        if not match:
            return value
        t, kind = match[0], match[0].kind
    if kind == "record":
        return rows_to_objects(objects_of(t), [value])[0]
    if not t.references():
        return value
    if kind == "dict":
        k, v = t.items
        return {resolve_value(k, x, objects_of): resolve_value(v, y, objects_of) for x, y in value.items()}
    if kind == "tuple":
        items = t.items * len(value) if t.variadic else t.items
        return tuple(resolve_value(i, v, objects_of) for i, v in zip(items, value, strict=True))
    resolved = [resolve_value(t.items[0], x, objects_of) for x in value]
    return CONTAINER_KINDS[kind](resolved)


def _decoded_family(t: FieldType) -> str:
    return {"record": "int", "dict": "map"}.get(t.kind, "array")


def _family_of_value(value: Any) -> str:
    if type(value) is int:
        return "int"
    return "map" if type(value) is dict else "array" if type(value) in (list, tuple, set, frozenset) else "other"
