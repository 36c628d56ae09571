"""One checkpoint attempt, coordinated: prepare -> capture -> validate -> resume -> commit,
or abort (every participant resumed, the tables' changes handed back, nothing committed).

The ``Coordinator`` lives for one attempt. It calls the participants (on their lanes for
``prepare()`` and ``resume()``), hands the captured state to the manager's capture mode
(``_modes.py``, ``_fork_modes.py``), and does the book-keeping of the outcome on the manager:
its chain, its last checkpoint, retention. The ``Attempt`` it drives records the phases
and builds the events.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from .._maintenance._retention import collect
from .._schema._keyed import Changes
from .._store._attempt import Attempt, reason
from .._store._capture import Taken, take_tables
from .._store._info import CheckpointInfo
from ..errors import (
    AmberError,
    CheckpointAbortedError,
    CheckpointError,
    CheckpointTimeoutError,
    CommitUncertainError,
)
from ._modes import TakenInPause
from ._options import CheckpointResult, Level
from ._participants import Participant, call, resume_when_done, violations
from ._policy import delta_parent, grown, meta
from ._verify import UNHASHABLE, Digest, state_hash

if TYPE_CHECKING:
    from ._manager import Manager

log = logging.getLogger("amber.manager")


class Coordinator:
    """One checkpoint attempt of ``manager``: from the first ``prepare()`` to the commit or abort."""

    def __init__(self, manager: Manager, level: Level, *, full: bool) -> None:
        self.manager = manager
        self.store = manager.store
        self.participants = manager.participants
        self.verifier = manager._verifier
        self.write_rate = manager.write_rate
        self.timeouts = manager.timeouts
        self.level = level
        self.full = full
        self.diagnose = level == "comprehensive"
        self.mode = manager.capture_mode()
        self.prepared: list[Participant] = []  # resumed at the end of the pause, whatever happens
        self.attempt = Attempt(
            "full" if full else "delta",
            manager.capture,
            emit=manager._emit,
            limit=manager.timeouts.of,
            on_phase=manager._set_phase,
        )
        self.verify = False  # this checkpoint checks its tables (deltas check themselves)
        self.digests: dict[int, Digest] | None = None  # the tables as it wrote them
        self.state_hash = UNHASHABLE  # the state outside its tables' entries, as this attempt took it
        self.unchanged = False  # a delta with no table changes, the rest as the last checkpoint held it

    def run(self, verify: bool | None) -> CheckpointResult:
        """Take, validate and commit a checkpoint; raise ``CheckpointAbortedError`` (or what
        the attempt raised, when already precise) with nothing committed."""
        manager, attempt = self.manager, self.attempt
        taken: Taken | None = None
        online = manager.last is not None or manager.phase == "online"
        try:
            attempt.enter("preparing")
            # Planning (listing the store) fails like any step: reported, never silent.
            parent = None if self.full else delta_parent(manager)
            head = self.mode.head(self.store)  # listed before the pause
            attempt.kind = "delta" if parent else "full"
            attempt.started(self.level)
            attempt.start_pause()
            self._prepare()
            attempt.enter("capturing")
            state = {p.name: self.call(p, "snapshot") for p in self.participants}
            taken = self._take(state, parent)
            attempt.kind = "delta" if taken.parent is not None else "full"
            self.verify = self.verifier.due(taken.parent is None, taken.tables) if verify is None else verify
            self._compare(state, taken)
            made = meta(manager, attempt, self.level, taken)
            info = self.mode.commit(self, TakenInPause(state, taken, made, head))
        except BaseException as error:
            phase = self._abort(taken, error, online)
            aborted = _aborted(phase, error)
            if aborted is error:
                raise  # already precise: keep its own cause
            raise aborted from error
        # The baseline for the next check, now that the store holds this state.
        self.verifier.committed(taken.changes, self.digests, checked=self.verify)
        if info is None:
            return self._skipped()
        taken.committed(self.store.url, info)
        manager._state_hash = self.state_hash
        return self._committed(info)

    def _compare(self, state: dict[str, Any], taken: Taken) -> None:
        """In the pause: hash the state outside its tables' entries, and find whether this
        delta would hold nothing new (no table changed, the rest as the last checkpoint
        this manager committed held it), so that it need not be written."""
        if not taken.tables:
            return  # no delta possible: every checkpoint is a full one
        self.state_hash = state_hash(self.store.registry, state, taken.tables)
        last = self.manager._state_hash
        delta_on_last = not self.full and taken.parent is not None and self.manager.last is not None
        self.unchanged = (
            delta_on_last
            and not any(map(_holds_changes, taken.changes.values()))
            and UNHASHABLE not in (last, self.state_hash)
            and last == self.state_hash
        )

    def nothing_to_write(self, taken: Taken) -> bool:
        """Whether this attempt is skipped: unchanged, and the touch check (when this one ran
        it) found no entry changed in place without ``touch()`` either."""
        return self.unchanged and not any(map(_holds_changes, taken.changes.values()))

    # --- the participants -----------------------------------------------------------------

    def call(self, participant: Participant, method: str, *args: Any, timeout: float | None = None) -> Any:
        """``participant.method(*args)`` within the phase's time left (or ``timeout``), recorded."""
        attempt = self.attempt
        wall, began = time.time(), time.perf_counter()
        try:
            lane = self.manager._lanes.get(participant.name) if method in ("prepare", "resume") else None
            left = attempt.left() if timeout is None else timeout
            result, seconds = call(participant, method, attempt.phase, left, *args, lane=lane)
        except CheckpointAbortedError as e:
            attempt.record(participant.name, method, wall, time.perf_counter() - began, e.reason)
            raise
        if hasattr(participant, method):
            attempt.record(participant.name, method, wall, seconds)
        return result

    def _prepare(self) -> None:
        overrunning = self.manager._overrunning
        for p in self.participants:
            late = overrunning.get(p.name)
            if late is not None and late.is_alive():
                raise CheckpointAbortedError("preparing", p.name, "its previous prepare() has not returned yet")
            self.prepared.append(p)
            try:
                self.call(p, "prepare")
            except CheckpointTimeoutError as e:
                if e.still_running is not None:
                    self.prepared.remove(p)  # resumed when its prepare() returns, not before
                    overrunning[p.name] = e.still_running[0]  # type: ignore[index]
                    resume_when_done(p, self.manager._lanes[p.name])
                raise

    def _take(self, state: dict[str, Any], parent: CheckpointInfo | None) -> Taken:
        try:
            taken = take_tables(self.store, state, parent.id if parent else None, strict=False)
        except CheckpointError as e:  # the parent became unreadable: start a new chain
            log.warning("cannot write a delta on %s (%s); writing a full checkpoint", parent and parent.id, e)
            taken = take_tables(self.store, state, None)
        if not taken.tables:
            taken.parent = None  # nothing incremental in this state: a delta would be a full copy
        return taken

    def validate(self) -> None:
        """Every participant's ``invariants()``, in this process."""
        for p in self.participants:
            result = self.call(p, "invariants")
            try:
                check_invariants(p, result)
            except CheckpointAbortedError as e:
                self.attempt.failed_call(e.reason)
                raise

    def resume(self) -> None:
        """End the pause: resume every prepared participant (all of them, even if one fails)."""
        failure: BaseException | None = None
        while self.prepared:
            p = self.prepared.pop(0)
            try:
                self.call(p, "resume", timeout=self.timeouts.preparing)
            except CheckpointAbortedError as e:
                failure = failure or e
        self.attempt.end_pause()
        if failure is not None:
            raise failure

    # --- the outcome ----------------------------------------------------------------------

    def _abort(self, taken: Taken | None, error: BaseException, online: bool) -> str:
        """Undo what the attempt did; return the phase it failed in."""
        attempt = self.attempt
        if self.prepared:
            try:
                self.resume()
            except CheckpointAbortedError as e:  # the abort's own cause is what gets raised
                log.error("while aborting checkpoint %s, a participant failed to resume: %s", attempt.token, e)
        attempt.end_pause()
        if taken is not None:
            taken.give_back()
        phase = attempt.phase
        attempt.finish_phase(error=reason(error))
        self.manager._set_phase("online" if online else "idle")
        attempt.aborted(error, phase)
        attempt.deliver()
        return phase

    def _skipped(self) -> CheckpointResult:
        """Nothing changed since the last checkpoint, which holds this state: nothing written."""
        manager, attempt = self.manager, self.attempt
        assert manager.last is not None  # unchanged is said of a delta on it
        attempt.end_pause()
        attempt.finish_phase()
        manager._set_phase("online")
        phases = dict(attempt.phases)
        result = CheckpointResult(manager.last, attempt.kind, attempt.pause, attempt.elapsed(), phases, skipped=True)
        manager.last_result = result
        attempt.skipped(manager.last, result.seconds)
        attempt.deliver()
        return result

    def _committed(self, info: CheckpointInfo) -> CheckpointResult:
        manager, attempt = self.manager, self.attempt
        attempt.end_pause()
        attempt.finish_phase(size=info.size)
        manager._set_phase("online")
        manager._chain_bytes = grown(manager._chain_bytes, info)
        manager.last = info
        diagnostics = info.meta.get("amber", {}).get("diagnostics", {}) if self.diagnose else {}
        phases = dict(attempt.phases)
        result = CheckpointResult(info, attempt.kind, attempt.pause, attempt.elapsed(), phases, diagnostics)
        manager.last_result = result
        attempt.committed(info, result.seconds, result.phases)
        attempt.deliver()
        self._apply_retention()
        return result

    def _apply_retention(self) -> None:
        manager = self.manager
        if manager.retention is None:
            return
        try:
            keep = manager.keep() if manager.keep is not None else ()
            collect(self.store, manager.retention, emit=manager._emit, keep=keep)
        except AmberError:
            log.exception("retention failed; checkpoints are kept")


def check_invariants(participant: Participant, result: Any) -> None:
    """Abort when ``result`` (what ``invariants()`` returned) holds any violation."""
    found = violations(result)
    if found:
        listing = "; ".join(map(str, found[:5]))
        raise CheckpointAbortedError("validating", participant.name, f"invariant broken: {listing}")


def _holds_changes(changes: Changes) -> bool:
    return bool(changes.changed or changes.deleted or changes.touched)


def _aborted(phase: str, error: BaseException) -> BaseException:
    if isinstance(error, CheckpointAbortedError | CommitUncertainError) or not isinstance(error, Exception):
        return error  # already precise (or committed after all); KeyboardInterrupt, SystemExit pass through
    return CheckpointAbortedError(phase, None, f"{type(error).__name__}: {error}")
