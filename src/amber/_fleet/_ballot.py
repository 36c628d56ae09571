"""One worker's part in an epoch's two-phase round: its vote, the tally, the decision.

Votes and decisions are create-only objects in the fleet's storage: each worker casts one
vote for its committed shard, the first to see a whole fleet's votes proposes *commit*,
and one that waits past its deadline proposes *abort*. Whichever decision is created first
stands, for everyone (docs/fleets.md).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING

import msgspec

from .._format._format import MAX_MANIFEST_BYTES, digest, manifest_key, parse_manifest
from .._format._objects import read_object, utc_stamp
from .._store._checkpoint import CheckpointStore
from .._store._lease import LEASE_KEY, Lease, read_lease
from ..errors import ConflictError, FleetCheckpointAbortedError
from ._keys import groups_of
from ._records import MAX_OBJECT, Decision, Vote, decision_key, make_a_fleet, votes_folder

if TYPE_CHECKING:
    from ._fleet import Fleet


class Ballot:
    """Worker ``worker`` of ``workers`` voting in the fleet's epochs under ``lease``."""

    def __init__(self, fleet: Fleet, worker: int, workers: int, lease: Lease, store: CheckpointStore) -> None:
        self.fleet = fleet
        self.worker = worker
        self.workers = workers
        self.groups = groups_of(worker, workers, fleet.key_groups)
        self.lease = lease
        self.store = store
        self.poll = 0.05  # seconds between looks at the votes, doubling up to 0.5

    def vote(self, epoch: int, checkpoint: str) -> Vote:
        """Cast this worker's vote for its shard, with the token its manifest carries."""
        manifest = self.store.storage.get_range(manifest_key(checkpoint), 0, MAX_MANIFEST_BYTES)
        token = parse_manifest(manifest, checkpoint).token
        vote = Vote(self.worker, self.workers, self.groups, checkpoint, digest(manifest), token)
        key, data = f"{self._folder(epoch)}{self.worker:06d}.json", msgspec.json.encode(vote)
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

    def decide(self, epoch: int, deadline: float) -> Decision:
        """Wait for epoch ``epoch``'s decision, proposing one when this worker can: commit
        once every vote is in, abort past ``deadline`` (time.monotonic)."""
        pause = self.poll
        while True:
            decision = self.fleet.decision(epoch)
            if decision is not None:
                return decision
            folder = self._folder(epoch)
            voters = [k for k in self.fleet.storage.list(votes_folder(epoch)) if k.startswith(folder)]
            if len(voters) >= self.workers:
                self.propose(epoch, self._tally(epoch, voters))
            elif time.monotonic() > deadline:
                names = [k.removeprefix(folder).removesuffix(".json") for k in voters]
                cast = {int(n) for n in names if n.isascii() and n.isdigit()}
                missing = tuple(w for w in range(self.workers) if w not in cast)
                who = ", ".join(map(str, missing))
                self.propose(epoch, self.abort(epoch, f"worker {who} did not vote in time", missing))
            else:
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def abort(self, epoch: int, reason: str, missing: tuple[int, ...] = ()) -> Decision:
        """An abort decision for epoch ``epoch`` (not yet proposed)."""
        groups = self.fleet.key_groups
        return Decision("amber.fleet.epoch", epoch, "abort", utc_stamp(), self.workers, groups, (), reason, missing)

    def propose(self, epoch: int, decision: Decision) -> None:
        """Create the epoch's decision; if another worker created it first, theirs stands."""
        with contextlib.suppress(ConflictError):
            self.fleet.storage.put(decision_key(epoch), [msgspec.json.encode(decision)], create_only=True)

    def _folder(self, epoch: int) -> str:
        """Where the votes of this fleet size go: a straggler of another size never counts."""
        return f"{votes_folder(epoch)}{self.workers:06d}-"

    def _standing_vote(self, key: str) -> Vote | None:
        try:
            return msgspec.json.decode(read_object(self.fleet.storage, key, MAX_OBJECT) or b"", type=Vote)
        except (ValueError, RecursionError):  # msgspec errors, bad UTF-8, absurd nesting
            return None

    def _tally(self, epoch: int, voters: list[str]) -> Decision:
        votes: list[Vote] = []
        for key in voters:
            data = read_object(self.fleet.storage, key, MAX_OBJECT)
            try:
                votes.append(msgspec.json.decode(data or b"", type=Vote))
            except (ValueError, RecursionError):  # msgspec errors, bad UTF-8, absurd nesting
                return self.abort(epoch, f"vote {key} is unreadable")
        votes.sort(key=lambda v: v.worker)
        if not make_a_fleet(votes, self.workers, self.fleet.key_groups):
            return self.abort(epoch, f"the votes do not make a fleet of {self.workers} workers")
        for vote in votes:
            current = read_lease(self.fleet.worker_store(vote.worker).storage, LEASE_KEY)
            if current is None or current[0].token != vote.token:
                now = f"token {current[0].token}" if current else "no lease"
                reason = f"worker {vote.worker} voted with lease token {vote.token}, but {now} stands now"
                return self.abort(epoch, reason)
        commit = Decision("amber.fleet.epoch", epoch, "commit", utc_stamp(), self.workers, self.fleet.key_groups)
        return msgspec.structs.replace(commit, shards=tuple(votes))
