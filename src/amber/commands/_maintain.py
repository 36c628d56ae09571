"""The verbs that change a store: ``gc``, ``migrate``, ``rollback``, ``copy``, ``release``,
and ``log`` (which writes an outcome a run committed but could not log). ``migrate`` and
``rollback`` commit as a service would: under the store's writer lock, and its lease when
asked (``_leased``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import msgspec

from .._maintenance import _migrate, _migration_log
from .._maintenance._copy import copy_store
from .._maintenance._retention import Retention, collect
from .._store._checkpoint import CheckpointStore
from .._store._commit import refuse_unsigned
from .._store._open import open_store
from .._store._reading import Progress
from .._store._writer_lock import WriterLock
from ..errors import CheckpointError, SigningKeyError, StoreError, StoreLockedError
from ._app import load_app
from ._args import StoreArg, opened, parse_duration


def gc(
    store: StoreArg,
    *,
    keep_last: int | None = None,
    keep_within: str | None = None,
    grace: str = "1h",
    dry_run: bool = False,
    wait: str = "5m",
) -> dict[str, Any]:
    """Remove checkpoints the retention policy does not keep (never one a kept delta needs,
    the head, or a quarantined one), then data files no manifest names and leftovers of
    interrupted writes older than ``grace``. On a local store it first waits (up to ``wait``)
    for the checkpoint writes in progress, and writers wait for it. Durations: ``90s``,
    ``15m``, ``12h``, ``7d``."""
    policy = Retention(
        keep_last=keep_last,
        keep_within=parse_duration(keep_within) if keep_within else None,
        grace=parse_duration(grace),
        wait=parse_duration(wait),
    )
    report = collect(opened(store), policy, dry_run=dry_run)
    return {
        "dry_run": report.dry_run,
        "kept": report.kept,
        "needed": report.needed,
        "deleted_checkpoints": report.deleted_checkpoints,
        "deleted_files": report.deleted_files,
        "unreadable": report.unreadable,
    }


def migrate(
    store: StoreArg, app: str | None = None, *, dry_run: bool = False, lease: float | None = None
) -> dict[str, Any]:
    """Upgrade the newest checkpoint to the versions of the code in ``app``, as a new checkpoint
    (the source stays). ``dry_run``: compute the plan and run it in memory, write nothing.
    ``lease``: on a store written under a lease, take it first, waiting up to that many seconds."""
    s = _with_app(store, app)
    with contextlib.nullcontext() if dry_run else _leased(s, lease):  # a dry run writes nothing
        return msgspec.to_builtins(_migrate.migrate(s, dry_run=dry_run))  # type: ignore[no-any-return]


def rollback(store: StoreArg, to: str | None = None, *, lease: float | None = None) -> dict[str, Any]:
    """Make the pre-migration checkpoint (or ``to``) the newest again; nothing is deleted.
    ``lease``: as for ``migrate``."""
    s = opened(store)
    with _leased(s, lease):
        return _migrate.rollback(s, to=to)


@contextlib.contextmanager
def _leased(store: CheckpointStore, wait: float | None) -> Iterator[None]:
    """The store's writer lease held for the command (with ``wait`` not None, on a store
    written under a lease: taking one would fence off a service that never took it), and the
    writer lock of a local store: a running service would overwrite what the command commits."""
    refuse_unsigned(store)  # before the lock and the lease: a command that cannot sign writes nothing
    try:
        lock = WriterLock.take(store.storage, wait=None)
    except StoreLockedError as e:
        raise StoreLockedError(f"{e}; stop the service before running this command") from None
    try:
        if wait is None or store.lease is not None or not store.manifests.fences():
            yield
            return
        store.acquire_lease(wait=wait)
        try:
            yield
        finally:
            store.release_lease()
    finally:
        if lock is not None:
            lock.release()


def copy(source: StoreArg, target: str, *, verify: bool = True, progress: Progress | None = None) -> dict[str, Any]:
    """Copy every committed checkpoint of ``source`` to ``target`` (a folder or a URL, empty or
    an interrupted copy of the source), data files before manifests, and verify them there."""
    s = opened(source)
    report = copy_store(s, open_store(target), verify=verify, progress=progress)
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


def release(store: StoreArg, ids: list[str] | None = None) -> dict[str, Any]:
    """Lift the quarantine of ``ids`` (None: of every quarantined checkpoint), so that restores
    try them again. Returns what was released, with the reason each had been set aside."""
    s = opened(store)
    quarantined = s.quarantined()
    wanted = list(quarantined) if ids is None else [s.manifests.resolve(i) for i in ids]
    unknown = [cid for cid in wanted if cid not in quarantined]
    if unknown:
        raise CheckpointError(unknown[0], "quarantine", "a quarantined checkpoint", "none is quarantined under this id")
    for cid in wanted:
        s.unquarantine(cid)
    return {"released": {cid: quarantined[cid] for cid in wanted}}


def log(store: StoreArg) -> list[dict[str, Any]]:
    """The store's migration log, oldest first; an outcome a run committed but could not log
    is written first, from the checkpoint's manifest (when the store can be written)."""
    s = opened(store)
    migration_log = _migration_log.MigrationLog(s)
    try:
        refuse_unsigned(s)  # a verify-only reader shows the outcomes, writes nothing
        migration_log.repair()
        unwritten: list[dict[str, Any]] = []
    except (StoreError, SigningKeyError):  # a read-only or full store shows the outcomes, from the manifests
        unwritten = [msgspec.to_builtins(e) for e in migration_log.unwritten()]
    return [msgspec.to_builtins(e) for e in migration_log.entries()] + unwritten


def _with_app(store: StoreArg, app: str | None) -> CheckpointStore:
    s = opened(store)
    if app is not None:
        s.registry = load_app(app)
    return s
