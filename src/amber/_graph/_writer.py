"""The object graph, writer side: a state becomes per-type tables of records plus a root node.

Records are the identity-bearing nodes of a state: each distinct record object gets one row
in its type's table, and every place that points at it stores (type, row). So shared
references stay shared and cycles through records survive. Builtin containers are values:
they are copied, and a container that contains itself is refused.

Discovery works in bulk wherever it can (``map``, ``set`` and ``dict`` over whole columns run
in C), because a Python-level step per record would dominate the cost of a checkpoint. What a
delta links to or adopts from its parent is worked out by its :class:`Delta` (_delta).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

from .._evolution._pin import write_pin
from .._format._arrays import ArrayPlaces
from .._format._columns import (
    MUTABLE_CLASSES,
    Classes,
    changed_zones,
    check_column,
    encode_column,
    locate_bad_row,
    shared_rows,
    zone_tokens,
)
from .._format._errors import BadValue
from .._format._format import MAX_ROWS as CHUNK_ROWS  # rows per table segment: bounds memory, lets I/O overlap
from .._format._tagged import TABLE, TABLEDELTA, renumbered
from .._format._tagged_encoder import ROOT, TaggedEncoder
from .._format._zones import say_changed_offsets, say_typed_datetimes
from .._kernels import distinct, exact_items, gather
from .._schema._fields import FieldSchema
from .._schema._keyed import Table
from .._schema._record_type import RecordRejected, RecordType, one_line
from .._schema._registry import Registry
from .._schema._types import FieldType
from ..errors import SerializationError
from ._delta import Delta, Selection, no_shared_containers, shared_message
from ._kept import built_checked, shown
from ._record_table import RecordTable

_MUTABLE_KINDS = ("list", "set", "dict", "bytearray", "deque", "ordereddict", "counter", "defaultdict")


class StateWriter:
    """Finds every record reachable from a state and yields the state as segments' contents.

    In a delta, a record reached through a reference that is the value of an unchanged
    table entry is not written again: its row is a *link* to that entry of the parent.
    Links take the first rows of their type's table: once discovery is done, ``capture``
    moves them there and renumbers the root's references to match.
    """

    def __init__(self, registry: Registry, pins: dict[str, int] | None = None, delta: Delta | None = None) -> None:
        self._registry = registry
        self._pins = pins or {}
        self._delta = delta
        self._reset()

    def _reset(self) -> None:
        self._tables: dict[type, RecordTable] = {}
        self._by_name: dict[str, RecordTable] = {}
        self._tagged = TaggedEncoder(self)
        self._in_fields = False  # encoding a record's fields (not the root's containers)
        self._owning = False  # encoding a table's changed values: written, never linked
        self.keyed_tables: dict[int, int] = {}  # token -> entries of every amber.Table written
        self.arrays = ArrayPlaces()  # numpy arrays met in typed columns: their bytes follow each table chunk
        self.chunk_zones: dict[int, list[str | None]] = {}  # the last chunk's zone tokens, per field
        # typed columns of containers written, by (where, first row): one container in two is
        # refused at the end. A chunk split in halves (too big a segment) writes its first half
        # under the same key, so no row counts twice.
        self._containers: dict[tuple[str, int], list[Any]] = {}

    def take_zoned(self) -> bool:
        """Whether a zone key was written in a tagged value since the last call (the segment
        encoded meanwhile says so: its manifest must be format 6)."""
        zoned, self._tagged.zoned = self._tagged.zoned, False
        return zoned

    @property
    def tables(self) -> list[RecordTable]:
        return list(self._tables.values())

    def close(self) -> None:
        """Let go of everything found, now rather than at the next cyclic GC (the encoder
        and this writer refer to each other; a full checkpoint's tables hold every record)."""
        self._tagged.close()
        self._tables = {}
        self._by_name = {}
        self.arrays = ArrayPlaces()
        self._containers = {}

    def discover(self, state: Any) -> Any:
        """Discover all records and return the root node (tagged encoding)."""
        root = self._discover(state)
        moves = {t.index: t.links_first() for t in self._tables.values() if t.links}
        return renumbered(root, moves) if moves else root

    def _discover(self, state: Any) -> Any:
        try:
            root = self._tagged.encode(state)
        except BadValue as e:
            raise SerializationError(f"cannot save {e.where('state')}: {e.message}") from None
        self._scan_until_closed()
        if self._delta is not None:
            try:
                self._delta.refuse_shared_containers(self._tagged.held())
            except BadValue as e:
                raise SerializationError(f"cannot save the state: {e.message}") from None
        return root

    # RefSink protocol, used by the tagged encoder
    def ref(self, obj: Any) -> tuple[int, int] | None:
        found = self.ref_many([obj])
        return None if found is None else (found[0], found[1][0])

    def ref_many(self, objs: list[Any]) -> tuple[int, range | list[int]] | None:
        table = self._table_for(type(objs[0]))
        if table is None:
            return None
        return table.index, self._add(table, objs)

    def keyed(self, table: Table[Any, Any], encoder: TaggedEncoder) -> list[Any]:
        if self._in_fields:
            raise BadValue("an amber.Table must sit in the state's containers, not inside a record")
        if self._owning:
            raise BadValue("an amber.Table cannot be a value of another amber.Table")
        if table.token in self.keyed_tables:
            raise BadValue(f"amber.Table {table.token} appears twice in the state (use table.copy())")
        self.keyed_tables[table.token] = len(table)
        delta = self._delta
        changes = delta.changes.get(table.token) if delta is not None else None
        if changes is None:
            data = table._data
            keys, values = list(data), list(data.values())
            node = [TABLE, table.token, encoder.keys(keys), self._owned(values)]
            if delta is not None:  # a table new since the parent may hold its records
                delta.adopt(table, Selection(keys, [], values, []), self._tables)
            else:  # the next delta finds its records by identity: index them while it is cheap
                table._index_if_cheap(keys, values)
            return node
        assert delta is not None  # changes come only from a delta
        chosen = delta.select(table, changes)
        no_shared_containers(table, chosen.written, chosen.values)
        values = self._owned(chosen.values)
        delta.adopt(table, chosen, self._tables)
        return [TABLEDELTA, table.token, encoder.keys(chosen.written), values, encoder.keys(chosen.deleted)]

    def _owned(self, values: list[Any]) -> Any:
        self._owning, was = True, self._owning
        try:
            return self._tagged.sequence(values)
        finally:
            self._owning = was

    def _add(self, table: RecordTable, objs: list[Any]) -> range | list[int]:
        known = len(table.objects)
        rows = table.add_many(objs)
        if self._delta is not None and not self._owning and not table.linked and len(table.objects) > known:
            self._delta.find_links(table, known)
        return rows

    def _table_for(self, cls: type) -> RecordTable | None:
        table = self._tables.get(cls)
        if table is None:
            rt = self._registry.type_of(cls)
            if rt is None:
                elsewhere = self._registry.elsewhere(cls)
                if elsewhere:
                    raise SerializationError(f"{elsewhere}: open the store with that registry (registry=...)")
                return None
            other = self._by_name.get(rt.name)
            if other is not None:
                raise SerializationError(
                    f"the state holds {rt.name} in versions {other.rt.version} and {rt.version}; "
                    "a checkpoint holds one version of each type"
                )
            pinned = self._pins.get(rt.name, rt.version)
            pin = write_pin(rt, pinned, self._registry) if pinned != rt.version else None
            table = self._tables[cls] = RecordTable(len(self._tables), rt, pin)
            self._by_name[rt.name] = table
        return table

    def _scan_until_closed(self) -> None:
        """Search new rows' fields for records until no table has unsearched rows."""
        progress = True
        while progress:
            progress = False
            for table in list(self._tables.values()):
                if table.scanned < len(table.objects):
                    self._scan(table)
                    progress = True

    def _scan(self, table: RecordTable) -> None:
        start, end = table.scanned, len(table.objects)
        table.scanned = end
        objs = table.objects[start:end]
        if table.links:  # links are not written, so what they point at is not searched
            objs = [o for row, o in enumerate(objs, start) if row not in table.links]
        for fs, getter in zip(table.rt.schema.fields, table.rt.getters, strict=True):
            if fs.type.is_tagged():
                for value in map(getter, objs):
                    self._tagged_field(table, fs.name, value)
            elif fs.type.references():
                column, exact = _referencing(table.rt, fs, getter, objs)
                if exact:  # records of the declared class only: found as they are
                    self._found_records({fs.type: column})
                else:
                    self._found_records(self._checked(table, fs, column, start, classes=table.rt.classes))

    def _tagged_field(self, table: RecordTable, name: str, value: Any) -> Any:
        self._in_fields = True
        self._tagged.place = f"{table.rt.name}.{name}"
        try:
            return self._tagged.encode(value)
        except BadValue as e:
            raise SerializationError(f"cannot save {table.rt.name}.{name}{e.where('')}: {e.message}") from None
        finally:
            self._in_fields = False
            self._tagged.place = ROOT

    def _checked(
        self,
        table: RecordTable,
        fs: FieldSchema,
        column: list[Any],
        first_row: int,
        *,
        classes: Classes,
        exact: bool = False,
    ) -> dict[FieldType, list[Any]]:
        """Check a column against its field's type (``exact``: its values' exact types are
        known to be allowed, and hold no time zone; only the shared-container rule is left)."""
        name, t = fs.name, fs.type
        found: dict[FieldType, list[Any]] = {}
        try:
            if not exact:
                check_column(t, column, classes, found)
        except BadValue as e:
            row = locate_bad_row(t, column, classes)
            where = f" (row {first_row + row}: {shown(column[row], 80)})" if row is not None else ""
            raise SerializationError(f"cannot save {table.rt.name}.{name}{where}: {e.message}") from None
        if not t.is_tagged() and not exact:  # tagged values are said by the encoder, which keeps their offsets
            where = f"{table.rt.name}.{name}"
            say_typed_datetimes(where, changed_zones(t, column, "datetime"))
            say_changed_offsets(where, changed_zones(t, column, "time"))
        if t.kind in _MUTABLE_KINDS and not (exact and distinct(column)) and (twice := shared_rows(column)) is not None:
            rows = f"rows {first_row + twice[0]} and {first_row + twice[1]}"
            message = shared_message(type(column[twice[0]]).__name__)
            raise SerializationError(f"cannot save {table.rt.name}.{name} ({rows}): {message}")
        if t.kind in _MUTABLE_KINDS and not t.is_tagged() and not self._tagged.tracking:  # typed, written: see below
            self._containers[f"{table.rt.name}.{name}", first_row] = column
        return found

    def refuse_shared_containers(self) -> None:
        """Once every chunk is written: a container object held by two typed fields (of two
        types, or in two chunks of one), or by one and the state's containers, would load as
        two objects. One compiled pass over them all; the places are found only on failure."""
        held = self._tagged.held()
        if len(self._containers) + bool(held) < 2 or distinct(
            held + list(chain.from_iterable(self._containers.values()))
        ):
            return
        seen: dict[int, str] = {id(c): "the state's containers" for c in held}
        for (where, first_row), column in self._containers.items():
            for row, value in enumerate(column, first_row):
                other = seen.setdefault(id(value), f"{where} (row {row})")
                if type(value) in MUTABLE_CLASSES and other != f"{where} (row {row})":
                    message = shared_message(type(value).__name__)
                    raise SerializationError(f"cannot save {other} and {where} (row {row}): {message}")

    def _found_records(self, found: dict[FieldType, list[Any]]) -> None:
        for _t, objs in found.items():
            if objs:
                table = self._table_for(type(objs[0]))
                assert table is not None  # check_column admitted only the declared class
                self._add(table, objs)

    def chunks(self, table: RecordTable) -> Iterator[tuple[int, int]]:
        """Each chunk of a table's written rows (links excluded) as (first row, row count)."""
        for start in range(table.linked, len(table.objects), CHUNK_ROWS):
            yield start, min(CHUNK_ROWS, len(table.objects) - start)

    def adoption_chunks(self, table: RecordTable) -> Iterator[tuple[int, int, list[Any]]]:
        """Each chunk of a table's adoptions as (first, count, [rows, tokens, keys node])."""
        found = sorted(table.adopted.items())
        for start in range(0, len(found), CHUNK_ROWS):
            part = found[start : start + CHUNK_ROWS]
            node = [[row for row, _ in part], [t for _, (t, _) in part], self._tagged.keys([k for _, (_, k) in part])]
            yield start, len(part), node

    def link_chunks(self, table: RecordTable) -> Iterator[tuple[int, int, list[Any]]]:
        """Each chunk of a table's links as (first row, row count, [tokens, keys node])."""
        targets = list(table.links.values())
        for start in range(0, table.linked, CHUNK_ROWS):
            part = targets[start : start + CHUNK_ROWS]
            node = [[token for token, _ in part], self._tagged.keys([key for _, key in part])]
            yield start, len(part), node

    def columns(self, table: RecordTable, start: int, count: int) -> list[Any]:
        """The stored columns of rows ``start`` to ``start + count - 1`` of a table."""
        return self._stored_columns(table, table.objects[start : start + count], start)

    def _stored_columns(self, table: RecordTable, objs: list[Any], start: int) -> list[Any]:
        if not table.written.schema.fields:
            return [[None] * len(objs)]  # a presence column: every row costs a byte (docs/format.md)
        if table.pin is not None:
            fields, classes = [(fs, values, False) for fs, values in table.pin.columns(objs)], table.pin.classes
        else:
            fields, classes = _gathered(table.rt, objs), table.rt.classes
        if table.rt.reruns_code and table.pin is None:
            _refuse_unkept(table.rt, [values for _, values, _ in fields], start)
        columns = []
        self.chunk_zones = {}  # field index -> each row's zone token
        self._tagged.tracking = False  # the search of the state found any container held twice
        for fs, values, exact in fields:
            if fs.type.is_tagged():
                self._checked(table, fs, values, start, classes=classes)
                columns.append([self._tagged_field(table, fs.name, v) for v in values])
                continue
            if table.pin is not None or not fs.type.references():
                self._checked(table, fs, values, start, classes=classes, exact=exact)
            tokens, lost = zone_tokens(fs.type, values)
            if tokens is not None:
                self.chunk_zones[len(columns)] = tokens
            if lost:
                say_changed_offsets(f"{table.rt.name}.{fs.name}", lost)
            try:
                columns.append(encode_column(fs.type, values, self._rows_of, classes, self.arrays))
            except BadValue as e:
                raise SerializationError(f"cannot save {table.rt.name}.{fs.name}: {e.message}") from None
            except KeyError:
                raise SerializationError(f"{table.rt.name}.{fs.name} changed while the state was being saved") from None
        return columns

    def _rows_of(self, t: FieldType) -> Callable[[list[Any]], list[int]]:
        table = self._by_name.get(t.record)
        return table.rows_of if table is not None else _no_rows


def _referencing(rt: RecordType, fs: FieldSchema, getter: Any, objs: list[Any]) -> tuple[list[Any], bool]:
    """A field that references records, as a column, and whether it holds records of its
    declared class only (a plain record field read in one compiled pass)."""
    if fs.type.kind == "record" and rt.attribute_names is not None:
        try:
            columns, exact = gather(objs, (fs.name,), ((rt.classes[fs.type],),))
            return columns[0], exact[0]
        except AttributeError:
            pass  # read again by its getter, to say which record lacks it
    return _column(rt, fs, getter, objs), False


def _no_rows(objs: list[Any]) -> list[int]:
    """Rows in a table that holds no record: any record asked for is missing."""
    if objs:
        raise KeyError(id(objs[0]))
    return []


def _gathered(rt: RecordType, objs: list[Any]) -> list[tuple[FieldSchema, list[Any], bool]]:
    """Every field of many records as (field, column, exact): ``exact`` when the column holds
    only the exact scalar types its field allows, which needs no further check. Read in one
    pass over the records where every field is a plain attribute."""
    fields, names = rt.schema.fields, rt.attribute_names
    if names is not None:
        try:
            columns, exact = gather(objs, names, _exact_types(rt))
        except AttributeError:
            pass  # read again field by field, to say which one is missing
        else:
            for i, (container, items) in _exact_items(rt):
                exact[i] = exact_items(columns[i], container, items)
            return list(zip(fields, columns, exact, strict=True))
    return [(fs, _column(rt, fs, g, objs), False) for fs, g in zip(fields, rt.getters, strict=True)]


_EXACT = {"int": (int,), "str": (str,), "bytes": (bytes,), "bool": (bool,), "float": (float,), "none": (type(None),)}


@functools.cache
def _exact_types(rt: RecordType) -> tuple[tuple[type, ...] | None, ...]:
    """Per field, the exact types that need no check beyond their type (None: check it):
    scalars whose stored form is the value itself, and unions of them with None."""
    return tuple(_exact(fs.type) for fs in rt.schema.fields)


@functools.cache
def _exact_items(rt: RecordType) -> list[tuple[int, tuple[type, tuple[type, ...]]]]:
    """The fields that are lists or sets of exact scalars (``list[str]``): (index, (container
    class, the exact item types)); their columns are checked in one compiled pass."""
    found = []
    for i, fs in enumerate(rt.schema.fields):
        t = fs.type
        if t.kind in _CONTAINERS and (items := _exact(t.items[0])) is not None:
            found.append((i, (_CONTAINERS[t.kind], items)))
    return found


_CONTAINERS: dict[str, type] = {"list": list, "set": set, "frozenset": frozenset}


def _exact(t: FieldType) -> tuple[type, ...] | None:
    if t.kind in _EXACT:
        return _EXACT[t.kind]
    if t.kind == "union" and not t.is_tagged() and all(m.kind in _EXACT and m.kind != "float" for m in t.items):
        return tuple(py for m in t.items for py in _EXACT[m.kind])
    return None


def _column(rt: RecordType, fs: FieldSchema, getter: Any, objs: list[Any]) -> list[Any]:
    """One field of many records; a record without it (an object made before the field was
    added, such as one unpickled from an older release) is a SerializationError naming both."""
    try:
        return list(map(getter, objs))
    except AttributeError as e:
        raise SerializationError(
            f"cannot save {rt.name}.{fs.name}: a {rt.cls.__qualname__} has no {fs.name!r} ({e}); it was made without "
            "its class's constructor (an object unpickled from an older release?): rebuild it through the class"
        ) from None


def _refuse_unkept(rt: RecordType, columns: list[list[Any]], start: int) -> None:
    """Records whose class's own code (validators, converters, ``__post_init__``) would make
    other values of them on load: refused now, while the service can still fix them, rather
    than committed as a checkpoint its next restore refuses. Their class's code runs on
    throwaway copies; the records themselves are left alone."""
    try:
        built_checked(rt, columns, len(columns[0]) if columns else 0)
    except RecordRejected as e:
        raise SerializationError(
            f"cannot save {rt.name} (row {start + e.row}): a load would not give it back, its class's own code "
            f"says {type(e.cause).__name__}: {one_line(e.cause)} (assign through the class, e.g. pydantic's "
            "validate_assignment=True, or store what the code makes)"
        ) from None
