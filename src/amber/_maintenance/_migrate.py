"""Migrating a store offline, and rolling back (each run recorded in the migration log,
``_migration_log``).

A migration loads the newest checkpoint through the plan (in memory) and commits the result
as a new checkpoint whose metadata names its source; the source stays. The commit is the
usual atomic one, so a migration killed at any point has either committed its checkpoint or
left the store exactly as it was. A rollback commits the source's content again as the
newest checkpoint (same data file, nothing copied, nothing deleted).

Each run writes a ``started`` log entry before it reads and its outcome after; the
checkpoint it commits names the run (``amber.log_run``), so an outcome entry that could not
be written is written by the next migration, rollback or ``amber log`` from the manifests.
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

import msgspec

from .._evolution._plan import Plan, touching
from .._store._checkpoint import CheckpointInfo, CheckpointStore, save
from .._store._commit import Committer, refuse_unsigned
from .._store._loading import load_chain
from .._store._reading import StepTiming
from ..errors import CheckpointError, CheckpointNotFoundError
from ..events import MigrationFinished, MigrationStarted, MigrationStep, RolledBack
from ._migration_log import RUN_KEY, MigrationLog, TypeChange, rollback_command

log = logging.getLogger("amber.migrate")
_LINEAGE = ("migrated_from", "rollback_of", "restores", RUN_KEY)  # describe one checkpoint's origin


class MigrationResult(msgspec.Struct, frozen=True):
    """What ``migrate`` did (or, with ``dry_run``, would do)."""

    source: str
    target: str | None  # the committed checkpoint; None for a dry run or when nothing changes
    dry_run: bool
    changed: bool  # False when every type is already at the running code's version
    records: int
    seconds: float
    types: tuple[TypeChange, ...]  # records: what the run read of each type, and what its steps created
    undo: str = ""  # the command that makes the source the newest again (a committed migration)


def migrate(store: CheckpointStore, *, dry_run: bool = False) -> MigrationResult:
    """Upgrade the newest checkpoint to the running code's versions, as a new checkpoint.

    With ``dry_run``, the plan is computed and applied in memory (every step runs and every
    value is checked) and nothing is written. Events go to the store's listeners. Code older
    than a type in the checkpoint is refused (``IncompatibleSchemaError``): migrating with it
    would downgrade the store by the rules, dropping what it does not know.
    """
    lenient, store.read_newer = store.read_newer, False
    try:
        return _migrate(store, dry_run)
    finally:
        store.read_newer = lenient


def _migrate(store: CheckpointStore, dry_run: bool) -> MigrationResult:
    run = _Run(store, dry_run)
    source = store.info()
    changes = _chain_changes(store, source)
    if all(t.how == "as written" for t in changes):
        run.finished(source.id, "unchanged")
        return MigrationResult(source.id, None, dry_run, False, 0, 0.0, changes)
    log = MigrationLog(store)
    if not dry_run:
        refuse_unsigned(store)  # before the log's entries: a migration that cannot sign writes nothing
        log.repair()
        run.id = log.append(action="migrate", outcome="started", source=source.id, types=changes).run
    run.started(source.id, changes)
    try:
        result = _migrated(store, source, changes, run)
        if not dry_run:
            result = msgspec.structs.replace(result, undo=undo_command(store, source.id))
    except BaseException as e:  # an interrupt too: its span and event must end
        if not dry_run and isinstance(e, Exception):  # a "started" entry alone marks an interrupted run
            log.settle(action="migrate", outcome="failed", run=run.id, source=source.id, error=str(e)[:2000])
        run.finished(source.id, "dry-run-failed" if dry_run else "failed", error=f"{type(e).__name__}: {e}")
        raise
    if not dry_run:
        assert result.target is not None
        log.settle(
            action="migrate",
            outcome="committed",
            run=run.id,
            source=source.id,
            target=result.target,
            types=result.types,
            records=result.records,
            seconds=result.seconds,
            undo_to=source.id,  # the log names no store: its undo is rendered with the one read
        )
    outcome = "dry-run" if dry_run else "committed"
    run.finished(source.id, outcome, target=result.target or "", records=result.records)
    return result


class _Run:
    """One migration's id, clock and events."""

    def __init__(self, store: CheckpointStore, dry_run: bool) -> None:
        self.store = store
        self.dry_run = dry_run
        self.id = f"dry-run-{secrets.token_hex(4)}" if dry_run else ""  # a dry run is not in the log
        self.wall, self.began = time.time(), time.perf_counter()

    def started(self, source: str, changes: tuple[TypeChange, ...]) -> None:
        described = {
            c.name: f"v{c.from_version} -> v{c.to_version} ({c.how})" for c in changes if c.how != "as written"
        }
        self.store.emit(
            MigrationStarted(
                time=time.time(), run=self.id, source=source, dry_run=self.dry_run, types=described, start=self.wall
            )
        )

    def steps(self, steps: list[StepTiming]) -> None:
        for step in steps:
            self.store.emit(
                MigrationStep(
                    time=time.time(),
                    run=self.id,
                    dry_run=self.dry_run,
                    checkpoint=step.checkpoint,
                    type=step.type,
                    from_version=step.from_version,
                    to_version=step.to_version,
                    how=step.how,
                    records=step.records,
                    start=step.start,
                    seconds=step.seconds,
                )
            )

    def finished(self, source: str, outcome: str, *, target: str = "", records: int = 0, error: str = "") -> None:
        seconds = time.perf_counter() - self.began
        self.store.emit(
            MigrationFinished(
                time=time.time(),
                run=self.id,
                source=source,
                target=target,
                outcome=outcome,
                records=records,
                start=self.wall,
                seconds=seconds,
                error=error,
                dry_run=self.dry_run,
            )
        )


def _migrated(
    store: CheckpointStore, source: CheckpointInfo, changes: tuple[TypeChange, ...], run: _Run
) -> MigrationResult:
    begun = time.perf_counter()
    steps: list[StepTiming] = []
    try:
        state = load_chain(store, source.id, steps)
    finally:
        run.steps(steps)  # the upgrades that ran, even when a later one failed
    meta = {k: v for k, v in source.meta.items() if k not in _LINEAGE} | {"migrated_from": source.id, RUN_KEY: run.id}
    # Committed quietly: the migration's events describe it; it is not one of the service's checkpoints.
    target = save(store, state, meta=meta, announce=False) if not run.dry_run else None
    counted = _with_created(changes, steps)
    records = sum(t.records for t in counted)
    seconds = time.perf_counter() - begun
    return MigrationResult(source.id, target.id if target else None, run.dry_run, True, records, seconds, counted)


def _with_created(changes: tuple[TypeChange, ...], steps: list[StepTiming]) -> tuple[TypeChange, ...]:
    """``changes`` with the records the checkpoint steps created added to each type's count:
    the plan, made before any data is read, cannot know how many records a step makes of a
    new type (``tables.add``); the run that just happened, in memory for a dry run, does."""
    created: dict[str, int] = {}
    for step in steps:
        for name, count in step.created:
            created[name] = created.get(name, 0) + count
    return tuple(
        msgspec.structs.replace(c, records=c.records + created[c.name]) if created.get(c.name) else c for c in changes
    )


def _chain_changes(store: CheckpointStore, source: CheckpointInfo) -> tuple[TypeChange, ...]:
    """What loading ``source`` does to each type, over its whole chain (a delta's base may
    hold older versions than the delta): per type, the change from its oldest version, and
    every record the chain holds of it."""
    merged: dict[str, TypeChange] = {}
    for manifest in store.manifests.chain(source.id):
        for change in _changes(store.plan(manifest.id), store.info(manifest.id)):
            known = merged.get(change.name)
            if known is None:
                merged[change.name] = change
                continue
            oldest = min(known, change, key=lambda c: (c.how == "as written", c.from_version))
            records = known.records + change.records
            merged[change.name] = msgspec.structs.replace(oldest, records=records)
    return tuple(merged.values())


def _changes(plan: Plan, source: CheckpointInfo) -> tuple[TypeChange, ...]:
    changes = []
    for tp in plan.types:
        changes.append(
            TypeChange(
                name=tp.reader.name,
                from_version=tp.writer.version,
                to_version=tp.reader.version,
                from_fingerprint=tp.writer.fingerprint,
                to_fingerprint=tp.reader.schema.fingerprint,
                records=source.counts.get(tp.writer.name, 0),
                how=tp.how,
            )
        )
    known = {tp.reader.name for tp in plan.types}
    for name, created in plan.final:  # types a checkpoint step creates: version 0 means "new"
        if created is not None and name not in known:
            schema = created.schema
            changes.append(TypeChange(name, 0, schema.version, "", schema.fingerprint, 0, touching(plan.stages, name)))
    return tuple(changes)


def undo_command(store: CheckpointStore, checkpoint_id: str) -> str:
    """The command that makes ``checkpoint_id`` the newest again, as a migration or a rollback
    that replaced it as the newest prints and logs it."""
    return rollback_command(store.url, checkpoint_id)


def rollback(store: CheckpointStore, *, to: str | int | None = None) -> dict[str, Any]:
    """Make an earlier checkpoint the newest again (by default the source of the last
    migration that produced the newest checkpoint). Nothing is deleted; the rollback is logged.

    Returns the checkpoint replaced as the newest (``from``), the one ``restored``, the
    ``target`` committed with its content, every checkpoint committed after the restored one
    (``superseded``: kept, but no longer what a restore reads) and the ``undo`` command."""
    newest = store.info()
    if to is None:
        source = newest.meta.get("migrated_from")
        if not isinstance(source, str):
            raise CheckpointNotFoundError(
                newest.id, "rollback", "a newest checkpoint made by a migration, or --to ID", "no migration source"
            )
        to = source
    restored = store.info(to)
    if restored.id == newest.id:
        raise CheckpointError(newest.id, "rollback", "an earlier checkpoint than the newest", restored.id)
    wall, began = time.time(), time.perf_counter()
    refuse_unsigned(store)  # before the log's entries
    superseded = _committed_after(store, restored.id)
    undo = undo_command(store, newest.id)
    log = MigrationLog(store)
    log.repair()
    started = log.append(action="rollback", outcome="started", source=restored.id)
    meta = {k: v for k, v in restored.meta.items() if k not in _LINEAGE}
    lineage = {"rollback_of": newest.id, "restores": restored.id, RUN_KEY: started.run}
    target = Committer(store).recommit(restored.id, meta=meta | lineage)
    log.settle(
        action="rollback",
        outcome="committed",
        run=started.run,
        source=restored.id,
        target=target.id,
        undo_to=newest.id,
    )
    seconds = time.perf_counter() - began
    store.emit(
        RolledBack(
            time=time.time(),
            run=started.run,
            replaced=newest.id,
            restored=restored.id,
            target=target.id,
            start=wall,
            seconds=seconds,
        )
    )
    return {"from": newest.id, "restored": restored.id, "target": target.id, "superseded": superseded, "undo": undo}


def _committed_after(store: CheckpointStore, checkpoint_id: str) -> list[str]:
    """The committed checkpoints after ``checkpoint_id``, oldest first: what a rollback to it
    supersedes (their content is no longer the newest; nothing of them is deleted)."""
    ids = store.ids()
    return ids[ids.index(checkpoint_id) + 1 :] if checkpoint_id in ids else ids[-1:]
