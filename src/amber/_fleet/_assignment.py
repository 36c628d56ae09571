"""Who owns which key group of a pool, generation by generation, and the pure rules about it.

A pool (``_pool``) keeps one create-only object per generation, ``assignments/<gen>.json``:
for every key group, the shard owning it, the generation it came to that shard (``since``)
and, when it came from another shard, where its data was then (``source``: that shard's
checkpoint). A shard restoring takes each of its groups from its own newest checkpoint when
that checkpoint holds the group under a generation at least ``since``, else from the source.

The rules here take values, not storage, like ``_records`` for fleets: building the first
generation, reassigning groups, and checking an assignment read from storage.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Literal

import msgspec

from .._format._format import ID_PATTERN
from .._format._objects import decode_object
from ..errors import CorruptCheckpointError

MAX_ASSIGNMENT = 32 << 20  # 65536 groups, each with a 64-character owner and source: about 10 MB at most
SHARD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class PoolConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: Literal["amber.pool"]
    key_groups: int


class Source(msgspec.Struct, frozen=True, forbid_unknown_fields=True, array_like=True):
    """Where a group's data was when it left a shard: that shard's checkpoint."""

    shard: str
    checkpoint: str


class Assignment(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One generation of a pool's ownership: per key group, its owner, since when, from where."""

    format: Literal["amber.pool.assignment"]
    generation: int
    key_groups: int
    created: str
    owners: tuple[str, ...]
    since: tuple[int, ...]
    sources: tuple[Source | None, ...]

    @property
    def shards(self) -> list[str]:
        """The shards owning at least one group, in the order they first appear."""
        return list(dict.fromkeys(self.owners))

    def groups_of(self, shard: str) -> frozenset[int]:
        return frozenset(g for g, owner in enumerate(self.owners) if owner == shard)


def assignment_key(generation: int) -> str:
    return f"assignments/{generation:012d}.json"


def first_assignment(shards: Sequence[str], key_groups: int) -> Assignment:
    """Generation 1: the groups spread over ``shards`` in contiguous runs, none with data yet."""
    owners = spread(shards, key_groups)
    return Assignment("amber.pool.assignment", 1, key_groups, _now(), owners, (1,) * key_groups, (None,) * key_groups)


def spread(shards: Sequence[str], key_groups: int) -> tuple[str, ...]:
    """Each group's owner when ``shards`` share ``key_groups`` evenly, in contiguous runs."""
    check_shards(shards, key_groups)
    n = len(shards)
    return tuple(shards[g * n // key_groups] for g in range(key_groups))


def check_shards(shards: Sequence[str], key_groups: int) -> None:
    if not 1 <= len(shards) <= key_groups:
        raise ValueError(f"a pool of {key_groups} key groups has 1 to {key_groups} shards, not {len(shards)}")
    if len(set(shards)) != len(shards):
        raise ValueError(f"shard names must differ: {list(shards)}")
    for name in shards:
        if not isinstance(name, str) or not SHARD_NAME.fullmatch(name):
            raise ValueError(f"a shard's name is 1 to 64 letters, digits, '_', '.' or '-', not {name!r}")


def reassigned(current: Assignment, owners: Sequence[str], holds: Callable[[str, int], Source | None]) -> Assignment:
    """The next generation: ``owners`` per group. A group changing owner gets ``since`` = the
    new generation and, as its source, ``holds(old_owner, group)`` (the old owner's newest
    checkpoint when it holds the group since it got it), else the source it had (the old
    owner never wrote it: its data is still where it was). Others keep what they had."""
    generation = current.generation + 1
    since, sources = list(current.since), list(current.sources)
    for group, (old, new) in enumerate(zip(current.owners, owners, strict=True)):
        if old != new:
            since[group] = generation
            sources[group] = holds(old, group) or current.sources[group]
    return Assignment(
        "amber.pool.assignment", generation, current.key_groups, _now(), tuple(owners), tuple(since), tuple(sources)
    )


def moved(current: Assignment, groups: Iterable[int], to: str) -> tuple[str, ...]:
    """The owners once ``groups`` go to shard ``to``."""
    owners = list(current.owners)
    for group in groups:
        if not 0 <= group < current.key_groups:
            raise ValueError(f"no key group {group}: this pool has groups 0 to {current.key_groups - 1}")
        owners[group] = to
    check_shards(list(dict.fromkeys(owners)), current.key_groups)
    return tuple(owners)


def decoded_assignment(data: bytes, generation: int, key_groups: int, where: str) -> Assignment:
    """Generation ``generation``'s assignment from its bytes, checked."""
    part = assignment_key(generation)
    found = decode_object(
        data, Assignment, lambda e: CorruptCheckpointError(where, part, "a pool's assignment of key groups", e)
    )
    problem = assignment_problem(found, generation, key_groups)
    if problem:
        raise CorruptCheckpointError(where, part, *problem)
    return found


def assignment_problem(a: Assignment, generation: int, key_groups: int) -> tuple[str, str] | None:
    """What is wrong with an assignment, as (expected, found), or None when it is sound."""
    if a.generation != generation or a.key_groups != key_groups:
        return f"generation {generation} of {key_groups} groups", f"{a.generation} of {a.key_groups}"
    if not len(a.owners) == len(a.since) == len(a.sources) == key_groups:
        return f"{key_groups} owners, since and sources", f"{len(a.owners)}, {len(a.since)}, {len(a.sources)}"
    if any(not SHARD_NAME.fullmatch(o) for o in a.owners):
        return "shard names of letters, digits, '_', '.', '-'", repr(a.owners)[:200]
    if any(not 1 <= s <= generation for s in a.since):
        return f"each group owned since a generation from 1 to {generation}", repr(a.since)[:200]
    for source in a.sources:
        if source is not None and not (SHARD_NAME.fullmatch(source.shard) and ID_PATTERN.fullmatch(source.checkpoint)):
            return "a source of a shard's name and a checkpoint id", repr(source)[:200]
    return None


def succession_problem(before: Assignment | None, after: Assignment) -> tuple[str, str] | None:
    """What makes ``after`` no successor of ``before`` (the generation before it), as
    (expected, found), or None. A group keeping its owner keeps its ``since`` and source; a
    group changing owner has ``since`` = ``after``'s generation. Generation 1 has no sources."""
    if before is None:
        if any(s != 1 for s in after.since) or any(after.sources):
            return "generation 1: every group since 1, no sources", "other"
        return None
    for group, (old, new) in enumerate(zip(before.owners, after.owners, strict=True)):
        if old == new and (after.since[group], after.sources[group]) != (before.since[group], before.sources[group]):
            return f"group {group} as generation {before.generation} left it (same owner {new})", "changed"
        if old != new and after.since[group] != after.generation:
            return f"group {group}, moved to {new}, owned since {after.generation}", str(after.since[group])
    return None


def holding(meta: Mapping[str, object]) -> tuple[int, frozenset[int]] | None:
    """The (generation, groups) a shard's checkpoint says it holds (its manifest's meta)."""
    pool = meta.get("amber.pool") if isinstance(meta, Mapping) else None
    if not isinstance(pool, Mapping):
        return None
    generation, groups = pool.get("generation"), pool.get("groups")
    if type(generation) is not int or not isinstance(groups, list) or any(type(g) is not int for g in groups):
        return None
    return generation, frozenset(groups)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")
