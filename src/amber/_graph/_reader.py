"""The object graph, reader side: records rebuilt from decoded columns, then the root from its node.

Records are built type by type; a field whose targets are not built yet (a reference cycle,
or an ``Any`` field) is filled in afterwards. Records hashed by value (frozen structs and
dataclasses) must be complete before any set or dict key holds them, so they are built with
every field resolved, after what they point at. When such records point at records of their
own type (an immutable tree), the order is worked out row by row. Frozen records cannot
form cycles (they cannot be changed after construction), so that order always exists.
"""

from __future__ import annotations

import datetime as dt
import graphlib
from collections.abc import Iterator, Sequence
from itertools import repeat
from operator import is_
from typing import Any

import msgspec

from .._format._columns import ObjectsOf, decode_column, decode_value, needs_decoding
from .._format._errors import Corrupt
from .._format._tagged import REF, REFRANGE, REFS, walk_refs
from .._format._tagged_decoder import KeyedHook, TaggedDecoder, whole_tables
from .._format._zones import token_of
from .._schema._fields import FieldSchema
from .._schema._record_type import RecordRejected, RecordType, hashed_by_value
from .._schema._types import FieldType
from .._schema._wrapped import WRAPPED
from ._kept import built_checked, finish

Node = tuple[int, int]  # (type index, row)
MAX_NODES = 10_000_000  # nodes of one tagged column followed to order the build: more is no sane checkpoint


class StateReader:
    """Rebuilds records from decoded columns, then the root from its node."""

    def __init__(self, types: Sequence[RecordType], names: Sequence[str]) -> None:
        self._types = types
        self._by_name = dict(zip(names, range(len(names)), strict=True))

    def assemble(
        self,
        columns: Sequence[list[list[Any]]],
        counts: Sequence[int],
        root: Any,
        *,
        linked: Sequence[list[Any]] | None = None,
        adopted: Sequence[list[tuple[int, Any]]] | None = None,
        keyed: KeyedHook | None = None,
        arrays: Any = None,
    ) -> Any:
        """The state: ``counts[i]`` records of type i built from ``columns[i]``, after the
        ``linked[i]`` records of earlier checkpoints that a delta's first rows stand for."""
        links = linked if linked is not None else [[] for _ in self._types]
        tables: list[list[Any]] = [list(objs) for objs in links]
        built = [False] * len(self._types)
        decoder = TaggedDecoder(tables)  # for records' fields, where no table may sit
        deferred: list[tuple[int, int, list[Any]]] = []

        def objects_of(t: FieldType) -> Any:
            if t.kind == "ndarray":
                if arrays is None:
                    raise Corrupt("no arrays where there are no array segments", "an array header", "arrays")
                return arrays
            index = self._by_name.get(t.record)
            return tables[index] if index is not None else ()

        order, by_rows = self._order(columns)
        for index in (i for i in order if i not in by_rows):
            rt, cols = self._types[index], list(columns[index])
            for f, fs in enumerate(rt.schema.fields):
                if not (fs.type.is_tagged() or needs_decoding(fs.type)):
                    continue
                ready = not fs.type.is_tagged() and all(built[i] for i in self._targets(fs.type))
                if ready or hashed_by_value(rt.cls):
                    cols[f] = self._values(fs.type, cols[f], decoder, objects_of, f"{rt.name}.{fs.name}")
                else:
                    deferred.append((index, f, cols[f]))
                    cols[f] = [None] * counts[index]
            if any(d[0] == index for d in deferred):
                tables[index].extend(rt.build(cols, counts[index], complete=False))  # finished below
            else:
                tables[index].extend(built_checked(rt, cols, counts[index]))
            if adopted and adopted[index]:
                _adopt(rt, tables[index], adopted[index])
            built[index] = True
        if by_rows:
            self._build_by_rows(by_rows, columns, counts, tables, decoder=decoder, objects_of=objects_of)
        for index, f, stored in deferred:
            rt, fs = self._types[index], self._types[index].schema.fields[f]
            records = tables[index][len(links[index]) :]
            values = self._values(fs.type, stored, decoder, objects_of, f"{rt.name}.{fs.name}")
            for obj, value in zip(records, values, strict=True):
                rt.set_field(obj, fs.name, value)
        for index in sorted({d[0] for d in deferred}):
            finish(self._types[index], tables[index][len(links[index]) :])
        return TaggedDecoder(tables, keyed=keyed or whole_tables()).decode(root)

    @staticmethod
    def _values(
        t: FieldType, stored: list[Any], decoder: TaggedDecoder, objects_of: ObjectsOf, where: str
    ) -> list[Any]:
        try:
            return [decoder.decode(v) for v in stored] if t.is_tagged() else decode_column(t, stored, objects_of)
        except Corrupt as e:
            if e.part == "references":
                raise
            raise Corrupt(e.expected, e.found, part=f"{where}: {e.part}") from None

    def _targets(self, t: FieldType) -> set[int]:
        return {self._by_name[n] for n in t.references() if n in self._by_name}

    def _order(self, columns: Sequence[list[list[Any]]]) -> tuple[list[int], set[int]]:
        """Types in an order where targets come first (strictly for records hashed by value),
        and the types hashed by value that must be built row by row (they point at their
        own kind)."""
        needs: dict[int, set[int]] = {}
        count = len(self._types)
        for index, rt in enumerate(self._types):
            needs[index] = set()
            for fs, column in zip(rt.schema.fields, columns[index], strict=True):
                tagged = fs.type.is_tagged() and hashed_by_value(rt.cls)
                needs[index] |= _tagged_targets(column) if tagged else self._targets(fs.type)
            if not needs[index] <= set(range(count)):
                raise Corrupt(f"references to type indices below {count}", str(sorted(needs[index])))
        valued = {i for i in range(count) if hashed_by_value(self._types[i].cls)}
        by_rows = {i for i in valued if needs[i] & valued}  # frozen records pointing at frozen records
        loose = {i: (set() if i in by_rows else needs[i] - {i}) for i in range(count)}
        try:
            return list(graphlib.TopologicalSorter(loose).static_order()), by_rows
        except graphlib.CycleError:
            strict = {i: (n if i in valued else set()) for i, n in loose.items()}
            return list(graphlib.TopologicalSorter(strict).static_order()), by_rows

    def _build_by_rows(
        self,
        group: set[int],
        columns: Sequence[list[list[Any]]],
        counts: Sequence[int],
        tables: list[list[Any]],
        *,
        decoder: TaggedDecoder,
        objects_of: ObjectsOf,
    ) -> None:
        """Build frozen records one by one, each after the frozen records it points at.

        Rows are numbered after the table's links (already built); ``columns`` hold the rest."""
        first = {index: len(tables[index]) for index in group}
        for index in group:
            tables[index].extend([None] * counts[index])
        for index, row in self._rows_in_order(group, columns, counts, first):
            rt = self._types[index]
            at = row - first[index]
            values = [
                decoder.decode(column[at]) if fs.type.is_tagged() else decode_value(fs.type, column[at], objects_of)
                for fs, column in zip(rt.schema.fields, columns[index], strict=True)
            ]
            try:
                tables[index][row] = built_checked(rt, [[v] for v in values], 1)[0]
            except RecordRejected as e:
                raise RecordRejected(e.where, at, e.cause) from e.cause

    def _rows_in_order(
        self, group: set[int], columns: Sequence[list[list[Any]]], counts: Sequence[int], first: dict[int, int]
    ) -> Iterator[Node]:
        """Every row of the group's types, each after the group rows it points at (post-order)."""
        done: set[Node] = set()

        def refs(node: Node) -> Iterator[Node]:
            return iter(self._row_refs(node, group, columns, counts, first))

        for start in ((i, r) for i in sorted(group) for r in range(first[i], first[i] + counts[i])):
            if start in done:
                continue
            stack: list[tuple[Node, Iterator[Node]]] = [(start, refs(start))]
            path = {start}
            while stack:
                node, children = stack[-1]
                child = next((c for c in children if c not in done), None)
                if child is None:
                    stack.pop()
                    path.discard(node)
                    done.add(node)
                    yield node
                elif child in path:
                    raise Corrupt("frozen records that do not point at each other in a cycle")
                else:
                    path.add(child)
                    stack.append((child, refs(child)))

    def _row_refs(
        self,
        node: Node,
        group: set[int],
        columns: Sequence[list[list[Any]]],
        counts: Sequence[int],
        first: dict[int, int],
    ) -> list[Node]:
        index, row = node
        rows = [first.get(i, 0) + n for i, n in enumerate(counts)]
        found: list[Node] = []
        for fs, column in zip(self._types[index].schema.fields, columns[index], strict=True):
            if fs.type.is_tagged():
                found.extend(_tagged_refs(column[row - first[index]], rows))
            elif fs.type.references():
                found.extend(self._typed_refs(fs.type, column[row - first[index]]))
        # Rows outside their table are left to the resolution, which refuses them clearly;
        # links (rows before ``first``) are built already.
        return [(i, r) for i, r in found if i in group and type(r) is int and first[i] <= r < rows[i]]

    def _typed_refs(self, t: FieldType, value: Any) -> Iterator[Node]:
        if value is None:
            return
        if t.kind in WRAPPED:
            yield from self._typed_refs(WRAPPED[t.kind].stored(t), value)
        elif t.kind == "record":
            index = self._by_name.get(t.record)
            if index is not None and type(value) is int:
                yield index, value
        elif t.kind == "union":
            for member in t.items:
                if member.references():
                    yield from self._typed_refs(member, value)
        elif t.kind == "dict" and isinstance(value, dict):
            for k, v in value.items():
                yield from self._typed_refs(t.items[0], k)
                yield from self._typed_refs(t.items[1], v)
        elif isinstance(value, list | tuple | set | frozenset):
            items = t.items * len(value) if t.kind != "tuple" or t.variadic else t.items
            for item, x in zip(items, value, strict=False):
                yield from self._typed_refs(item, x)


def _tagged_targets(column: list[Any]) -> set[int]:
    """Type indices the tagged values of a column refer to, tables included (bounded)."""
    return {node[1] for node in walk_refs(column, limit=MAX_NODES) if type(node[1]) is int}


def _tagged_refs(node: Any, counts: Sequence[int]) -> Iterator[Node]:
    """(type index, row) of every record a tagged value points at. Table nodes are not
    looked into: none may sit in a record (the decoder refuses them)."""
    for ref in walk_refs([node], tables=False):
        tag, table = ref[0], ref[1]
        if not (type(table) is int and 0 <= table < len(counts)):
            continue  # refused with a clear error when the value is decoded
        if tag == REF and len(ref) == 3:
            yield table, ref[2]
        elif tag == REFS and len(ref) == 3 and type(ref[2]) is list:
            yield from ((table, r) for r in ref[2])
        elif tag == REFRANGE and len(ref) == 4 and type(ref[2]) is int and type(ref[3]) is int:
            yield from ((table, r) for r in range(ref[2], min(ref[2] + ref[3], counts[table])))


def _adopt(rt: RecordType, table: list[Any], adopted: list[tuple[int, Any]]) -> None:
    """Rows that are earlier objects changed in place: the earlier object takes the row's
    content and its place, so everything pointing at it sees the change. Done before any
    other record resolves a reference to these rows (targets are built first; fields
    resolved later, cycles included, find the adopted object in the table)."""
    rows = [row for row, _ in adopted]
    earlier = [obj for _, obj in adopted]
    fresh = list(map(table.__getitem__, rows))
    setter = rt.kind.setter(rt.cls)
    for fs, getter in zip(rt.schema.fields, rt.getters, strict=True):  # field by field: loops in C
        new, old = list(map(getter, fresh)), list(map(getter, earlier))
        if _same_column(fs, old, new):
            continue  # a column that did not change is left alone
        list(map(setter, earlier, repeat(fs.name), new))
    for row, obj in adopted:
        table[row] = obj


_encode = msgspec.msgpack.Encoder(uuid_format="bytes").encode


def _zone(value: Any) -> str | None:
    return token_of(value.tzinfo) if type(value) is dt.datetime else None


def _same_column(fs: FieldSchema, old: list[Any], new: list[Any]) -> bool:
    """Whether a column holds the same values: records must be the very objects; values must
    be of the same types and encode the same (``-0.0`` is not ``0.0``, nor ``Decimal("1.0")``
    ``Decimal("1.00")``, nor ``True`` ``1``)."""
    if fs.type.is_tagged() or fs.type.references():
        return all(map(is_, old, new))
    if list(map(type, old)) != list(map(type, new)):
        return False
    if any(t.kind == "datetime" for t in fs.type.walk()) and list(map(_zone, old)) != list(map(_zone, new)):
        return False  # the same instants in other zones: msgpack's timestamps would not tell
    try:
        return _encode(old) == _encode(new)
    except (TypeError, ValueError, OverflowError):
        return False
