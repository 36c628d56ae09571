"""How a checkpoint's snapshots become a commit: the ``CaptureMode`` a manager delegates to,
and the inline one. The forked ones are in ``_forked.py``.

The coordination (``_coordinate.py``) prepares the participants and takes their snapshots
in the pause; a capture mode then encodes, validates, resumes the service and commits, in
the order its way of capturing needs. So a manager chooses its mode once (as httpx's
client is given a transport) instead of asking ``if capture == "fork"`` at every step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from .._store._checkpoint import CheckpointInfo, CheckpointStore, Taken
from ._verify import warn_missed

if TYPE_CHECKING:
    from ._coordinate import Coordinator


class Captured(NamedTuple):
    """What the pause took: the participants' snapshots, their tables' changes, the meta."""

    state: dict[str, Any]
    taken: Taken
    meta: dict[str, Any]
    head: str  # the newest checkpoint listed before the pause ("" when the mode needs none)


class CaptureMode(Protocol):
    """One way of turning a captured state into a committed checkpoint."""

    def head(self, store: CheckpointStore) -> str:
        """Listed before the pause: the newest checkpoint, when the mode needs it later."""
        ...

    def commit(self, run: Coordinator, captured: Captured) -> CheckpointInfo:
        """Validate, resume the service (``run.resume()``), commit; raise to abort."""
        ...


class InlineCapture:
    """``capture="inline"``: the snapshots are encoded and validated in the pause;
    compression and I/O happen after ``resume()``."""

    def head(self, store: CheckpointStore) -> str:
        return ""  # nothing to look for later: this process commits, or knows it did not

    def commit(self, run: Coordinator, captured: Captured) -> CheckpointInfo:
        state, taken, meta, _ = captured
        attempt = run.attempt
        if attempt.verify:  # in the pause: the state cannot change while it is hashed
            missed, attempt.digests = run.verifier.check(state, taken.tables, taken.changes)
            said_missed(missed.describe())
        else:
            attempt.digests = run.verifier.new_tables(taken.tables)
        capture = run.store.capture(state, taken, meta=meta, encode_now=True)
        attempt.check()
        attempt.enter("validating")
        run.validate()
        run.resume()
        attempt.enter("committing")
        return run.store.write(capture, rate=run.write_rate, check=attempt.check, diagnose=run.diagnose)


def said_missed(missed: str) -> None:
    """Said as soon as found: should the checkpoint abort, the keys stay marked for the next."""
    if missed:
        warn_missed(missed)
