"""A manager's health, for readiness probes and metrics: when it last saved the state, and
how many checkpoints have failed since."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Health:
    """``ok`` is False while checkpoints fail: the state is not being saved."""

    ok: bool
    consecutive_failures: int
    last_success: float | None  # Unix time of the last committed checkpoint (or restore)
    last_checkpoint: str | None
    last_failure: float | None
    last_error: str  # why the last failed checkpoint failed; "" when none has


@dataclass
class HealthBook:
    """Kept by the manager; ``now()`` gives the frozen view."""

    failures: int = 0
    last_success: float | None = None
    last_checkpoint: str | None = None
    last_failure: float | None = None
    last_error: str = ""
    first_failure: float | None = field(default=None)  # when the current incident began

    def succeeded(self, checkpoint: str) -> int:
        """Record a success; return how many failures it ends (0: none)."""
        ended, self.failures = self.failures, 0
        self.last_success, self.last_checkpoint, self.first_failure = time.time(), checkpoint, None
        return ended

    def failed(self, error: BaseException) -> int:
        """Record a failure; return how many in a row (1: a new incident)."""
        self.failures += 1
        self.last_failure, self.last_error = time.time(), f"{type(error).__name__}: {error}"
        if self.failures == 1:
            self.first_failure = self.last_failure
        return self.failures

    def now(self) -> Health:
        return Health(
            self.failures == 0,
            self.failures,
            self.last_success,
            self.last_checkpoint,
            self.last_failure,
            self.last_error,
        )
