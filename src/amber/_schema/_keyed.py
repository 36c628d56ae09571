"""``amber.Table``: a dict of keyed records that knows what changed since the last checkpoint.

A delta checkpoint holds only a table's changed keys and tombstones for its deleted ones.
Changes are seen through the mapping interface (``table[k] = v``, ``del table[k]``,
``update``, ``pop``...); a record changed in place must be marked with ``touch(k)``.

Each table has a ``token``, a random 63-bit number that names it across a chain of
checkpoints: a delta's changes apply to the table with the same token in its parent.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any, TypeVar, overload

K = TypeVar("K")
V = TypeVar("V")
_MISSING: Any = object()


def new_token() -> int:
    return int.from_bytes(os.urandom(8), "big") >> 1


@dataclass
class Changes:
    """Keys set (a new value), touched (the same value, changed in place) and deleted since
    changes were last taken. A key is in at most one of the three."""

    changed: set[Any] = field(default_factory=set)
    deleted: set[Any] = field(default_factory=set)
    touched: set[Any] = field(default_factory=set)
    # key -> its value when first changed since (MISSING: it had none): the checkpoint's own
    # objects, so one set again, or moved to another key, keeps its identity in a delta
    before: dict[Any, Any] = field(default_factory=dict)


class Table(MutableMapping[K, V]):
    """A dict-like container of keyed records with change tracking for delta checkpoints.

    Keys must be values Amber can store without references (numbers, strings, bytes,
    tuples of them, dates, UUIDs...). Values are usually records; any storable value works.
    """

    __slots__ = ("_changes", "_data", "_kinds", "_where", "last", "token")

    def __init__(self, items: Mapping[K, V] | Iterable[tuple[K, V]] = (), /) -> None:
        self._data: dict[K, V] = dict(items)
        self._changes = Changes()
        self._kinds: set[type] = set(map(type, self._data.values()))  # value types ever held
        # id(value) -> its key (or Aliases: its keys), built when a delta needs it
        self._where: dict[int, Any] | None = None
        self.token = new_token()
        # (store url, checkpoint id, its manifest digest) it was last saved in or loaded from
        self.last: tuple[str, str, str] | None = None

    # --- reading: plain dict speed ---------------------------------------------------------

    def __getitem__(self, key: K) -> V:
        return self._data[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[K]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K, default: Any = None) -> Any:
        return self._data.get(key, default)

    def keys(self) -> Any:
        return self._data.keys()

    def values(self) -> Any:
        return self._data.values()

    def items(self) -> Any:
        return self._data.items()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Table):
            return self._data == other._data
        return isinstance(other, Mapping) and self._data == dict(other.items())

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"amber.Table({len(self._data)} entries, {len(self._changes.changed)} changed)"

    # --- writing: every change is recorded ---------------------------------------------------

    def __setitem__(self, key: K, value: V) -> None:
        data = self._data
        if self._where is not None:
            self._unindex(key)
            _index(self._where, id(value), key)
        changes = self._changes
        if key not in changes.before:
            changes.before[key] = data.get(key, _MISSING)
        data[key] = value
        changes.changed.add(key)
        changes.touched.discard(key)
        changes.deleted.discard(key)
        if type(value) not in self._kinds:
            self._kinds.add(type(value))

    def __delitem__(self, key: K) -> None:
        if self._where is not None:
            self._unindex(key)
        changes = self._changes
        if key not in changes.before and key in self._data:
            changes.before[key] = self._data[key]
        del self._data[key]
        changes.changed.discard(key)
        changes.touched.discard(key)
        changes.deleted.add(key)

    def update(self, other: Any = (), /, **kwargs: V) -> None:
        items = dict(other, **kwargs)
        if self._where is not None:
            for key, value in items.items():
                self._unindex(key)
                _index(self._where, id(value), key)
        changes = self._changes
        fresh = items.keys() - changes.before.keys()
        changes.before.update({k: self._data[k] for k in fresh & self._data.keys()})  # replaced values
        changes.before.update(dict.fromkeys(fresh - self._data.keys(), _MISSING))  # new keys, in bulk
        self._data.update(items)
        changes.changed.update(items)
        changes.touched.difference_update(items)
        changes.deleted.difference_update(items)
        self._kinds.update(map(type, items.values()))

    @overload
    def pop(self, key: K, /) -> V: ...
    @overload
    def pop(self, key: K, default: Any, /) -> Any: ...
    def pop(self, key: K, default: Any = _MISSING, /) -> Any:
        if key in self._data:
            value = self._data[key]
            del self[key]
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def clear(self) -> None:
        self._changes.before = {**self._data, **self._changes.before}
        self._changes.deleted.update(self._data)
        self._changes.changed.clear()
        self._changes.touched.clear()
        self._data.clear()
        self._where = None

    def touch(self, key: K) -> None:
        """Mark ``key`` changed: its record was modified in place and must be in the next delta."""
        if key not in self._data:
            raise KeyError(key)
        if key not in self._changes.changed:  # a new value is written whole anyway
            self._changes.touched.add(key)

    def copy(self) -> Table[K, V]:
        """A new table (a new token) with the same entries."""
        return Table(self._data)

    def __copy__(self) -> Table[K, V]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> Table[K, V]:
        return Table(copy.deepcopy(self._data, memo))  # a new table: a new token, no history

    # --- used by checkpoints -------------------------------------------------------------------

    @property
    def pending(self) -> int:
        """Keys changed or deleted since the last checkpoint."""
        changes = self._changes
        return len(changes.changed) + len(changes.touched) + len(changes.deleted)

    def _take_changes(self) -> Changes:
        """Hand the changes so far to a checkpoint and start recording afresh."""
        taken, self._changes = self._changes, Changes()
        return taken

    def _return_changes(self, taken: Changes) -> None:
        """Give back changes of a checkpoint that failed: the next one must include them.
        What happened since wins: a key set or deleted since is just that."""
        now = self._changes
        since = now.changed | now.deleted
        now.changed |= taken.changed - now.deleted
        now.deleted |= taken.deleted - now.changed
        now.touched |= taken.touched - since
        now.touched -= now.changed
        now.before = {**now.before, **taken.before}  # the older value is the checkpoint's

    def _keys_of(self, values: list[Any]) -> list[Any]:
        """For each value (all of one type), the key holding that very object: ``MISSING``,
        a key, or ``Aliases`` (a set of keys) when several keys hold it.

        The reverse index is built on first use and kept up to date by later changes."""
        if not values or type(values[0]) not in self._kinds:
            return [_MISSING] * len(values)
        if self._where is None:
            self._where = _reverse_index(self._data)
        found = list(map(self._where.get, map(id, values), repeat(_MISSING)))
        data: dict[Any, Any] = self._data
        # An entry is stale when its key now holds another object (the value moved or went).
        if Aliases in set(map(type, found)):
            return [_held(data, key, value) for key, value in zip(found, values, strict=True)]
        current = list(map(data.get, found, repeat(_MISSING)))  # in C: this runs in the pause
        return [key if now is value else _MISSING for key, now, value in zip(found, current, values, strict=True)]

    def _unindex(self, key: K) -> None:
        assert self._where is not None
        old = self._data.get(key, _MISSING)
        if old is _MISSING:
            return
        entry = self._where.get(id(old), _MISSING)
        if type(entry) is Aliases:
            entry.discard(key)
            if len(entry) == 1:
                self._where[id(old)] = next(iter(entry))
        elif entry is not _MISSING and entry == key:
            del self._where[id(old)]

    @classmethod
    def _restored(cls, token: int, data: dict[Any, Any]) -> Table[Any, Any]:
        table: Table[Any, Any] = cls()
        table._data = data
        table._kinds = set(map(type, data.values()))
        table.token = token
        return table

    def _apply(self, changed: dict[Any, Any], deleted: list[Any]) -> None:
        """Apply a delta read from a checkpoint (no change tracking: this is the saved state)."""
        data = self._data
        for key in deleted:
            data.pop(key, None)
        data.update(changed)
        self._kinds.update(map(type, changed.values()))
        self._where = None


MISSING = _MISSING


class Aliases(set[Any]):
    """The keys of a table that hold one and the same object."""


def _held(data: dict[Any, Any], key: Any, value: Any) -> Any:
    """The key (or keys) still holding ``value`` of those the index gave."""
    if type(key) is Aliases:
        return Aliases(k for k in key if data.get(k, _MISSING) is value) or _MISSING
    return key if key is not _MISSING and data.get(key, _MISSING) is value else _MISSING


def _index(where: dict[int, Any], ident: int, key: Any) -> None:
    entry = where.get(ident, _MISSING)
    if entry is _MISSING:
        where[ident] = key
    elif type(entry) is Aliases:
        entry.add(key)
    elif entry != key:
        where[ident] = Aliases((entry, key))


def _reverse_index(data: dict[Any, Any]) -> dict[int, Any]:
    where = dict(zip(map(id, data.values()), data, strict=True))
    if len(where) < len(data):  # some object is held by several keys
        where = {}
        for key, value in data.items():
            _index(where, id(value), key)
    return where


def find_tables(state: Any) -> list[Table[Any, Any]]:
    """Tables reachable from ``state`` through builtin containers (not through records)."""
    found: dict[int, Table[Any, Any]] = {}
    seen: set[int] = set()  # containers visited: a container holding itself is refused later
    stack = [state]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        kind = type(node)
        if kind is Table:
            found[id(node)] = node
        elif kind is dict:
            stack.extend(_containers(node.values()))
            stack.extend(_containers(node))
        elif kind in (list, tuple, set, frozenset):
            stack.extend(_containers(node))
    return list(found.values())


def table_paths(state: Any) -> dict[int, str]:
    """Where each table sits in ``state`` (by token), for messages: ``['sessions']['by_user']``."""
    found: dict[int, str] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, str]] = [(state, "")]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if type(node) is Table:
            found.setdefault(node.token, path or "the state")
        elif type(node) is dict:
            stack.extend((v, f"{path}[{k!r}]") for k, v in node.items() if type(v) in _CONTAINERS)
        elif type(node) in (list, tuple):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node) if type(v) in _CONTAINERS)
    return found


_CONTAINERS = frozenset({Table, dict, list, tuple, set, frozenset})


def _containers(items: Iterable[Any]) -> list[Any]:
    items = list(items)
    if _CONTAINERS.isdisjoint(map(type, items)):
        return []  # the common case: a list of records or scalars, checked in C
    return [x for x in items if type(x) in _CONTAINERS]
