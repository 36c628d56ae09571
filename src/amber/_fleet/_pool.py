"""Pools: a keyed service split over shards that each own any set of key groups and commit
on their own, each in its own store under its own lock or lease.

Where a fleet (``_fleet``) gives worker ``i`` of ``n`` a contiguous range and commits every
worker together by epoch, a pool lets an engine place and move shards one at a time: the
ownership of every key group lives in create-only *generations* (``_assignment``), and a
shard's checkpoints say in their meta which groups they hold under which generation. So:

- a shard restores exactly its groups: from its own newest checkpoint where that holds them
  since they became its own, else from the checkpoint of the shard it got them from;
- rescaling N to M shards, or moving one group from a dead shard to a live one, writes the
  next generation after taking each giving shard's lock or lease (a paused predecessor that
  wakes up is fenced: nothing it commits from then on exists for a reader), so the data a
  group's new owner reads is the last its old owner will ever have written;
- two operators reassigning at once race on one create-only name: one generation stands.
"""

from __future__ import annotations

import contextlib
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import msgspec

from .._format._objects import read_object
from .._format._signing import Keyring
from .._schema._keyed import Table
from .._schema._registry import Registry
from .._store._checkpoint import CheckpointStore
from .._store._open import storage_for
from .._store._writer_lock import WriterLock
from ..errors import (
    AmberError,
    CheckpointNotFoundError,
    ConflictError,
    CorruptCheckpointError,
    NotOwnedError,
    StoreNotFoundError,
)
from ..events import Listener
from ..storage import MemoryStorage, Storage
from ..storage._prefixed import sub_storage
from ._assignment import (
    MAX_ASSIGNMENT,
    Assignment,
    PoolConfig,
    Source,
    assignment_key,
    check_shards,
    decoded_assignment,
    first_assignment,
    holding,
    moved,
    reassigned,
    spread,
    succession_problem,
)
from ._keys import key_group
from ._records import opened_config, read_config

KeyedTables = dict[str, Table[Any, Any]]
Held = tuple[str, int, frozenset[int]]  # a shard's checkpoint: its id, and the generation and groups it holds


class Pool:
    """A pool's ownership and its shards' stores, as any process reads them."""

    def __init__(self, storage: Storage, key_groups: int, *, registry: Registry | None = None, **store: Any) -> None:
        self.storage = storage
        self.key_groups = key_groups
        self.registry = registry
        self._store_options = store

    @property
    def url(self) -> str:
        return self.storage.url

    def shard_store(self, shard: str) -> CheckpointStore:
        """Shard ``shard``'s own store (``shards/<name>/``): its lock or lease is the shard's."""
        check_shards([shard], self.key_groups)
        return CheckpointStore(
            sub_storage(self.storage, f"shards/{shard}"), registry=self.registry, **self._store_options
        )

    def generations(self) -> list[int]:
        names = [k.removeprefix("assignments/").removesuffix(".json") for k in self.storage.list("assignments/")]
        return sorted(int(n) for n in names if len(n) == 12 and n.isascii() and n.isdigit())

    def assignment(self, generation: int | None = None) -> Assignment | None:
        """The newest generation (or ``generation``); None before the first. A damaged one is
        refused, never skipped: an older generation would hand its groups to two shards."""
        if generation is None:
            numbers = self.generations()
            if not numbers:
                return None
            generation = numbers[-1]
        found = self._read(generation)
        if found is None:
            raise CheckpointNotFoundError(f"generation {generation}", "assignment", "a written generation", "none")
        before = self._read(generation - 1) if generation > 1 else None
        if generation > 1 and before is None:
            raise CorruptCheckpointError(self.url, assignment_key(generation - 1), "the generation before the newest")
        problem = succession_problem(before, found)
        if problem:  # a forged or damaged generation: it could hand groups over empty
            raise CorruptCheckpointError(self.url, assignment_key(generation), *problem)
        return found

    def _read(self, generation: int) -> Assignment | None:
        data = read_object(self.storage, assignment_key(generation), MAX_ASSIGNMENT)
        return None if data is None else decoded_assignment(data, generation, self.key_groups, self.url)

    def assign(self, shards: Sequence[str], *, wait: float = 0.0) -> Assignment:
        """Make ``shards`` the pool's shards: the first generation (groups spread evenly), the
        current one when it already has exactly these shards, else a rescale (``rescale``)."""
        current = self.assignment()
        if current is None:
            first = first_assignment(list(shards), self.key_groups)
            try:
                self._write(first)
            except ConflictError:  # another process assigned first: theirs stands, checked below
                current = self.assignment()
            else:
                return first
        assert current is not None  # a generation 1 exists now
        if set(current.shards) == set(shards):  # after a move too: the same shards, their groups as they are
            return current
        return self.rescale(shards, wait=wait)

    def rescale(self, shards: Sequence[str], *, wait: float = 0.0) -> Assignment:
        """The groups spread evenly over ``shards``, in the next generation. Every shard giving
        up a group must be stopped: its lock or lease is taken (waiting up to ``wait`` seconds
        for it to expire), which fences it off for good."""
        return self._reassign(spread(list(shards), self.key_groups), wait)

    def move(self, groups: Iterable[int], to: str, *, wait: float = 0.0) -> Assignment:
        """Give ``groups`` to shard ``to`` in the next generation; the shards giving them up
        must be stopped or dead (their lock or lease is taken, fencing them off). ``to`` takes
        them when it next restores or adopts (``PoolShard.adopt``)."""
        return self._reassign(moved(self._current(), groups, to), wait)

    def shard_for(self, key: Any, assignment: Assignment | None = None) -> str:
        """The shard owning ``key`` (in ``assignment``, default the newest)."""
        return (assignment or self._current()).owners[key_group(key, self.key_groups)]

    def shard(self, name: str) -> PoolShard:
        """Shard ``name`` of this pool, for the process that runs it."""
        check_shards([name], self.key_groups)
        return PoolShard(self, name)

    def load_source(self, source: Source, groups: Iterable[int]) -> KeyedTables:
        """The keys of ``groups`` as shard ``source.shard``'s checkpoint ``source.checkpoint`` holds them."""
        wanted = frozenset(groups)
        where = f"{source.checkpoint} of shard {source.shard}"
        store = self.shard_store(source.shard)
        try:
            info = store.info(source.checkpoint)
            state = store.load(source.checkpoint)
        except CheckpointNotFoundError as e:
            raise CorruptCheckpointError(
                where, "source", f"the checkpoint groups {sorted(wanted)[:8]} moved from (kept until adopted)", str(e)
            ) from None
        held = holding(info.meta)
        if held is None or not wanted <= held[1]:
            raise CorruptCheckpointError(where, "meta", f"a shard's checkpoint holding groups {sorted(wanted)[:8]}")
        return split(shard_tables(_shard_part(state), where), wanted, self.key_groups)

    def _current(self) -> Assignment:
        current = self.assignment()
        if current is None:
            raise StoreNotFoundError(f"{self.url}: the pool has no shards yet: assign(shards) first")
        return current

    def _reassign(self, owners: Sequence[str], wait: float) -> Assignment:
        current = self._current()
        giving = sorted({old for old, new in zip(current.owners, owners, strict=True) if old != new})
        with contextlib.ExitStack() as held:
            fences = {shard: held.enter_context(_Fence(self.shard_store(shard), wait)) for shard in giving}
            newest = {shard: self._held_by(fence.store, shard, current) for shard, fence in fences.items()}

            def holds(shard: str, group: int) -> Source | None:
                found = newest[shard]
                if found is None or group not in found[2] or found[1] < current.since[group]:
                    return None  # it never wrote the group since it got it: the group's data is still at its source
                return Source(shard, found[0])

            following = reassigned(current, owners, holds)
            for fence in fences.values():  # an operator paused past a giver's lease must not write now
                fence.check()
            try:
                self._write(following)
            except ConflictError:
                raise ConflictError(
                    f"{self.url}: another operator wrote generation {following.generation} meanwhile: read it and retry"
                ) from None
        return following

    def _held_by(
        self, store: CheckpointStore, shard: str, current: Assignment
    ) -> tuple[str, int, frozenset[int]] | None:
        """(checkpoint, generation, groups) of a giving shard's newest checkpoint a restore
        would take (quarantined ones set aside), from its meta; None when it has none."""
        set_aside = store.quarantined()
        for info in reversed(store.list()):
            if info.id in set_aside:
                continue
            kept = holding(info.meta)
            if kept is None:  # without it, which groups it holds is unknown: handing them over empty would lose them
                raise CorruptCheckpointError(
                    f"{info.id} of shard {shard}",
                    "meta",
                    "amber.pool meta naming the groups it holds (a shard's manager needs meta=shard.meta)",
                    "none",
                )
            if kept[0] > current.generation:
                raise CorruptCheckpointError(
                    self.url,
                    assignment_key(kept[0]),
                    f"generation {kept[0]}, which shard {shard}'s checkpoint {info.id} was written under",
                    f"the newest is {current.generation}: a generation is missing",
                )
            return info.id, kept[0], kept[1]
        return None

    def _write(self, assignment: Assignment) -> None:
        self.storage.put(assignment_key(assignment.generation), [msgspec.json.encode(assignment)], create_only=True)


class _Fence:
    """Holding a giving shard's store as its writer would: a local folder's lock, else its
    lease (fencing every earlier holder, renewed while held); let go after."""

    def __init__(self, store: CheckpointStore, wait: float) -> None:
        self.store = store
        self.wait = wait
        self._lock: WriterLock | None = None

    def __enter__(self) -> _Fence:
        self._lock = WriterLock.take(self.store.storage, wait=self.wait)
        if self._lock is None:
            self.store.acquire_lease(wait=self.wait)
        return self

    def check(self) -> None:
        """``FencedError`` if the lease was taken over meanwhile (a local lock cannot be)."""
        if self.store.lease is not None:
            self.store.lease.check()

    def __exit__(self, *_: object) -> None:
        if self._lock is not None:
            self._lock.release()
        else:
            with contextlib.suppress(AmberError):  # it expires by itself if the store is unreachable
                self.store.release_lease()


class PoolShard:
    """One shard of a pool, in the process that runs it: which key groups it holds, and its
    tables as its checkpoints store them (``snapshot``/``restore``/``adopt``)."""

    def __init__(self, pool: Pool, name: str) -> None:
        self.pool = pool
        self.name = name
        self.generation = 0  # the generation this shard's groups are from
        self.groups: frozenset[int] = frozenset()
        self.adopted = False  # the last restore or adopt took groups from other shards' checkpoints
        self._kept: tuple[int, set[str]] = (-1, set())  # (generation, its sources in this shard's store)

    def owns(self, key: Any) -> bool:
        return key_group(key, self.pool.key_groups) in self.groups

    def check(self, key: Any) -> None:
        """``NotOwnedError`` unless this shard owns ``key`` (after reading the newest
        generation: a group given to it since is taken first, with ``adopt``)."""
        if self.owns(key):
            return
        group = key_group(key, self.pool.key_groups)
        owner = self.pool.shard_for(key)
        raise NotOwnedError(
            f"key {key!r:.80} is in key group {group}, which shard {owner} owns, not {self.name}: route it again",
            key=key,
            group=group,
            shard=self.name,
            owner=owner,
        )

    def snapshot(self, tables: Mapping[str, Table[Any, Any]]) -> dict[str, Any]:
        """The shard's state for its checkpoint; ``NotOwnedError`` for a key set since the last
        checkpoint (or anywhere in a table never saved) outside this shard's groups: the next
        rescale would drop it, so it is refused now, loudly, not acknowledged."""
        for name, table in tables.items():
            if not isinstance(table, Table):
                raise TypeError(f"shard {self.name}: table {name!r} is a {type(table).__name__}, not an amber.Table")
            changes = table._changes  # the keys set since the last checkpoint: only those can be new strangers
            keys = changes.changed | changes.touched if table.last is not None else table.keys()
            for key in keys:
                if not self.owns(key):
                    self.check(key)
        return {"pool": {"generation": self.generation, "groups": sorted(self.groups)}, "tables": dict(tables)}

    def kept(self) -> set[str]:
        """This shard's checkpoints that the newest generation names as where groups it gave
        away still live (``Manager(keep=shard.kept)``): its retention must not remove them,
        or a group's new owner, started later, would find its data nowhere."""
        generation = max(self.pool.generations(), default=0)  # one listing; the generation read once
        if self._kept[0] != generation:
            assignment = self.pool.assignment(generation) if generation else None
            sources = assignment.sources if assignment is not None else ()
            self._kept = (generation, {s.checkpoint for s in sources if s is not None and s.shard == self.name})
        return set(self._kept[1])

    def meta(self) -> dict[str, Any]:
        """For the manifest (``Manager(meta=...)``): what a checkpoint holds, read by rescaling."""
        return {"amber.pool": {"shard": self.name, "generation": self.generation, "groups": sorted(self.groups)}}

    def restore(self, state: Any) -> KeyedTables:
        """This shard's tables in the newest generation, from ``state`` (its own newest
        checkpoint's, or None) and the checkpoints its newer groups came from."""
        assignment = self.pool._current()
        mine = assignment.groups_of(self.name)
        if not mine:
            raise NotOwnedError(
                f"{self.pool.url}: shard {self.name} owns no key group in generation {assignment.generation}"
                f" (its shards: {', '.join(assignment.shards)})",
                key=None,
                group=-1,
                shard=self.name,
                owner=None,
            )
        own_generation, own_groups, own = _own(state, self.name)
        if own_generation > assignment.generation:
            raise CorruptCheckpointError(
                self.pool.url,
                assignment_key(own_generation),
                f"generation {own_generation}, which shard {self.name}'s checkpoint was written under",
                f"the newest is {assignment.generation}: a generation is missing",
            )
        kept = {g for g in mine if g in own_groups and own_generation >= assignment.since[g]}
        tables = own if kept == own_groups else split(own, kept, self.pool.key_groups)
        self.adopted = self._take_sources(tables, assignment, mine - kept)
        self.generation, self.groups = assignment.generation, mine
        return tables

    def adopt(self, tables: KeyedTables) -> bool:
        """Catch up with a newer generation while running: take the groups given to this shard
        (from their sources) into ``tables``, drop those given away. Whether anything changed."""
        assignment = self.pool._current()
        if assignment.generation <= self.generation:  # older: a generation went missing, which restores refuse
            return False
        mine = assignment.groups_of(self.name)
        stale = {g for g in mine if assignment.since[g] > self.generation}  # given (or given back) since
        for name, table in tables.items():
            doomed = [k for k in table if (g := key_group(k, self.pool.key_groups)) not in mine or g in stale]
            for key in doomed:
                del tables[name][key]
        self.adopted = self._take_sources(tables, assignment, stale)
        self.generation, self.groups = assignment.generation, mine
        return True

    def _take_sources(self, tables: KeyedTables, assignment: Assignment, groups: Iterable[int]) -> bool:
        by_source: dict[Source, list[int]] = defaultdict(list)
        for group in groups:
            source = assignment.sources[group]
            if source is not None:  # else the group was never written: it starts empty
                by_source[source].append(group)
        for source, taken in sorted(by_source.items(), key=lambda item: (item[0].shard, item[0].checkpoint)):
            for name, table in self.pool.load_source(source, taken).items():
                tables.setdefault(name, Table()).update(table.items())
        return bool(by_source)


def _own(state: Any, shard: str) -> tuple[int, frozenset[int], KeyedTables]:
    """(generation, groups, tables) of a shard's own checkpoint state; nothing for None."""
    if state is None:
        return 0, frozenset(), {}
    where = f"shard {shard}"
    pool = state.get("pool") if isinstance(state, dict) else None
    held = holding({"amber.pool": pool}) if isinstance(pool, dict) else None
    if held is None:
        raise CorruptCheckpointError(where, "state", "a pool shard's state ({'pool': ..., 'tables': ...})")
    return held[0], held[1], shard_tables(state, where)


def _shard_part(state: Any) -> Any:
    """A shard's own part of a checkpoint of its store: the participant holding ``pool`` and
    ``tables`` (whatever its name), or the state itself."""
    if isinstance(state, dict) and "pool" not in state:
        parts = [v for v in state.values() if isinstance(v, dict) and "pool" in v]
        if len(parts) == 1:
            return parts[0]
    return state


def shard_tables(state: Any, where: str) -> KeyedTables:
    tables = state.get("tables") if isinstance(state, dict) else None
    if not isinstance(tables, dict) or not all(isinstance(t, Table) for t in tables.values()):
        raise CorruptCheckpointError(where, "state", "a pool shard's tables: a dict of amber.Table")
    return tables


def split(tables: KeyedTables, groups: Iterable[int], key_groups: int) -> KeyedTables:
    """The keys of ``groups`` only, in new tables."""
    wanted = frozenset(groups)
    return {
        name: Table((k, v) for k, v in table.items() if key_group(k, key_groups) in wanted)
        for name, table in tables.items()
    }


def open_pool(
    url: str | os.PathLike[str],
    *,
    key_groups: int | None = None,
    create: bool = True,
    registry: Registry | None = None,
    fsync: bool = True,
    storage_options: dict[str, str] | None = None,
    listeners: Iterable[Listener] = (),
    signing_key: bytes | str | None = None,
    verify_keys: Iterable[bytes | str] = (),
) -> Pool:
    """Open (or create) the pool stored at ``url`` (a directory, or ``s3://bucket/prefix``).

    ``key_groups`` (default 128) is fixed when the pool is created and bounds how many shards
    it can have; None takes the pool's own. See docs/ray.md."""
    if key_groups is not None and not 1 <= key_groups <= 1 << 16:
        raise ValueError(f"key_groups must be between 1 and 65536, not {key_groups}")
    storage = storage_for(os.fspath(url), fsync=fsync, options=storage_options)
    if isinstance(storage, MemoryStorage):
        raise ValueError("a pool's shards run in other processes: memory:// cannot hold one")
    if read_config(storage, "pool.json", PoolConfig, "a pool's configuration") is None and storage.list("assignments/"):
        # recreating it could give the pool another number of groups than its generations have
        raise CorruptCheckpointError(storage.url, "pool.json", "a pool's configuration beside its assignments", "none")
    fresh = PoolConfig("amber.pool", key_groups or 128)
    existing = opened_config(storage, "pool.json", fresh, key_groups=key_groups, create=create, noun="pool")
    signing = Keyring.of(signing_key, verify_keys)
    return Pool(storage, existing.key_groups, registry=registry, listeners=listeners, signing=signing)
