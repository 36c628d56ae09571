"""Deltas that check themselves: finding table entries changed in place without ``touch()``.

A delta holds only the keys a table saw change, so a record changed in place and never
marked is missing from it, and a crash brings the old value back. The manager keeps, per
table, one hash per entry of what the store's chain holds, and every ``verify_every``
checkpoints hashes the live tables again: an entry whose hash changed although its key was
never marked is a missed change. That checkpoint writes it (as if touched), and a warning
names the table and the keys.

An entry's hash covers its key and its content: the records it owns, recursively; a record
that is itself a table entry counts by identity (its own entry holds its content, and a
change to it is that entry's change). Keys are hashed too, so that a baseline is plain
integers, cheap to hand from a checkpoint's forked child back to the service.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import xxhash

from .._format._arrays import content
from .._format._zones import token_of
from .._schema._keyed import MISSING, Changes, Table, find_tables, table_paths
from .._schema._record_type import RecordType
from .._schema._registry import Registry
from .._schema._types import FieldType
from .._schema._wrapped import WRAPPED_CLASSES, wraps
from ..events._loud import loud

log = logging.getLogger("amber.manager")

Digest = dict[int, int]  # key hash -> entry hash
_hash = xxhash.xxh3_64_intdigest
_encoder = msgspec.msgpack.Encoder(order="deterministic")
UNHASHABLE = -1  # an entry whose content cannot be hashed: never reported


@dataclass
class Missed:
    """Entries found changed in place without ``touch()``, per table token."""

    keys: dict[int, list[Any]] = field(default_factory=dict)
    where: dict[int, str] = field(default_factory=dict)  # token -> the table's place in the state

    def __bool__(self) -> bool:
        return any(self.keys.values())

    def describe(self, limit: int = 10) -> str:
        parts = []
        for token, keys in self.keys.items():
            shown = ", ".join(repr(k) for k in keys[:limit]) + (
                f" and {len(keys) - limit} more" if len(keys) > limit else ""
            )
            parts.append(f"the amber.Table at {self.where.get(token, f'token {token}')}: {len(keys)} key(s) {shown}")
        return "; ".join(parts)


_ORDERED = (collections.deque, collections.OrderedDict)


def _walked(t: FieldType) -> bool:
    """Fields hashed value by value rather than by msgpack: standard-library containers
    (order, maxlen) and datetimes (their zone)."""
    return wraps(t) or any(n.kind == "datetime" for n in t.walk())


class Hasher:
    """Hashes table entries. ``held`` are the ids of every table's values: a record one entry
    points at that is another entry counts by identity, not by content."""

    def __init__(self, registry: Registry, tables: Iterable[Table[Any, Any]]) -> None:
        self.registry = registry
        self._tables = tuple(tables)
        self._held: set[int] | None = None  # found when first needed: see held
        self._plans: dict[type, tuple[int, ...] | None] = {}  # per class: see _plan
        self._types: dict[type, RecordType | None] = {}  # per class: its declared type, if any
        # Classes msgspec cannot encode itself (pydantic models) are encoded as their fields.
        self._encoder = msgspec.msgpack.Encoder(order="deterministic", enc_hook=self._unknown)

    @property
    def held(self) -> set[int]:
        """The ids of every table's values, found on first use, in the same pause: a state
        hash whose records sit in its tables alone (or at its top) never needs them, and
        finding them costs a pass over every entry (0.4 s a million)."""
        if self._held is None:
            self._held = {id(v) for t in self._tables for v in t.values()}
        return self._held

    @held.setter
    def held(self, ids: set[int]) -> None:
        self._held = ids

    def _unknown(self, value: Any) -> Any:
        if type(value).__module__ == "numpy" and hasattr(value, "dtype") and hasattr(value, "shape"):
            return ["ndarray", *content(value)]  # an array by its content
        kind = WRAPPED_CLASSES.get(type(value))
        if kind is not None:  # a deque, a path, a Fraction: what it is stored as
            return [kind.kind, kind.to_stored(value)]
        if self._declared(type(value)) is None:
            raise TypeError(f"cannot hash {type(value).__qualname__}")
        return self._fields(value)

    def _declared(self, kind: type) -> RecordType | None:
        """``registry.type_of``, once per class: it runs for every entry hashed."""
        try:
            return self._types[kind]
        except KeyError:
            found = self._types[kind] = self.registry.type_of(kind)
            return found

    def key(self, key: Any) -> int:
        return key_hash(key)

    def table(self, table: Table[Any, Any]) -> Digest:
        return dict(zip(map(self.key, table.keys()), map(self.entry, table.values()), strict=True))

    def entry(self, value: Any) -> int:
        try:
            plan = self._plan(type(value))
            if plan is None:  # nothing in it can be a record: hashed in C
                return _hash(self._encoder.encode(value))
            if self._declared(type(value)) is not None:  # only the fields that need it are walked
                fields = self._fields(value)
                seen = {id(value)}
                for i in plan:
                    fields[i] = self._shallow(fields[i], seen)
                return _hash(self._encoder.encode(fields))
            return _hash(self._encoder.encode(self._shallow(value, set())))
        except (TypeError, ValueError, RecursionError):
            return UNHASHABLE

    def _plan(self, kind: type) -> tuple[int, ...] | None:
        """None: nothing in it can be a record (not a declared record: hashed in C); for a
        declared record, the indices of the fields to walk: those that may hold records, and
        the standard-library containers (whose order or maxlen msgspec would not see). A
        record is hashed as its fields, never by msgspec's own encoding of its class (which
        leaves attrs' private fields out, and knows no pydantic model)."""
        if kind in self._plans:
            return self._plans[kind]
        declared = self.registry.type_of(kind) if isinstance(kind, type) else None
        plan: tuple[int, ...] | None
        if declared is not None:
            fields = declared.schema.fields
            plan = tuple(
                i for i, f in enumerate(fields) if f.type.references() or f.type.is_tagged() or _walked(f.type)
            )
        else:
            plan = None if kind in (int, float, str, bytes, bool, type(None)) else ()
        self._plans[kind] = plan
        return plan

    def _shallow(self, value: Any, seen: set[int]) -> Any:  # noqa: PLR0911 - one return per kind
        """The value with the records it points at replaced by what identifies them."""
        kind = type(value)
        if kind in (list, tuple, dict, set, frozenset):
            return self._container(value, seen)
        if kind is dt.datetime:  # msgpack's timestamp is the instant only: the zone is part of the value
            return ["datetime", value.isoformat(), token_of(value.tzinfo) or repr(value.tzinfo), value.fold]
        if kind in _ORDERED:  # their order (and a deque's maxlen) is part of their value
            pairs = value.items() if isinstance(value, dict) else enumerate(value)
            walked = [[self._shallow(k, seen), self._shallow(v, seen)] for k, v in pairs]
            return [kind.__name__, getattr(value, "maxlen", None), walked]
        if kind in (collections.Counter, collections.defaultdict):
            return [kind.__name__, self._container(dict(value), seen)]
        if self._declared(kind) is None:
            return value  # not a declared record
        if seen and id(value) in self.held:  # another entry: its own hash covers its content
            return ["@", id(value)]
        if id(value) in seen:
            return ["^", id(value)]  # a cycle
        seen.add(id(value))
        return [kind.__qualname__, *(self._shallow(v, seen) for v in self._fields(value))]

    def _fields(self, record: Any) -> list[Any]:
        declared = self._declared(type(record))
        assert declared is not None  # planned as a declared record
        return [getter(record) for getter in declared.getters]  # not astuple: it copies deep

    def _container(self, value: Any, seen: set[int]) -> Any:
        if type(value) is dict:
            return [[self._shallow(k, seen), self._shallow(v, seen)] for k, v in value.items()]
        items = [self._shallow(v, seen) for v in value]
        return sorted(items, key=repr) if type(value) in (set, frozenset) else items


class StateHasher(Hasher):
    """Hashes a whole state but its tables' entries, to tell whether anything a delta would
    write changed since the last checkpoint: each table counts by its token (its entries are
    its changes' and the touch check's business), each record by its identity as well as its
    content (a delta keeps identity), each container by its kind (a list is not a tuple)."""

    def state(self, state: Any) -> int:
        return self.entry(state)

    def _shallow(self, value: Any, seen: set[int]) -> Any:
        if isinstance(value, Table):
            return ["amber.Table", value.token]
        walked = super()._shallow(value, seen)
        if self._declared(type(value)) is not None and isinstance(walked, list) and walked[0] != "@":
            return [id(value), *walked]
        return walked

    def _container(self, value: Any, seen: set[int]) -> Any:
        return [type(value).__name__, super()._container(value, seen)]


def state_hash(registry: Registry, state: Any, tables: list[Table[Any, Any]]) -> int:
    """The state's hash with its tables by token (``StateHasher``); ``UNHASHABLE`` when some
    value cannot be hashed (then nothing can be said to be unchanged)."""
    return StateHasher(registry, tables).state(state)


class Baselines:
    """What the chain holds, per table token, and the keys marked since (whose entries the
    chain holds as they were then, not as the baseline says)."""

    def __init__(self) -> None:
        self.digests: dict[int, Digest] = {}
        self.marked: dict[int, set[int]] = {}

    def set(self, digests: dict[int, Digest]) -> None:
        """A checkpoint that wrote or checked every entry of these tables committed."""
        self.digests.update(digests)
        for token in digests:
            self.marked[token] = set()

    def mark(self, hasher: Callable[[Any], int], changes: dict[int, Changes]) -> None:
        """A checkpoint committed these changes: the chain holds those keys as they are now."""
        for token, taken in changes.items():
            if token in self.digests:
                keys = taken.changed | taken.touched | taken.deleted
                self.marked.setdefault(token, set()).update(map(hasher, keys))

    def missed(
        self, hasher: Hasher, tables: list[Table[Any, Any]], changes: dict[int, Changes]
    ) -> tuple[Missed, dict[int, Digest]]:
        """Entries changed since the baseline whose keys were never marked, and the tables'
        digests now (the next baseline, once this checkpoint commits). An entry holding the
        very object a marked key holds is written with it (identity survives deltas)."""
        rows: dict[int, list[tuple[Any, int, Any]]] = {}
        written: set[int] = set()  # ids of the objects marked keys hold
        for table in tables:
            taken = changes.get(table.token, Changes())
            current, marked = taken.changed | taken.touched, self.marked.get(table.token, set())
            rows[table.token] = found_rows = [(key, hasher.key(key), value) for key, value in table.items()]
            written.update(id(v) for k, kh, v in found_rows if k in current or kh in marked)
        found = Missed()
        now: dict[int, Digest] = {}
        as_then = self._released(hasher, changes)
        for table in tables:
            token = table.token
            before = self.digests.get(token)
            digest = now[token] = {}
            for key, kh, value in rows[token]:
                digest[kh] = eh = hasher.entry(value)
                if before is None or id(value) in written:
                    continue
                was = before.get(kh)
                differs = was is not None and was != eh and UNHASHABLE not in (was, eh)
                if differs and (as_then is None or as_then.entry(value) != was):
                    found.keys.setdefault(token, []).append(key)
        return found, now

    def _released(self, hasher: Hasher, changes: dict[int, Changes]) -> Hasher | None:
        """A hasher that counts by identity, as the baseline did, the records a table let go
        of in this checkpoint (replaced or deleted at their key: the table still knows each
        one) whose content is exactly what the baseline held at that key: an entry pointing at
        one changed nothing in place. None when there is none. Records let go of in earlier
        checkpoints since the baseline are not known any more: not excused (a warning too many,
        never a change missed)."""
        let_go: set[int] = set()
        for token, taken in changes.items():
            before = self.digests.get(token)
            if before is None:
                continue
            for key, old in taken.before.items():
                if old is MISSING or id(old) in hasher.held:
                    continue
                was = before.get(hasher.key(key))
                if was is not None and hasher.entry(old) == was:
                    let_go.add(id(old))
        if not let_go:
            return None
        as_then = Hasher(hasher.registry, ())
        as_then.held = hasher.held | let_go
        return as_then

    def unknown(self, tables: list[Table[Any, Any]]) -> list[Table[Any, Any]]:
        """Tables with no baseline yet (new since the last one)."""
        return [t for t in tables if t.token not in self.digests]


def pack(digests: dict[int, Digest]) -> bytes:
    """Digests as bytes, for a forked child to hand back: per table, its token, its count,
    then key and entry hashes (unsigned 64-bit, native order: the same machine reads them)."""
    out = array("Q")
    for token, digest in digests.items():
        out.extend((token, len(digest)))
        out.extend(digest.keys())
        out.extend(h & 0xFFFFFFFFFFFFFFFF for h in digest.values())
    return out.tobytes()


def unpack(blob: bytes) -> dict[int, Digest]:
    values = array("Q")
    values.frombytes(blob)
    found: dict[int, Digest] = {}
    at = 0
    while at < len(values):
        token, count = values[at], values[at + 1]
        keys, entries = values[at + 2 : at + 2 + count], values[at + 2 + count : at + 2 + 2 * count]
        found[token] = {k: (e if e != 0xFFFFFFFFFFFFFFFF else UNHASHABLE) for k, e in zip(keys, entries, strict=True)}
        at += 2 + 2 * count
    return found


class Verifier:
    """The manager's side: when to check, the baselines kept between checks, the warning."""

    def __init__(self, registry: Callable[[], Registry], every: int, *, limit: int | None = None) -> None:
        self.registry = registry
        self.every = every  # 0: never
        self.limit = limit  # checks by default only while the tables hold at most this many entries
        self.baselines = Baselines()
        self.unverified = 0  # checkpoints committed since the last check
        self.closing = False  # the final checkpoint: no later check would find what this one misses

    def due(self, full: bool, tables: list[Table[Any, Any]]) -> bool:
        """Whether this checkpoint checks. A full one need not: it writes every entry, and the
        baseline stays true of what the store holds (only fresher), so it checks on schedule."""
        scheduled = self.closing or self.unverified + 1 >= self.every
        return self.every > 0 and scheduled and self._affordable(tables)

    def _affordable(self, tables: list[Table[Any, Any]]) -> bool:
        """An inline manager left to its default checks only tables small enough that hashing
        them in the pause stays short (about 0.4 s at the limit); beyond, it says so, once."""
        if self.limit is None or sum(map(len, tables)) <= self.limit:
            return True
        if self.every > 0:
            loud(
                log,
                logging.WARNING,
                "the tables hold over %d entries: checking them for records changed without touch() would pause "
                "an inline service for seconds, so it is off; use capture='fork' (checked in the child, free), "
                "or Manager(verify_every=N) to check inline anyway",
                self.limit,
            )
        self.every = 0  # said once; the baselines are no longer kept
        self.baselines = Baselines()
        return False

    def restored(self, state: Any) -> None:
        """The chain's content, just loaded: the first baseline."""
        tables = find_tables(state) if self.every > 0 else []
        if tables and self._affordable(tables):
            hasher = Hasher(self.registry(), tables)
            self.baselines = Baselines()
            self.baselines.set({t.token: hasher.table(t) for t in tables})

    def check(
        self, state: Any, tables: list[Table[Any, Any]], changes: dict[int, Changes]
    ) -> tuple[Missed, dict[int, Digest]]:
        """Find missed changes and add them to this checkpoint's changes, as if touched."""
        missed, now = self.baselines.missed(Hasher(self.registry(), tables), tables, changes)
        if missed:
            missed.where = table_paths(state)
        for token, keys in missed.keys.items():
            taken = changes.setdefault(token, Changes())
            taken.touched.update(k for k in keys if k not in taken.changed)
        return missed, now

    def new_tables(self, tables: list[Table[Any, Any]]) -> dict[int, Digest]:
        """Baselines of tables new since the last check, taken at the checkpoint that first
        writes them (all of them), so that a change they miss later is found."""
        unknown = self.baselines.unknown(tables) if self.every > 0 and self._affordable(tables) else []
        if not unknown:
            return {}
        hasher = Hasher(self.registry(), tables)
        return {t.token: hasher.table(t) for t in unknown}

    def committed(self, changes: dict[int, Changes], now: dict[int, Digest] | None, *, checked: bool) -> None:
        if self.every <= 0:
            return
        if checked:
            self.baselines.set(now or {})
            self.unverified = 0
            return
        self.baselines.mark(key_hash, changes)
        self.baselines.set(now or {})  # tables new since: their first baseline
        self.unverified += 1


def key_hash(key: Any) -> int:
    """A key's hash, its type included: (1, 2) and frozenset({1, 2}) encode alike."""
    try:
        return _hash(type(key).__qualname__.encode() + _encoder.encode(key))
    except (TypeError, ValueError):
        return _hash(repr(key).encode())


def warn_missed(missed: str) -> None:
    loud(
        log,
        logging.WARNING,
        "entries changed in place without touch() (a crash would have restored their old values), written in "
        "this checkpoint: %s. Call table.touch(key) after changing a record in place.",
        missed,
    )
