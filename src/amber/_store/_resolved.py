"""A checkpoint's whole state, read without the application's code: a delta's chain resolved.

Each checkpoint of the chain is read generically (records as dicts of their fields,
references as ``Ref(name, row)`` markers). A record is known by a ``Node``: the position in
the chain it was read at, its type and its row there. Along the chain:

- a delta's *link* row stands for the record its parent's table entry holds;
- a delta's *adopt* row is a parent's record changed in place: from that delta on, that
  record (whoever points at it) has the adopt row's fields;
- a delta's table nodes change the parent's tables: entries set, keys deleted.

``State`` is the state at one checkpoint of the chain: the last one (what ``dump`` and
``export`` show), or an earlier one kept on the way (``diff`` of a checkpoint and its
descendant reads their chain once, and sees which entries no delta in between touched).
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from .._format._format import Manifest, TypeEntry
from .._schema._values import Link, Ref, TableNode
from ..errors import CorruptCheckpointError
from ._capture import gc_paused
from ._generic import GenericColumns
from ._loading import check_memory
from ._reading import CheckpointReader

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore


class Node(NamedTuple):
    """A record of the resolved state: read at chain position ``at``, type ``name``, ``row``."""

    at: int
    name: str
    row: int


class Placed(NamedTuple):
    """A value read at chain position ``at`` (its ``Ref`` markers name rows of that checkpoint)."""

    at: int
    value: Any


Tables = dict[int, dict[Any, Placed]]  # token -> key -> value


class Chain:
    """A checkpoint's chain read generically, resolved as the module's docstring says."""

    def __init__(self, store: CheckpointStore, checkpoint_id: str | int | None = None, keep: int | None = None) -> None:
        self.manifests: list[Manifest] = store.manifests.chain(checkpoint_id)
        check_memory(store, self.manifests)
        self.types: list[dict[str, GenericColumns]] = []  # per position, by name
        self.changed: dict[Node, list[Placed]] = {}  # records changed in place: their fields, oldest first
        self.alias: dict[Node, Node] = {}  # link and adopt rows: the parent's record they are
        self.arrays: list[dict[int, list[str]]] = []  # per position: each array's segment digests
        tables: Tables = {}
        self._kept: tuple[int, Tables, Any] | None = None
        for at, manifest in enumerate(self.manifests):
            reader = CheckpointReader(store.storage, manifest, memory_limit=store.max_load_memory)
            with gc_paused():  # millions of values built: the cyclic GC would run over and over
                types, root, nodes = reader.generic_columns()
            tables = self._add(at, manifest, types, nodes, tables)
            if at == keep:
                self._kept = (at, {token: dict(entries) for token, entries in tables.items()}, root)
        self._last = (len(self.manifests) - 1, tables, root)

    # A chain does not hold its states (they hold it): no reference cycle, so that millions of
    # values go as soon as the last state does, not at a later collection that takes seconds.
    @property
    def last(self) -> State:
        """The state at the chain's last checkpoint."""
        return State(self, *self._last)

    @property
    def kept(self) -> State:
        """The state at the position ``keep`` named."""
        assert self._kept is not None, "a position to keep was given"
        return State(self, *self._kept)

    def _add(
        self, at: int, manifest: Manifest, types: list[GenericColumns], nodes: dict[int, TableNode], tables: Tables
    ) -> Tables:
        by_name = {t.entry.schema.name: t for t in types}
        self.types.append(by_name)
        self.arrays.append(_array_digests(manifest))
        if manifest.parent:
            before = State(self, at - 1, tables, None)
            for name, t in by_name.items():
                self._resolve_parent_rows(before, at, name, t)
        for token, node in nodes.items():
            if node.deleted is None:
                tables[token] = {k: Placed(at, v) for k, v in node.entries.items()}
                continue
            entries = tables[token]  # generic_root checked the parent has it
            for key in node.deleted:
                entries.pop(key, None)
            entries.update((k, Placed(at, v)) for k, v in node.entries.items())
        return {token: tables[token] for token in nodes}

    def _resolve_parent_rows(self, before: State, at: int, name: str, t: GenericColumns) -> None:
        for row, link in enumerate(t.links):
            self.alias[Node(at, name, row)] = _parent_record(before, link)
        for row, link in t.adopts.items():
            target = _parent_record(before, link)
            self.alias[Node(at, name, row)] = target
            self.changed.setdefault(target, []).append(Placed(at, t.row(row)))


class State:
    """The state at one checkpoint of a chain: its root and tables, and every record's fields."""

    def __init__(self, chain: Chain, at: int, tables: Tables, root: Any) -> None:
        self.chain = chain
        self.at = at
        self.tables = tables
        self.root = root

    @property
    def manifest(self) -> Manifest:
        return self.chain.manifests[self.at]

    @property
    def types(self) -> dict[str, TypeEntry]:
        """Each type the state holds, as last written along its chain."""
        found: dict[str, TypeEntry] = {}
        for manifest in self.chain.manifests[: self.at + 1]:
            found.update({t.schema.name: t for t in manifest.types})
        return found

    def node(self, at: int, ref: Ref) -> Node:
        """The record a ``Ref`` read at chain position ``at`` stands for."""
        found = Node(at, ref.name, ref.row)
        return self.chain.alias.get(found, found)

    def fields(self, node: Node) -> Placed:
        """A record's fields as they stand at this checkpoint."""
        changes = self.chain.changed.get(node)
        if changes is not None:
            latest = [p for p in changes if p.at <= self.at]
            if latest:
                return latest[-1]
        return Placed(node.at, self.chain.types[node.at][node.name].row(node.row))

    def entries(self, token: int) -> dict[Any, Placed]:
        return self.tables.get(token, {})

    def placed_root(self) -> Placed:
        return Placed(self.at, self.root)

    def table_type(self, token: int) -> str:
        """The type of a table's values (its first entry's), as the diff groups tables."""
        for placed in self.entries(token).values():
            value = placed.value
            return self.node(placed.at, value).name if type(value) is Ref else type(value).__name__
        return ""

    def table_places(self) -> dict[int, str]:
        """Where each table sits, as a JSON Pointer into the root's dicts and lists (the
        first place found). Not through records: a million of them may hang from the root;
        a table a record holds has no place here (callers say ``table <token>``)."""
        found: dict[int, str] = {}
        stack: list[tuple[str, Any]] = [("", self.root)]
        while stack:
            pointer, value = stack.pop()
            if type(value) is TableNode:
                found.setdefault(value.token, pointer or "/")
            elif isinstance(value, dict):
                stack.extend((f"{pointer}/{pointer_step(k)}", v) for k, v in value.items() if _may_hold_table(v))
            elif isinstance(value, list | tuple):
                stack.extend((f"{pointer}/{i}", v) for i, v in enumerate(value) if _may_hold_table(v))
        return found

    def changed_since(self, earlier: int) -> set[Node]:
        """Records changed in place by the checkpoints after position ``earlier``, up to this one."""
        return {n for n, changes in self.chain.changed.items() if any(earlier < p.at <= self.at for p in changes)}

    def walk(self, placed: Placed) -> Iterator[Node]:
        """The records a value points at directly (not through other records), in no set order."""
        stack: list[tuple[int, Any]] = [placed]
        while stack:
            at, value = stack.pop()
            kind = type(value)
            if kind is Ref:
                yield self.node(at, value)
            elif kind is TableNode:
                stack.extend(self.entries(value.token).values())
            elif isinstance(value, dict):
                stack.extend((at, v) for v in (*value.keys(), *value.values()))
            elif isinstance(value, list | tuple | set | frozenset | collections.deque):
                stack.extend((at, v) for v in value)


def pointer_step(key: Any) -> str:
    """A JSON Pointer step (RFC 6901: ``~`` and ``/`` escaped)."""
    return str(key).replace("~", "~0").replace("/", "~1")


def _may_hold_table(value: Any) -> bool:
    return type(value) in (TableNode, dict, list, tuple)


def _parent_record(before: State, link: Link) -> Node:
    placed = before.tables.get(link.table, {}).get(link.key)
    if placed is None or type(placed.value) is not Ref:
        manifest = before.chain.manifests[before.at + 1]
        raise CorruptCheckpointError(
            manifest.id, "links", f"links to record entries of the parent {manifest.parent}", repr(link)
        )
    return before.node(placed.at, placed.value)


def _array_digests(manifest: Manifest) -> dict[int, list[str]]:
    """Each array's content, as the digests of its segments (its number says nothing: it
    is only the order the writer met the arrays in)."""
    found: dict[int, list[str]] = {}
    for segment in manifest.segments:
        if segment.kind == "array":
            found.setdefault(segment.array, []).append(segment.digest)
    return found
