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
from itertools import compress, repeat
from operator import is_
from typing import Any, TypeVar, overload

from .. import _kernels
from .._kernels._identity import IdIndex as _IdIndex  # the type; the instances are the selected kernels'

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
        # which key holds an object: built when a delta first needs it, kept up to date after
        self._where: _Where | None = None
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
            _index(self._where.since, id(value), key)
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
                _index(self._where.since, id(value), key)
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

        The reverse index is built on first use (at a load already, where the compiled
        kernels make that cheap) and kept up to date by later changes: a lookup costs what
        it asks, not the table's size."""
        if not values or type(values[0]) not in self._kinds:
            return [_MISSING] * len(values)
        where = self._where if self._where is not None else self._index_whole()
        data: dict[Any, Any] = self._data
        found = list(map(where.since.get, map(id, values), repeat(_MISSING)))
        # An entry is stale when its key now holds another object (the value moved or went).
        if Aliases in set(map(type, found)):
            found = [_held(data, key, value) for key, value in zip(found, values, strict=True)]
        else:
            current = list(map(data.get, found, repeat(_MISSING)))  # in C: this runs in the pause
            found = [key if now is value else _MISSING for key, now, value in zip(found, current, values, strict=True)]
        if where.base is not None:
            self._add_base_keys(where, values, found)
        return found

    def _add_base_keys(self, where: _Where, values: list[Any], found: list[Any]) -> None:
        """Add to ``found`` the keys that have held the same object since the index was built."""
        assert where.base is not None
        assert where.keys is not None
        keys = where.keys
        if not keys:
            return
        # -1 (not in the index) picks the last key: checked like any other candidate.
        candidates = list(map(keys.__getitem__, where.base.find(values)))
        current = map(self._data.get, candidates, repeat(_MISSING))
        for i in compress(range(len(values)), map(is_, current, values)):  # in C: this runs in the pause
            found[i] = _with_key(found[i], candidates[i])

    def _index_whole(self, keys: list[Any] | None = None, values: list[Any] | None = None) -> _Where:
        """Index every entry now: by position, in the compiled kernels' identity index (an
        object held by several keys needs the slower index that knows them all). ``keys``
        and ``values``: the table's entries as lists already made (a checkpoint's writer)."""
        base = _kernels.IdIndex(values if values is not None else list(self._data.values()))
        if base.duplicates:
            self._where = _Where(None, None, _reverse_index(self._data))
        else:
            self._where = _Where(base, keys if keys is not None else list(self._data), {})
        return self._where

    def _index_if_cheap(self, keys: list[Any] | None = None, values: list[Any] | None = None) -> None:
        """Index the table now if the compiled kernels make that cheap (tens of ms a million
        entries): built in the first delta's pause instead, it would grow with the table."""
        if _kernels.COMPILED and self._where is None and self._kinds - _NO_IDENTITY:
            self._index_whole(keys, values)

    def _unindex(self, key: K) -> None:
        assert self._where is not None
        since = self._where.since
        old = self._data.get(key, _MISSING)
        if old is _MISSING:
            return
        entry = since.get(id(old), _MISSING)
        if type(entry) is Aliases:
            entry.discard(key)
            if len(entry) == 1:
                since[id(old)] = next(iter(entry))
        elif entry is not _MISSING and entry == key:
            del since[id(old)]

    @classmethod
    def _restored(cls, token: int, data: dict[Any, Any]) -> Table[Any, Any]:
        table: Table[Any, Any] = cls()
        table._data = data
        table._kinds = set(map(type, data.values()))
        table.token = token
        table._index_if_cheap()
        return table

    def _apply(self, changed: dict[Any, Any], deleted: list[Any]) -> None:
        """Apply a delta read from a checkpoint (no change tracking: this is the saved state)."""
        data, where = self._data, self._where
        if where is not None:  # kept up to date: a chain's restore costs what its deltas change
            for key in deleted:
                self._unindex(key)
            for key, value in changed.items():
                self._unindex(key)
                _index(where.since, id(value), key)
        for key in deleted:
            data.pop(key, None)
        data.update(changed)
        self._kinds.update(map(type, changed.values()))


MISSING = _MISSING


class Aliases(set[Any]):
    """The keys of a table that hold one and the same object."""


@dataclass
class _Where:
    """A table's reverse index: which key holds an object. ``base`` gives the position (in
    ``keys``) each value had when the index was built; ``since`` maps id(value) -> its key
    (or Aliases) for the values set since. Either may be stale: lookups check the table."""

    base: _IdIndex | None
    keys: list[Any] | None
    since: dict[int, Any]


def _with_key(found: Any, key: Any) -> Any:
    """``found`` (MISSING, a key or Aliases) with one more key holding the same object."""
    if found is _MISSING or found == key:
        return key if found is _MISSING else found
    if type(found) is Aliases:
        return Aliases(found | {key})
    return Aliases((found, key))


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
# Values no delta looks up by identity: a table holding only these needs no reverse index.
_NO_IDENTITY = frozenset({int, float, str, bytes, bool, type(None), complex})


def _containers(items: Iterable[Any]) -> list[Any]:
    items = list(items)
    if _CONTAINERS.isdisjoint(map(type, items)):
        return []  # the common case: a list of records or scalars, checked in C
    return [x for x in items if type(x) in _CONTAINERS]
