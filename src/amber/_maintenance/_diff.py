"""``amber diff``: what changed between two checkpoints, read without the application's code.

Both states are resolved along their chains (``_resolved``). Per table (by its token): keys
added, deleted, and changed; per part of the root outside tables (``/ledger``, or each key
of a plain dict such as ``/accounts``): changed or not. A value counts as changed when its
content differs: its fields, the records it holds (to any depth), and which table entries
it points at. A record that is a table entry counts by its key where another value points
at it, so a renamed customer changes its own entry, not every account pointing at it.

When one checkpoint descends from the other, their chain is read once: an entry no delta in
between rewrote, and whose record none changed in place, is the same object in both
states, and is skipped without a look at its content. So the cost of comparing a checkpoint
with its descendant grows with the changes (and the reading of the chain), not the data.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._format._format import TypeEntry, digest
from .._schema._types import SCALAR_TYPES, FieldType
from .._schema._values import ArrayRef, Ref, TableNode, ValueRenderError, to_json_value
from .._store._checkpoint import CheckpointStore
from ._resolved import Chain, Node, Placed, State

MAX_KEYS = 20  # keys listed per type and change; counts are always complete
_PLAIN_KINDS = {*SCALAR_TYPES, "list", "tuple", "enum", "literal", "union"} - {"bytearray"}


@dataclass
class _Changes:
    added: list[Any] = field(default_factory=list)
    changed: list[Any] = field(default_factory=list)
    deleted: list[Any] = field(default_factory=list)

    def any(self) -> bool:
        return bool(self.added or self.changed or self.deleted)

    def summary(self) -> dict[str, Any]:
        found = {"added": self.added, "changed": self.changed, "deleted": self.deleted}
        summary: dict[str, Any] = {change: len(keys) for change, keys in found.items()}
        summary["keys"] = {change: _listed(keys) for change, keys in found.items() if keys}
        return summary


def diff(store: CheckpointStore, a: str | int, b: str | int) -> dict[str, Any]:
    """Per type: table keys added, changed and deleted from ``a`` to ``b``; per part of the
    root outside tables, what changed; schema changes."""
    old, new = _states(store, a, b)
    compare = _Comparison(old, new)
    tables: dict[str, _Changes] = collections.defaultdict(_Changes)
    for token in _in_order(old.tables, new.tables):
        name = new.table_type(token) or old.table_type(token)
        compare.keyed(old.entries(token), new.entries(token), tables[name])
    return {
        "a": old.manifest.id,
        "b": new.manifest.id,
        "types": {name: found.summary() for name, found in sorted(tables.items()) if found.any()},
        "paths": compare.root_parts(),
        "schemas": _schema_changes(old.types, new.types),
    }


def _states(store: CheckpointStore, a: str | int, b: str | int) -> tuple[State, State]:
    """The two states, their chain read once when one descends from the other."""
    old_ids = [m.id for m in store.manifests.chain(a)]
    new_ids = [m.id for m in store.manifests.chain(b)]
    if new_ids[: len(old_ids)] == old_ids:
        chain = Chain(store, b, keep=len(old_ids) - 1)
        return chain.kept, chain.last
    if old_ids[: len(new_ids)] == new_ids:
        chain = Chain(store, a, keep=len(new_ids) - 1)
        return chain.last, chain.kept
    return Chain(store, a).last, Chain(store, b).last


def _in_order(*tables: dict[int, Any]) -> list[int]:
    return sorted(set().union(*tables))


class _Comparison:
    def __init__(self, old: State, new: State) -> None:
        self._old = _Fingerprints(old)
        self._new = _Fingerprints(new)
        shared = old.chain is new.chain
        self._shared = shared
        # records a delta between the two changed in place: the same node, other fields
        self._rewritten = new.changed_since(old.at) | old.changed_since(new.at) if shared else set()

    def keyed(self, was: dict[Any, Placed], now: dict[Any, Placed], found: _Changes) -> None:
        found.added.extend(k for k in now if k not in was)
        found.deleted.extend(k for k in was if k not in now)
        same = self._same
        found.changed.extend(k for k, placed in now.items() if k in was and not same(was[k], placed))

    def root_parts(self) -> dict[str, Any]:
        """What changed in the root outside its tables: per key of a dict root (per key of
        a plain dict held there), or the root as a whole."""
        old, new = self._old.state.placed_root(), self._new.state.placed_root()
        parts: dict[str, Any] = {}
        if not (_is_plain_dict(old.value) and _is_plain_dict(new.value)):
            if not self._same(old, new):
                parts["/"] = {"changed": True}
            return parts
        for key in _sorted_keys(set(old.value) | set(new.value)):
            pointer = "/" + str(key).replace("~", "~0").replace("/", "~1")
            was, now = old.value.get(key, _NONE), new.value.get(key, _NONE)
            if was is _NONE or now is _NONE:
                parts[pointer] = {"added" if was is _NONE else "deleted": True}
            elif _is_plain_dict(was) and _is_plain_dict(now):
                found = _Changes()
                self.keyed(_placed(old.at, was), _placed(new.at, now), found)
                if found.any():
                    parts[pointer] = found.summary()
            elif not self._same(Placed(old.at, was), Placed(new.at, now)):
                parts[pointer] = {"changed": True}
        return parts

    def _same(self, was: Placed, now: Placed) -> bool:
        if self._shared and type(was.value) is Ref and type(now.value) is Ref:
            a, b = self._old.state.node(*was), self._new.state.node(*now)
            if a == b and a not in self._rewritten:
                return True  # one record no delta in between changed: nothing to look at
        elif self._shared and was is now:
            return True
        return self._old.content(was) == self._new.content(now)


def _placed(at: int, values: dict[Any, Any]) -> dict[Any, Placed]:
    return {k: Placed(at, v) for k, v in values.items()}


def _is_plain_dict(value: Any) -> bool:
    return type(value) is dict


_NONE = object()


class _Fingerprints:
    """A value's content as bytes: equal bytes, equal content (see the module's docstring)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._owners: dict[Node, tuple[int, Any]] | None = None
        self._records: dict[Node, bytes] = {}
        self._plain: dict[tuple[int, str], list[bool]] = {}  # per (position, type): fields needing no walk
        self._encode = msgspec.msgpack.Encoder().encode
        self._on_stack: dict[Node, int] = {}
        self._back_edges = 0  # cycles met so far (a record with one inside depends on where it is met)

    def content(self, placed: Placed) -> bytes:
        at, value = placed
        if type(value) is Ref:
            return self._record(self.state.node(at, value))
        return self._encode(self._canonical(at, value))

    def _record(self, node: Node) -> bytes:
        found = self._records.get(node)
        if found is not None:
            return found
        self._on_stack[node] = len(self._on_stack)
        back_edges = self._back_edges
        at, fields = self.state.fields(node)
        plain = self._plain_fields(at, node.name, fields)
        values = [v if p else self._canonical(at, v) for p, v in zip(plain, fields.values(), strict=True)]
        found = self._encode([node.name, list(fields), values])
        del self._on_stack[node]
        if self._back_edges == back_edges:  # no cycle inside: the same bytes wherever it is met
            self._records[node] = found
        return found

    def _plain_fields(self, at: int, name: str, fields: dict[str, Any]) -> list[bool]:
        """Which fields hold values msgpack encodes canonically as they are (no record, set
        or dict in them), from the writer's schema."""
        known = self._plain.get((at, name))
        if known is None or len(known) != len(fields):
            entry: TypeEntry = next(t for t in self.state.chain.manifests[at].types if t.schema.name == name)
            types = {f.name: f.type for f in entry.schema.fields}
            known = self._plain[(at, name)] = [_is_plain(types.get(f)) for f in fields]
        return known

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
        owner = self.owners.get(node)
        if owner is not None:
            return ["entry", owner[0], self._canonical(node.at, owner[1])]
        depth = self._on_stack.get(node)
        if depth is not None:  # a cycle through records outside tables: by how far back it points
            self._back_edges += 1
            return ["back", len(self._on_stack) - depth]
        return ["record", self._record(node)]

    @property
    def owners(self) -> dict[Node, tuple[int, Any]]:
        """(token, key) of every record that is a table entry, by its node (the first key
        when several hold one record)."""
        if self._owners is None:
            node = self.state.node
            self._owners = {}
            for token, entries in self.state.tables.items():
                for key, (at, value) in entries.items():
                    if type(value) is Ref:
                        self._owners.setdefault(node(at, value), (token, key))
        return self._owners


_NATIVE = {bool, int, str, bytes, type(None)}


def _items(value: Any) -> Iterable[Any]:
    return value.items() if isinstance(value, dict) else value


def _is_plain(t: FieldType | None) -> bool:
    return t is not None and all(n.kind in _PLAIN_KINDS for n in t.walk())


def _listed(keys: list[Any]) -> list[Any]:
    return [to_json_value(k) for k in _sorted_keys(keys)[:MAX_KEYS]]


def _sorted_keys(keys: Iterable[Any]) -> list[Any]:
    """Keys in their own order (numbers as numbers), grouped by type when they are mixed."""
    by_type: dict[str, list[Any]] = collections.defaultdict(list)
    for key in keys:
        by_type[type(key).__name__].append(key)
    ordered: list[Any] = []
    for name in sorted(by_type):
        group = by_type[name]
        try:
            ordered.extend(sorted(group))
        except TypeError:  # tuples of mixed types, None: by their JSON text
            ordered.extend(sorted(group, key=lambda k: msgspec.json.encode(to_json_value(k))))
    return ordered


def _schema_changes(was: dict[str, TypeEntry], now: dict[str, TypeEntry]) -> list[dict[str, Any]]:
    found = []
    for name in sorted(set(was) | set(now)):
        a, b = was.get(name), now.get(name)
        if a is not None and b is not None and a.fingerprint == b.fingerprint:
            continue
        change = "added" if a is None else "removed" if b is None else "changed"
        found.append(
            {
                "type": name,
                "change": change,
                "a": None if a is None else {"version": a.schema.version, "fingerprint": a.fingerprint},
                "b": None if b is None else {"version": b.schema.version, "fingerprint": b.fingerprint},
            }
        )
    return found
