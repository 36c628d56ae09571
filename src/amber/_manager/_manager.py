"""``amber.Manager``: coordinated checkpoints of a service's participants, and verified restore.

A checkpoint moves through idle -> preparing -> capturing -> validating -> committing ->
online. The service's pause runs from the first ``prepare()`` to the last ``resume()``:

- ``capture="inline"``: snapshots are taken and fully encoded during the pause (so the
  state may change the moment it ends); compression and I/O happen after ``resume()``.
- ``capture="fork"``: the pause covers the snapshots and ``fork()``; a child encodes,
  validates and commits the copy-on-write image while the parent serves.

Any failure or overrun aborts the checkpoint: every participant is resumed, table
changes are handed back (the next checkpoint includes them), nothing is committed.

This module holds the lifecycle the manager coordinates: its options, restore, checkpoint,
periodic checkpoints, close, ``with``/``async with`` and SIGTERM. One attempt is
coordinated in ``_coordinate.py``, by the capture mode chosen per attempt (``_modes.py``,
``_fork_modes.py``); the store's one-writer tenure is in ``_tenure.py``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from types import FrameType, TracebackType
from typing import Any, Literal

from .._maintenance._retention import Retention
from .._store._checkpoint import CheckpointStore
from .._store._commit import refuse_unsigned
from .._store._info import CheckpointInfo
from ..errors import ManagerError
from ..events import Event, Listener
from ..events._loud import loud
from ._coordinate import Coordinator
from ._follower import Follower, Loaded
from ._fork_modes import fork_capture
from ._health import Health, HealthBook
from ._loop import waiting_here
from ._modes import CaptureMode, InlineCapture
from ._options import CaptureKind, CheckpointResult, Level, Timeouts, check_options
from ._participants import Lane, Participant, ordered
from ._policy import ChainBytes
from ._restore import Restorer, RestoreReport
from ._tenure import Tenure
from ._verify import UNHASHABLE, Verifier

log = logging.getLogger("amber.manager")

INLINE_CHECK_LIMIT = 200_000  # table entries an inline manager checks by default (verify_every unset)


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
    ``LeaseHeldError`` at once, or waits up to ``lock_wait`` seconds; the lease lasts
    ``lease_seconds`` (renewed every third of it), the longest a replacement waits for a
    holder that stopped without releasing it. With
    ``compact_on_close``, the final checkpoint of ``close()`` is a full one: the stopped
    service leaves a chain of one, which restores fastest and which ``amber migrate`` can
    run checkpoint steps on. ``meta`` is called in each checkpoint's pause, after the
    snapshots, and what it returns (JSON values) goes into that checkpoint's manifest meta,
    beside Amber's own ``amber`` entry: what the checkpoint holds, read without loading it
    (``store.info(id).meta``). ``keep`` names checkpoints ``retention`` must keep (with their
    chains) besides its own choice, asked at each collection: a pool shard's checkpoints that
    groups it gave away still live in (``PoolShard.kept``).
    """

    def __init__(
        self,
        store: CheckpointStore,
        participants: Sequence[Participant],
        *,
        interval: float | None = None,
        capture: CaptureKind = "inline",
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
        lease_seconds: float = 30.0,
        compact_on_close: bool = False,
        verify_every: int | None = None,
        stop_after: int | None = None,
        meta: Callable[[], Mapping[str, Any]] | None = None,
        keep: Callable[[], Collection[str]] | None = None,
    ) -> None:
        check_options(locals())
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
        self.lease_seconds = lease_seconds
        self.compact_on_close = compact_on_close
        self.meta = meta
        self.keep = keep
        self._tenure = Tenure()
        self.last: CheckpointInfo | None = None  # the newest checkpoint this manager wrote or restored
        self.last_result: CheckpointResult | None = None
        self._phase = "idle"
        # One checkpoint or restore at a time, never interleaved; reentrant so that close() from
        # a listener (which runs inside a checkpoint, on its thread) does not wait for itself.
        self._lock = threading.RLock()
        self._chain_bytes: ChainBytes = (0, 0)  # (base size, deltas since) of the chain self.last ends
        # The state outside its tables' entries as this manager's last commit held it (see
        # Coordinator._compare); unknown (UNHASHABLE) until it commits: a restore's participants
        # may rebuild their state, so only a snapshot this manager took is compared.
        self._state_hash = UNHASHABLE
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._old_sigterm: Any = None
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

    def restore(self, *, warm: Follower | None = None) -> RestoreReport:
        """Restore every participant from the newest sound checkpoint (verified: digests,
        counts, references, keys, invariants), falling back or refusing by ``on_invalid``.
        An empty store leaves the participants as they are.

        ``warm``: promote a follower of the store (``amber.Follower``) holding this
        manager's participants: once this manager holds the store (its lock and lease,
        fencing the writer it replaces), the follower applies what was committed until then
        and stops, and its state is restored without reading the chain again."""
        with waiting_here(), self._lock:
            self._hold_store()
            self._set_phase("restoring")
            try:
                preloaded = _caught_up(warm) if warm is not None else None
                restorer = Restorer(
                    self.store, self.participants, self.on_invalid, self._emit, self._verifier.restored, warm=preloaded
                )
                report = restorer.run()
            except BaseException:
                self._set_phase("idle")
                self._release_store()  # not online: another start may try
                raise
            self._state_hash = UNHASHABLE  # the participants hold the restored state now, not a snapshot
            if report.checkpoint is not None:
                warm_info = preloaded.infos[-1] if preloaded and preloaded.infos else None
                self.last = (
                    warm_info if warm_info and warm_info.id == report.checkpoint else self.store.info(report.checkpoint)
                )
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
                refuse_unsigned(self.store)  # before any phase: nothing to abort, nothing to record
                self._hold_store()
                if self._phase == "idle" and self.store.ids():
                    raise ManagerError(
                        f"{self.store.url} holds checkpoints this manager has not restored: call restore() first, "
                        "or the next checkpoint would replace the service's saved state"
                    )
                result = Coordinator(self, level or self.level, full=full).run(verify)
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
        self._tenure.release(self)

    def _hold_store(self) -> None:
        """Become the store's one writer (with ``exclusive``): see ``Tenure.hold``."""
        if self.exclusive:
            self._tenure.hold(self, self.store, wait=self.lock_wait, seconds=self.lease_seconds)

    def capture_mode(self) -> CaptureMode:
        """The way the next checkpoint captures, from ``capture`` and the store as they are
        now (both may be changed between checkpoints): a fresh one per attempt."""
        return InlineCapture() if self.capture == "inline" else fork_capture(self.store.storage)

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


def _raise_exit(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds to ``with manager:``, which takes the final checkpoint


def _noop() -> None:
    pass


def _caught_up(follower: Follower) -> Loaded | None:
    """A follower stopped, with every checkpoint committed before this manager took the
    store applied: its state and chain, as a restore would load them."""
    follower.close()
    follower.catch_up()  # also checks that the checkpoint held is still the store's under its id
    follower.promoted = True  # its tables are the manager's now: a second promotion would reuse them
    return follower.loaded()
