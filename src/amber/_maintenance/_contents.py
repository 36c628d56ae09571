"""A resolved state's values as bytes that are equal exactly when their contents are: what
``amber diff`` compares.

A record's content is its type, its field names and its values: plain values as msgpack
encodes them, containers with their items (sets and dicts in a fixed order, as equal ones
compare equal however they were built), references by what they point at. A reference to a
table entry counts by that entry's table and key; one to any other record by that record's
content, to any depth (a cycle through such records by how far back it points).

Records are fingerprinted one at a time where few are asked for (a diff of a checkpoint and
its descendant looks only at what the deltas between them touched), and a whole type at a
time, column by column, once many of its records are: a comparison of two unrelated
checkpoints of a million records then costs a few C loops per field, not a Python call per
value.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from itertools import repeat
from operator import attrgetter
from typing import Any

import msgspec

from .._format._format import digest
from .._schema._types import SCALAR_TYPES, FieldType
from .._schema._values import ArrayRef, Ref, TableNode, ValueRenderError, to_json_value
from .._store._generic import GenericColumns
from .._store._resolved import Node, Placed, State

# msgpack encodes these as they are, canonically; not a datetime or a time (msgpack keeps a
# datetime's instant only, and a zone moved at the same instant is a change of value).
_PLAIN_KINDS = {*SCALAR_TYPES, "list", "tuple", "enum", "literal", "union"} - {"bytearray", "datetime", "time"}
_NATIVE = {bool, int, str, bytes, type(None)}
_BUSY: list[bytes] = []  # a type whose columns are being fingerprinted (a cycle between types)


class Contents:
    """Fingerprints of the values of one state (see the module's docstring)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._owners: dict[Placed, tuple[int, Any]] | None = None
        self._owned_by_type: dict[tuple[int, str], list[Node]] | None = None
        self._records: dict[Node, bytes] = {}
        self._types: dict[tuple[int, str], list[bytes]] = {}  # whole types, by stored row
        self._asked: collections.Counter[tuple[int, str]] = collections.Counter()
        self._encode = msgspec.msgpack.Encoder().encode
        self._on_stack: dict[Node, int] = {}
        self._back_edges = 0  # cycles met so far (a record with one inside depends on where it is met)

    def of(self, placed: Placed) -> bytes:
        """The content of a value read at a position of the chain."""
        at, value = placed
        if type(value) is not Ref:
            return self._encode(self._canonical(at, value))
        node = self.state.node(at, value)
        if node in self.state.chain.changed:
            return self._record(node)
        where = (node.at, node.name)
        whole = self._types.get(where)
        if whole is None:
            self._asked[where] += 1
            if self._asked[where] >= max(256, self._columns(where).entry.count // 64):
                whole = self._whole_type(where)
        if whole:
            return whole[node.row - len(self._columns(where).links)]
        return self._record(node)

    def many(self, placed: list[Placed]) -> list[bytes]:
        """The contents of many values (the values of a table or a dict), a type at a time
        where they are all records of one type read at one position."""
        positions = {p.at for p in placed}
        if len(positions) == 1:
            return self.many_at(positions.pop(), [p.value for p in placed])
        return [self.of(p) for p in placed]

    def many_at(self, at: int, values: list[Any]) -> list[bytes]:
        """``many`` of values read at one position: a whole type at once when they are many
        of its records (a few are fingerprinted one at a time)."""
        if values and set(map(type, values)) == {Ref}:
            names = set(map(_name, values))
            where = (at, names.pop())
            many = len(values) >= self._columns(where).entry.count // 8
            whole = self._whole_type(where) if many and not names and self._stored_only(where) else _BUSY
            if whole:
                return [whole[v.row] for v in values]
        return [self.of(Placed(at, v)) for v in values]

    def _stored_only(self, where: tuple[int, str]) -> bool:
        """Whether a type's rows at a position are all its own: no links, none changed in place."""
        t = self._columns(where)
        return not (t.links or t.adopts or any((n.at, n.name) == where for n in self.state.chain.changed))

    # --- a record at a time ------------------------------------------------------------------

    def _record(self, node: Node) -> bytes:
        found = self._records.get(node)
        if found is not None:
            return found
        self._on_stack[node] = len(self._on_stack)
        back_edges = self._back_edges
        at, fields = self.state.fields(node)
        t = self._columns((at, node.name))
        plain = [_is_plain(f.type) for f in t.entry.schema.fields]
        values = [v if p else self._canonical(at, v) for p, v in zip(plain, fields.values(), strict=True)]
        found = self._encode([self._prefix(t), *values])
        del self._on_stack[node]
        if self._back_edges == back_edges:  # no cycle inside: the same bytes wherever it is met
            self._records[node] = found
        return found

    def _canonical(self, at: int, value: Any) -> Any:  # noqa: PLR0911 - one return per kind
        """``value`` as msgpack data that is equal exactly when the contents are."""
        kind = type(value)
        if kind is Ref:
            return self._pointed_at(self.state.node(at, value))
        if kind in (list, tuple):
            return ["t" if kind is tuple else "l", [self._canonical(at, v) for v in value]]
        if kind in (set, frozenset, dict, collections.Counter, collections.defaultdict):
            items = value.items() if isinstance(value, dict) else ((v, None) for v in value)
            pairs = [[self._canonical(at, k), self._canonical(at, v)] for k, v in items]
            return [kind.__name__, sorted(pairs, key=self._encode)]  # equal however they were ordered
        if kind in (collections.OrderedDict, collections.deque):
            return [kind.__name__, getattr(value, "maxlen", None), self._canonical(at, list(_items(value)))]
        if kind is TableNode:
            return ["table", value.token]
        if kind is ArrayRef:
            content = [digest(value.data)] if value.number < 0 else self.state.chain.arrays[at].get(value.number, [])
            return ["ndarray", value.dtype, value.shape, content]
        if kind is float or kind in _NATIVE:
            return value
        try:
            return [kind.__name__, to_json_value(value)]
        except ValueRenderError:
            return [kind.__name__, repr(value)]

    def _pointed_at(self, node: Node) -> Any:
        """What a reference counts by: the table entry it is, else the record's content."""
        owner = self._owner(node)
        if owner is not None:
            return ["entry", owner[0], self._canonical(node.at, owner[1])]
        depth = self._on_stack.get(node)
        if depth is not None:  # a cycle through records outside tables: by how far back it points
            self._back_edges += 1
            return ["back", len(self._on_stack) - depth]
        whole = self._types.get((node.at, node.name))
        if whole and node not in self.state.chain.changed:
            return whole[node.row - len(self._columns((node.at, node.name)).links)]
        return self._record(node)  # bytes: never equal to an entry's or a cycle's list

    # --- a whole type at a time --------------------------------------------------------------

    def _whole_type(self, where: tuple[int, str]) -> list[bytes]:
        """Every stored row's content, column by column; empty while a cycle between types
        is being fingerprinted (its records then go one at a time)."""
        if where in self._types:
            return self._types[where]
        self._types[where] = _BUSY
        at, _ = where
        t = self._columns(where)
        columns = [self._column(at, f.type, column) for f, column in zip(t.entry.schema.fields, t.columns, strict=True)]
        rows = zip(repeat(self._prefix(t)), *columns, strict=False) if columns else ([] for _ in range(t.entry.count))
        self._types[where] = list(map(self._encode, rows))  # C loops: a million rows in a blink
        return self._types[where]

    def _column(self, at: int, t: FieldType, column: list[Any]) -> list[Any]:
        if _is_plain(t):
            return column
        if not is_reference(t):
            return [self._canonical(at, v) for v in column]
        canonical = self._canonical
        by_row = self._pointed_at_by_row(at, column)
        if by_row is None:
            return [canonical(at, v) for v in column]
        return [None if v is None else by_row[v.row] for v in column]

    def _pointed_at_by_row(self, at: int, column: list[Any]) -> list[Any] | None:
        """What a reference to each stored row of the column's one target type counts by,
        when no row there is a link or changed in place (else None: one at a time)."""
        names = {v.name for v in column if v is not None}
        if len(names) != 1:
            return None
        where = (at, names.pop())
        target = self._columns(where)
        if target.links or target.adopts or not self._whole_type(where):
            return None
        by_row: list[Any] = self._types[where]  # a record's content stands for it: bytes, never a list
        special = [n for n in (*self.state.chain.changed, *self._owned(where)) if (n.at, n.name) == where]
        if special:
            by_row = list(by_row)
            for node in special:
                by_row[node.row] = self._pointed_at(node)
        return by_row

    def _owned(self, where: tuple[int, str]) -> list[Node]:
        """The records of one type that are table entries."""
        if self._owned_by_type is None:
            self._owned_by_type = collections.defaultdict(list)
            for at, ref in self.owners:
                self._owned_by_type[(at, ref.name)].append(Node(at, ref.name, ref.row))
        return self._owned_by_type.get(where, [])

    # --- what the module's docstring relies on -----------------------------------------------

    @property
    def owners(self) -> dict[Placed, tuple[int, Any]]:
        """(token, key) of every record that is a table entry (the first key when several
        hold one record), by the entry's own ``Placed(position, Ref)`` where that is the
        record's node (no new object per entry: a million of them), else by its node's."""
        if self._owners is None:
            owners: dict[Placed, tuple[int, Any]] = {}
            for token, entries in reversed(self.state.tables.items()):  # the first table's key wins
                try:  # C loops, the first key of a table winning: a million entries
                    pairs = zip(repeat(token), reversed(entries.keys()), strict=False)
                    owners.update(zip(reversed(entries.values()), pairs, strict=False))
                except TypeError:  # a value that cannot be hashed (a list): no record, one at a time
                    owners.update((p, (token, k)) for k, p in reversed(entries.items()) if type(p.value) is Ref)
            for alias, node in self.state.chain.alias.items():  # a link or adopt row: its record's node
                owner = owners.pop(_placed(alias), None)
                if owner is not None:
                    owners.setdefault(_placed(node), owner)
            self._owners = owners
        return self._owners

    def _owner(self, node: Node) -> tuple[int, Any] | None:
        return self.owners.get(_placed(node))

    def _columns(self, where: tuple[int, str]) -> GenericColumns:
        return self.state.chain.types[where[0]][where[1]]

    def _prefix(self, t: GenericColumns) -> tuple[str, list[str]]:
        return (t.entry.schema.name, [f.name for f in t.entry.schema.fields])


_name = attrgetter("name")


def _placed(node: Node) -> Placed:
    """A node as the ``Placed`` reference that names it in its own checkpoint."""
    return Placed(node.at, Ref(node.name, node.row))


def _items(value: Any) -> Iterable[Any]:
    return value.items() if isinstance(value, dict) else value


def _is_plain(t: FieldType) -> bool:
    """Whether msgpack encodes the field's values canonically as they are: no record, set or
    dict in them (from the writer's schema)."""
    return all(n.kind in _PLAIN_KINDS for n in t.walk())


def is_reference(t: FieldType) -> bool:
    """A field holding one record (or nothing)."""
    return t.kind == "record" or (t.kind == "union" and {m.kind for m in t.items} <= {"record", "none"})
