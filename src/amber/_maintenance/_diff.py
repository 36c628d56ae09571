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
import itertools
import operator
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from .._format._format import TypeEntry
from .._schema._values import Ref, to_json_value
from .._store._capture import gc_paused
from .._store._checkpoint import CheckpointStore
from .._store._generic import GenericColumns
from .._store._resolved import Chain, Node, Placed, State, pointer_step
from ..errors import CheckpointError
from ._contents import Contents, is_reference
from ._same_rows import SameRows

MAX_KEYS = 20  # keys listed per type and change; counts are always complete


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
    with gc_paused():  # millions of values compared: the cyclic GC would run over and over
        try:
            return _diff(store, a, b)
        except RecursionError:  # records outside tables chained deeper than Python recurses
            expected = f"records outside tables nested at most {sys.getrecursionlimit()} deep, for a diff"
            raise CheckpointError(str(b), "values", expected, "a deeper chain of records") from None


def _diff(store: CheckpointStore, a: str | int, b: str | int) -> dict[str, Any]:
    old, new = _states(store, a, b)
    compare = _Comparison(old, new)
    tables: dict[str, _Changes] = collections.defaultdict(_Changes)
    for was, now in _paired_tables(old, new):
        name = new.table_type(now) or old.table_type(was)
        compare.keyed(old.entries(was), new.entries(now), tables[name])
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


def _paired_tables(old: State, new: State) -> list[tuple[int, int]]:
    """Each table of one state with its counterpart in the other: the same table (its token),
    else the table at the same place in the root (one rebuilt, ``amber.Table(...)`` anew);
    one with no counterpart is paired with nothing (token 0: no entries)."""
    pairs = [(t, t) for t in sorted(set(old.tables) & set(new.tables))]
    gone, came = set(old.tables) - set(new.tables), set(new.tables) - set(old.tables)
    if gone and came:
        was_at, now_at = old.table_places(), new.table_places()
        by_place = {now_at[t]: t for t in came if t in now_at}
        for token in sorted(gone):
            match = by_place.pop(was_at.get(token, ""), None)
            if match is not None:
                pairs.append((token, match))
                gone.discard(token)
                came.discard(match)
    return pairs + [(t, 0) for t in sorted(gone)] + [(0, t) for t in sorted(came)]


class _Comparison:
    def __init__(self, old: State, new: State) -> None:
        self._old = Contents(old)
        self._new = Contents(new)
        # One chain: an entry no delta in between rewrote is the same object in both states,
        # unless a record it points at stopped (or started) being a table entry: a reference
        # counts by the entry it is, else by its content, so then every entry is compared.
        self._shared = old.chain is new.chain and not _points_at_moved(old, new)
        # records a delta between the two changed in place: the same node, other fields
        self._rewritten = new.changed_since(old.at) | old.changed_since(new.at) if self._shared else set()
        self._marks: set[Placed] | None = None
        self._same_rows = SameRows(self._old, self._new)

    def keyed(self, was: dict[Any, Placed], now: dict[Any, Placed], found: _Changes) -> None:
        found.added.extend(k for k in now if k not in was)
        found.deleted.extend(k for k in was if k not in now)
        common = [k for k in now if k in was]
        if self._shared:  # an entry no delta in between rewrote, whose record none changed in place
            marks = self._rewritten_marks
            common = [k for k in common if was[k] is not now[k] or now[k] in marks]
        common, old, new = self._unlike(common, [was[k].value for k in common], [now[k].value for k in common])
        before = self._old.many_at(0, old) if self._same_rows.usable else self._old.many([was[k] for k in common])
        after = self._new.many_at(0, new) if self._same_rows.usable else self._new.many([now[k] for k in common])
        found.changed.extend(k for k, a, b in zip(common, before, after, strict=True) if a != b)

    def _unlike(self, keys: list[Any], before: list[Any], after: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
        """The keys (and their values) whose records are not found alike row by row: only
        those are fingerprinted (two full checkpoints: ``_same_rows``)."""
        alike = self._same_rows.alike(before, after)
        if alike is None:
            return keys, before, after
        unlike = [i for i, same in enumerate(alike) if not same]
        return [keys[i] for i in unlike], [before[i] for i in unlike], [after[i] for i in unlike]

    @property
    def _rewritten_marks(self) -> set[Placed]:
        """Every ``Placed(position, Ref)`` that stands for a record changed in place between
        the two: its own, and the link or adopt rows naming it (an entry is checked by one
        set lookup, no node built: a million entries)."""
        if self._marks is None:
            alias = self._new.state.chain.alias
            self._marks = {Placed(n.at, Ref(n.name, n.row)) for n in self._rewritten}
            self._marks.update(Placed(a.at, Ref(a.name, a.row)) for a, n in alias.items() if n in self._rewritten)
        return self._marks

    def _plain_dict(self, was: Placed, now: Placed, found: _Changes) -> None:
        """``keyed`` for a dict of the root (its values read at one position each)."""
        old, new = was.value, now.value
        if list(old) == list(new) and not self._shared:  # the same keys in the same order: no lookups
            common, before, after = list(new), list(old.values()), list(new.values())
        else:
            found.added.extend(k for k in new if k not in old)
            found.deleted.extend(k for k in old if k not in new)
            common = [k for k in new if k in old]
            if self._shared:
                common = [k for k in common if not self._same_record(Placed(was.at, old[k]), Placed(now.at, new[k]))]
            before, after = [old[k] for k in common], [new[k] for k in common]
        common, before, after = self._unlike(common, before, after)
        differs = map(operator.ne, self._old.many_at(was.at, before), self._new.many_at(now.at, after))
        found.changed.extend(itertools.compress(common, differs))

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
            pointer = "/" + pointer_step(key)
            was, now = old.value.get(key, _NONE), new.value.get(key, _NONE)
            if was is _NONE or now is _NONE:
                parts[pointer] = {"added" if was is _NONE else "deleted": True}
            elif _is_plain_dict(was) and _is_plain_dict(now):
                found = _Changes()
                self._plain_dict(Placed(old.at, was), Placed(new.at, now), found)
                if found.any():
                    parts[pointer] = found.summary()
            elif not self._same(Placed(old.at, was), Placed(new.at, now)):
                parts[pointer] = {"changed": True}
        return parts

    def _same(self, was: Placed, now: Placed) -> bool:
        if self._same_record(was, now) or (self._shared and was is now):
            return True
        return self._old.of(was) == self._new.of(now)

    def _same_record(self, was: Placed, now: Placed) -> bool:
        """One record in both states, that no delta in between changed: nothing to look at."""
        if not (self._shared and type(was.value) is Ref and type(now.value) is Ref):
            return False
        a, b = self._old.state.node(*was), self._new.state.node(*now)
        return a == b and a not in self._rewritten


def _points_at_moved(old: State, new: State) -> bool:
    """Whether a record of the chain points at a record that is a table entry in one state
    and not (or at another key) in the other: replaced, deleted or added entries' records."""
    moved: set[Node] = set()
    for token in set(old.tables) | set(new.tables):
        was, now = old.entries(token).values(), new.entries(token).values()
        try:  # the values in one state only (the same Placed objects are shared): C loops
            differ = [(old, p) for p in set(was) - set(now)] + [(new, p) for p in set(now) - set(was)]
        except TypeError:  # an unhashable value: every value, one at a time
            differ = [(old, p) for p in was] + [(new, p) for p in now]
        moved.update(state.node(*p) for state, p in differ if type(p.value) is Ref)
    if not moved:
        return False
    chain = old.chain
    names: dict[int, set[Ref]] = {}  # per chain position: the markers that stand for a moved record
    for node in moved:
        names.setdefault(node.at, set()).add(Ref(node.name, node.row))
    for alias, node in chain.alias.items():
        if node in moved:
            names.setdefault(alias.at, set()).add(Ref(alias.name, alias.row))
    return any(_holds_any(chain.types[at], markers) for at, markers in names.items())


def _holds_any(types: dict[str, GenericColumns], markers: set[Ref]) -> bool:
    """Whether a field of a checkpoint's records holds one of ``markers``."""
    for t in types.values():
        for f, column in zip(t.entry.schema.fields, t.columns, strict=True):
            if is_reference(f.type):  # a C loop over the column
                if not markers.isdisjoint(column):
                    return True
            elif (f.type.references() or f.type.is_tagged()) and any(_contains(v, markers) for v in column):
                return True
    return False


def _contains(value: Any, markers: set[Ref]) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if type(item) is Ref:
            if item in markers:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset | collections.deque):
            stack.extend(item)
    return False


def _is_plain_dict(value: Any) -> bool:
    return type(value) is dict


_NONE = object()


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
