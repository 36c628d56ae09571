"""The events of one ``store.save()``: started, each phase, committed or aborted."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

from ..events import CheckpointAborted, CheckpointCommitted, CheckpointStarted, Event, PhaseFinished
from ._info import CheckpointInfo

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore


class DirectSave:
    """The events of one ``save()``: the caller's state is held for all of it (its pause)."""

    def __init__(self, store: CheckpointStore, kind: str, announce: bool) -> None:
        self.store = store
        self.announce = announce
        self.kind = kind
        self.token = secrets.token_hex(8)
        self.start = time.time()
        self.began = time.perf_counter()
        self.current = "capturing"
        self.current_start = (self.start, self.began)
        self.phases: dict[str, float] = {}
        self.emit(
            CheckpointStarted(
                time=self.start, attempt=self.token, kind=kind, capture="direct", level="minimal", start=self.start
            )
        )

    def emit(self, event: Event) -> None:
        if self.announce:
            self.store.emit(event)

    def phase(self, name: str, *, error: str = "", size: int = 0) -> None:
        wall, began = self.current_start
        seconds = time.perf_counter() - began
        self.phases[self.current] = seconds
        self.emit(
            PhaseFinished(
                time=time.time(),
                attempt=self.token,
                phase=self.current,
                start=wall,
                seconds=seconds,
                bytes=size,
                error=error,
            )
        )
        self.current, self.current_start = name, (time.time(), time.perf_counter())

    def committed(self, info: CheckpointInfo) -> None:
        self.phase("done", size=info.size)
        seconds = time.perf_counter() - self.began
        self.emit(
            CheckpointCommitted(
                time=time.time(),
                attempt=self.token,
                checkpoint=info.id,
                kind="delta" if info.parent else "full",
                capture="direct",
                parent=info.parent,
                depth=info.depth,
                bytes=info.size,
                records=sum(info.counts.values()),
                start=self.start,
                seconds=seconds,
                pause_seconds=seconds,
                phases=self.phases,
            )
        )

    def aborted(self, error: BaseException) -> None:
        phase = self.current
        reason = str(error) or type(error).__name__
        self.phase("done", error=reason)
        seconds = time.perf_counter() - self.began
        self.emit(
            CheckpointAborted(
                time=time.time(),
                attempt=self.token,
                kind=self.kind,
                capture="direct",
                phase=phase,
                participant=None,
                reason=reason,
                error=type(error).__name__,
                start=self.start,
                seconds=seconds,
                pause_seconds=seconds,
                phases=self.phases,
            )
        )
