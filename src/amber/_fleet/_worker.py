"""``FleetWorker``: one worker of a fleet, holding its lease, writing and restoring its shard.

A checkpoint of the fleet is an epoch: this worker commits its shard (a delta on its last
one when it can) in its own store, votes for it, and waits for the epoch's one decision
(``_ballot``). Whatever fails before the decision gives the tables' changes back, so the
next shard still holds them.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .._schema._keyed import Table
from .._store._capture import Taken, capture, take_tables
from .._store._checkpoint import CheckpointStore
from .._store._commit import Committer
from .._store._info import CheckpointInfo
from .._store._lease import Lease
from ..errors import FencedError, FleetCheckpointAbortedError, SerializationError
from ._ballot import Ballot
from ._keys import groups_of, key_group
from ._records import Decision, FleetCheckpoint, Vote

if TYPE_CHECKING:
    from ._fleet import Fleet


class FleetWorker:
    """Worker ``worker`` of ``workers``: holds its lease, checkpoints and restores its shard."""

    def __init__(self, fleet: Fleet, worker: int, workers: int, lease: Lease, store: CheckpointStore) -> None:
        self.fleet = fleet
        self.worker = worker
        self.workers = workers
        self.groups = groups_of(worker, workers, fleet.key_groups)
        self.lease = lease
        self.store = store
        self.ballot = Ballot(fleet, worker, workers, lease, store)
        self.full_every = 8  # one full shard every so many; deltas between
        self._parent: str | None = None  # this worker's shard in the last epoch committed
        self._since_full = 0
        self._epoch = 0  # the last epoch restored or committed

    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def poll(self) -> float:
        """Seconds between looks at an epoch's votes while waiting for its decision (doubling
        up to 0.5)."""
        return self.ballot.poll

    @poll.setter
    def poll(self, seconds: float) -> None:
        self.ballot.poll = seconds

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
            tables = self.fleet.shard_state(decision, own[0], self.store)
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
        if decided is not None:  # said with its reason: a worker that failed first aborted it, say
            why = f" ({decided.reason})" if decided.reason else ""
            raise FleetCheckpointAbortedError(epoch, f"it is decided already{why}: take a later epoch")
        state = _shard(tables)
        deadline = time.monotonic() + timeout
        parent = self._parent if self._since_full < self.full_every else None
        taken = take_tables(self.store, state, parent, strict=False)
        try:
            info, vote, decision = self._round(epoch, state, taken, meta, deadline)
        except BaseException:
            taken.give_back()
            raise
        return self._settle(epoch, info, vote, decision, taken)

    def _round(
        self, epoch: int, state: dict[str, Table[Any, Any]], taken: Taken, meta: dict[str, Any] | None, deadline: float
    ) -> tuple[CheckpointInfo, Vote, Decision]:
        """Commit this worker's shard, vote for it and wait for the decision."""
        # A delta holds a table of its parent's changed keys only; any other table whole.
        since = taken.parent.tables if taken.parent is not None else {}
        self._check_keys(state, {str(t): c for t, c in taken.changes.items() if str(t) in since})
        where = {"epoch": epoch, "worker": self.worker, "workers": self.workers}
        info = self._write_shard(epoch, state, taken, {**(meta or {}), "amber.fleet": where})
        vote = self.ballot.vote(epoch, info.id)
        return info, vote, self.ballot.decide(epoch, deadline)

    def _settle(
        self, epoch: int, info: CheckpointInfo, vote: Vote, decision: Decision, taken: Taken
    ) -> FleetCheckpoint:
        """What the decision means for this worker's shard and its tables' changes."""
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

    def _write_shard(self, epoch: int, state: Any, taken: Taken, meta: dict[str, Any]) -> CheckpointInfo:
        """Commit this worker's shard; if that fails, abort the epoch at once rather than
        let the others wait out their timeout (unless this worker was fenced: the epoch
        belongs to its replacement then)."""
        try:
            return Committer(self.store).write(capture(self.store, state, taken, meta=meta))
        except FencedError:
            raise
        except Exception as e:
            reason = f"worker {self.worker} failed: {type(e).__name__}: {e}"
            self.ballot.propose(epoch, self.ballot.abort(epoch, reason))
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


def _shard(tables: Mapping[str, Table[Any, Any]]) -> dict[str, Table[Any, Any]]:
    if not all(isinstance(name, str) and isinstance(t, Table) for name, t in tables.items()):
        raise TypeError("a worker's shard is a mapping of names to amber.Table")
    return dict(tables)
