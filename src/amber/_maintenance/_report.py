"""What ``amber report`` shows: a store's history, gathered without the application's code.

Checkpoints come from their manifests (kind, size, time, chain, the schema versions they
hold), durations, pauses, aborts and restores from the store's history journal, migrations
from the migration log, and what retention keeps from a dry run of it. Outliers are values
far from the median of their kind (a robust z-score over the median absolute deviation).
"""

from __future__ import annotations

import datetime as dt
import functools
import statistics
from collections.abc import Iterable
from typing import Any

import msgspec

from .._format._format import MAX_SEQUENCE, Manifest
from .._format._objects import utc_stamp
from .._store._checkpoint import CheckpointStore
from .._store._history import History
from .._version import __version__
from ..errors import AmberError
from ..events import (
    CheckpointAborted,
    CheckpointCommitted,
    Event,
    GarbageCollected,
    MigrationFinished,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RolledBack,
    by_shutdown,
)
from ._migration_log import MigrationLog
from ._retention import Retention, collect

_MAX_AGE = 100 * 365 * 86400  # seconds: beyond this a recorded age is nonsense
OUTLIER_SCORE = 3.5  # Iglewicz and Hoaglin's cut-off for the modified z-score
MIN_SAMPLES = 5  # fewer values of a kind than this: no outliers called
OUTLIER_RATIO = 1.5  # and only values this far above the median: near-equal sizes vary by bytes
OUTLIER_MARGIN = {"size": 32 << 10, "duration": 0.025, "pause": 0.025}  # and by this much at least
MAX_OUTLIERS = 50


def gather(store: CheckpointStore, retention: Retention | None = None) -> dict[str, Any]:
    """The report's data, as JSON-ready builtins. ``retention`` defaults to the policy the
    newest checkpoint's manager recorded, if any."""
    history = History(store.storage).read()
    checkpoints, manifests = _checkpoints(store)
    _add_held_versions(checkpoints, manifests)
    _add_timings(checkpoints, history.events)
    policy, source = _policy(retention, manifests)
    if policy is not None:
        _add_retention(store, policy, checkpoints)
    sections = _sections(history.events)
    return {
        "store": store.url,
        "generated": utc_stamp(),
        "amber": __version__,
        "checkpoints": checkpoints,
        "types": sorted({name for c in checkpoints for name in c.get("held", {})}),
        "aborts": sections["aborts"],
        "restores": sections["restores"],
        "quarantines": sections["quarantines"],
        "collections": sections["collections"],
        "migrations": [msgspec.to_builtins(e) for e in _log(store)],
        "migration_events": sections["migration_events"],
        "retention": {"policy": _describe(policy), "source": source},
        "outliers": outliers(checkpoints),
        "stored_bytes": _stored(checkpoints),
        "history_unreadable": history.unreadable,
    }


def _checkpoints(store: CheckpointStore) -> tuple[list[dict[str, Any]], dict[str, Manifest]]:
    quarantined = store.quarantined()
    rows: list[dict[str, Any]] = []
    manifests: dict[str, Manifest] = {}
    for cid in store.ids():
        try:
            manifest, size = store.manifests.parsed(cid)
        except AmberError as e:
            rows.append({"id": cid, "error": str(e), "quarantined": quarantined.get(cid, "")})
            continue
        manifests[cid] = manifest
        on_disk = _size_of(store, manifest.data)  # -1: missing
        problem = _data_problem(manifest, on_disk)
        row: dict[str, Any] = {"error": problem} if problem else {}
        rows.append(
            row
            | {
                "id": cid,
                "kind": "delta" if manifest.parent else "full",
                "parent": manifest.parent,
                "depth": manifest.depth,
                "time": manifest.created,
                "size": size + manifest.data_size,
                "records": sum(t.count for t in manifest.types),
                "types": {t.schema.name: t.schema.version for t in manifest.types},
                "origin": _origin(manifest.meta),
                "quarantined": quarantined.get(cid, ""),
                "data": manifest.data,
                "manifest_bytes": size,
                "data_bytes": max(on_disk, 0),
            }
        )
    return rows, manifests


def _data_problem(manifest: Manifest, on_disk: int) -> str:
    """What is wrong with a checkpoint's data file at a glance (its size), or ""."""
    if on_disk < 0:
        return f"its data file {manifest.data} is missing"
    return "" if on_disk == manifest.data_size else f"its data file has {on_disk} bytes, not {manifest.data_size}"


def _add_held_versions(rows: list[dict[str, Any]], manifests: dict[str, Manifest]) -> None:
    """Each checkpoint's types as a restore sees them: a delta holds only what changed, the
    rest comes from the checkpoints it builds on."""
    for row in rows:
        held: dict[str, int] = {}
        cid, seen = row["id"], set()
        while cid in manifests and cid not in seen:  # a broken or cyclic chain ends the walk
            seen.add(cid)
            for t in manifests[cid].types:
                held.setdefault(t.schema.name, t.schema.version)
            cid = manifests[cid].parent
        if "types" in row:
            row["held"] = held


def _origin(meta: dict[str, Any]) -> str:
    """Where a checkpoint came from, when not from a service (a migration, a rollback)."""
    if isinstance(meta.get("migrated_from"), str):
        return f"migration of {meta['migrated_from']}"
    if isinstance(meta.get("restores"), str):
        return f"rollback to {meta['restores']} (sharing its data file)"
    return ""


def _add_timings(rows: list[dict[str, Any]], events: Iterable[Event]) -> None:
    """Durations and pauses from the history, into the rows of the checkpoints they timed."""
    by_id = {r["id"]: r for r in rows if "time" in r}  # not the unreadable ones
    for event in events:
        found = _timing(event)
        if found is not None and found[0] in by_id:
            by_id[found[0]].update(found[1])


@functools.singledispatch
def _timing(event: Event) -> tuple[str, dict[str, Any]] | None:
    """The checkpoint ``event`` timed and its timings, or None (by the event's class)."""
    return None


@_timing.register
def _committed_timing(event: CheckpointCommitted) -> tuple[str, dict[str, Any]] | None:
    timings = {
        "duration": event.seconds,
        "pause": event.pause_seconds,
        "capture": event.capture,
        "phases": event.phases,
    }
    return event.checkpoint, timings


@_timing.register
def _migration_timing(event: MigrationFinished) -> tuple[str, dict[str, Any]] | None:
    """A migration's checkpoint takes the migration's duration and no pause: the service was
    not running it."""
    if event.outcome != "committed":
        return None
    return event.target, {"duration": event.seconds, "pause": None, "capture": "migration"}


def _policy(retention: Retention | None, manifests: dict[str, Manifest]) -> tuple[Retention | None, str]:
    if retention is not None:
        return retention, "given"
    for cid in sorted(manifests, reverse=True):
        recorded = manifests[cid].meta.get("amber", {})
        recorded = recorded.get("retention") if isinstance(recorded, dict) else None
        if isinstance(recorded, dict):
            try:
                return _retention_of(recorded), f"recorded by the manager in checkpoint {cid}"
            except (TypeError, ValueError, OverflowError, KeyError):
                return None, f"unreadable policy in checkpoint {cid}"
    return None, "none (pass --keep-last or --keep-within to preview one)"


def _retention_of(recorded: dict[str, Any]) -> Retention:
    """The policy a manager recorded (checked: it is data from the store, not trusted)."""
    last, within = recorded.get("keep_last"), recorded.get("keep_within_seconds")
    grace = recorded.get("grace_seconds", 3600)
    if last is not None and not (isinstance(last, int) and 1 <= last <= MAX_SEQUENCE):
        raise ValueError(f"keep_last {last!r}")
    for seconds in (within, grace):
        if seconds is not None and not (isinstance(seconds, int | float) and 0 <= seconds <= _MAX_AGE):
            raise ValueError(f"an age of {seconds!r} seconds")
    return Retention(
        keep_last=last,
        keep_within=dt.timedelta(seconds=within) if within is not None else None,
        grace=dt.timedelta(seconds=grace),
    )


def _describe(policy: Retention | None) -> str:
    if policy is None:
        return ""
    parts = [f"keep the last {policy.keep_last}"] if policy.keep_last is not None else []
    if policy.keep_within is not None:
        parts.append(f"keep those younger than {policy.keep_within}")
    return " and ".join(parts)


def _add_retention(store: CheckpointStore, policy: Retention, rows: list[dict[str, Any]]) -> None:
    report = collect(store, policy, dry_run=True, emit=lambda event: None)  # a preview: writes nothing
    kept = set(report.kept)
    for row in rows:
        row["kept"] = row["id"] in kept
        row["needed_by"] = report.needed.get(row["id"], [])


def _stored(rows: list[dict[str, Any]]) -> int:
    """Bytes the store holds for its checkpoints: each manifest, each data file once (a
    rollback's manifest shares its data file)."""
    data: dict[str, int] = {r["data"]: r["data_bytes"] for r in rows if "data" in r}
    manifests: int = sum(r["manifest_bytes"] for r in rows if "data" in r)
    return manifests + sum(data.values())


def _size_of(store: CheckpointStore, key: str) -> int:
    try:
        return store.storage.size(key)
    except AmberError:
        return -1


def outliers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checkpoints whose size, duration or pause is far above the median of their kind (a
    robust z-score over 3.5, at least 1.5 times the median, and above it by a margin that
    matters: 32 KiB, 25 ms), the strongest first, at most ``MAX_OUTLIERS``."""
    found = []
    for kind in ("full", "delta"):
        same = [r for r in rows if r.get("kind") == kind and r.get("capture") != "migration"]
        for metric in ("size", "duration", "pause"):
            values = [(r["id"], float(r[metric])) for r in same if isinstance(r.get(metric), int | float)]
            if len(values) < MIN_SAMPLES:
                continue
            median = statistics.median(v for _, v in values)
            mad = statistics.median(abs(v - median) for _, v in values)
            for cid, value in values:
                score = 0.6745 * (value - median) / mad if mad else float("inf")
                far = score > OUTLIER_SCORE and value > OUTLIER_RATIO * median
                if far and value - median >= OUTLIER_MARGIN[metric]:
                    row = {"checkpoint": cid, "kind": kind, "metric": metric, "value": value, "median": median}
                    found.append((score, row))
    found.sort(key=lambda pair: -pair[0])
    return [row for _, row in found[:MAX_OUTLIERS]]


def _log(store: CheckpointStore) -> list[Any]:
    try:
        return list(MigrationLog(store).entries())
    except AmberError:
        return []  # a damaged log entry: the checkpoints are still worth showing


# --- the report's sections of history events, by the event's class ---------------------------

SECTIONS = ("aborts", "restores", "quarantines", "collections", "migration_events")


def _sections(events: Iterable[Event]) -> dict[str, list[dict[str, Any]]]:
    """Each section's rows, oldest first."""
    sections: dict[str, list[dict[str, Any]]] = {name: [] for name in SECTIONS}
    for event in events:
        found = _section(event)
        if found is not None:
            sections[found[0]].append(found[1])
    return sections


@functools.singledispatch
def _section(event: Event) -> tuple[str, dict[str, Any]] | None:
    """The section that shows ``event`` and its row there, or None: a committed checkpoint
    shows in the checkpoints' rows (``_add_timings``)."""
    return None


def _row(event: Event, *names: str) -> dict[str, Any]:
    return {"time": utc_stamp(event.time), **{n: getattr(event, n) for n in names}}


@_section.register
def _abort(e: CheckpointAborted) -> tuple[str, dict[str, Any]] | None:
    row = _row(e, "kind", "phase", "participant", "reason", "error", "seconds", "pause_seconds")
    return "aborts", row | {"start": utc_stamp(e.start), "shutdown": by_shutdown(e)}


@_section.register
def _restored(e: RestoreFinished) -> tuple[str, dict[str, Any]] | None:
    outcome = "restored" if e.checkpoint else "fresh"
    row = _row(e, "seconds") | {"outcome": outcome, "checkpoint": e.checkpoint or "", "fallbacks": len(e.fallbacks)}
    return "restores", row


@_section.register
def _restore_failed(e: RestoreFailed) -> tuple[str, dict[str, Any]] | None:
    row = _row(e, "reason", "seconds") | {"outcome": "failed", "checkpoint": "", "fallbacks": len(e.failures)}
    return "restores", row


@_section.register
def _quarantined(e: Quarantined) -> tuple[str, dict[str, Any]] | None:
    return "quarantines", _row(e, "checkpoint", "reason")


@_section.register
def _collected(e: GarbageCollected) -> tuple[str, dict[str, Any]] | None:
    row = {"time": utc_stamp(e.time), "checkpoints": len(e.deleted_checkpoints), "files": len(e.deleted_files)}
    return "collections", row


@_section.register
def _migrated(e: MigrationFinished) -> tuple[str, dict[str, Any]] | None:
    row = _row(e, "source", "target", "outcome", "records", "seconds", "error") | {"action": "migrate"}
    return "migration_events", row


@_section.register
def _rolled_back(e: RolledBack) -> tuple[str, dict[str, Any]] | None:
    return "migration_events", _row(e, "target", "restored", "replaced", "seconds") | {"action": "rollback"}
