"""The generic view of a checkpoint: records as dicts of their fields, references as
``Ref(name, row)`` markers, ``amber.Table`` nodes as ``TableNode`` values.

It needs no application code, so it is what ``amber dump``, ``diff`` and ``verify`` read,
and records as dicts with ``Ref`` markers are also what upgrade steps receive.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any, NamedTuple

from .._evolution._apply import RefIndex
from .._format._arrays import ArrayMarkers, array_sizes
from .._format._columns import decode_column
from .._format._errors import Corrupt
from .._format._format import Manifest, TypeEntry
from .._format._tagged_decoder import TaggedDecoder
from .._schema._types import FieldType
from .._schema._values import Link, Ref, TableNode


class RefRows(Sequence[Ref]):
    """Stands in for a table when reading without app code: row n is ``Ref(name, n)``."""

    def __init__(self, name: str, count: int) -> None:
        self._name = name
        self._count = count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, row: Any) -> Any:
        if isinstance(row, slice):
            return list(map(Ref, repeat(self._name), range(*row.indices(self._count))))  # a C loop
        if not 0 <= row < self._count:
            raise IndexError(row)
        return Ref(self._name, row)

    def many(self, rows: list[int]) -> list[Ref]:
        """``Ref`` markers for rows already checked to be in range (a C loop: millions of them)."""
        return list(map(Ref, repeat(self._name), rows))


def markers(m: Manifest) -> tuple[TaggedDecoder, Any]:
    """A decoder and a record lookup that give ``Ref(name, row)`` markers for references."""
    stand_ins = [RefRows(t.schema.name, t.links + t.count) for t in m.types]
    by_name = {t.schema.name: rows for t, rows in zip(m.types, stand_ins, strict=True)}
    arrays = ArrayMarkers(array_sizes(m.segments))

    def objects_of(t: FieldType) -> Any:
        return arrays if t.kind == "ndarray" else by_name.get(t.record, ())

    return TaggedDecoder(stand_ins), objects_of


def dict_rows(
    entry: TypeEntry, columns: list[list[Any]], objects_of: Any, decoder: TaggedDecoder
) -> list[dict[str, Any]]:
    """A type's records as dicts of their fields, references as ``Ref`` markers."""
    return rows_of(entry, decoded_columns(entry, columns, objects_of, decoder))


def decoded_columns(
    entry: TypeEntry, columns: list[list[Any]], objects_of: Any, decoder: TaggedDecoder
) -> list[list[Any]]:
    """A type's columns with references as ``Ref`` markers and tagged values decoded."""
    resolved = []
    for f, column in zip(entry.schema.fields, columns, strict=True):
        if f.type.is_tagged():
            resolved.append([decoder.decode(v) for v in column])
        else:
            resolved.append(decode_column(f.type, column, objects_of))
    return resolved


def rows_of(entry: TypeEntry, columns: list[list[Any]]) -> list[dict[str, Any]]:
    names = [f.name for f in entry.schema.fields]
    if not names:
        return [{} for _ in range(entry.count)]
    return list(map(dict, map(zip, repeat(names), zip(*columns, strict=True))))  # C loops: the hot path


class GenericColumns(NamedTuple):
    """One type of a checkpoint read without app code, column by column: its stored rows'
    values (``columns``, one list per field), then the rows before them that are links to
    the parent's entries (``links``), and the rows that change a parent's record in place
    (``adopts``, by row number counting the links first)."""

    entry: TypeEntry
    columns: list[list[Any]]
    links: list[Link]
    adopts: dict[int, Link]

    def rows(self) -> list[dict[str, Any]]:
        """The stored rows as dicts (links not included)."""
        return rows_of(self.entry, self.columns)

    def row(self, row: int) -> dict[str, Any]:
        """One row's fields (``row`` counting the links first; a stored row)."""
        at = row - len(self.links)
        return {f.name: column[at] for f, column in zip(self.entry.schema.fields, self.columns, strict=True)}


def ref_index(m: Manifest, readers: Sequence[str] = ()) -> RefIndex:
    """Ref markers name the writer's types; a step may hand back, or a field declare,
    the reader's name of a renamed type: both name the same table."""
    names = {t.schema.name: i for i, t in enumerate(m.types)}
    names.update({name: i for i, name in enumerate(readers)})
    return RefIndex(names, [t.links + t.count for t in m.types])


def generic_root(m: Manifest, root: Any) -> Any:
    """The root (its msgpack data) with tables as ``TableNode`` values: whole ones, or
    changes in a delta."""
    return generic_root_and_tables(m, root)[0]


def generic_root_and_tables(m: Manifest, root: Any) -> tuple[Any, dict[int, TableNode]]:
    """``generic_root``, and its table nodes by token (as decoded: no walk of the root)."""
    seen: dict[int, TableNode] = {}

    def node(token: int, entries: dict[Any, Any], deleted: list[Any] | None) -> TableNode:
        if token in seen:
            raise Corrupt("each table once in the state", f"table {token} twice")
        if deleted is not None and not m.is_delta:
            raise Corrupt("whole tables only, outside a delta checkpoint", f"changes to table {token}")
        seen[token] = TableNode(token, entries, deleted)
        return seen[token]

    stand_ins = [RefRows(t.schema.name, t.links + t.count) for t in m.types]
    root = TaggedDecoder(stand_ins, keyed=node).decode(root)
    if not m.is_delta and {str(t): len(n.entries) for t, n in seen.items()} != m.tables:
        raise Corrupt("tables with the entry counts in the manifest", ", ".join(list(m.tables)[:3]))
    if set(map(str, seen)) != set(m.tables):
        raise Corrupt("the tables the manifest lists", ", ".join(map(str, sorted(seen)))[:200])
    return root, seen


def table_nodes(root: Any) -> dict[int, TableNode]:
    """Table nodes of a generic root, by token (through builtin containers)."""
    found: dict[int, TableNode] = {}
    stack = [root]
    while stack:
        value = stack.pop()
        if isinstance(value, TableNode):
            found[value.token] = value
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple | set | frozenset):
            stack.extend(value)
    return found
