"""Verified restore: the newest sound checkpoint, checked before the service goes online.

Loading checks digests, lengths, the structure of every segment, counts against the
manifest, that every reference resolves, that table keys are unique and that each table
has the entries its manifest recorded. Then participants are restored in dependency
order and their invariants run. A checkpoint that fails any of it is refused with
diagnostics; by policy the next older one is tried (the bad one is quarantined, never
deleted) or the restore stops. Errors of the code rather than the data (a schema the
code cannot read, a failed migration, the storage itself failing) always stop it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._checkpoint import CheckpointStore
from ._participants import violations
from .errors import (
    CheckpointError,
    CheckpointTooLargeError,
    CorruptCheckpointError,
    ForeignFileError,
    IncompatibleSchemaError,
    InvariantError,
    MigrationError,
    RestoreError,
    StoreError,
    UnsupportedFormatError,
)
from .events import Event, Quarantined, RestoreFailed, RestoreFinished

log = logging.getLogger("amber.restore")

CHECKS = (
    "digests and lengths of every segment",
    "segment structure against the writer's schemas",
    "record counts against the manifest",
    "every reference resolves",
    "table keys unique",
    "table entry counts against the manifest",
    "participant invariants",
)


@dataclass
class RestoreReport:
    """What a restore did: the checkpoint it restored and what it refused on the way."""

    checkpoint: str | None  # None: the store held no checkpoint; participants start fresh
    chain: list[str] = field(default_factory=list)
    fallbacks: list[tuple[str, str]] = field(default_factory=list)  # (checkpoint, why refused), newest first
    checks: list[str] = field(default_factory=list)
    fresh: list[str] = field(default_factory=list)  # participants the checkpoint held no state for
    seconds: float = 0.0
    base_bytes: int = 0
    delta_bytes: int = 0


class _Refused(Exception):
    """This checkpoint cannot be restored (internal): ``reason`` says why."""

    def __init__(self, reason: str, cause: BaseException) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause


class _Blamed(Exception):
    """A checkpoint this one builds on is bad (internal): ``culprit`` is quarantined."""

    def __init__(self, culprit: str, reason: str, cause: BaseException) -> None:
        super().__init__(reason)
        self.culprit = culprit
        self.reason = reason
        self.cause = cause


class _Skipped(Exception):
    """This checkpoint is not tried, through no fault of its own (internal)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Restorer:
    """One restore of ``participants`` from ``store``."""

    def __init__(
        self, store: CheckpointStore, participants: Sequence[Any], policy: str, emit: Callable[[Event], None]
    ) -> None:
        self.store = store
        self.participants = participants
        self.policy = policy
        self.emit = emit

    def run(self) -> RestoreReport:
        start = time.perf_counter()
        quarantined = self.store.quarantined()
        failures: list[tuple[str, str]] = []
        ids = self.store.ids()
        for cid in reversed(ids):
            if cid in quarantined:
                continue
            try:
                report = self._attempt(cid, quarantined)
            except _Skipped as skipped:
                failures.append((cid, skipped.reason))  # not its own fault: left as it is
                continue
            except _Blamed as blamed:  # a checkpoint it builds on is bad: that one is set aside
                failures.append((cid, blamed.reason))
                if self.policy == "refuse":
                    self._fail("the newest checkpoint failed verification; refusing to start", failures)
                    raise RestoreError(f"checkpoint {cid} cannot be restored", failures) from blamed.cause
                self._quarantine(blamed.culprit, blamed.reason)
                quarantined[blamed.culprit] = blamed.reason
                continue
            except _Refused as refused:
                failures.append((cid, refused.reason))
                if self.policy == "refuse":
                    self._fail("the newest checkpoint failed verification; refusing to start", failures)
                    raise RestoreError(f"checkpoint {cid} cannot be restored", failures) from refused.cause
                self._quarantine(cid, refused.reason)
                continue
            report.fallbacks = failures
            report.seconds = time.perf_counter() - start
            self.emit(
                RestoreFinished(
                    time=time.time(),
                    checkpoint=cid,
                    chain=report.chain,
                    checks=report.checks,
                    fallbacks=failures,
                    seconds=report.seconds,
                )
            )
            return report
        if ids:  # never start empty when there are checkpoints, even all quarantined ones
            self._fail("no checkpoint could be restored", failures)
            held = f"; quarantined: {', '.join(sorted(quarantined))}" if quarantined else ""
            raise RestoreError(f"no checkpoint of {len(ids)} could be restored{held}", failures)
        report = RestoreReport(None, seconds=time.perf_counter() - start)
        self.emit(RestoreFinished(time=time.time(), checkpoint=None, chain=[], checks=[], fallbacks=[], seconds=0.0))
        return report

    def _quarantine(self, cid: str, reason: str) -> None:
        try:
            self.store.quarantine(cid, reason)
        except StoreError as e:  # a read-only store must not stop the fallback
            log.warning("could not quarantine checkpoint %s (%s); falling back all the same", cid, e)
            return
        log.warning("checkpoint %s quarantined: %s", cid, reason)
        self.emit(Quarantined(time=time.time(), checkpoint=cid, reason=reason))

    def _fail(self, reason: str, failures: list[tuple[str, str]]) -> None:
        self.emit(RestoreFailed(time=time.time(), reason=reason, failures=list(failures)))

    def _attempt(self, cid: str, quarantined: dict[str, str]) -> RestoreReport:
        try:
            chain = self.store.chain(cid)
            bad = [m.id for m in chain if m.id in quarantined]
            if bad:
                raise _Skipped(f"it builds on quarantined checkpoint {bad[0]}")
            state = self.store.load(cid)
        except (_Skipped, _Blamed):
            raise
        except (IncompatibleSchemaError, MigrationError, UnsupportedFormatError, CheckpointTooLargeError):
            raise  # the code or its configuration cannot read it: the data is not at fault
        except (CorruptCheckpointError, ForeignFileError, CheckpointError) as e:
            if e.checkpoint != cid and e.checkpoint in self.store.ids():
                raise _Blamed(e.checkpoint, str(e), e) from e  # the fault is an earlier one's
            raise _Refused(str(e), e) from e
        except StoreError:
            raise  # the storage failing says nothing about the checkpoint
        except Exception as e:  # a reader bug on hostile data: refuse the data, keep the service up
            log.exception("reading checkpoint %s failed unexpectedly", cid)
            raise _Refused(f"reading it failed unexpectedly: {type(e).__name__}: {e}", e) from e
        if not isinstance(state, dict):
            raise _Refused("its state is not a manager's (a dict by participant name)", TypeError(type(state)))
        report = RestoreReport(cid, chain=[m.id for m in chain], checks=list(CHECKS))
        sizes = [self.store.info(m.id).size for m in chain]
        report.base_bytes, report.delta_bytes = sizes[0], sum(sizes[1:])
        for p in self.participants:
            if p.name not in state:
                report.fresh.append(p.name)
                continue
            try:
                p.restore(state[p.name])
            except Exception as e:  # the code's fault, not the checkpoint's: stop, quarantine nothing
                raise RestoreError(f"checkpoint {cid}: participant {p.name!r}: restore() raised: {e!r}") from e
        for p in self.participants:
            self._invariants(cid, p)
        return report

    @staticmethod
    def _invariants(cid: str, participant: Any) -> None:
        check = getattr(participant, "invariants", None)
        if check is None:
            return
        try:
            found = violations(check())
        except Exception as e:  # a broken check is the code's fault; a Violation is the data's
            raise RestoreError(f"checkpoint {cid}: participant {participant.name!r}: invariants() raised: {e!r}") from e
        if found:
            error = InvariantError(cid, participant.name, found)
            raise _Refused(str(error), error)
