"""How a checkpoint's snapshots become a commit: the ``CaptureMode`` a manager delegates to,
and the inline one. The forked ones are in ``_fork_modes.py``.

The coordination (``_coordinate.py``) prepares the participants and takes their snapshots
in the pause; a capture mode then encodes, validates, resumes the service and commits, in
the order its way of capturing needs. So an attempt is given its mode (as httpx's client
is given a transport) instead of asking ``if capture == "fork"`` at every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .._store._capture import Taken, capture
from .._store._checkpoint import CheckpointStore
from .._store._commit import Committer
from .._store._info import CheckpointInfo
from ._verify import warn_missed

if TYPE_CHECKING:
    from ._coordinate import Coordinator


class TakenInPause(NamedTuple):
    """What the pause took: the participants' snapshots, their tables' changes, the meta."""

    state: dict[str, Any]
    taken: Taken
    meta: dict[str, Any]
    head: str  # the newest checkpoint listed before the pause ("" when the mode needs none)


class CaptureMode(Protocol):
    """One way of turning what the pause took into a committed checkpoint."""

    def head(self, store: CheckpointStore) -> str:
        """Listed before the pause: the newest checkpoint, when the mode needs it later."""
        ...

    def commit(self, run: Coordinator, taken_in_pause: TakenInPause) -> CheckpointInfo | None:
        """Validate, resume the service (``run.resume()``), commit; raise to abort. None:
        nothing changed since the last checkpoint (``run.nothing_to_write``), nothing written."""
        ...


class InlineCapture:
    """``capture="inline"``: the snapshots are encoded and validated in the pause;
    compression and I/O happen after ``resume()``."""

    def head(self, store: CheckpointStore) -> str:
        return ""  # nothing to look for later: this process commits, or knows it did not

    def commit(self, run: Coordinator, taken_in_pause: TakenInPause) -> CheckpointInfo | None:
        state, taken, meta, _ = taken_in_pause
        attempt = run.attempt
        if run.verify:  # in the pause: the state cannot change while it is hashed
            missed, run.digests = run.verifier.check(state, taken.tables, taken.changes)
            said_missed(missed.describe())
        else:
            run.digests = run.verifier.new_tables(taken.tables)
        if run.nothing_to_write(taken):  # after the check: a forgotten touch() is a change
            run.resume()
            return None
        captured = capture(run.store, state, taken, meta=meta, encode_now=True)
        attempt.check()
        attempt.enter("validating")
        run.validate()
        run.resume()
        attempt.enter("committing")
        return Committer(run.store).write(captured, rate=run.write_rate, check=attempt.check, diagnose=run.diagnose)


def said_missed(missed: str) -> None:
    """Said as soon as found: should the checkpoint abort, the keys stay marked for the next."""
    if missed:
        warn_missed(missed)
