"""``capture="fork"``: a forked child captures, validates and commits the copy-on-write
image of the state while the service, resumed, goes on serving.

``ForkCapture`` is for stores a child can write to (``fork_safe``: local folders): the child
commits, once the parent says every participant resumed. ``SpooledForkCapture`` is for the
others (S3, whose client threads do not survive ``fork()``; memory, which a child does not
share): the child writes the data file to a local spool, and the parent uploads it and
commits. Either way the parent follows the child's messages (``_fork.py``) phase by phase,
and after a failure finds what the child committed before it died, or removes what it left.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from typing import TYPE_CHECKING, Any

from .._store._capture import CapturedState, Taken, capture
from .._store._checkpoint import CheckpointStore
from .._store._commit import Committer
from .._store._gc_guard import writing
from .._store._info import CheckpointInfo
from .._store._lease import LEASE_KEY
from .._store._writer_lock import kept_by_children
from ..errors import AmberError, CheckpointAbortedError, CheckpointTimeoutError, FencedError, StoreError
from ..storage import LocalStorage, Storage
from . import _fork
from ._coordinate import check_invariants
from ._fork import Call, Committed, DataFile, Done, Failed, Phase, Skipped, Staged, Verified
from ._modes import TakenInPause, said_missed
from ._participants import Participant, violations
from ._spool import spool
from ._verify import Digest, pack, unpack

if TYPE_CHECKING:
    from ._coordinate import Coordinator

log = logging.getLogger("amber.manager")


def fork_capture(storage: Storage) -> ForkCapture:
    """The fork capture a store allows: the child commits only where it can write."""
    # ``fork_safe`` is not (yet) part of the Storage protocol: a backend opts in.
    return ForkCapture() if getattr(storage, "fork_safe", False) else SpooledForkCapture()


class ForkCapture:
    """The child captures, validates and commits; the parent resumes the service and follows it."""

    def __init__(self) -> None:
        self._data_key = ""  # the data file this attempt's child announced: removed if it dies

    def head(self, store: CheckpointStore) -> str:
        ids = store.ids()  # to find, after a failure, a checkpoint the child committed
        return ids[-1] if ids else ""

    def commit(self, run: Coordinator, taken_in_pause: TakenInPause) -> CheckpointInfo | None:
        return self._run_child(run, taken_in_pause)

    def _run_child(self, run: Coordinator, taken_in_pause: TakenInPause) -> CheckpointInfo | None:
        state, taken, meta, before = taken_in_pause
        self._data_key = ""  # only this attempt's child may name the file to clean up
        service_pid = os.getpid()

        def job(send: _fork.Send, go: _fork.Go) -> Done:
            _verify_in_child(run, state, taken, send)
            if run.nothing_to_write(taken):  # after the check: a forgotten touch() is a change
                return Skipped()
            captured: CapturedState = capture(run.store, state, taken, meta=meta)
            send(Phase("validating"))
            _validate_in_child(run.participants, send)
            send(Phase("committing"))
            return self._finish_in_child(run, captured, service_pid, send, go)

        with kept_by_children():  # the store stays locked until the child exits, even if we die first
            lifetime = run.timeouts.capturing + run.timeouts.validating + run.timeouts.committing
            child = _fork.fork(job, lifetime=lifetime)  # the parent kills it sooner, at each phase's timeout
        try:
            run.resume()  # a participant failing here aborts the child too
            child.go()  # the child commits only after this: the resume failing stops it in time
            outcome = self._follow(run, child)
        except BaseException as error:
            child.kill()
            for message in child.drain():  # a data file it announced but the parent did not read yet
                if isinstance(message, DataFile):
                    self._data_key = message.key
                elif isinstance(message, Verified):  # the digests it handed back: no one will read them
                    _taken_back(message.digests)
            how = child.reap()
            found = self._committed_by(run, before)
            if found is not None:  # committed before the kill: sound data, kept, but said loudly
                log.error(
                    "checkpoint %s was committed by its child (which %s) and is kept; meanwhile: %s",
                    found.id,
                    how,
                    error,
                )
                return found
            raise
        child.reap()
        if isinstance(outcome, Skipped):
            return None
        return self._finish_in_parent(run, outcome)

    def _finish_in_child(
        self, run: Coordinator, captured: CapturedState, service_pid: int, send: _fork.Send, go: _fork.Go
    ) -> Done:
        """The child commits, once the parent resumed everyone, and while the parent lives."""

        def until_go(step: str) -> None:
            if step == "commit" and not go():  # commit only once the parent resumed everyone
                raise CheckpointAbortedError("committing", None, "the service did not resume cleanly")
            if os.getppid() != service_pid:  # an orphan: its commit could land after a restarted service's
                raise CheckpointAbortedError("committing", None, "the service exited during the checkpoint")

        info = Committer(run.store).write(
            captured,
            rate=run.write_rate,
            check=until_go,
            diagnose=run.diagnose,
            on_data=lambda key: send(DataFile(key)),
        )
        return Committed(info.id)

    def _finish_in_parent(self, run: Coordinator, outcome: Done) -> CheckpointInfo:
        if not isinstance(outcome, Committed):  # the other mode's outcome: not this child's
            raise CheckpointAbortedError("committing", None, "the checkpoint child did not commit")
        return run.store.info(outcome.checkpoint)

    def _follow(self, run: Coordinator, child: _fork.Child) -> Done:
        """The child's messages until its outcome, each phase within its timeout."""
        attempt = run.attempt
        data_key = ""
        try:
            for message in child.messages(lambda: attempt.deadline):
                match message:
                    case Call():  # the child ran a participant's invariants
                        attempt.record(message.participant, "invariants", message.start, message.seconds, message.error)
                    case Verified():  # the child checked the tables: the next baseline
                        run.digests = _taken_back(message.digests)
                        said_missed(message.missed)
                    case Phase():
                        attempt.enter(message.phase)
                    case DataFile():
                        data_key = message.key
                    case Failed():
                        error = CheckpointAbortedError(
                            message.phase or attempt.phase, message.participant, message.reason
                        )
                        if message.error == "FencedError":  # the child found the lease taken over
                            raise error from _fenced(run.store, message.reason)
                        raise error
                    case _:
                        return message
        except TimeoutError:
            raise CheckpointTimeoutError(
                attempt.phase, None, f"the checkpoint child ran over {run.timeouts.of(attempt.phase):g} s"
            ) from None
        finally:
            self._data_key = data_key
        raise CheckpointAbortedError(attempt.phase, None, "the checkpoint child died without reporting")

    def _committed_by(self, run: Coordinator, before: str) -> CheckpointInfo | None:
        """A checkpoint the (dead) child committed before it could say so, if any; else
        remove the data file it left, which no manifest names."""
        for cid in reversed(run.store.ids()):
            if cid <= before:
                break
            with contextlib.suppress(AmberError):
                info = run.store.info(cid)
                if info.meta.get("amber", {}).get("attempt") == run.attempt.token:
                    return info
        key = self._data_key
        if key:
            storage = run.store.storage
            with contextlib.suppress(AmberError):
                storage.delete(key)
                folder, _, name = key.rpartition("/")
                for leftover, _ in storage.temporaries(folder + "/"):
                    if leftover.startswith(f"{folder}/.{name}."):  # the child's half-written file
                        storage.delete_temporary(leftover)
        return None


class SpooledForkCapture(ForkCapture):
    """For a store a child cannot write to: the child stages the data file and the draft
    manifest in a local spool; the parent uploads the file and commits."""

    def __init__(self) -> None:
        super().__init__()
        self._spool: LocalStorage | None = None  # this attempt's spool

    def commit(self, run: Coordinator, taken_in_pause: TakenInPause) -> CheckpointInfo | None:
        with spool() as self._spool:
            return self._run_child(run, taken_in_pause)

    def _finish_in_child(
        self, run: Coordinator, captured: CapturedState, service_pid: int, send: _fork.Send, go: _fork.Go
    ) -> Done:
        """The data file written to the spool, and the draft manifest. A child whose service
        died stops, and removes what it wrote (no one else will)."""
        assert self._spool is not None  # set by commit(), which forked this child

        def parent_alive(step: str) -> None:
            if os.getppid() != service_pid:
                raise CheckpointAbortedError("committing", None, "the service exited during the checkpoint")

        try:
            draft = Committer(run.store).stage(captured, into=self._spool, check=parent_alive, diagnose=run.diagnose)
            parent_alive("staged")
        except BaseException:
            shutil.rmtree(self._spool.root, ignore_errors=True)
            raise
        return Staged(draft)

    def _finish_in_parent(self, run: Coordinator, outcome: Done) -> CheckpointInfo:
        """Upload the data file the child staged, then commit it, both within the committing
        timeout and the write rate."""
        assert self._spool is not None  # set by commit(), which is still under way
        if not isinstance(outcome, Staged):  # the other mode's outcome: not this child's
            raise CheckpointAbortedError("committing", None, "the checkpoint child did not stage")
        draft, attempt = outcome.draft, run.attempt
        attempt.check()
        with writing(run.store.storage, draft.data):  # no collection between the upload and the commit
            try:
                Committer(run.store).upload(draft, self._spool, rate=run.write_rate, check=attempt.check)
            except BaseException:
                with contextlib.suppress(AmberError):
                    run.store.storage.delete(draft.data)  # a failed upload: nothing names it
                raise
            return Committer(run.store).publish(draft, check=attempt.check)


def _verify_in_child(run: Coordinator, state: dict[str, Any], taken: Taken, send: _fork.Send) -> None:
    """In the child, free to the service: the tables checked for changes made without
    ``touch()``, or the first baselines of new tables; their digests handed back."""
    if run.verify:
        missed, digests = run.verifier.check(state, taken.tables, taken.changes)
        send(Verified(_hand_back(digests), missed.describe()))
    elif new := run.verifier.new_tables(taken.tables):
        send(Verified(_hand_back(new), ""))


def _validate_in_child(participants: list[Participant], send: _fork.Send) -> None:
    """In the child: each participant's invariants (the parent bounds their time), each call reported."""
    for p in participants:
        if getattr(p, "invariants", None) is None:
            continue
        wall, began = time.time(), time.perf_counter()
        try:
            check_invariants(p, _child_invariants(p))
        except CheckpointAbortedError as e:
            send(Call(p.name, wall, time.perf_counter() - began, e.reason))
            raise
        send(Call(p.name, wall, time.perf_counter() - began, ""))


def _child_invariants(participant: Participant) -> Any:
    """Invariants in the forked child (the parent bounds its time)."""
    check = getattr(participant, "invariants", None)
    try:
        return violations(check()) if check is not None else None  # a generator runs here too
    except Exception as e:
        raise CheckpointAbortedError(
            "validating", participant.name, f"invariants() raised {type(e).__name__}: {e}"
        ) from e


def _fenced(store: CheckpointStore, reason: str) -> FencedError:
    """The child's ``FencedError``, for this process: its lease is marked lost too."""
    if store.lease is not None:
        try:
            store.lease.check()
        except FencedError as e:
            return e
        except StoreError:
            pass  # cannot read the lease now: the child's word stands
    return FencedError(reason, lease=f"{store.url}/{LEASE_KEY}")


def _hand_back(digests: dict[int, Digest]) -> str:
    """A child's table digests, through a private file (they may be megabytes): its path."""
    fd, path = tempfile.mkstemp(prefix="amber-digests-")
    with os.fdopen(fd, "wb") as f:
        f.write(pack(digests))
    return path


def _taken_back(path: str) -> dict[int, Digest] | None:
    try:
        with open(path, "rb") as f:
            return unpack(f.read())
    except OSError:
        return None  # no baseline this time: the next check rebuilds it
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)
