"""``amber.Manager``: coordinated checkpoints of a service's participants, and verified restore.

A checkpoint moves through idle -> preparing -> capturing -> validating -> committing ->
online. The service's pause runs from the first ``prepare()`` to the last ``resume()``:

- ``capture="inline"``: snapshots are taken and fully encoded during the pause (so the
  state may change the moment it ends); compression and I/O happen after ``resume()``.
- ``capture="fork"``: the pause covers the snapshots and ``fork()``; a child encodes,
  validates and commits the copy-on-write image while the parent serves.

Any failure or overrun aborts the checkpoint: every participant is resumed, table
changes are handed back (the next checkpoint includes them), nothing is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
import os
import platform
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Literal

import msgspec

from .._format._format import Manifest
from .._maintenance._retention import Retention, collect
from .._store._checkpoint import Capture, CheckpointInfo, CheckpointStore, Taken
from .._store._gc_guard import writing
from .._store._lease import LEASE_KEY
from .._store._writer_lock import WriterLock, kept_by_children
from .._version import __version__
from ..errors import (
    AmberError,
    CheckpointAbortedError,
    CheckpointError,
    CheckpointTimeoutError,
    CommitUncertainError,
    FencedError,
    LeaseHeldError,
    ManagerError,
    StoreError,
)
from ..events import (
    CheckpointAborted,
    CheckpointCommitted,
    CheckpointStarted,
    Event,
    Listener,
    ParticipantCall,
    PhaseFinished,
    ServiceResumed,
)
from ..events._loud import loud
from ..storage import LocalStorage, MemoryStorage
from . import _fork
from ._health import Health, HealthBook
from ._loop import waiting_here
from ._participants import Lane, call, ordered, resume_when_done, violations
from ._restore import Restorer, RestoreReport
from ._verify import Digest, Verifier, pack, unpack, warn_missed

log = logging.getLogger("amber.manager")

Capture_ = Literal["inline", "fork"]
Level = Literal["minimal", "comprehensive"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds each checkpoint phase may take before the checkpoint is aborted."""

    preparing: float = 10.0
    capturing: float = 60.0
    validating: float = 60.0
    committing: float = 600.0

    def of(self, phase: str) -> float:
        return float(getattr(self, phase))


@dataclass(frozen=True)
class CheckpointResult:
    """What one checkpoint did: the committed checkpoint and where the time went."""

    info: CheckpointInfo
    kind: str  # "full" or "delta"
    pause: float  # seconds the service was held (first prepare to last resume)
    seconds: float  # first prepare to commit
    phases: dict[str, float]
    diagnostics: dict[str, Any] = field(default_factory=dict)  # comprehensive level only


class _Attempt:
    """Book-keeping of one checkpoint attempt: phases, deadlines, the pause."""

    def __init__(self, manager: Manager, kind: str) -> None:
        self.manager = manager
        self.token = secrets.token_hex(8)
        self.kind = kind
        self.start = time.perf_counter()
        self.wall = time.time()
        self.phase = "idle"
        self.phase_start = self.start
        self.phase_wall = self.wall
        self.deadline = 0.0  # monotonic
        self.phases: dict[str, float] = {}
        self.timings: dict[str, dict[str, float]] = {}  # phase -> participant -> seconds
        self.calls: dict[str, list[ParticipantCall]] = {}  # phase -> the participants' calls in it
        self.pause_start: float | None = None  # the first prepare()
        self.pause_wall = self.wall
        self.pause_end: float | None = None
        # Events are delivered when the attempt ends (each with its own times), in order:
        # listeners must lengthen neither the pause nor any phase's measured duration.
        self.held: list[Event] = []
        self.live = False  # events go straight to listeners (after deliver())
        # The cyclic GC is off from the first prepare() to the last resume(): a collection
        # there would lengthen the service's pause (tens of ms with a million objects).
        self._gc_was_enabled = gc.isenabled()
        gc.disable()
        self.verify = False  # this checkpoint checks its tables (deltas check themselves)
        self.digests: dict[int, Digest] | None = None  # the tables as it wrote them

    def emit(self, event: Event) -> None:
        if self.live:
            self.manager._emit(event)
        else:
            self.held.append(event)

    def deliver(self) -> None:
        """Send the held events, all of them even if a listener raises SystemExit or
        KeyboardInterrupt (re-raised after); later events go straight out."""
        self.live = True
        interrupted: BaseException | None = None
        while self.held:
            event = self.held.pop(0)
            try:
                self.manager._emit(event)
            except BaseException as e:  # listeners' Exceptions are caught by dispatch
                interrupted = interrupted or e
        if interrupted is not None:
            raise interrupted

    def start_pause(self) -> None:
        self.pause_start, self.pause_wall = time.perf_counter(), time.time()

    def end_pause(self) -> None:
        if self._gc_was_enabled:
            gc.enable()
            self._gc_was_enabled = False
        if self.pause_end is None:
            self.pause_end = time.perf_counter()
            if self.pause_start is not None:
                resumed = ServiceResumed(
                    time=time.time(), attempt=self.token, start=self.pause_wall, pause_seconds=self.pause
                )
                self.emit(resumed)

    def enter(self, phase: str) -> None:
        self.finish_phase()
        self.phase = phase
        self.phase_start = time.perf_counter()
        self.phase_wall = time.time()
        self.deadline = time.monotonic() + self.manager.timeouts.of(phase)
        self.manager._set_phase(phase)

    def finish_phase(self, *, error: str = "", size: int = 0) -> None:
        if self.phase in ("idle", "done"):
            return
        seconds = time.perf_counter() - self.phase_start
        self.phases[self.phase] = seconds
        self.emit(
            PhaseFinished(
                time=time.time(),
                attempt=self.token,
                phase=self.phase,
                start=self.phase_wall,
                seconds=seconds,
                calls=tuple(self.calls.get(self.phase, ())),
                bytes=size,
                error=error,
            )
        )
        self.phase = "done"

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, phase: str | None = None) -> None:
        """Abort when the phase ran over (called between steps of our own work)."""
        if time.monotonic() > self.deadline:
            name = phase or self.phase
            raise CheckpointTimeoutError(
                self.phase, None, f"{name} ran over {self.manager.timeouts.of(self.phase):g} s"
            )

    def call(self, participant: Any, method: str, *args: Any, timeout: float | None = None) -> Any:
        wall, began = time.time(), time.perf_counter()
        try:
            lane = self.manager._lanes.get(participant.name) if method in ("prepare", "resume") else None
            left = self.left() if timeout is None else timeout
            result, seconds = call(participant, method, self.phase, left, *args, lane=lane)
        except CheckpointAbortedError as e:
            self.record(participant.name, method, wall, time.perf_counter() - began, e.reason)
            raise
        if hasattr(participant, method):
            self.record(participant.name, method, wall, seconds)
        return result

    def failed_call(self, error: str) -> None:
        """The last call returned what fails the checkpoint (broken invariants)."""
        calls = self.calls.get(self.phase)
        if calls:
            calls[-1] = msgspec.structs.replace(calls[-1], error=error)

    def record(self, name: str, method: str, start: float, seconds: float, error: str = "") -> None:
        self.timings.setdefault(self.phase, {})[name] = seconds
        made = ParticipantCall(participant=name, method=method, start=start, seconds=seconds, error=error)
        self.calls.setdefault(self.phase, []).append(made)

    @property
    def pause(self) -> float:
        """First prepare() to last resume() (0 when no prepare() was reached)."""
        end = self.pause_end if self.pause_end is not None else time.perf_counter()
        return end - self.pause_start if self.pause_start is not None else 0.0

    def elapsed(self) -> float:
        return time.perf_counter() - self.start


class Manager:
    """Coordinates checkpoints and restores of a service's participants on one store.

    ``interval`` (seconds) takes periodic checkpoints once started (``with manager:``);
    ``level="comprehensive"`` adds diagnostics to each manifest's meta; deltas are written
    while the chain is shorter than ``max_chain`` and the deltas since the base weigh less
    than ``max_delta_ratio`` of it, after which a full checkpoint compacts the chain.
    ``retention`` is applied after each checkpoint. ``on_invalid`` decides what a restore
    does with a checkpoint that fails verification: ``"fallback"`` quarantines it and
    tries the previous one, ``"refuse"`` raises. ``write_rate`` caps checkpoint I/O in
    bytes per second. With ``exclusive`` (the default), a manager is its store's one writer
    from its first restore or checkpoint until ``close()``: it holds a local store's writer
    lock, and takes an object store's lease: a second manager gets ``StoreLockedError`` or
    ``LeaseHeldError`` at once, or waits up to ``lock_wait`` seconds. With
    ``compact_on_close``, the final checkpoint of ``close()`` is a full one: the stopped
    service leaves a chain of one, which restores fastest and which ``amber migrate`` can
    run checkpoint steps on.
    """

    def __init__(
        self,
        store: CheckpointStore,
        participants: Sequence[Any],
        *,
        interval: float | None = None,
        capture: Capture_ = "inline",
        listeners: Iterable[Listener] = (),
        level: Level = "minimal",
        timeouts: Timeouts | None = None,
        max_chain: int = 10,
        max_delta_ratio: float = 0.5,
        retention: Retention | None = None,
        on_invalid: Literal["fallback", "refuse"] = "fallback",
        write_rate: float | None = None,
        app_version: str | None = None,
        handle_sigterm: bool = True,
        exclusive: bool = True,
        lock_wait: float | None = None,
        compact_on_close: bool = False,
        verify_every: int | None = None,
        stop_after: int | None = None,
    ) -> None:
        _check_options(locals())
        self.store = store
        self.participants = ordered(participants)
        self.interval = interval
        self.capture = capture
        self.listeners = list(listeners)
        self.level = level
        self.timeouts = timeouts or Timeouts()
        self.max_chain = max_chain
        self.max_delta_ratio = max_delta_ratio
        self.retention = retention
        self.on_invalid = on_invalid
        self.write_rate = write_rate
        self.app_version = app_version
        self.handle_sigterm = handle_sigterm
        self.exclusive = exclusive
        self.lock_wait = lock_wait
        self.compact_on_close = compact_on_close
        self._writer_lock: WriterLock | None = None
        self._own_lease = False  # the lease this manager took (object storage), released on close
        self.last: CheckpointInfo | None = None  # the newest checkpoint this manager wrote or restored
        self.last_result: CheckpointResult | None = None
        self._phase = "idle"
        # One checkpoint or restore at a time, never interleaved; reentrant so that close() from
        # a listener (which runs inside a checkpoint, on its thread) does not wait for itself.
        self._lock = threading.RLock()
        self._chain_bytes = (0, 0)  # (base size, deltas since) of the chain self.last ends
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._old_sigterm: Any = None
        self._pending_data = ""  # the data file a forked child announced
        self._overrunning: dict[str, Any] = {}  # participants' prepare() still running (a Job)
        self._lanes = {p.name: Lane(p.name) for p in self.participants}  # prepare() and resume(): one thread each
        # Deltas check themselves every verify_every checkpoints: in the child with fork capture
        # (free to the service, so every time), in the pause inline (every 10th by default).
        every = verify_every if verify_every is not None else (1 if capture == "fork" else 10)
        self.stop_after = stop_after
        self._health = HealthBook()
        self._incident = False  # periodic checkpoints failing, and said so: said again when they recover
        limit = INLINE_CHECK_LIMIT if verify_every is None and capture == "inline" else None
        self._verifier = Verifier(
            lambda: store.registry, every, limit=limit
        )  # not self: no cycle keeps a manager (and its lock)

    # --- state ----------------------------------------------------------------------------

    @property
    def health(self) -> Health:
        """When the state was last saved and how many checkpoints failed since: for readiness
        probes (``health.ok``) and alerts."""
        return self._health.now()

    @property
    def phase(self) -> str:
        """idle, restoring, preparing, capturing, validating, committing, online or closed."""
        return self._phase

    def _set_phase(self, phase: str) -> None:
        if self._phase != "closed":  # closed by a listener mid-checkpoint: it stays closed
            self._phase = phase

    def _emit(self, event: Event) -> None:
        self.store.emit(event, self.listeners)

    # --- restore --------------------------------------------------------------------------

    def restore(self) -> RestoreReport:
        """Restore every participant from the newest sound checkpoint (verified: digests,
        counts, references, keys, invariants), falling back or refusing by ``on_invalid``.
        An empty store leaves the participants as they are."""
        with waiting_here(), self._lock:
            self._hold_store()
            self._set_phase("restoring")
            try:
                restorer = Restorer(self.store, self.participants, self.on_invalid, self._emit, self._verifier.restored)
                report = restorer.run()
            except BaseException:
                self._set_phase("idle")
                self._release_store()  # not online: another start may try
                raise
            if report.checkpoint is not None:
                self.last = self.store.info(report.checkpoint)
                self._health.last_success, self._health.last_checkpoint = report.committed, report.checkpoint
                self._chain_bytes = (report.base_bytes, report.delta_bytes)
            self._set_phase("online")
            return report

    # --- checkpoints ----------------------------------------------------------------------

    def checkpoint(
        self, *, full: bool = False, level: Level | None = None, verify: bool | None = None
    ) -> CheckpointResult:
        """Take a checkpoint now (a delta when the chain allows, unless ``full``); return
        what was committed, or raise ``CheckpointAbortedError`` with nothing committed.
        ``verify``: check the tables for records changed without ``touch()`` now (True), or
        not (False), rather than every ``verify_every`` checkpoints."""
        with waiting_here(), self._lock:  # marked first: a loop blocked on the lock is parked too
            if self._phase == "closed":
                raise ManagerError("the manager is closed")
            try:
                self.store.refuse_unsigned()  # before any phase: nothing to abort, nothing to record
                self._hold_store()
                if self._phase == "idle" and self.store.ids():
                    raise ManagerError(
                        f"{self.store.url} holds checkpoints this manager has not restored: call restore() first, "
                        "or the next checkpoint would replace the service's saved state"
                    )
                result = self._checkpoint(full, level or self.level, verify)
            except Exception as e:
                self._health.failed(e)
                raise
            ended = self._health.succeeded(result.info.id)
            if ended and self._incident:
                self._incident = False
                loud(
                    log,
                    logging.WARNING,
                    "checkpoints succeed again (checkpoint %s) after %d failed",
                    result.info.id,
                    ended,
                )
            return result

    def _checkpoint(self, full: bool, level: Level, verify: bool | None = None) -> CheckpointResult:
        attempt = _Attempt(self, "full" if full else "delta")
        prepared: list[Any] = []
        taken: Taken | None = None
        online = self.last is not None or self._phase == "online"
        try:
            attempt.enter("preparing")
            # Planning (listing the store) fails like any step: reported, never silent.
            parent = None if full else self._delta_parent()
            ids = self.store.ids() if self.capture == "fork" else []  # listed before the pause
            head = ids[-1] if ids else ""
            attempt.kind = "delta" if parent else "full"
            attempt.emit(
                CheckpointStarted(
                    time=time.time(),
                    attempt=attempt.token,
                    kind=attempt.kind,
                    capture=self.capture,
                    level=level,
                    start=attempt.wall,
                )
            )
            attempt.start_pause()
            for p in self.participants:
                late = self._overrunning.get(p.name)
                if late is not None and late.is_alive():
                    raise CheckpointAbortedError("preparing", p.name, "its previous prepare() has not returned yet")
                prepared.append(p)
                try:
                    attempt.call(p, "prepare")
                except CheckpointTimeoutError as e:
                    if e.still_running is not None:
                        prepared.remove(p)  # resumed when its prepare() returns, not before
                        self._overrunning[p.name] = e.still_running[0]  # type: ignore[index]
                        resume_when_done(p, self._lanes[p.name])
                    raise
            attempt.enter("capturing")
            state = {p.name: attempt.call(p, "snapshot") for p in self.participants}
            taken = self._take(state, parent)
            attempt.kind = "delta" if taken.parent is not None else "full"
            attempt.verify = self._verifier.due(taken.parent is None, taken.tables) if verify is None else verify
            meta = self._meta(attempt, level, taken)
            if self.capture == "fork":
                info = self._forked(attempt, (state, taken, meta), prepared, head, diagnose=level == "comprehensive")
            else:
                if attempt.verify:  # in the pause: the state cannot change while it is hashed
                    missed, attempt.digests = self._verifier.check(state, taken.tables, taken.changes)
                    self._said_missed(missed.describe())
                else:
                    attempt.digests = self._verifier.new_tables(taken.tables)
                info = self._inline(attempt, state, taken, meta, prepared, diagnose=level == "comprehensive")
        except BaseException as error:
            phase = self._abort(attempt, prepared, taken, error, online)
            aborted = self._aborted(phase, error)
            if aborted is error:
                raise  # already precise: keep its own cause
            raise aborted from error
        taken.committed(self.store.url, info)
        self._verified(attempt, taken, info)
        return self._committed(attempt, info, level)

    def _verified(self, attempt: _Attempt, taken: Taken, info: CheckpointInfo) -> None:
        """The baseline for the next check, now that this checkpoint committed."""
        self._verifier.committed(taken.changes, attempt.digests, checked=attempt.verify)

    def _said_missed(self, missed: str) -> None:
        """Said as soon as found: should the checkpoint abort, the keys stay marked for the next."""
        if missed:
            warn_missed(missed)

    def _take(self, state: dict[str, Any], parent: CheckpointInfo | None) -> Taken:
        try:
            taken = self.store.take_tables(state, parent.id if parent else None, strict=False)
        except CheckpointError as e:  # the parent became unreadable: start a new chain
            log.warning("cannot write a delta on %s (%s); writing a full checkpoint", parent and parent.id, e)
            taken = self.store.take_tables(state, None)
        if not taken.tables:
            taken.parent = None  # nothing incremental in this state: a delta would be a full copy
        return taken

    def _inline(
        self,
        attempt: _Attempt,
        state: dict[str, Any],
        taken: Taken,
        meta: dict[str, Any],
        prepared: list[Any],
        *,
        diagnose: bool,
    ) -> CheckpointInfo:
        capture = self.store.capture(state, taken, meta=meta, encode_now=True)
        attempt.check()
        attempt.enter("validating")
        self._validate(attempt)
        self._resume(attempt, prepared)
        attempt.enter("committing")
        return self.store.write(capture, rate=self.write_rate, check=attempt.check, diagnose=diagnose)

    def _forked(
        self,
        attempt: _Attempt,
        captured: tuple[dict[str, Any], Taken, dict[str, Any]],
        prepared: list[Any],
        before: str,
        *,
        diagnose: bool,
    ) -> CheckpointInfo:
        """Fork; the child captures, validates and commits ``captured`` (state, taken
        changes, meta) while the parent resumes the service and follows the child.

        On a store a child cannot write to (``fork_safe`` unset: S3, whose client threads do
        not survive ``fork()``; memory), the child writes the data file to a local spool
        instead, and the parent uploads it and commits."""
        if not getattr(self.store.storage, "fork_safe", False):
            _sweep_spools()
            with tempfile.TemporaryDirectory(prefix=f"{SPOOL_PREFIX}{os.getpid()}-") as folder:
                spool = LocalStorage(folder, fsync=False)
                return self._forked_via(attempt, captured, prepared, before, spool, diagnose=diagnose)
        return self._forked_via(attempt, captured, prepared, before, None, diagnose=diagnose)

    def _forked_via(
        self,
        attempt: _Attempt,
        captured: tuple[dict[str, Any], Taken, dict[str, Any]],
        prepared: list[Any],
        before: str,
        spool: LocalStorage | None,
        *,
        diagnose: bool,
    ) -> CheckpointInfo:
        state, taken, meta = captured
        self._pending_data = ""  # only this attempt's child may name the file to clean up

        def job(send: _fork.Send, go: _fork.Go) -> dict[str, Any]:
            if attempt.verify:  # in the child: free to the service
                missed, digests = self._verifier.check(state, taken.tables, taken.changes)
                send({"verified": _hand_back(digests), "missed": missed.describe()})
            elif new := self._verifier.new_tables(taken.tables):
                send({"verified": _hand_back(new), "missed": ""})
            capture: Capture = self.store.capture(state, taken, meta=meta)
            send({"phase": "validating"})
            for p in self.participants:
                if getattr(p, "invariants", None) is None:
                    continue
                wall, began = time.time(), time.perf_counter()
                try:
                    self._check_invariants(p, self._child_invariants(p))
                except CheckpointAbortedError as e:
                    send({"call": [p.name, wall, time.perf_counter() - began, e.reason]})
                    raise
                send({"call": [p.name, wall, time.perf_counter() - began, ""]})
            send({"phase": "committing"})
            if spool is not None:  # the parent uploads and commits what the child staged
                return {"draft": self._staged(capture, spool, parent, diagnose=diagnose)}

            def until_go(step: str) -> None:
                if step == "commit" and not go():  # commit only once the parent resumed everyone
                    raise CheckpointAbortedError("committing", None, "the service did not resume cleanly")
                if os.getppid() != parent:  # an orphan: its commit could land after a restarted service's
                    raise CheckpointAbortedError("committing", None, "the service exited during the checkpoint")

            info = self.store.write(
                capture,
                rate=self.write_rate,
                check=until_go,
                diagnose=diagnose,
                on_data=lambda key: send({"data": key}),
            )
            return {"id": info.id}

        parent = os.getpid()
        with kept_by_children():  # the store stays locked until the child exits, even if we die first
            lifetime = self.timeouts.capturing + self.timeouts.validating + self.timeouts.committing
            child = _fork.fork(job, lifetime=lifetime)  # the parent kills it sooner, at each phase's timeout
        try:
            self._resume(attempt, prepared)  # a participant failing here aborts the child too
            child.go()  # the child commits only after this: the resume failing stops it in time
            outcome = self._follow(attempt, child)
        except BaseException as error:
            child.kill()
            for message in child.drain():  # a data file it announced but the parent did not read yet
                self._pending_data = message.get("data", self._pending_data)
                if "verified" in message:  # the digests it handed back: no one will read them
                    _taken_back(str(message["verified"]))
            how = child.reap()
            found = self._committed_by(attempt, before)
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
        if spool is not None:
            return self._upload(attempt, msgspec.json.decode(outcome["draft"], type=Manifest), spool)
        return self.store.info(outcome["id"])

    def _staged(self, capture: Capture, spool: LocalStorage, parent: int, *, diagnose: bool) -> str:
        """In the child: the data file written to the spool, and the draft manifest as JSON.
        A child whose service died stops, and removes what it wrote (no one else will)."""

        def parent_alive(step: str) -> None:
            if os.getppid() != parent:
                raise CheckpointAbortedError("committing", None, "the service exited during the checkpoint")

        try:
            draft = self.store.stage(capture, into=spool, check=parent_alive, diagnose=diagnose)
            parent_alive("staged")
        except BaseException:
            shutil.rmtree(spool.root, ignore_errors=True)
            raise
        return msgspec.json.encode(draft).decode()

    def _upload(self, attempt: _Attempt, draft: Manifest, spool: LocalStorage) -> CheckpointInfo:
        """Upload a data file the child staged, then commit it, both within the committing
        timeout and the write rate."""
        attempt.check()
        with writing(self.store.storage, draft.data):  # no collection between the upload and the commit
            try:
                self.store.upload(draft, spool, rate=self.write_rate, check=attempt.check)
            except BaseException:
                with contextlib.suppress(AmberError):
                    self.store.storage.delete(draft.data)  # a failed upload: nothing names it
                raise
            return self.store.publish(draft, check=attempt.check)

    def _follow(self, attempt: _Attempt, child: _fork.Child) -> dict[str, Any]:
        """The child's messages until its outcome, each phase within its timeout."""
        data_key = ""
        try:
            for message in child.messages(lambda: attempt.deadline):
                if "call" in message:  # the child ran a participant's invariants
                    name, wall, seconds, error = message["call"]
                    attempt.record(name, "invariants", wall, seconds, error)
                elif "verified" in message:  # the child checked the tables: the next baseline
                    attempt.digests = _taken_back(message["verified"])
                    self._said_missed(str(message["missed"]))
                elif "phase" in message and "ok" not in message:
                    attempt.enter(message["phase"])
                elif "data" in message:
                    data_key = message["data"]
                elif message.get("ok"):
                    return message
                else:
                    participant = message.get("participant")
                    phase = message.get("phase") or attempt.phase
                    error = CheckpointAbortedError(phase, participant, str(message.get("reason")))
                    if message.get("error") == "FencedError":  # the child found the lease taken over
                        raise error from self._fenced(str(message.get("reason")))
                    raise error
        except TimeoutError:
            raise CheckpointTimeoutError(
                attempt.phase, None, f"the checkpoint child ran over {self.timeouts.of(attempt.phase):g} s"
            ) from None
        finally:
            self._pending_data = data_key
        raise CheckpointAbortedError(attempt.phase, None, "the checkpoint child died without reporting")

    def _fenced(self, reason: str) -> FencedError:
        """The child's ``FencedError``, for this process: its lease is marked lost too."""
        if self.store.lease is not None:
            try:
                self.store.lease.check()
            except FencedError as e:
                return e
            except StoreError:
                pass  # cannot read the lease now: the child's word stands
        return FencedError(reason, lease=f"{self.store.url}/{LEASE_KEY}")

    def _committed_by(self, attempt: _Attempt, before: str) -> CheckpointInfo | None:
        """A checkpoint the (dead) child committed before it could say so, if any; else
        remove the data file it left, which no manifest names."""
        for cid in reversed(self.store.ids()):
            if cid <= before:
                break
            with contextlib.suppress(AmberError):
                info = self.store.info(cid)
                if info.meta.get("amber", {}).get("attempt") == attempt.token:
                    return info
        key = self._pending_data
        if key:
            storage = self.store.storage
            with contextlib.suppress(AmberError):
                storage.delete(key)
                folder, _, name = key.rpartition("/")
                for leftover, _ in storage.temporaries(folder + "/"):
                    if leftover.startswith(f"{folder}/.{name}."):  # the child's half-written file
                        storage.delete_temporary(leftover)
        return None

    def _validate(self, attempt: _Attempt) -> None:
        for p in self.participants:
            result = attempt.call(p, "invariants")
            try:
                self._check_invariants(p, result)
            except CheckpointAbortedError as e:
                attempt.failed_call(e.reason)
                raise

    @staticmethod
    def _child_invariants(participant: Any) -> Any:
        """Invariants in the forked child (the parent bounds its time)."""
        check = getattr(participant, "invariants", None)
        try:
            return violations(check()) if check is not None else None  # a generator runs here too
        except Exception as e:
            raise CheckpointAbortedError(
                "validating", participant.name, f"invariants() raised {type(e).__name__}: {e}"
            ) from e

    @staticmethod
    def _check_invariants(participant: Any, result: Any) -> None:
        found = violations(result)
        if found:
            listing = "; ".join(map(str, found[:5]))
            raise CheckpointAbortedError("validating", participant.name, f"invariant broken: {listing}")

    def _resume(self, attempt: _Attempt, prepared: list[Any]) -> None:
        """End the pause: resume every prepared participant (all of them, even if one fails)."""
        failure: BaseException | None = None
        while prepared:
            p = prepared.pop(0)
            try:
                attempt.call(p, "resume", timeout=self.timeouts.preparing)
            except CheckpointAbortedError as e:
                failure = failure or e
        attempt.end_pause()
        if failure is not None:
            raise failure

    def _abort(
        self, attempt: _Attempt, prepared: list[Any], taken: Taken | None, error: BaseException, online: bool
    ) -> str:
        """Undo what an attempt did; return the phase it failed in."""
        if prepared:
            try:
                self._resume(attempt, prepared)
            except CheckpointAbortedError as e:  # the abort's own cause is what gets raised
                log.error("while aborting checkpoint %s, a participant failed to resume: %s", attempt.token, e)
        attempt.end_pause()
        if taken is not None:
            taken.give_back()
        phase = attempt.phase
        reason = error.reason if isinstance(error, CheckpointAbortedError) else f"{type(error).__name__}: {error}"
        participant = error.participant if isinstance(error, CheckpointAbortedError) else None
        attempt.finish_phase(error=reason)
        self._set_phase("online" if online else "idle")
        seconds = attempt.elapsed()  # before listeners run: their time is not the checkpoint's
        attempt.emit(
            CheckpointAborted(
                time=time.time(),
                attempt=attempt.token,
                kind=attempt.kind,
                capture=self.capture,
                phase=getattr(error, "phase", None) or phase,
                participant=participant,
                reason=reason,
                error=type(error).__name__,
                start=attempt.wall,
                seconds=seconds,
                pause_seconds=attempt.pause,
                phases=dict(attempt.phases),
            )
        )
        attempt.deliver()
        return phase

    @staticmethod
    def _aborted(phase: str, error: BaseException) -> BaseException:
        if isinstance(error, CheckpointAbortedError | CommitUncertainError) or not isinstance(error, Exception):
            return error  # already precise (or committed after all); KeyboardInterrupt, SystemExit pass through
        return CheckpointAbortedError(phase, None, f"{type(error).__name__}: {error}")

    def _committed(self, attempt: _Attempt, info: CheckpointInfo, level: Level) -> CheckpointResult:
        attempt.end_pause()
        attempt.finish_phase(size=info.size)
        self._set_phase("online")
        base, deltas = self._chain_bytes
        self._chain_bytes = (base, deltas + info.size) if info.parent else (info.size, 0)
        self.last = info
        diagnostics = info.meta.get("amber", {}).get("diagnostics", {}) if level == "comprehensive" else {}
        phases = dict(attempt.phases)
        result = CheckpointResult(info, attempt.kind, attempt.pause, attempt.elapsed(), phases, diagnostics)
        self.last_result = result
        attempt.emit(
            CheckpointCommitted(
                time=time.time(),
                attempt=attempt.token,
                checkpoint=info.id,
                kind=attempt.kind,
                capture=self.capture,
                parent=info.parent,
                depth=info.depth,
                bytes=info.size,
                records=sum(info.counts.values()),
                start=attempt.wall,
                seconds=result.seconds,
                pause_seconds=result.pause,
                phases=result.phases,
            )
        )
        attempt.deliver()
        self._apply_retention()
        return result

    def _apply_retention(self) -> None:
        if self.retention is None:
            return
        try:
            collect(self.store, self.retention, emit=self._emit)
        except AmberError:
            log.exception("retention failed; checkpoints are kept")

    def _delta_parent(self) -> CheckpointInfo | None:
        """The checkpoint the next one can be a delta on, or None for a full one."""
        last = self.last
        if last is None or last.depth + 1 > self.max_chain:
            return None
        base, deltas = self._chain_bytes
        if base and deltas > self.max_delta_ratio * base:
            return None  # the deltas weigh too much: compact into a full checkpoint
        ids = self.store.ids()
        if not ids or ids[-1] != last.id:
            return None  # someone else committed since (a rollback, another writer): start anew
        return last

    def _meta(self, attempt: _Attempt, level: Level, taken: Taken) -> dict[str, Any]:
        amber_meta: dict[str, Any] = {
            "attempt": attempt.token,
            "kind": attempt.kind,
            "capture": self.capture,
            "level": level,
            "participants": [p.name for p in self.participants],
        }
        if self.retention is not None:  # for `amber report`, which shows what the policy keeps
            r = self.retention
            amber_meta["retention"] = {
                "keep_last": r.keep_last,
                "keep_within_seconds": r.keep_within.total_seconds() if r.keep_within is not None else None,
                "grace_seconds": r.grace.total_seconds(),
            }
        if level == "comprehensive":
            amber_meta["diagnostics"] = self._diagnostics(attempt, taken)
        return {"amber": amber_meta}

    def _diagnostics(self, attempt: _Attempt, taken: Taken) -> dict[str, Any]:
        tables = {
            str(t.token): {
                "entries": len(t),
                "changed": len(taken.changes[t.token].changed),
                "deleted": len(taken.changes[t.token].deleted),
            }
            for t in taken.tables
        }
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "python": platform.python_version(),
            "platform": sys.platform,
            "amber": __version__,
            "app_version": self.app_version,
            "time": dt.datetime.now(dt.UTC).isoformat(),
            "participants": {
                name: {f"{phase}_seconds": timings.get(name, 0.0) for phase, timings in attempt.timings.items()}
                for name in (p.name for p in self.participants)
            },
            "tables": tables,
            "flags": {
                "capture": self.capture,
                "interval": self.interval,
                "max_chain": self.max_chain,
                "max_delta_ratio": self.max_delta_ratio,
                "write_rate": self.write_rate,
                "compression_level": self.store.compression_level,
                "write_versions": self.store.write_versions,
                "on_invalid": self.on_invalid,
            },
        }

    # --- running: periodic checkpoints, SIGTERM, with / async with ------------------------

    def start(self) -> None:
        """Start periodic checkpoints (when ``interval`` is set)."""
        if self.interval is not None and self._ticker is None:
            self._stop.clear()
            self._ticker = threading.Thread(target=self._tick, name="amber-periodic", daemon=True)
            self._ticker.start()

    def _tick(self) -> None:
        assert self.interval is not None
        while not self._stop.wait(self.interval):
            try:
                self.checkpoint()
            except Exception as e:  # a bug must not silently end periodic checkpoints either
                self._periodic_failed(e)

    def _periodic_failed(self, error: Exception) -> None:
        """Said once per incident, loudly (stderr if no logging is set up); each failure is
        counted in ``health``. With ``stop_after``, the service is stopped (SIGTERM) when that
        many have failed in a row: better a restart than a service whose state is not saved."""
        failures = self._health.failures
        if not self._incident:
            self._incident = True
            loud(
                log,
                logging.ERROR,
                "periodic checkpoints of %s are failing, the service's state is not being saved: %s "
                "(said once until one succeeds; manager.health counts them)",
                self.store.url,
                self._health.last_error,
            )
        else:
            log.debug("periodic checkpoint failed again (%d in a row): %s", failures, error)
        if self.stop_after is not None and failures >= self.stop_after:
            loud(log, logging.CRITICAL, "%d checkpoints failed in a row: stopping the service (SIGTERM)", failures)
            self._stop.set()
            os.kill(os.getpid(), signal.SIGTERM)

    def close(self, *, final: bool = True) -> CheckpointResult | None:
        """Stop periodic checkpoints; take a final one (when ``final``) and close."""
        with waiting_here():  # an asyncio loop closing the manager is parked while it waits
            return self._close(final)

    def _close(self, final: bool) -> CheckpointResult | None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
            self._ticker = None
        result = None
        with self._lock:  # a checkpoint under way on another thread finishes first; then the final one
            try:
                if final and self._phase == "online":
                    self._verifier.closing = True  # checked: no later check would find a forgotten touch()
                    result = self.checkpoint(full=self.compact_on_close)
            finally:
                self._set_phase("closed")
                self._release_store()
                for lane in self._lanes.values():
                    lane.close()  # after what it still has to run (a late resume())
        return result

    def _release_store(self) -> None:
        if self._writer_lock is not None:
            self._writer_lock.release()
            self._writer_lock = None
        holder = _lease_holders.get(id(self.store))
        if holder is not None and holder() is self:
            del _lease_holders[id(self.store)]
        if self._own_lease:
            self._own_lease = False
            with contextlib.suppress(AmberError):  # it expires by itself if the store is unreachable
                self.store.release_lease()

    def _hold_store(self) -> None:
        """Become the store's one writer before the first restore or checkpoint: its writer
        lock on a local folder, its lease elsewhere (object storage), unless the store holds
        one already. A second manager gets ``StoreLockedError`` or ``LeaseHeldError`` before
        it has acknowledged anything. In-process memory stores need neither."""
        if not self.exclusive:
            return
        self.store.refuse_unsigned()  # its lock would keep the writer that can sign out
        if self._writer_lock is None:
            self._writer_lock = WriterLock.take(self.store.storage, wait=self.lock_wait)
        local = self._writer_lock is not None or isinstance(self.store.storage, MemoryStorage)
        holder = _lease_holders.get(id(self.store))
        if local or (holder is not None and holder() is self):
            return
        if holder is not None and holder() is not None:
            raise LeaseHeldError(
                f"{self.store.url}: another manager of this process holds the store's lease: one manager per store",
                lease=f"{self.store.url}/{LEASE_KEY}",
            )
        if self.store.lease is None:  # else the application took it itself: it keeps it
            self._own_lease = True
            try:
                self.store.acquire_lease(wait=self.lock_wait or 0.0)
            except LeaseHeldError as e:
                raise LeaseHeldError(
                    f"{e}; one manager per store (after a crash, Manager(lock_wait=SECONDS) waits for the lease)",
                    lease=e.lease,
                    token=e.token,
                    holder=e.holder,
                ) from None
        _lease_holders[id(self.store)] = weakref.ref(self)

    def __enter__(self) -> Manager:
        if self._phase == "idle":
            self.restore()
        self.start()
        if self.handle_sigterm and threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _raise_exit)
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)
            self._old_sigterm = None
        # A final checkpoint on a clean exit or a shutdown signal; not after a crash, whose
        # state may be what caused it.
        shutdown = kind is None or issubclass(kind, SystemExit | KeyboardInterrupt | asyncio.CancelledError)
        self.close(final=shutdown)

    async def acheckpoint(self, *, full: bool = False, level: Level | None = None) -> CheckpointResult:
        """``checkpoint()`` without blocking the event loop."""
        return await asyncio.to_thread(self.checkpoint, full=full, level=level)

    async def arestore(self) -> RestoreReport:
        """``restore()`` without blocking the event loop."""
        return await asyncio.to_thread(self.restore)

    async def __aenter__(self) -> Manager:
        if self._phase == "idle":
            await self.arestore()
        self.start()
        if self.handle_sigterm:
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signal.SIGTERM, task.cancel if task else _noop)
                self._old_sigterm = loop
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(self._old_sigterm, asyncio.AbstractEventLoop):
            self._old_sigterm.remove_signal_handler(signal.SIGTERM)
            self._old_sigterm = None
        shutdown = kind is None or issubclass(kind, SystemExit | KeyboardInterrupt | asyncio.CancelledError)
        await asyncio.to_thread(self.close, final=shutdown)


SPOOL_PREFIX = "amber-spool-"
INLINE_CHECK_LIMIT = 200_000  # table entries an inline manager checks by default (verify_every unset)
_lease_holders: dict[int, weakref.ref[Manager]] = {}  # store object -> the manager holding its lease


def _check_options(options: dict[str, Any]) -> None:
    """Refuse options the manager could not honour, before anything starts."""
    capture, level, on_invalid, interval = (
        options["capture"],
        options["level"],
        options["on_invalid"],
        options["interval"],
    )
    stop_after, verify_every = options["stop_after"], options["verify_every"]
    if capture not in ("inline", "fork"):
        raise ValueError(f"capture must be 'inline' or 'fork', not {capture!r}")
    if capture == "fork" and not hasattr(os, "fork"):
        raise ValueError("capture='fork' needs os.fork(), which this platform lacks; use 'inline'")
    if level not in ("minimal", "comprehensive"):
        raise ValueError(f"level must be 'minimal' or 'comprehensive', not {level!r}")
    if on_invalid not in ("fallback", "refuse"):
        raise ValueError(f"on_invalid must be 'fallback' or 'refuse', not {on_invalid!r}")
    if interval is not None and interval <= 0:
        raise ValueError("interval must be a positive number of seconds")
    if options["max_chain"] < 0 or options["max_delta_ratio"] < 0:
        raise ValueError("max_chain and max_delta_ratio must not be negative")
    if stop_after is not None and (type(stop_after) is not int or stop_after < 1):
        raise ValueError(f"stop_after must be a whole number >= 1 of failed checkpoints, not {stop_after!r}")
    if verify_every is not None and (type(verify_every) is not int or verify_every < 0):
        raise ValueError(f"verify_every must be a whole number >= 0 (0: never), not {verify_every!r}")


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


def _sweep_spools() -> None:
    """Remove spools left by services that died mid-checkpoint (their pid is in the name)."""
    folder = Path(tempfile.gettempdir())
    for spool in folder.glob(f"{SPOOL_PREFIX}*"):
        pid = spool.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if pid.isascii() and pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(spool, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds to ``with manager:``, which takes the final checkpoint


def _noop() -> None:
    pass
