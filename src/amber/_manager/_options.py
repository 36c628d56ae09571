"""The manager's option values (``Timeouts``), what one checkpoint returns
(``CheckpointResult``), and the check that refuses options a manager could not honour.

Apart from ``Manager`` so that the attempt recorder and the coordination below it can name
them without importing the manager.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from .._store._info import CheckpointInfo

CaptureKind = Literal["inline", "fork"]
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
    # Nothing changed since the last checkpoint: none was written, and ``info`` is that last
    # one, which holds the state already (``kind`` is what would have been written).
    skipped: bool = False


def check_options(options: dict[str, Any]) -> None:
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
    if not 0 < options["lease_seconds"] < math.inf:
        raise ValueError(f"lease_seconds must be a positive number of seconds, not {options['lease_seconds']!r}")
    if options.get("keep") is not None and not callable(options["keep"]):
        raise ValueError(f"keep must be a function returning checkpoint ids, not {options['keep']!r:.100}")
    if options.get("meta") is not None and not callable(options["meta"]):
        raise ValueError(f"meta must be a function returning a dict, not {options['meta']!r:.100}")
