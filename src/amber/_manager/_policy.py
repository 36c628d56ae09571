"""What a manager's next checkpoint is and what it says about itself: a delta or a full
checkpoint (the chain policy of ``max_chain`` and ``max_delta_ratio``), and the ``amber``
meta each manifest carries (attempt, kind, capture, retention; diagnostics at the
comprehensive level, which ``amber report`` shows).

Pure reads of the manager's options and of one attempt: nothing here writes.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import socket
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec

from .._store._attempt import Attempt
from .._store._capture import Taken
from .._store._info import CheckpointInfo
from .._version import __version__
from ._options import Level

if TYPE_CHECKING:
    from ._manager import Manager

ChainBytes = tuple[int, int]  # (base size, deltas since) of the chain a manager's last checkpoint ends


def delta_parent(manager: Manager) -> CheckpointInfo | None:
    """The checkpoint the next one can be a delta on, or None for a full one."""
    last = manager.last
    if last is None or last.depth + 1 > manager.max_chain:
        return None
    base, deltas = manager._chain_bytes
    if base and deltas > manager.max_delta_ratio * base:
        return None  # the deltas weigh too much: compact into a full checkpoint
    ids = manager.store.ids()
    if not ids or ids[-1] != last.id:
        return None  # someone else committed since (a rollback, another writer): start anew
    return last


def grown(chain: ChainBytes, info: CheckpointInfo) -> ChainBytes:
    """The chain's weights once ``info`` committed: a delta adds to it, a full one starts anew."""
    base, deltas = chain
    return (base, deltas + info.size) if info.parent else (info.size, 0)


def meta(manager: Manager, attempt: Attempt, level: Level, taken: Taken) -> dict[str, Any]:
    amber_meta: dict[str, Any] = {
        "attempt": attempt.token,
        "kind": attempt.kind,
        "capture": manager.capture,
        "level": level,
        "participants": [p.name for p in manager.participants],
    }
    if manager.retention is not None:  # for `amber report`, which shows what the policy keeps
        r = manager.retention
        amber_meta["retention"] = {
            "keep_last": r.keep_last,
            "keep_within_seconds": r.keep_within.total_seconds() if r.keep_within is not None else None,
            "grace_seconds": r.grace.total_seconds(),
        }
    if level == "comprehensive":
        amber_meta["diagnostics"] = diagnostics(manager, attempt, taken)
    return {**application_meta(manager), "amber": amber_meta}


def application_meta(manager: Manager) -> dict[str, Any]:
    """What ``Manager(meta=...)`` adds to this checkpoint's manifest: JSON values, checked
    here, in the pause, so a bad value fails this checkpoint loudly rather than the commit."""
    if manager.meta is None:
        return {}
    extra = manager.meta()
    if not isinstance(extra, Mapping) or "amber" in extra or not all(isinstance(k, str) for k in extra):
        raise TypeError(f"Manager(meta=...) must return a dict of text keys other than 'amber', not {extra!r:.200}")
    try:
        return msgspec.json.decode(msgspec.json.encode(extra))  # type: ignore[no-any-return]
    except (TypeError, ValueError) as e:
        raise TypeError(f"Manager(meta=...) must return JSON values: {e}") from None


def diagnostics(manager: Manager, attempt: Attempt, taken: Taken) -> dict[str, Any]:
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
        "app_version": manager.app_version,
        "time": dt.datetime.now(dt.UTC).isoformat(),
        "participants": {
            name: {f"{phase}_seconds": timings.get(name, 0.0) for phase, timings in attempt.timings.items()}
            for name in (p.name for p in manager.participants)
        },
        "tables": tables,
        "flags": {
            "capture": manager.capture,
            "interval": manager.interval,
            "max_chain": manager.max_chain,
            "max_delta_ratio": manager.max_delta_ratio,
            "write_rate": manager.write_rate,
            "compression_level": manager.store.compression_level,
            "write_versions": manager.store.write_versions,
            "on_invalid": manager.on_invalid,
        },
    }
