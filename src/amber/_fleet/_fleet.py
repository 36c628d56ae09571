"""Fleets: one logical service split over N worker processes, checkpointed together.

Each worker owns a contiguous range of the fleet's fixed key groups and writes its shard (a
dict of ``amber.Table``) as an ordinary checkpoint in its own store, ``workers/<i>/``, under
that worker's lease. A sharded checkpoint (an *epoch*) then takes two steps:

1. every worker commits its shard and casts a create-only vote ``epochs/<e>/votes/<i>.json``
   naming it (checkpoint id, manifest digest, lease token);
2. the first worker to see all N votes creates ``epochs/<e>.decision`` saying *commit* and
   listing the shards; a worker that waits past its timeout creates it saying *abort*.

The decision object is created once (create-only), so exactly one outcome stands and every
worker reads the same one. An epoch exists for readers exactly when its decision says commit,
so a worker killed before its vote aborts the epoch for all; nothing half-done is visible.

Restoring into M workers: worker j of M takes the key groups ``[j*G//M, (j+1)*G//M)`` and
reads only the shards whose ranges overlap it, keeping each table's keys of its groups.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import msgspec
import xxhash

from .._format._format import HEX128, ID_PATTERN, MAX_MANIFEST_BYTES, digest, format_id, manifest_key, parse_manifest
from .._format._signing import Keyring
from .._maintenance._retention import Retention, collect
from .._schema._keyed import Table
from .._schema._schema import Registry
from .._store._capture import capture, take_tables
from .._store._checkpoint import CheckpointInfo, CheckpointStore
from .._store._commit import Committer
from .._store._lease import LEASE_KEY, Lease, read_lease
from .._store._open import storage_for
from ..errors import (
    CheckpointNotFoundError,
    ConflictError,
    CorruptCheckpointError,
    FencedError,
    FleetCheckpointAbortedError,
    ObjectNotFoundError,
    SerializationError,
    StoreError,
    StoreNotFoundError,
)
from ..events import Listener
from ..storage import Storage
from ..storage._prefixed import PrefixedStorage

log = logging.getLogger("amber.fleet")
_keys = msgspec.msgpack.Encoder(uuid_format="bytes")
_MAX_OBJECT = 1 << 20  # a vote, a decision or the fleet's config: small JSON


def key_group(key: Any, key_groups: int) -> int:
    """The key group of a table key: a hash of its msgpack encoding, the same in every
    process, host and Python version (unlike ``hash()``)."""
    try:
        encoded = _keys.encode(key)
    except (OverflowError, TypeError, UnicodeEncodeError) as e:
        raise SerializationError(f"{key!r} cannot be a table key: {e}") from None
    return xxhash.xxh3_64_intdigest(encoded) % key_groups


def groups_of(worker: int, workers: int, key_groups: int) -> tuple[int, int]:
    """The key groups ``[first, end)`` worker ``worker`` of ``workers`` owns."""
    return worker * key_groups // workers, (worker + 1) * key_groups // workers


class FleetConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    format: Literal["amber.fleet"]
    key_groups: int


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


def _decision_key(epoch: int) -> str:
    return f"epochs/{format_id(epoch)}.decision"


def _votes_folder(epoch: int) -> str:
    return f"epochs/{format_id(epoch)}/votes/"


class Fleet:
    """The checkpoints of a fleet, as any process can read them; ``join`` to write."""

    def __init__(self, storage: Storage, key_groups: int, *, registry: Registry | None = None, **store: Any) -> None:
        self.storage = storage
        self.key_groups = key_groups
        self.registry = registry
        self._store_options = store

    @property
    def url(self) -> str:
        return self.storage.url

    def worker_store(self, worker: int) -> CheckpointStore:
        """Worker ``worker``'s own store of shards."""
        sub = PrefixedStorage(self.storage, f"workers/{worker}")
        return CheckpointStore(sub, registry=self.registry, **self._store_options)

    def join(self, worker: int, workers: int, *, lease_seconds: float = 30.0, wait: float = 0.0) -> FleetWorker:
        """Become worker ``worker`` of ``workers``: take that worker's lease (waiting up to
        ``wait`` seconds for a previous holder's to expire), fencing off any earlier holder;
        ``LeaseHeldError`` while another process holds it."""
        if not 0 <= worker < workers <= self.key_groups:
            raise ValueError(f"need 0 <= worker < workers <= key groups ({self.key_groups}): {worker}, {workers}")
        store = self.worker_store(worker)
        lease = store.acquire_lease(seconds=lease_seconds, wait=wait)
        return FleetWorker(self, worker, workers, lease, store)

    def worker_for(self, key: Any, workers: int) -> int:
        """Which of ``workers`` workers owns ``key``: route requests with it."""
        group = key_group(key, self.key_groups)
        return next(w for w in range(workers) if groups_of(w, workers, self.key_groups)[1] > group)

    def epochs(self) -> list[int]:
        """The decided epochs' numbers, oldest first (one listing)."""
        names = [k.removeprefix("epochs/").removesuffix(".decision") for k in self.storage.list("epochs/")]
        return sorted(int(n) for n in names if n.isascii() and n.isdigit() and len(n) == 12)

    def decisions(self, unreadable: list[tuple[int, str]] | None = None) -> list[Decision]:
        """Every decided epoch, oldest first (committed and aborted). A damaged decision is
        skipped with a warning, and added to ``unreadable`` (epoch, error) when given."""
        found = []
        for epoch in self.epochs():
            try:
                decision = self.decision(epoch)
            except CorruptCheckpointError as e:
                log.warning("%s: %s", self.url, e)
                if unreadable is not None:
                    unreadable.append((epoch, str(e)))
                continue
            if decision is not None:
                found.append(decision)
        return found

    def decision(self, epoch: int) -> Decision | None:
        """Epoch ``epoch``'s outcome, or None while undecided."""
        data = self._read(_decision_key(epoch))
        if data is None:
            return None
        try:
            decision = msgspec.json.decode(data, type=Decision)
        except (ValueError, RecursionError) as e:  # msgspec errors, bad UTF-8, absurd nesting
            raise CorruptCheckpointError(f"epoch {epoch}", "decision", "a fleet decision", str(e)) from None
        problem = _decision_problem(decision, epoch, self.key_groups)
        if problem:
            raise CorruptCheckpointError(f"epoch {epoch}", "decision", *problem)
        return decision

    def committed(self, epoch: int | None = None) -> Decision | None:
        """The newest committed epoch (or ``epoch``, which must be committed); None if none."""
        if epoch is not None:
            decision = self.decision(epoch)
            if decision is None or decision.outcome != "commit":
                outcome = decision.outcome + "ed" if decision else "undecided"
                raise CheckpointNotFoundError(f"epoch {epoch}", "decision", "a committed epoch", outcome)
            return decision
        for number in reversed(self.epochs()):
            try:
                decision = self.decision(number)
            except CorruptCheckpointError as e:  # the data's fault: the epoch before is sound
                log.warning("%s: %s; trying the epoch before", self.url, e)
                continue
            if decision is not None and decision.outcome == "commit":
                return decision
        return None

    def load(self, worker: int, workers: int, epoch: int | None = None) -> tuple[dict[str, Table[Any, Any]], int]:
        """The tables worker ``worker`` of ``workers`` gets from the newest committed epoch
        (or ``epoch``): exactly the keys of its groups. Returns them with the epoch ({} and 0
        when the fleet has none)."""
        decision = self.committed(epoch)
        if decision is None:
            return {}, 0
        first, end = groups_of(worker, workers, self.key_groups)
        tables: dict[str, Table[Any, Any]] = {}
        for shard in decision.shards:
            if shard.groups[1] <= first or shard.groups[0] >= end:
                continue
            state = self._shard_state(decision, shard, self.worker_store(shard.worker))
            whole = shard.groups[0] >= first and shard.groups[1] <= end
            for name, table in state.items():
                mine = table.items() if whole else _of_groups(table.items(), first, end, self.key_groups)
                tables.setdefault(name, Table()).update(mine)
        return tables, decision.epoch

    def _shard_state(self, decision: Decision, shard: Vote, store: CheckpointStore) -> dict[str, Table[Any, Any]]:
        where = f"epoch {decision.epoch} worker {shard.worker}"
        try:
            manifest = store.storage.get_range(manifest_key(shard.checkpoint), 0, MAX_MANIFEST_BYTES)
        except ObjectNotFoundError:
            raise CorruptCheckpointError(where, "shard", f"checkpoint {shard.checkpoint}", "it is missing") from None
        if digest(manifest) != shard.manifest:
            raise CorruptCheckpointError(where, "shard", f"manifest digest {shard.manifest}", digest(manifest))
        # The shard says (in its metadata, signed with it) which epoch and worker wrote it:
        # a decision (unsigned) cannot make one worker's or epoch's shard pass for another's.
        claimed = parse_manifest(manifest, shard.checkpoint).meta.get("amber.fleet")  # bytes read above
        expected = {"epoch": decision.epoch, "worker": shard.worker, "workers": decision.workers}
        if claimed != expected:
            raise CorruptCheckpointError(where, "shard", f"a shard written for {expected}", repr(claimed)[:200])
        try:
            state = store.load(shard.checkpoint)
        except CheckpointNotFoundError as e:  # fenced off, or a parent missing
            raise CorruptCheckpointError(
                where, "shard", "a shard committed by the worker's lease holder", str(e)
            ) from None
        if not isinstance(state, dict) or not all(isinstance(t, Table) for t in state.values()):
            raise CorruptCheckpointError(where, "shard", "a dict of amber.Table", type(state).__name__)
        return state

    def collect(self, keep_last: int = 3) -> list[int]:
        """Remove all but the newest ``keep_last`` committed epochs (and aborted ones older
        than those), then every shard no kept epoch needs; return the epochs removed."""
        decisions = self.decisions()  # damaged decisions are neither counted nor removed
        committed = [d for d in decisions if d.outcome == "commit"]
        if len(committed) <= keep_last:
            return []
        oldest_kept = committed[-keep_last].epoch
        doomed = [d.epoch for d in decisions if d.epoch < oldest_kept]
        kept = [d for d in committed if d.epoch >= oldest_kept]
        for epoch in reversed(doomed):
            self.storage.delete(_decision_key(epoch))
            for key in self.storage.list(_votes_folder(epoch)):
                self.storage.delete(key)
        for worker in sorted({s.worker for d in decisions for s in d.shards}):
            needed = {s.checkpoint for d in kept for s in d.shards if s.worker == worker}
            named = {s.checkpoint for d in decisions for s in d.shards if s.worker == worker}
            self._collect_worker(worker, needed, named)
        return doomed

    def _collect_worker(self, worker: int, needed: set[str], named: set[str]) -> None:
        """Keep a worker's shards from the oldest a kept epoch needs on, or (when no kept
        epoch needs any) those after the last the listed decisions name: newer ones may
        belong to epochs decided (or in progress) since the decisions were listed."""
        store = self.worker_store(worker)
        newer = {cid for cid in store.ids() if (cid >= min(needed) if needed else cid > max(named))}
        collect(store, Retention(keep_last=1), keep=needed | newer)

    def _read(self, key: str) -> bytes | None:
        try:
            return self.storage.get_range(key, 0, _MAX_OBJECT)
        except ObjectNotFoundError:
            return None


def _decision_problem(d: Decision, epoch: int, key_groups: int) -> tuple[str, str] | None:
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


def _of_groups(items: Iterable[tuple[Any, Any]], first: int, end: int, key_groups: int) -> Iterator[tuple[Any, Any]]:
    return ((k, v) for k, v in items if first <= key_group(k, key_groups) < end)


class FleetWorker:
    """Worker ``worker`` of ``workers``: holds its lease, checkpoints and restores its shard."""

    def __init__(self, fleet: Fleet, worker: int, workers: int, lease: Lease, store: CheckpointStore) -> None:
        self.fleet = fleet
        self.worker = worker
        self.workers = workers
        self.groups = groups_of(worker, workers, fleet.key_groups)
        self.lease = lease
        self.store = store
        self.full_every = 8  # one full shard every so many; deltas between
        self.poll = 0.05  # seconds between looks at the votes, doubling up to 0.5
        self._parent: str | None = None  # this worker's shard in the last epoch committed
        self._since_full = 0
        self._epoch = 0  # the last epoch restored or committed

    @property
    def epoch(self) -> int:
        return self._epoch

    def owns(self, key: Any) -> bool:
        """Whether ``key`` belongs to this worker's key groups."""
        return self.groups[0] <= key_group(key, self.fleet.key_groups) < self.groups[1]

    def restore(self, epoch: int | None = None) -> dict[str, Table[Any, Any]]:
        """This worker's tables from the newest committed epoch (or ``epoch``), whatever
        the number of workers that wrote it; {} when the fleet has no committed epoch."""
        decision = self.fleet.committed(epoch)
        if decision is None:
            self._epoch = 0
            return {}
        own = [s for s in decision.shards if s.worker == self.worker and s.groups == self.groups]
        if own and decision.workers == self.workers:
            # The same layout: load from this worker's own store, so the next shard can be a delta.
            tables = self.fleet._shard_state(decision, own[0], self.store)
            self._parent, self._since_full = own[0].checkpoint, 1
        else:
            tables, _ = self.fleet.load(self.worker, self.workers, decision.epoch)
            self._parent = None
        self._epoch = decision.epoch
        return tables

    def checkpoint(
        self,
        tables: Mapping[str, Table[Any, Any]],
        *,
        epoch: int,
        timeout: float = 60.0,
        meta: dict[str, Any] | None = None,
    ) -> FleetCheckpoint:
        """Write this worker's shard of epoch ``epoch`` and wait until the epoch is decided.

        Every worker must call it with the same ``epoch`` (a number above every earlier one:
        a barrier id, or one your coordinator hands out). Returns when every worker's shard
        is committed; raises ``FleetCheckpointAbortedError`` when the epoch was aborted (a
        worker did not vote within ``timeout``), ``FencedError`` when this worker's lease was
        taken over. The tables must not change until it returns."""
        self.lease.check_held()  # released by leave(), or known to be taken over
        if epoch <= self._epoch:
            raise ValueError(f"epoch {epoch} is not after epoch {self._epoch}, the last this worker saw")
        decided = self.fleet.decision(epoch)
        if decided is not None and self._holds_earlier_try(decided):
            return self._adopt(decided)
        if decided is not None:
            raise FleetCheckpointAbortedError(epoch, "it is decided already: take a later epoch")
        state = _shard(tables)
        deadline = time.monotonic() + timeout
        parent = self._parent if self._since_full < self.full_every else None
        taken = take_tables(self.store, state, parent, strict=False)
        try:
            # A delta holds a table of its parent's changed keys only; any other table whole.
            since = taken.parent.tables if taken.parent is not None else {}
            self._check_keys(state, {str(t): c for t, c in taken.changes.items() if str(t) in since})
            where = {"epoch": epoch, "worker": self.worker, "workers": self.workers}
            shard_meta = {**(meta or {}), "amber.fleet": where}
            info = self._write_shard(epoch, state, taken, shard_meta)
            vote = self._vote(epoch, info.id)
            decision = self._decide(epoch, deadline)
        except BaseException:
            taken.give_back()
            raise
        if decision.outcome != "commit":
            taken.give_back()
            raise FleetCheckpointAbortedError(epoch, decision.reason, decision.missing)
        if decision.workers != self.workers or decision.shards[self.worker] != vote:
            taken.give_back()
            raise FleetCheckpointAbortedError(epoch, f"it was committed without this worker's shard {info.id}")
        if vote.checkpoint != info.id:  # the epoch holds this worker's shard from an earlier try
            taken.give_back()
            return self._adopt(decision)
        taken.committed(self.store.url, info)
        self._parent, self._epoch = info.id, epoch
        self._since_full = self._since_full + 1 if info.is_delta else 1
        return FleetCheckpoint(epoch, info.id, self.workers, "delta" if info.is_delta else "full")

    def _write_shard(self, epoch: int, state: Any, taken: Any, meta: dict[str, Any]) -> CheckpointInfo:
        """Commit this worker's shard; if that fails, abort the epoch at once rather than
        let the others wait out their timeout (unless this worker was fenced: the epoch
        belongs to its replacement then)."""
        try:
            return Committer(self.store).write(capture(self.store, state, taken, meta=meta))
        except FencedError:
            raise
        except Exception as e:
            self._propose(epoch, self._abort(epoch, f"worker {self.worker} failed: {type(e).__name__}: {e}"))
            raise

    def leave(self) -> None:
        """Release the lease: a replacement may take this worker's place at once."""
        self.store.release_lease()

    def _check_keys(self, state: dict[str, Table[Any, Any]], changes: Mapping[str, Any]) -> None:
        """Refuse keys of other workers' groups: a restore would not find them."""
        for name, table in state.items():
            keys: Iterable[Any] = table.keys()
            if str(table.token) in changes:
                keys = changes[str(table.token)].changed | changes[str(table.token)].touched
            strangers = [k for k in keys if not self.owns(k)]
            if strangers:
                raise SerializationError(
                    f"table {name!r} holds key {strangers[0]!r} of key group "
                    f"{key_group(strangers[0], self.fleet.key_groups)}, outside worker {self.worker}'s "
                    f"groups {self.groups[0]}-{self.groups[1] - 1}: route keys with fleet.worker_for(key, workers)"
                )

    def _vote(self, epoch: int, checkpoint: str) -> Vote:
        """Cast this worker's vote for its shard, with the token its manifest carries."""
        manifest = self.store.storage.get_range(manifest_key(checkpoint), 0, MAX_MANIFEST_BYTES)
        token = parse_manifest(manifest, checkpoint).token
        vote = Vote(self.worker, self.workers, self.groups, checkpoint, digest(manifest), token)
        key, data = f"{self._ballot(epoch)}{self.worker:06d}.json", msgspec.json.encode(vote)
        try:
            self.fleet.storage.put(key, [data], create_only=True)
        except ConflictError:
            standing = self._standing_vote(key)
            if standing is not None and standing.token == token:
                return standing  # ours: this put retried, or an earlier try of this checkpoint
            self.lease.check()  # a newer holder of this worker's lease voted: this one is fenced
            reason = f"worker {self.worker} voted in it already with an older lease token: the tally will abort it"
            raise FleetCheckpointAbortedError(epoch, reason) from None
        return vote

    def _standing_vote(self, key: str) -> Vote | None:
        try:
            return msgspec.json.decode(self.fleet._read(key) or b"", type=Vote)
        except (ValueError, RecursionError):  # msgspec errors, bad UTF-8, absurd nesting
            return None

    def _holds_earlier_try(self, decision: Decision) -> bool:
        """Whether a committed epoch holds a shard this worker wrote under its lease: a try
        that failed after its vote (a dropped connection) and still made it in."""
        if decision.outcome != "commit" or decision.workers != self.workers:
            return False
        return decision.shards[self.worker].token == self.lease.token

    def _adopt(self, decision: Decision) -> FleetCheckpoint:
        """Take a committed epoch's shard of this worker (an earlier try's) as this call's
        result. The tables' changes were kept for the next shard, which will be full."""
        shard = decision.shards[self.worker]
        self._parent, self._epoch = shard.checkpoint, decision.epoch
        kind = "delta" if self.store.info(shard.checkpoint).is_delta else "full"
        return FleetCheckpoint(decision.epoch, shard.checkpoint, self.workers, kind)

    def _ballot(self, epoch: int) -> str:
        """Where the votes of this fleet size go: a straggler of another size never counts."""
        return f"{_votes_folder(epoch)}{self.workers:06d}-"

    def _decide(self, epoch: int, deadline: float) -> Decision:
        pause = self.poll
        while True:
            decision = self.fleet.decision(epoch)
            if decision is not None:
                return decision
            ballot = self._ballot(epoch)
            voters = [k for k in self.fleet.storage.list(_votes_folder(epoch)) if k.startswith(ballot)]
            if len(voters) >= self.workers:
                self._propose(epoch, self._tally(epoch, voters))
            elif time.monotonic() > deadline:
                names = [k.removeprefix(ballot).removesuffix(".json") for k in voters]
                cast = {int(n) for n in names if n.isascii() and n.isdigit()}
                missing = tuple(w for w in range(self.workers) if w not in cast)
                who = ", ".join(map(str, missing))
                self._propose(epoch, self._abort(epoch, f"worker {who} did not vote in time", missing))
            else:
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def _tally(self, epoch: int, voters: list[str]) -> Decision:
        votes: list[Vote] = []
        for key in voters:
            data = self.fleet._read(key)
            try:
                votes.append(msgspec.json.decode(data or b"", type=Vote))
            except (ValueError, RecursionError):  # msgspec errors, bad UTF-8, absurd nesting
                return self._abort(epoch, f"vote {key} is unreadable")
        layout = [groups_of(w, self.workers, self.fleet.key_groups) for w in range(self.workers)]
        votes.sort(key=lambda v: v.worker)
        if [(v.worker, v.workers, v.groups) for v in votes] != [(w, self.workers, g) for w, g in enumerate(layout)]:
            return self._abort(epoch, f"the votes do not make a fleet of {self.workers} workers")
        for vote in votes:
            current = read_lease(self.fleet.worker_store(vote.worker).storage, LEASE_KEY)
            if current is None or current[0].token != vote.token:
                now = f"token {current[0].token}" if current else "no lease"
                reason = f"worker {vote.worker} voted with lease token {vote.token}, but {now} stands now"
                return self._abort(epoch, reason)
        return Decision("amber.fleet.epoch", epoch, "commit", _now(), self.workers, self.fleet.key_groups, tuple(votes))

    def _abort(self, epoch: int, reason: str, missing: tuple[int, ...] = ()) -> Decision:
        groups = self.fleet.key_groups
        return Decision("amber.fleet.epoch", epoch, "abort", _now(), self.workers, groups, (), reason, missing)

    def _propose(self, epoch: int, decision: Decision) -> None:
        """Create the epoch's decision; if another worker created it first, theirs stands."""
        with contextlib.suppress(ConflictError):
            self.fleet.storage.put(_decision_key(epoch), [msgspec.json.encode(decision)], create_only=True)


def _config(storage: Storage) -> FleetConfig | None:
    try:
        data = storage.get_range("fleet.json", 0, _MAX_OBJECT)
    except (ObjectNotFoundError, StoreNotFoundError):
        return None
    try:
        config = msgspec.json.decode(data, type=FleetConfig)
    except (ValueError, RecursionError) as e:  # msgspec errors, bad UTF-8, absurd nesting
        raise CorruptCheckpointError(storage.url, "fleet.json", "a fleet's configuration", str(e)) from None
    if not 1 <= config.key_groups <= 1 << 16:
        raise CorruptCheckpointError(storage.url, "fleet.json", "1 to 65536 key groups", str(config.key_groups))
    return config


def _shard(tables: Mapping[str, Table[Any, Any]]) -> dict[str, Table[Any, Any]]:
    if not all(isinstance(name, str) and isinstance(t, Table) for name, t in tables.items()):
        raise TypeError("a worker's shard is a mapping of names to amber.Table")
    return dict(tables)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def open_fleet(
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
) -> Fleet:
    """Open (or create) the fleet stored at ``url`` (a directory, or ``s3://bucket/prefix``).

    ``key_groups`` (default 128) is fixed when the fleet is created and bounds how many
    workers it can ever have; opening it later with another number is an error, and None
    takes the fleet's own. With ``create=False`` a missing fleet is ``StoreNotFoundError``.
    See docs/fleets.md."""
    if key_groups is not None and not 1 <= key_groups <= 1 << 16:
        raise ValueError(f"key_groups must be between 1 and 65536, not {key_groups}")
    storage = storage_for(os.fspath(url), fsync=fsync, options=storage_options)
    existing = _config(storage)
    if existing is None and not create:
        raise StoreNotFoundError(f"no fleet at {storage.url}")
    if existing is None:
        config = FleetConfig("amber.fleet", key_groups or 128)
        with contextlib.suppress(ConflictError):  # another worker created it first: checked below
            storage.put("fleet.json", [msgspec.json.encode(config)], create_only=True)
        existing = _config(storage)
        if existing is None:
            raise StoreError(f"{storage.url}: fleet.json vanished as it was created")
    if key_groups is not None and existing.key_groups != key_groups:
        raise ValueError(f"{storage.url} has {existing.key_groups} key groups, not {key_groups}: they never change")
    signing = Keyring.of(signing_key, verify_keys)  # shards are signed like any checkpoint
    return Fleet(storage, existing.key_groups, registry=registry, listeners=listeners, signing=signing)
