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
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._store._checkpoint import CheckpointStore
from .._store._info import CheckpointInfo, checkpoint_info
from ..errors import (
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
from ..events import (
    CheckpointRefused,
    Event,
    ParticipantCall,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RestoreStarted,
)
from ._follower import Loaded
from ._participants import Participant, violations

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
    records: int = 0
    committed: float = 0.0  # when the restored checkpoint was committed (Unix seconds)
    phases: dict[str, float] = field(default_factory=dict)  # loading, restoring, validating
    calls: list[ParticipantCall] = field(default_factory=list)


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
        self,
        store: CheckpointStore,
        participants: Sequence[Participant],
        policy: str,
        emit: Callable[[Event], None],
        on_loaded: Callable[[Any], None] | None = None,
        *,
        warm: Loaded | None = None,
    ) -> None:
        self.on_loaded = on_loaded  # sees the loaded state before the participants do
        self.warm = warm  # the checkpoint, chain and state a follower holds: not read again
        self.store = store
        self.participants = participants
        self.policy = policy
        self.emit = emit
        self.token = secrets.token_hex(8)
        self.wall = time.time()
        self.began = time.perf_counter()
        self.failures: list[tuple[str, str]] = []  # (checkpoint, why it was not used), newest first
        self.failed = False  # RestoreFailed was emitted

    def run(self) -> RestoreReport:
        """Restore, reporting a failure of any kind (a broken store, the code's error) as
        ``RestoreFailed`` before it propagates."""
        try:
            return self._run()
        except BaseException as e:
            if not self.failed:
                self._fail(f"{type(e).__name__}: {e}", self.failures)
            raise

    def _run(self) -> RestoreReport:
        quarantined = self.store.quarantined()
        failures = self.failures
        ids = self.store.ids()
        self.emit(RestoreStarted(time=time.time(), restore=self.token, candidates=len(ids), start=self.wall))
        for cid in reversed(ids):
            if cid in quarantined:
                log.info("checkpoint %s skipped: quarantined (%s)", cid, quarantined[cid])
                continue
            try:
                report = self._attempt(cid, quarantined)
            except _Skipped as skipped:
                failures.append((cid, skipped.reason))  # not its own fault: left as it is
                self._refused(cid, skipped.reason, "skipped")
                continue
            except _Blamed as blamed:  # a checkpoint it builds on is bad: that one is set aside
                failures.append((cid, blamed.reason))
                if self.policy == "refuse":
                    self._fail("the newest checkpoint failed verification; refusing to start", failures)
                    raise RestoreError(f"checkpoint {cid} cannot be restored", failures) from blamed.cause
                self._quarantine(blamed.culprit, blamed.reason)
                self._refused(cid, blamed.reason, "skipped")
                quarantined[blamed.culprit] = blamed.reason
                continue
            except _Refused as refused:
                failures.append((cid, refused.reason))
                if self.policy == "refuse":
                    self._fail("the newest checkpoint failed verification; refusing to start", failures)
                    raise RestoreError(f"checkpoint {cid} cannot be restored", failures) from refused.cause
                done = self._quarantine(cid, refused.reason)
                self._refused(cid, refused.reason, "quarantined" if done else "refused")
                continue
            report.fallbacks = failures
            return self._finished(report)
        if ids:  # never start empty when there are checkpoints, even all quarantined ones
            self._fail("no checkpoint could be restored", failures)
            held = f"; quarantined: {', '.join(sorted(quarantined))}" if quarantined else ""
            raise RestoreError(f"no checkpoint of {len(ids)} could be restored{held}", failures)
        return self._finished(RestoreReport(None))

    def _finished(self, report: RestoreReport) -> RestoreReport:
        report.seconds = time.perf_counter() - self.began
        self.emit(
            RestoreFinished(
                time=time.time(),
                restore=self.token,
                checkpoint=report.checkpoint,
                chain=report.chain,
                checks=report.checks,
                fallbacks=report.fallbacks,
                start=self.wall,
                seconds=report.seconds,
                phases=report.phases,
                calls=tuple(report.calls),
                records=report.records,
                bytes=report.base_bytes + report.delta_bytes,
                committed=report.committed,
            )
        )
        return report

    def _refused(self, cid: str, reason: str, action: str) -> None:
        self.emit(CheckpointRefused(time=time.time(), restore=self.token, checkpoint=cid, reason=reason, action=action))

    def _quarantine(self, cid: str, reason: str) -> bool:
        try:
            self.store.quarantine(cid, reason)
        except StoreError as e:  # a read-only store must not stop the fallback
            log.warning("could not quarantine checkpoint %s (%s); falling back all the same", cid, e)
            return False
        self.emit(Quarantined(time=time.time(), checkpoint=cid, reason=reason, restore=self.token))
        return True

    def _fail(self, reason: str, failures: list[tuple[str, str]]) -> None:
        self.failed = True
        seconds = time.perf_counter() - self.began
        self.emit(
            RestoreFailed(
                time=time.time(),
                restore=self.token,
                reason=reason,
                failures=list(failures),
                start=self.wall,
                seconds=seconds,
            )
        )

    def _attempt(self, cid: str, quarantined: dict[str, str]) -> RestoreReport:
        began = time.perf_counter()
        infos, state = self._load(cid, quarantined)
        report = RestoreReport(cid, chain=[i.id for i in infos], checks=list(CHECKS))
        report.base_bytes, report.delta_bytes = infos[0].size, sum(i.size for i in infos[1:])
        report.records = sum(infos[-1].counts.values())
        report.committed = infos[-1].time.timestamp()
        if state and self.participants and not any(p.name in state for p in self.participants):  # not ours: keep it
            held = ", ".join(map(repr, list(state)[:5]))
            names = ", ".join(repr(p.name) for p in self.participants)
            raise RestoreError(
                f"checkpoint {cid} holds none of the participants {names} (its state has {held}): the next "
                "checkpoint would replace it with their empty state. If it was saved with store.save(), load it "
                "with store.load() and hand each participant its part; if a participant was renamed, keep its name"
            )
        if self.on_loaded is not None:
            self.on_loaded(state)
        report.phases["loading"] = time.perf_counter() - began
        began = time.perf_counter()
        for p in self.participants:
            if p.name not in state:
                report.fresh.append(p.name)
                log.info("participant %r starts fresh: checkpoint %s holds no state for it", p.name, cid)
                continue
            self._timed(report, p, "restore", cid, state[p.name])
        report.phases["restoring"] = time.perf_counter() - began
        began = time.perf_counter()
        for p in self.participants:
            if getattr(p, "invariants", None) is not None:
                found = violations(self._timed(report, p, "invariants", cid))
                if found:
                    error = InvariantError(cid, p.name, found)
                    raise _Refused(str(error), error)
        report.phases["validating"] = time.perf_counter() - began
        return report

    def _load(self, cid: str, quarantined: dict[str, str]) -> tuple[list[CheckpointInfo], dict[str, Any]]:
        """The chain of ``cid`` and its state, or why it cannot be used (internal errors).
        A follower holding ``cid`` read and checked its chain and its state already, each
        checkpoint as it was committed: neither is read again."""
        try:
            warm = self.warm if self.warm is not None and self.warm.checkpoint == cid and self.warm.infos else None
            if warm is not None:
                infos = list(warm.infos)
            else:
                infos = [checkpoint_info(m, size) for m, size in self.store.manifests.chain_read(cid)]
            bad = [i.id for i in infos if i.id in quarantined]
            if bad:
                raise _Skipped(f"it builds on quarantined checkpoint {bad[0]}")
            state = warm.state if warm is not None else self.store.load(cid)
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
        return infos, state

    @staticmethod
    def _timed(report: RestoreReport, participant: Any, method: str, cid: str, *args: Any) -> Any:
        """Run one participant callback, recording it; its raising is the code's fault, not
        the checkpoint's (a Violation is the data's): stop, quarantine nothing."""
        wall, began = time.time(), time.perf_counter()
        error = ""
        try:
            result = getattr(participant, method)(*args)
            return violations(result) if method == "invariants" else result  # a generator runs here
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
            raise RestoreError(f"checkpoint {cid}: participant {participant.name!r}: {method}() raised: {e!r}") from e
        finally:
            seconds = time.perf_counter() - began
            call = ParticipantCall(
                participant=participant.name, method=method, start=wall, seconds=seconds, error=error
            )
            report.calls.append(call)
