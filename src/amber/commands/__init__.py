"""One plain function per CLI verb: the operator's API, usable from Python as well.

Each function takes a store URL (or an open store) and returns plain data (dicts, lists,
numbers, strings) that the CLI prints as text or as JSON. Only ``migrate`` needs the
application's code (``app``); everything the others show comes from the checkpoints'
own schemas.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec

from ._evolution import _lockfile
from ._fleet._fleet import open_fleet
from ._format._format import MAX_SEQUENCE, Manifest
from ._maintenance import _diff, _migrate, _report
from ._maintenance._copy import copy_store
from ._maintenance._retention import Retention, collect
from ._schema._schema import Registry, default_registry
from ._schema._values import Link, to_json_value
from ._store._checkpoint import CheckpointInfo, CheckpointStore
from ._store._commit import refuse_unsigned
from ._store._lease import LEASE_KEY, read_lease
from ._store._open import open_store
from ._store._reading import Progress
from ._store._writer_lock import WriterLock
from .errors import AmberError, CheckpointError, SchemaError, SigningKeyError, StoreError, StoreLockedError
from .storage import Storage

StoreArg = str | CheckpointStore
_DECIMAL = re.compile(r"[0-9]{1,12}(\.[0-9]{1,9})?")

__all__ = [
    "copy",
    "diff",
    "dump",
    "fleet",
    "fleet_gc",
    "gc",
    "lease",
    "load_app",
    "log",
    "ls",
    "migrate",
    "parse_duration",
    "release",
    "report",
    "rollback",
    "schema_check",
    "schema_lock",
    "show",
    "verify",
    "verify_all",
]


def _store(store: StoreArg) -> CheckpointStore:
    return store if isinstance(store, CheckpointStore) else open_store(store, create=False)


def ls(store: StoreArg) -> list[dict[str, Any]]:
    """Every committed checkpoint, oldest first, as a summary row each.

    A checkpoint whose manifest or data file cannot be read is listed with an ``error``
    instead of hiding the others.
    """
    s = _store(store)
    quarantined = s.quarantined()
    rows = []
    for checkpoint_id in s.ids():
        try:
            row = _summary(s.info(checkpoint_id))
        except CheckpointError as e:
            row = {"id": checkpoint_id, "error": str(e)}
        if checkpoint_id in quarantined:
            row["quarantined"] = quarantined[checkpoint_id]
        rows.append(row)
    return rows


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
    report = collect(_store(store), policy, dry_run=dry_run)
    return {
        "dry_run": report.dry_run,
        "kept": report.kept,
        "needed": report.needed,
        "deleted_checkpoints": report.deleted_checkpoints,
        "deleted_files": report.deleted_files,
        "unreadable": report.unreadable,
    }


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``15m``, ``12h``, ``7d`` (or plain seconds) as a timedelta."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    number, unit = (text[:-1], text[-1]) if text and text[-1] in units else (text, "s")
    try:
        if not _DECIMAL.fullmatch(number):  # float() would take "٣", " 1", "1_0" and "1e400"
            raise ValueError
        return dt.timedelta(seconds=float(number) * units[unit])
    except (ValueError, OverflowError):
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 12h, 7d)") from None


def report(
    store: StoreArg,
    *,
    keep_last: int | None = None,
    keep_within: str | None = None,
    grace: str = "1h",
) -> dict[str, Any]:
    """The store's history: checkpoints (kind, size, chain, schema versions), durations,
    pauses, aborts and restores from its history journal, the migration log, what retention
    keeps (the policy given, else the one the manager recorded) and outliers."""
    policy = None
    if keep_last is not None or keep_within is not None:
        policy = Retention(
            keep_last=keep_last,
            keep_within=parse_duration(keep_within) if keep_within else None,
            grace=parse_duration(grace),
        )
    return _report.gather(_store(store), policy)


def diff(store: StoreArg, a: str, b: str) -> dict[str, Any]:
    """Per type: table keys added, changed and deleted from checkpoint ``a`` to ``b``, plus
    schema differences and counts of records outside tables (no application code needed)."""
    return _diff.diff(_store(store), a, b)


def show(store: StoreArg, checkpoint_id: str | None = None) -> dict[str, Any]:
    """One checkpoint in detail: types, versions, fingerprints, counts, sizes, fields."""
    s = _store(store)
    manifest = s.manifest(checkpoint_id)
    info = s.info(manifest.id)
    return {
        **_summary(info),
        "format_version": manifest.format_version,
        "library": manifest.library,
        "data": manifest.data,
        "meta": info.meta,
        "types": _types(manifest),
        "root": _root_sizes(manifest),
    }


def verify(store: StoreArg, checkpoint_id: str | None = None) -> dict[str, Any]:
    """Check a checkpoint's digests, lengths, structure and references; raise if unsound."""
    report = _store(store).verify(checkpoint_id)
    return {
        "id": report.info.id,
        "ok": True,
        "segments": report.segments,
        "records": report.records,
        "stored_bytes": report.info.size,
        "raw_bytes": report.raw_bytes,
    }


def verify_all(store: StoreArg) -> list[dict[str, Any]]:
    """``verify`` every committed checkpoint, oldest first; a failure is a row with its
    error, not an exception, so that one bad checkpoint does not hide the others."""
    s = _store(store)
    rows = []
    for cid in s.ids():
        try:
            rows.append(verify(s, cid))
        except AmberError as e:
            rows.append({"id": cid, "ok": False, "error": str(e)})
    return rows


def _record_json(record: dict[str, Any]) -> dict[str, Any]:
    link = record.get("$link")
    if isinstance(link, Link):
        return dict(to_json_value(link))  # {"$link": [token, key]}
    fields = {k: v for k, v in record.items() if k != "$adopts"}
    adopts = record.get("$adopts")
    rendered = dict(to_json_value(fields))
    return {"$adopts": to_json_value(adopts)["$link"], **rendered} if isinstance(adopts, Link) else rendered


def dump(store: StoreArg, checkpoint_id: str | None = None) -> dict[str, Any]:
    """The JSON text rendering of a whole checkpoint (docs/format.md, "JSON rendering")."""
    manifest, records, root = _store(store).read_generic(checkpoint_id)
    return {
        "checkpoint": {
            "id": manifest.id,
            "sequence": manifest.sequence,
            "created": manifest.created,
            "digest": manifest.digest,
            "meta": manifest.meta,
            **({"parent": manifest.parent, "depth": manifest.depth} if manifest.parent else {}),
        },
        "types": {
            t.schema.name: {
                "version": t.schema.version,
                "fingerprint": t.fingerprint,
                "fields": {f.name: f.type.render() for f in t.schema.fields},
            }
            for t in manifest.types
        },
        "records": {
            t.schema.name: [{"$id": f"{t.schema.name}/{row}", **_record_json(r)} for row, r in enumerate(rows)]
            for t, rows in zip(manifest.types, records, strict=True)
        },
        "root": to_json_value(root),
    }


def load_app(app: str) -> Registry:
    """Import the application's types: ``MODULE`` (which fills the default registry) or
    ``MODULE:ATTRIBUTE`` naming an ``amber.Registry``. The current directory is importable."""
    module_name, _, attribute = app.partition(":")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except Exception as e:  # the app's own import failing: one line, not a traceback
        raise SchemaError(f"--app {app}: importing {module_name} failed: {type(e).__name__}: {e}") from e
    if attribute and not hasattr(module, attribute):
        raise SchemaError(f"--app {app}: {module_name} has no attribute {attribute!r}")
    registry = getattr(module, attribute) if attribute else default_registry
    if not isinstance(registry, Registry):
        raise SchemaError(f"--app {app}: {attribute!r} of {module_name} is not an amber.Registry")
    if not attribute and not registry.declared():
        named = [n for n, v in vars(module).items() if isinstance(v, Registry)]
        hint = f"name it: --app {module_name}:{named[0]}" if named else "declare them with @amber.record"
        raise SchemaError(f"--app {app}: {module_name} declares no types in the default registry ({hint})")
    return registry


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
    s = _store(store)
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
    s = _store(source)
    report = copy_store(s, open_store(target), verify=verify, progress=progress)
    return msgspec.to_builtins(report)  # type: ignore[no-any-return]


def release(store: StoreArg, ids: list[str] | None = None) -> dict[str, Any]:
    """Lift the quarantine of ``ids`` (None: of every quarantined checkpoint), so that restores
    try them again. Returns what was released, with the reason each had been set aside."""
    s = _store(store)
    quarantined = s.quarantined()
    wanted = list(quarantined) if ids is None else [s.manifests.resolve(i) for i in ids]
    unknown = [cid for cid in wanted if cid not in quarantined]
    if unknown:
        raise CheckpointError(unknown[0], "quarantine", "a quarantined checkpoint", "none is quarantined under this id")
    for cid in wanted:
        s.release(cid)
    return {"released": {cid: quarantined[cid] for cid in wanted}}


def log(store: StoreArg) -> list[dict[str, Any]]:
    """The store's migration log, oldest first; an outcome a run committed but could not log
    is written first, from the checkpoint's manifest (when the store can be written)."""
    s = _store(store)
    migration_log = _migrate.MigrationLog(s)
    try:
        refuse_unsigned(s)  # a verify-only reader shows the outcomes, writes nothing
        migration_log.repair()
        unwritten: list[dict[str, Any]] = []
    except (StoreError, SigningKeyError):  # a read-only or full store shows the outcomes, from the manifests
        unwritten = [msgspec.to_builtins({"sequence": 0, "time": "", **f}) for f in migration_log.recoveries()]
    return [msgspec.to_builtins(e) for e in migration_log.entries()] + unwritten


def schema_lock(app: str, path: str = "amber.lock", *, oldest: dict[str, int] | None = None) -> dict[str, Any]:
    """Write (or extend) the lock file with every type and version the app declares, once
    ``schema check`` passes against the lock as it is (``SchemaError`` otherwise).

    Versions already locked are kept even when their classes are gone. ``oldest`` sets the
    oldest version still supported per type (the policy ``open_store(policy=...)`` enforces).
    """
    registry = load_app(app)
    previous = _lockfile.read_lock(Path(path))
    refused = [str(f) for f in _lockfile.check(registry, previous) if previous is not None and f.severity == "error"]
    if refused:  # the lock records releases that read their predecessors' data: never one that cannot
        raise SchemaError(f"{path} not updated: `amber schema check` fails: {'; '.join(refused)}")
    lock = _lockfile.build_lock(registry, previous)
    for name, version in (oldest or {}).items():
        if name not in lock.types:
            raise SchemaError(f"{name} is not a persisted type of {app}")
        locked = lock.types[name]
        if not min(map(int, locked.versions)) <= version <= locked.current:
            raise SchemaError(
                f"--oldest {name}={version}: not between v{min(map(int, locked.versions))} and v{locked.current}"
            )
        locked.oldest_supported = version
    _lockfile.write_lock(Path(path), lock)
    return msgspec.to_builtins(lock)  # type: ignore[no-any-return]


def schema_check(app: str, path: str = "amber.lock") -> list[dict[str, str]]:
    """Compare the app's types with the lock file; every finding with what to do."""
    findings = _lockfile.check(load_app(app), _lockfile.read_lock(Path(path)))
    return [{"severity": f.severity, "type": f.type, "message": f.message, "fix": f.fix} for f in findings]


def _with_app(store: StoreArg, app: str | None) -> CheckpointStore:
    s = _store(store)
    if app is not None:
        s.registry = load_app(app)
    return s


def _summary(info: CheckpointInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "kind": "delta" if info.parent else "full",
        "parent": info.parent,
        "depth": info.depth,
        "time": info.time.isoformat().replace("+00:00", "Z"),
        "size": info.size,
        "records": sum(info.counts.values()),
        "digest": info.digest,
        "types": dict(info.types),
    }


def _types(manifest: Manifest) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, t in enumerate(manifest.types):
        segs = [s for s in manifest.segments if s.kind == "table" and s.type == index]
        rows.append(
            {
                "name": t.schema.name,
                "version": t.schema.version,
                "fingerprint": t.fingerprint,
                "count": t.count,
                "links": t.links,
                "segments": len(segs),
                "stored_bytes": sum(s.length for s in segs),
                "raw_bytes": sum(s.raw_length for s in segs),
                "fields": [
                    {"name": f.name, "type": f.type.render(), "required": f.default is msgspec.UNSET}
                    for f in t.schema.fields
                ],
            }
        )
    return rows


def _root_sizes(manifest: Manifest) -> dict[str, int]:
    root = next(s for s in manifest.segments if s.kind == "root")
    return {"stored_bytes": root.length, "raw_bytes": root.raw_length}


def lease(store: StoreArg) -> dict[str, Any]:
    """Who holds the store's writer lease (if anyone) and every takeover's fence."""
    s = _store(store)
    fences = [{"token": t, "first": f if f <= MAX_SEQUENCE else None} for t, f in s.manifests.fences()]
    return {"lease": _lease_row(s.storage), "fences": fences}


def fleet(url: str) -> dict[str, Any]:
    """A fleet's decided epochs (newest last) and its workers' leases."""
    f = open_fleet(url, create=False)
    unreadable: list[tuple[int, str]] = []
    decisions = f.decisions(unreadable)
    epochs = [
        {
            "epoch": d.epoch,
            "outcome": d.outcome,
            "created": d.created,
            "workers": d.workers,
            "reason": d.reason,
            "missing": list(d.missing),
            "shards": [{"worker": v.worker, "checkpoint": v.checkpoint, "token": v.token} for v in d.shards],
        }
        for d in decisions
    ]
    known = max((d.workers for d in decisions), default=0)
    workers: list[dict[str, Any]] = []
    for w in range(f.key_groups):  # the workers of the decisions, and any leased beyond them
        row = _lease_row(f.worker_store(w).storage)
        if w >= known and row["state"] == "none":
            break
        workers.append({"worker": w, **row})
    damaged = [{"epoch": epoch, "error": error} for epoch, error in unreadable]
    return {"url": f.url, "key_groups": f.key_groups, "epochs": epochs, "workers": workers, "unreadable": damaged}


def fleet_gc(url: str, *, keep_last: int) -> dict[str, Any]:
    """Remove all but the newest ``keep_last`` committed epochs and the shards no kept epoch needs."""
    return {"deleted_epochs": open_fleet(url, create=False).collect(keep_last)}


def _lease_row(storage: Storage) -> dict[str, Any]:
    found = read_lease(storage, LEASE_KEY)
    if found is None:
        return {"state": "none", "token": 0, "holder": "", "expires_in": 0.0}
    record = found[0]
    left = record.expires - dt.datetime.now(dt.UTC).timestamp()
    state = "released" if record.expires == 0 else "held" if left > 0 else "expired"
    return {"state": state, "token": record.token, "holder": record.holder, "expires_in": round(max(left, 0.0), 1)}
