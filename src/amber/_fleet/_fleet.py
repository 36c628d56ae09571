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

import logging
import os
from collections.abc import Iterable
from typing import Any

from .._format._format import MAX_MANIFEST_BYTES, digest, manifest_key, parse_manifest
from .._format._objects import read_object
from .._format._signing import Keyring
from .._maintenance._retention import Retention, collect
from .._schema._keyed import Table
from .._schema._registry import Registry
from .._store._checkpoint import CheckpointStore
from .._store._open import storage_for
from ..errors import (
    CheckpointNotFoundError,
    CorruptCheckpointError,
    ObjectNotFoundError,
)
from ..events import Listener
from ..storage import Storage
from ..storage._prefixed import PrefixedStorage
from ._keys import groups_of, key_group, of_groups
from ._records import (
    MAX_OBJECT,
    Decision,
    FleetConfig,
    Vote,
    decision_key,
    decoded_decision,
    opened_config,
    votes_folder,
)
from ._worker import FleetWorker

log = logging.getLogger("amber.fleet")


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
        data = read_object(self.storage, decision_key(epoch), MAX_OBJECT)
        return None if data is None else decoded_decision(data, epoch, self.key_groups)

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
            state = self.shard_state(decision, shard, self.worker_store(shard.worker))
            whole = shard.groups[0] >= first and shard.groups[1] <= end
            for name, table in state.items():
                mine = table.items() if whole else of_groups(table.items(), first, end, self.key_groups)
                tables.setdefault(name, Table()).update(mine)
        return tables, decision.epoch

    def shard_state(self, decision: Decision, shard: Vote, store: CheckpointStore) -> dict[str, Table[Any, Any]]:
        """The tables of a committed epoch's shard, read from ``store`` (the shard's worker's)
        after checking that it is the very shard the decision names, by digest and metadata."""
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
            self.storage.delete(decision_key(epoch))
            for key in self.storage.list(votes_folder(epoch)):
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
    fresh = FleetConfig("amber.fleet", key_groups or 128)
    existing = opened_config(storage, "fleet.json", fresh, key_groups=key_groups, create=create, noun="fleet")
    signing = Keyring.of(signing_key, verify_keys)  # shards are signed like any checkpoint
    return Fleet(storage, existing.key_groups, registry=registry, listeners=listeners, signing=signing)
