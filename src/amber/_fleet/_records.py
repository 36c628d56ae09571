"""What a fleet stores beside its workers' checkpoints, and the pure rules about it.

``fleet.json`` (``FleetConfig``), one create-only vote per worker and epoch (``Vote``) and
one create-only decision per epoch (``Decision``): small JSON objects, bounded when read,
checked before anyone acts on them. The rules here take values, not storage: whether a
decision is sound, whether a set of votes makes a fleet (alembic keeps its revision graph
pure the same way, and tests it with literal values).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar

import msgspec

from .._format._format import HEX128, ID_PATTERN, format_id
from .._format._objects import decode_object, read_object
from ..errors import ConflictError, CorruptCheckpointError, StoreError, StoreNotFoundError
from ..storage import Storage
from ._keys import groups_of

MAX_OBJECT = 1 << 20  # a vote, a decision or the fleet's config: small JSON


class FleetConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: Literal["amber.fleet"]
    key_groups: int


class _Config(Protocol):
    @property
    def key_groups(self) -> int: ...


C = TypeVar("C", bound=_Config)


def read_config(storage: Storage, name: str, kind: type[C], what: str) -> C | None:
    """A fleet's or a pool's configuration object ``name`` (None if there is none yet),
    checked: a number of key groups from 1 to 65536."""
    try:
        data = read_object(storage, name, MAX_OBJECT)
    except StoreNotFoundError:
        return None
    if data is None:
        return None
    config = decode_object(data, kind, lambda e: CorruptCheckpointError(storage.url, name, what, e))
    if not 1 <= config.key_groups <= 1 << 16:
        raise CorruptCheckpointError(storage.url, name, "1 to 65536 key groups", str(config.key_groups))
    return config


def opened_config(storage: Storage, name: str, fresh: C, *, key_groups: int | None, create: bool, noun: str) -> C:
    """The configuration ``name`` of a fleet or a pool, created as ``fresh`` (create-only:
    the first process to create it wins) when missing and ``create``; ``key_groups``, when
    given, must be the stored one: it never changes."""
    kind, what = type(fresh), f"a {noun}'s configuration"
    existing = read_config(storage, name, kind, what)
    if existing is None and not create:
        raise StoreNotFoundError(f"no {noun} at {storage.url}")
    if existing is None:
        with contextlib.suppress(ConflictError):  # another process created it first: checked below
            storage.put(name, [msgspec.json.encode(fresh)], create_only=True)
        existing = read_config(storage, name, kind, what)
        if existing is None:
            raise StoreError(f"{storage.url}: {name} vanished as it was created")
    if key_groups is not None and existing.key_groups != key_groups:
        raise ValueError(f"{storage.url} has {existing.key_groups} key groups, not {key_groups}: they never change")
    return existing


class Vote(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One worker's shard of an epoch, committed in its own store."""

    worker: int
    workers: int
    groups: tuple[int, int]
    checkpoint: str
    manifest: str  # xxh3-128 of the shard's manifest bytes
    token: int  # the worker's lease token


class Decision(msgspec.Struct, frozen=True, forbid_unknown_fields=True, omit_defaults=True):
    """The one outcome of an epoch; ``shards`` (one per worker, in order) when committed."""

    format: Literal["amber.fleet.epoch"]
    epoch: int
    outcome: Literal["commit", "abort"]
    created: str
    workers: int
    key_groups: int
    shards: tuple[Vote, ...] = ()
    reason: str = ""
    missing: tuple[int, ...] = ()


@dataclass(frozen=True)
class FleetCheckpoint:
    """A committed epoch as this worker saw it."""

    epoch: int
    checkpoint: str  # this worker's shard in its own store
    workers: int
    kind: str  # this shard: "full" or "delta"


def decision_key(epoch: int) -> str:
    return f"epochs/{format_id(epoch)}.decision"


def votes_folder(epoch: int) -> str:
    return f"epochs/{format_id(epoch)}/votes/"


def decoded_decision(data: bytes, epoch: int, key_groups: int) -> Decision:
    """Epoch ``epoch``'s decision from its bytes, checked; ``CorruptCheckpointError`` if unsound."""
    decision = decode_object(
        data, Decision, lambda e: CorruptCheckpointError(f"epoch {epoch}", "decision", "a fleet decision", e)
    )
    problem = decision_problem(decision, epoch, key_groups)
    if problem:
        raise CorruptCheckpointError(f"epoch {epoch}", "decision", *problem)
    return decision


def decision_problem(d: Decision, epoch: int, key_groups: int) -> tuple[str, str] | None:
    """What is wrong with a decision, as (expected, found), or None when it is sound."""
    if d.epoch != epoch:
        return f"epoch {epoch}", str(d.epoch)
    if d.key_groups != key_groups or not 1 <= d.workers <= key_groups:
        return f"{key_groups} key groups and 1 to {key_groups} workers", f"{d.key_groups} and {d.workers}"
    if d.outcome == "abort":
        return ("no shards in an aborted epoch", f"{len(d.shards)} shards") if d.shards else None
    return _shards_problem(d, key_groups)


def _shards_problem(d: Decision, key_groups: int) -> tuple[str, str] | None:
    for worker in range(d.workers):
        shard = d.shards[worker] if worker < len(d.shards) else None
        expected = (worker, d.workers, groups_of(worker, d.workers, key_groups))
        if shard is None or (shard.worker, shard.workers, tuple(shard.groups)) != expected:
            return f"worker {worker}'s shard of groups {expected[2]}", repr(shard)[:200]
        if not (ID_PATTERN.fullmatch(shard.checkpoint) and HEX128.fullmatch(shard.manifest)) or shard.token < 0:
            return "a checkpoint id, a manifest digest and a token", repr(shard)[:200]
    if len(d.shards) != d.workers:
        return f"{d.workers} shards", str(len(d.shards))
    return None


def make_a_fleet(votes: list[Vote], workers: int, key_groups: int) -> bool:
    """Whether ``votes`` (sorted by worker) are one vote per worker of a fleet of
    ``workers``, each for exactly that worker's key groups."""
    layout = [groups_of(w, workers, key_groups) for w in range(workers)]
    return [(v.worker, v.workers, v.groups) for v in votes] == [(w, workers, g) for w, g in enumerate(layout)]
