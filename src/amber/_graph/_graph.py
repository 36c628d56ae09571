"""The object-graph layer: a state becomes per-type tables of records plus a root node.

Records are the identity-bearing nodes of a state: each distinct record object gets one row
in its type's table, and every place that points at it stores (type, row). So shared
references stay shared and cycles through records survive. Builtin containers are values:
they are copied, and a container that contains itself is refused.

Discovery works in bulk wherever it can (``map``, ``set`` and ``dict`` over whole columns run
in C), because a Python-level step per record would dominate the cost of a checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import repeat
from operator import rshift
from typing import Any

from .._evolution._pin import WritePin, write_pin
from .._format._codec import (
    DICT,
    FROZENSET,
    LIST,
    REF,
    REFRANGE,
    REFS,
    SET,
    TABLE,
    TABLEDELTA,
    TUPLE,
    BadValue,
    Classes,
    TaggedEncoder,
    check_column,
    locate_bad_row,
    shared_rows,
    sort_canonically,
    store_column,
)
from .._format._format import MAX_ROWS as CHUNK_ROWS  # rows per table segment: bounds memory, lets I/O overlap
from .._schema._fields import FieldSchema
from .._schema._keyed import MISSING, Aliases, Changes
from .._schema._keyed import Table as KeyedTable
from .._schema._schema import RecordType, Registry
from .._schema._types import FieldType
from ..errors import SerializationError


@dataclass(eq=False)
class Table:
    """The records of one type found in a state, in discovery order.

    The id -> row index is built lazily: most tables (a million accounts in a dict) are
    never pointed at by a typed field, and hashing every record twice would be wasted.
    """

    index: int
    rt: RecordType
    pin: WritePin | None = None  # set when the type is written at an older version
    objects: list[Any] = field(default_factory=list)
    scanned: int = 0  # rows whose fields have been searched for further records
    links: dict[int, tuple[int, Any]] = field(default_factory=dict)  # delta: row -> (table token, key)
    adopted: dict[int, tuple[int, Any]] = field(default_factory=dict)  # delta: written row -> (token, key)
    linked: int = 0  # rows 0..linked-1 stand for records of earlier checkpoints (second pass)
    _rows: dict[int, int] = field(default_factory=dict)  # id(object) -> row, for objects[:_indexed]
    _indexed: int = 0

    def links_first(self) -> list[int]:
        """Move the link rows to the front (the format puts them there); return, for each
        old row, its new row. Called once discovery is complete."""
        links = self.links
        order = sorted(links) + [row for row in range(len(self.objects)) if row not in links]
        new_of_old = [0] * len(order)
        for new, old in enumerate(order):
            new_of_old[old] = new
        self.objects = [self.objects[old] for old in order]
        self.links = {new_of_old[old]: links[old] for old in sorted(links)}
        self.adopted = {new_of_old[old]: target for old, target in self.adopted.items()}
        self.linked, self.scanned = len(links), len(self.objects)
        self._rows, self._indexed = {}, 0
        return new_of_old

    @property
    def written(self) -> RecordType:
        """The declared version the table is written as."""
        return self.pin.written if self.pin is not None else self.rt

    @property
    def rows(self) -> dict[int, int]:
        """id(record) -> row for every record in the table."""
        if self._indexed < len(self.objects):
            start = self._indexed
            self._rows.update(zip(map(id, self.objects[start:]), range(start, len(self.objects)), strict=True))
            self._indexed = len(self.objects)
        return self._rows

    def add_many(self, objs: list[Any]) -> range | list[int]:
        """Give each new object a row; return the row of every object, in order."""
        start = len(self.objects)
        if not start and len(set(map(rshift, map(id, objs), repeat(4)))) == len(objs):
            # The common first batch: all new, all distinct. (Ids shifted right: objects are
            # 16-byte aligned, and unshifted ids crowd a hash table's low bits.)
            self.objects = list(objs)
            return range(len(objs))
        rows = self.rows
        for obj in dict(zip(map(id, objs), objs, strict=True)).values():
            if id(obj) not in rows:
                rows[id(obj)] = len(self.objects)
                self.objects.append(obj)
        self._indexed = len(self.objects)
        if len(self.objects) - start == len(objs):
            return range(start, len(self.objects))
        return list(map(rows.__getitem__, map(id, objs)))


Origin = tuple[int, Any] | None  # (table token, key) of an entry of the parent


@dataclass
class Delta:
    """What a delta checkpoint is relative to: the changes taken from each table of the
    parent checkpoint (by token), and every table of the state (to find links)."""

    changes: dict[int, Changes]
    tables: list[KeyedTable[Any, Any]]
    # token -> the entries to write, worked out once for both passes
    selected: dict[int, Selection] = field(default_factory=dict)
    before_index: dict[int, Origin] | None = None
    written: set[int] | None = None

    def select(self, table: KeyedTable[Any, Any], changes: Changes) -> Selection:
        found = self.selected.get(table.token)
        if found is None:
            # Iterate the changes, never the table: this runs in the service's pause.
            data = table._data
            written = sort_canonically(list(data.keys() & (changes.changed | changes.touched)))
            deleted = sort_canonically([k for k in changes.deleted if k not in data])
            touched = [k for k in written if k in changes.touched]
            values = list(map(data.__getitem__, written))
            found = self.selected[table.token] = Selection(written, deleted, values, touched)
        return found

    def origins(self, keyed: KeyedTable[Any, Any], keys: list[Any], objs: list[Any]) -> list[Origin]:
        """Where the parent held each of these objects (all of one type), if it did.

        A touched entry's value is its parent's; a value set again, or moved from another
        key (of any table), was that key's value before the change; a value also held by an
        unchanged entry is that entry's. Looked up in bulk: this runs in the service's pause."""
        changes = self.changes.get(keyed.token)  # None: a table new since the parent
        touched = changes.touched if changes is not None else set()
        if changes is not None and touched.issuperset(keys):  # the common case: changed in place
            return list(zip(repeat(keyed.token), keys))
        before = self._before()
        found: list[Origin] = [
            (keyed.token, key) if key in touched else before.get(id(obj)) for key, obj in zip(keys, objs, strict=True)
        ]
        missing = [i for i, origin in enumerate(found) if origin is None]
        for table in self.tables if missing else ():
            for i, held in zip(missing, table._keys_of([objs[i] for i in missing]), strict=True):
                other = self.unchanged_key(table.token, held)
                if found[i] is None and other is not MISSING:
                    found[i] = (table.token, other)
        return found

    def unchanged_key(self, token: int, held: Any) -> Any:
        """Of the key(s) ``_keys_of`` found holding an object, one whose entry is unchanged."""
        if held is MISSING:
            return MISSING
        keys = sorted(held, key=repr) if type(held) is Aliases else [held]
        return next((k for k in keys if self.unchanged(token, k)), MISSING)

    def written_ids(self) -> set[int]:
        """ids of every value a delta writes (changed or touched entries, tables new since
        the parent): those are never links, wherever discovery reaches them first."""
        if self.written is None:
            self.written = set()
            for table in self.tables:
                changes = self.changes.get(table.token)
                values = table._data.values() if changes is None else self.select(table, changes).values
                self.written.update(map(id, values))
        return self.written

    def _before(self) -> dict[int, Origin]:
        """id(object) -> (token, key) of every value a table held before a change."""
        if self.before_index is None:
            self.before_index = {}
            for table in self.tables:
                changes = self.changes.get(table.token)
                for key, value in changes.before.items() if changes is not None else ():
                    if value is not MISSING:
                        self.before_index.setdefault(id(value), (table.token, key))
        return self.before_index

    def unchanged(self, token: int, key: Any) -> bool:
        """Whether the entry is as it was in the parent (so its value can be linked)."""
        changes = self.changes.get(token)
        return changes is not None and key not in changes.changed and key not in changes.touched


@dataclass(frozen=True)
class Selection:
    """A table's entries in a delta: those written (set or touched), those deleted, and
    the touched ones, whose record is the parent's own object changed in place."""

    written: list[Any]
    deleted: list[Any]
    values: list[Any]
    touched: list[Any]


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
        self._tables: dict[type, Table] = {}
        self._by_name: dict[str, Table] = {}
        self._tagged = TaggedEncoder(self)
        self._in_fields = False  # encoding a record's fields (not the root's containers)
        self._owning = False  # encoding a table's changed values: written, never linked
        self.keyed_tables: dict[int, int] = {}  # token -> entries of every amber.Table written

    @property
    def tables(self) -> list[Table]:
        return list(self._tables.values())

    def release(self) -> None:
        """Let go of everything found, now rather than at the next cyclic GC (the encoder
        and this writer refer to each other; a full checkpoint's tables hold every record)."""
        self._tagged.close()
        self._tables = {}
        self._by_name = {}

    def capture(self, state: Any) -> Any:
        """Discover all records and return the root node (tagged encoding)."""
        root = self._capture(state)
        moves = {t.index: t.links_first() for t in self._tables.values() if t.links}
        return _renumbered(root, moves) if moves else root

    def _capture(self, state: Any) -> Any:
        try:
            root = self._tagged.encode(state)
        except BadValue as e:
            raise SerializationError(f"cannot save {e.where('state')}: {e.message}") from None
        self._scan_until_closed()
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

    def keyed(self, table: KeyedTable[Any, Any], encoder: TaggedEncoder) -> list[Any]:
        if self._in_fields:
            raise BadValue("an amber.Table must sit in the state's containers, not inside a record")
        if self._owning:
            raise BadValue("an amber.Table cannot be a value of another amber.Table")
        if table.token in self.keyed_tables:
            raise BadValue(f"amber.Table {table.token} appears twice in the state (use table.copy())")
        self.keyed_tables[table.token] = len(table)
        changes = self._delta.changes.get(table.token) if self._delta is not None else None
        if changes is None:
            data = table._data
            keys, values = list(data), list(data.values())
            node = [TABLE, table.token, encoder.keys(keys), self._owned(values)]
            if self._delta is not None:  # a table new since the parent may hold its records
                self._adopt(table, Selection(keys, [], values, []))
            return node
        assert self._delta is not None
        chosen = self._delta.select(table, changes)
        _no_shared_containers(table, chosen.written, chosen.values)
        values = self._owned(chosen.values)
        self._adopt(table, chosen)
        return [TABLEDELTA, table.token, encoder.keys(chosen.written), values, encoder.keys(chosen.deleted)]

    def _adopt(self, keyed: KeyedTable[Any, Any], chosen: Selection) -> None:
        """Written values that are objects of the parent (changed in place, set again, moved)
        *adopt* the parent's object on restore: whatever points at it sees the new content."""
        assert self._delta is not None
        by_type: dict[type, tuple[list[Any], list[Any]]] = {}
        kinds = set(map(type, chosen.values))
        if len(kinds) == 1:  # the common case: one record type, no grouping needed
            by_type[kinds.pop()] = (chosen.written, chosen.values)
        for key, obj in zip(chosen.written, chosen.values, strict=True) if not by_type else ():
            keys, objs = by_type.setdefault(type(obj), ([], []))
            keys.append(key)
            objs.append(obj)
        for cls, (keys, objs) in by_type.items():
            table = self._tables.get(cls)
            if table is None or hashed_by_value(cls):
                continue  # not records; or frozen ones, whose equal content is all that counts
            rows = list(map(table.rows.__getitem__, map(id, objs)))
            links, adopted = table.links, table.adopted
            for row, origin in zip(rows, self._delta.origins(keyed, keys, objs), strict=True):
                if origin is not None and row not in links and row not in adopted:
                    adopted[row] = origin

    def _owned(self, values: list[Any]) -> Any:
        self._owning, was = True, self._owning
        try:
            return self._tagged.sequence(values)
        finally:
            self._owning = was

    def _add(self, table: Table, objs: list[Any]) -> range | list[int]:
        known = len(table.objects)
        rows = table.add_many(objs)
        if self._delta is not None and not self._owning and not table.linked and len(table.objects) > known:
            self._find_links(table, known)
        return rows

    def _find_links(self, table: Table, first: int) -> None:
        """Mark the new rows whose record is the value of an unchanged entry of a table that
        was in the parent: (token, key) links instead of written rows."""
        assert self._delta is not None
        delta = self._delta
        written = delta.written_ids()
        new = table.objects[first:]
        links = table.links
        for keyed in delta.tables:
            changes = delta.changes.get(keyed.token)
            if changes is None:
                continue  # a table new since the parent is written whole
            found = keyed._keys_of(new)
            for row, held in ((r, h) for r, h in enumerate(found, first) if h is not MISSING):
                if type(held) is Aliases:
                    key = delta.unchanged_key(keyed.token, held)
                elif held in changes.changed or held in changes.touched:
                    continue
                else:
                    key = held
                if key is not MISSING and row not in links and id(table.objects[row]) not in written:
                    links[row] = (keyed.token, key)

    def _table_for(self, cls: type) -> Table | None:
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
            table = self._tables[cls] = Table(len(self._tables), rt, pin)
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

    def _scan(self, table: Table) -> None:
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
                column = list(map(getter, objs))
                self._found_records(self._checked(table, fs, column, start, classes=table.rt.classes))

    def _tagged_field(self, table: Table, name: str, value: Any) -> Any:
        self._in_fields = True
        try:
            return self._tagged.encode(value)
        except BadValue as e:
            raise SerializationError(f"cannot save {table.rt.name}.{name}{e.where('')}: {e.message}") from None
        finally:
            self._in_fields = False

    def _checked(
        self, table: Table, fs: FieldSchema, column: list[Any], first_row: int, *, classes: Classes
    ) -> dict[FieldType, list[Any]]:
        name, t = fs.name, fs.type
        found: dict[FieldType, list[Any]] = {}
        try:
            check_column(t, column, classes, found)
        except BadValue as e:
            row = locate_bad_row(t, column, classes)
            where = f" (row {first_row + row}: {column[row]!r:.80})" if row is not None else ""
            raise SerializationError(f"cannot save {table.rt.name}.{name}{where}: {e.message}") from None
        if t.kind in ("list", "set", "dict") and (twice := shared_rows(column)) is not None:
            rows = f"rows {first_row + twice[0]} and {first_row + twice[1]}"
            message = _shared_message(type(column[twice[0]]).__name__)
            raise SerializationError(f"cannot save {table.rt.name}.{name} ({rows}): {message}")
        return found

    def _found_records(self, found: dict[FieldType, list[Any]]) -> None:
        for _t, objs in found.items():
            if objs:
                table = self._table_for(type(objs[0]))
                assert table is not None  # check_column admitted only the declared class
                self._add(table, objs)

    def chunks(self, table: Table) -> Iterator[tuple[int, int]]:
        """Each chunk of a table's written rows (links excluded) as (first row, row count)."""
        for start in range(table.linked, len(table.objects), CHUNK_ROWS):
            yield start, min(CHUNK_ROWS, len(table.objects) - start)

    def adoption_chunks(self, table: Table) -> Iterator[tuple[int, int, list[Any]]]:
        """Each chunk of a table's adoptions as (first, count, [rows, tokens, keys node])."""
        found = sorted(table.adopted.items())
        for start in range(0, len(found), CHUNK_ROWS):
            part = found[start : start + CHUNK_ROWS]
            node = [[row for row, _ in part], [t for _, (t, _) in part], self._tagged.keys([k for _, (_, k) in part])]
            yield start, len(part), node

    def link_chunks(self, table: Table) -> Iterator[tuple[int, int, list[Any]]]:
        """Each chunk of a table's links as (first row, row count, [tokens, keys node])."""
        targets = list(table.links.values())
        for start in range(0, table.linked, CHUNK_ROWS):
            part = targets[start : start + CHUNK_ROWS]
            node = [[token for token, _ in part], self._tagged.keys([key for _, key in part])]
            yield start, len(part), node

    def columns(self, table: Table, start: int, count: int) -> list[Any]:
        """The stored columns of rows ``start`` to ``start + count - 1`` of a table."""
        return self._stored_columns(table, table.objects[start : start + count], start)

    def _stored_columns(self, table: Table, objs: list[Any], start: int) -> list[Any]:
        if not table.written.schema.fields:
            return [[None] * len(objs)]  # a presence column: every row costs a byte (docs/format.md)
        if table.pin is not None:
            fields, classes = table.pin.columns(objs), table.pin.classes
        else:
            fields = [(fs, list(map(g, objs))) for fs, g in zip(table.rt.schema.fields, table.rt.getters, strict=True)]
            classes = table.rt.classes
        columns = []
        self._tagged.tracking = False  # the search of the state found any container held twice
        for fs, values in fields:
            if fs.type.is_tagged():
                self._checked(table, fs, values, start, classes=classes)
                columns.append([self._tagged_field(table, fs.name, v) for v in values])
                continue
            if table.pin is not None or not fs.type.references():
                self._checked(table, fs, values, start, classes=classes)
            try:
                columns.append(store_column(fs.type, values, self._rows_of, classes))
            except BadValue as e:
                raise SerializationError(f"cannot save {table.rt.name}.{fs.name}: {e.message}") from None
            except KeyError:
                raise SerializationError(f"{table.rt.name}.{fs.name} changed while the state was being saved") from None
        return columns

    def _rows_of(self, t: FieldType) -> dict[int, int]:
        table = self._by_name.get(t.record)
        return table.rows if table is not None else {}


def hashed_by_value(cls: type) -> bool:
    """Frozen records (hashed by their content) cannot be changed in place."""
    config = getattr(cls, "__struct_config__", None)
    if config is not None:
        return bool(config.frozen and config.eq)
    hash_method = getattr(cls, "__hash__", None)
    return hash_method is not None and hash_method is not object.__hash__


def _renumbered(node: Any, moves: dict[int, list[int]]) -> Any:
    """A tagged node with the rows of the moved types renumbered (docs/format.md, section 6)."""
    if type(node) is not list or not node or type(node[0]) is not int:
        return node  # a scalar
    tag = node[0]
    if tag in (REF, REFS, REFRANGE):
        return _renumbered_refs(node, moves)
    if tag == LIST:
        return [LIST, [_renumbered(x, moves) for x in node[1]]]
    if tag in (TUPLE, SET, FROZENSET):
        return [tag, _renumbered(node[1], moves)]
    if tag in (DICT, TABLE, TABLEDELTA):
        head = 2 if tag != DICT else 1  # tables keep their token
        return node[:head] + [_renumbered(x, moves) for x in node[head:]]
    return node  # scalar lists and scalar tags hold no rows


def _renumbered_refs(node: list[Any], moves: dict[int, list[int]]) -> list[Any]:
    move = moves.get(node[1])
    if move is None:
        return node
    if node[0] == REF:
        return [REF, node[1], move[node[2]]]
    rows = list(map(move.__getitem__, node[2])) if node[0] == REFS else move[node[2] : node[2] + node[3]]
    if rows and rows == list(range(rows[0], rows[0] + len(rows))):
        return [REFRANGE, node[1], rows[0], len(rows)]
    return [REFS, node[1], rows]


def _shared_message(kind: str) -> str:
    return (
        f"one {kind} object is held by both: containers are stored by value, so they would come back as two "
        f"{kind}s; give each record its own (copy it), or keep it in a record (records keep their identity)"
    )


def _no_shared_containers(table: KeyedTable[Any, Any], keys: list[Any], values: list[Any]) -> None:
    """A delta writes only the changed entries, so a list set at a key that another, unchanged,
    key holds too would not be met twice by the encoder: ask the table's reverse index."""
    for kind in {type(v) for v in values} & {list, dict, set}:
        for held in table._keys_of([v for v in values if type(v) is kind]):
            if type(held) is Aliases:
                shown = ", ".join(repr(k) for k in sorted(held, key=repr)[:3])
                raise BadValue(f"{_shared_message(kind.__name__)} (the table's keys {shown} hold one object)")
