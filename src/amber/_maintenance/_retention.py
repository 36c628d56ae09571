"""Retention and garbage collection: which checkpoints to keep, and removing the rest.

A checkpoint is kept when the policy selects it (the newest N, those younger than an age),
when it is the head or quarantined, or when a kept checkpoint needs it (a delta needs its
whole chain). Data files are shared between manifests (a rollback commits a new manifest
naming an old data file), so a data file goes only when no remaining manifest names it.
Deletion runs newest first, so an interrupted collection never leaves a delta without
its parent. Files younger than ``grace`` that no manifest names may belong to a save in
progress and are left alone.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from .._format._format import Manifest
from .._store._checkpoint import CheckpointStore
from .._store._gc_guard import PENDING_STALE, collecting, pending_data
from ..errors import CheckpointError, StoreError
from ..events import Event, GarbageCollected

CLOCK_KEY = "gc/clock"  # rewritten by each collection to read the store's time


@dataclass(frozen=True)
class Retention:
    """What to keep: the newest ``keep_last`` checkpoints and/or those younger than
    ``keep_within``. Leftovers and unnamed data files younger than ``grace`` are kept."""

    keep_last: int | None = None
    keep_within: dt.timedelta | None = None
    grace: dt.timedelta = dt.timedelta(hours=1)
    # How long a collection waits for the checkpoint writes in progress on a local store.
    wait: dt.timedelta = dt.timedelta(minutes=5)

    def __post_init__(self) -> None:
        if self.keep_last is None and self.keep_within is None:
            raise ValueError("a retention policy needs keep_last, keep_within or both")
        if self.keep_last is not None and self.keep_last < 1:
            raise ValueError("keep_last must be at least 1")


@dataclass
class GcReport:
    """What a collection kept and removed (or would, in a dry run)."""

    kept: list[str] = field(default_factory=list)
    needed: dict[str, list[str]] = field(default_factory=dict)  # kept only because these need it
    deleted_checkpoints: list[str] = field(default_factory=list)
    deleted_files: list[str] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # manifests that could not be read: kept
    dry_run: bool = False


def collect(
    store: CheckpointStore,
    retention: Retention,
    *,
    dry_run: bool = False,
    emit: Callable[[Event], None] | None = None,
    keep: Collection[str] = (),
) -> GcReport:
    """Apply ``retention`` to ``store``; with ``dry_run``, only report what would go.
    ``keep`` names checkpoints to keep besides (with their chains): a fleet's shards.
    The ``GarbageCollected`` event goes to ``emit`` (default: the store's listeners)."""
    wall, began = time.time(), time.perf_counter()
    if dry_run:
        report = _collect(store, retention, dry_run, set(keep))
    else:
        with collecting(store.storage, wait=retention.wait.total_seconds()):  # see _writer_lock
            report = _collect(store, retention, dry_run, set(keep))
    (emit or store.emit)(
        GarbageCollected(
            time=time.time(),
            deleted_checkpoints=report.deleted_checkpoints,
            deleted_files=report.deleted_files,
            kept=report.kept,
            dry_run=dry_run,
            start=wall,
            seconds=time.perf_counter() - began,
        )
    )
    return report


def _collect(store: CheckpointStore, retention: Retention, dry_run: bool, keep: set[str]) -> GcReport:
    report = GcReport(dry_run=dry_run)
    manifests: dict[str, Manifest] = {}
    for cid in store.ids():
        try:
            manifests[cid] = store.manifests.parsed(cid)[0]  # a missing data file is no reason to keep
        except CheckpointError:
            report.unreadable.append(cid)  # never delete what cannot be read
    quarantined = set(store.quarantined())
    sound = {cid: m for cid, m in manifests.items() if cid not in quarantined}
    # The policy counts restorable checkpoints only: quarantined ones are kept besides them.
    selected = _selected(sound, retention) | quarantined | set(report.unreadable) | (keep & set(manifests))
    if sound:
        selected.add(max(sound))  # the newest one a restore can use
    if report.unreadable:
        # An unreadable manifest may be a delta on any older checkpoint: keep them all.
        selected |= {cid for cid in manifests if cid < max(report.unreadable)}
    if manifests:
        selected.add(max(manifests))  # the head always stays
    kept = _with_parents(selected, manifests, report.needed)
    report.kept = sorted(kept | set(report.unreadable))
    doomed = sorted((cid for cid in manifests if cid not in kept), reverse=True)  # children first
    report.deleted_checkpoints = doomed
    if not dry_run:
        for cid in doomed:
            store.storage.delete(f"checkpoints/{cid}.manifest")
    report.deleted_files = _void_manifests(store, dry_run) + _unneeded_files(
        store, retention, doomed, manifests, dry_run=dry_run
    )
    return report


def _void_manifests(store: CheckpointStore, dry_run: bool) -> list[str]:
    """Manifests of fenced-off writers, but the highest: its sequence number stays taken."""
    void = store.manifests.void_ids()
    highest = max(store.ids() + void, default="")
    keys = [f"checkpoints/{cid}.manifest" for cid in void if cid != highest]
    if not dry_run:
        for key in keys:
            store.storage.delete(key)
    return keys


def _selected(manifests: dict[str, Manifest], retention: Retention) -> set[str]:
    ids = sorted(manifests)
    chosen: set[str] = set()
    if retention.keep_last is not None:
        chosen.update(ids[-retention.keep_last :])
    if retention.keep_within is not None:
        cutoff = dt.datetime.now(dt.UTC) - retention.keep_within
        chosen.update(cid for cid, m in manifests.items() if dt.datetime.fromisoformat(m.created) >= cutoff)
    return chosen


def _with_parents(selected: set[str], manifests: dict[str, Manifest], needed: dict[str, list[str]]) -> set[str]:
    kept = set(selected)
    for cid in sorted(selected):
        child = manifests.get(cid)
        while child is not None and child.parent:
            if child.parent not in selected:
                needed.setdefault(child.parent, []).append(cid)
            kept.add(child.parent)
            child = manifests.get(child.parent)
    return kept


def _unneeded_files(
    store: CheckpointStore, retention: Retention, doomed: list[str], manifests: dict[str, Manifest], *, dry_run: bool
) -> list[str]:
    """Data files no remaining manifest names, and leftovers of interrupted writes."""
    storage = store.storage
    # In this order (see _writer_lock): data files, then writers' markers, then manifests listed
    # again after the doomed ones went (a rollback committed meanwhile may name old data).
    data_files = storage.list("data/")
    pending, stale = _pending(store, dry_run)
    remaining = {cid: m for cid, m in manifests.items() if cid not in doomed}
    if not dry_run:
        try:
            remaining.update({cid: store.manifests.parsed(cid)[0] for cid in store.ids() if cid not in manifests})
        except CheckpointError:
            return []  # a new manifest we cannot read might name any data file: delete none
    named = {m.data for m in remaining.values()}
    freed = {manifests[cid].data for cid in doomed} - named - pending
    unnamed = [key for key in data_files if key not in named and key not in pending]
    temporaries = [
        found
        for prefix in ("data/", "checkpoints/", "history/", "log/", "quarantine/", "leases/", "fences/", "gc/", "")
        for found in storage.temporaries(prefix)
    ]
    files, leftovers = [key for key in unnamed if key in freed], []
    if len(files) < len(unnamed) or temporaries:  # only then ask the store's clock (it writes)
        old = (time.time() if dry_run else _store_clock(store)) - retention.grace.total_seconds()
        files += [key for key in unnamed if key not in freed and _older(store, key, old)]
        # File times tick coarsely: one stamped in this tick is not younger than the grace.
        leftovers = [name for name, t in temporaries if t <= old]
    if not dry_run:
        for key in files + stale:
            storage.delete(key)
        for name in leftovers:
            storage.delete_temporary(name)
    return files + stale + leftovers


def _pending(store: CheckpointStore, dry_run: bool) -> tuple[set[str], list[str]]:
    """Data files writers have marked (spared), and markers a day old on the store's clock:
    left by writers that crashed, deleted (their data files go at the next collection)."""
    markers = pending_data(store.storage)
    if not markers:
        return set(), []
    now = time.time() if dry_run else _store_clock(store)
    stale = [marker for _, marker in markers if _older(store, marker, now - PENDING_STALE)]
    return {key for key, marker in markers if marker not in stale}, stale  # any fresh marker spares its file


def _store_clock(store: CheckpointStore) -> float:
    """Now, as the store's own clock says: the one that stamps its files' times (an S3
    server's, say), so that a writer's or this host's clock being off shortens no grace."""
    key = CLOCK_KEY
    try:
        store.storage.put(key, [b"the time of the last collection\n"], durable=False)
        return store.storage.modified(key)
    except StoreError:
        return time.time()


def _older(store: CheckpointStore, key: str, cutoff: float) -> bool:
    try:
        return store.storage.modified(key) <= cutoff
    except StoreError:
        return False
