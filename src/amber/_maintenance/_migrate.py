"""Migrating a store offline, rolling back, and the migration log.

A migration loads the newest checkpoint through the plan (in memory) and commits the result
as a new checkpoint whose metadata names its source; the source stays. The commit is the
usual atomic one, so a migration killed at any point has either committed its checkpoint or
left the store exactly as it was. A rollback commits the source's content again as the
newest checkpoint (same data file, nothing copied, nothing deleted).

The log is append-only and durable: one create-only object per entry under ``log/``. A
migration writes a ``started`` entry before it reads and a ``committed`` or ``failed``
entry after. The checkpoint it commits names its run in its metadata (``amber.log_run``), so the
manifest, not the log, is the proof of what became visible: an outcome entry that could not
be written (a full disk, a kill just after the commit) is written by the next migration,
rollback or ``amber log`` from the manifests (``recovered``). A ``started`` entry no
manifest names marks a run that was killed before it committed anything.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
import time
from typing import Any, Literal

import msgspec

from .._evolution._plan import Plan, touching
from .._format._format import ID_PATTERN, format_id
from .._store._checkpoint import CheckpointInfo, CheckpointStore, save
from .._store._commit import Committer, refuse_unsigned
from .._store._gc_guard import writing
from .._store._loading import load_chain
from .._store._reading import StepTiming
from ..errors import AmberError, CheckpointError, CheckpointNotFoundError, ConflictError, CorruptCheckpointError
from ..events import MigrationFinished, MigrationStarted, MigrationStep, RolledBack
from ..events._loud import loud

log = logging.getLogger("amber.migrate")
_LOG = "log/"
RUN_KEY = "amber.log_run"  # the metadata naming the log run that committed a checkpoint
_LINEAGE = ("migrated_from", "rollback_of", "restores", RUN_KEY)  # describe one checkpoint's origin


class TypeChange(msgspec.Struct, frozen=True):
    """What a migration did to one type."""

    name: str
    from_version: int
    to_version: int
    from_fingerprint: str
    to_fingerprint: str
    records: int
    how: str  # "as written", "rules only", or the steps run


class LogEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """One line of a store's migration log."""

    sequence: int
    time: str
    action: Literal["migrate", "rollback"]
    outcome: Literal["started", "committed", "failed"]
    run: str  # the run this entry belongs to: the sequence of its "started" entry
    source: str  # the checkpoint read
    target: str = ""  # the checkpoint committed
    types: tuple[TypeChange, ...] = ()
    records: int = 0
    seconds: float = 0.0
    undo: str = ""  # the command that undoes it
    error: str = ""
    recovered: bool = False  # written later, from the committed checkpoint's manifest


class MigrationLog:
    """The append-only log of a store's migrations and rollbacks."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    def entries(self) -> list[LogEntry]:
        """The log, oldest first, each run's outcome once."""
        return _first_outcomes(self._written())

    def _written(self) -> list[LogEntry]:
        entries = []
        for key in self.store.storage.list(_LOG):
            name = key.removeprefix(_LOG).removesuffix(".json")
            if not (key.endswith(".json") and ID_PATTERN.fullmatch(name)):
                continue
            data = self.store.storage.get_range(key, 0, 1 << 20)
            try:
                entries.append(msgspec.json.decode(data, type=LogEntry))
            except (ValueError, RecursionError) as e:
                raise CorruptCheckpointError(name, f"migration log entry {key}", "a log entry", str(e)) from None
        return entries

    def append(self, **fields: Any) -> LogEntry:
        """Add an entry under the next free sequence number (create-only, so never overwritten)."""
        for _ in range(1000):
            sequence = max((e.sequence for e in self._written()), default=0) + 1
            now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
            entry = LogEntry(sequence=sequence, time=now, **{"run": format_id(sequence), **fields})
            try:
                with writing(self.store.storage):  # its temporary file is no leftover for gc
                    self.store.storage.put(
                        f"{_LOG}{format_id(sequence)}.json", [msgspec.json.encode(entry)], create_only=True
                    )
            except ConflictError:
                continue
            return entry
        raise ConflictError(f"{self.store.url}: could not append to the migration log")

    def settle(self, **fields: Any) -> None:
        """Append a run's outcome entry; when it cannot be written, say so loudly and go on.
        The outcome stands whatever happens to its entry: a commit is in its manifest (which
        ``repair`` writes the entry from), a failure is the error the caller raises."""
        try:
            self.append(**fields)
        except AmberError as e:
            what = f"committed checkpoint {fields['target']}" if fields["outcome"] == "committed" else "failed"
            loud(
                log,
                logging.WARNING,
                "%s run %s %s, but its log entry could not be written (%s)%s",
                fields["action"],
                fields["run"],
                what,
                e,
                ": the next migrate, rollback or `amber log` writes it from the checkpoint's manifest"
                if fields["outcome"] == "committed"
                else "",
            )

    def repair(self) -> list[LogEntry]:
        """Write the outcome of every run whose checkpoint committed but whose entry is
        missing, from the manifest that names the run. Returns the entries written."""
        return [self.append(**fields) for fields in self.recoveries()]

    def recoveries(self) -> list[dict[str, Any]]:
        """The outcome entries missing from the log, from the checkpoints that name their
        run and carry the lineage the run's "started" entry announced (so a checkpoint
        whose metadata merely names a run is not taken for its outcome)."""
        entries = self.entries()
        ended = {e.run for e in entries if e.outcome != "started"}
        open_runs = {e.run: e for e in entries if e.outcome == "started" and e.run not in ended}
        found = []
        for cid in self.store.ids() if open_runs else []:
            try:
                meta = self.store.manifests.parsed(cid)[0].meta
            except CheckpointError:
                continue  # unreadable: it proves nothing
            started = open_runs.get(str(meta.get(RUN_KEY, "")))
            if started is not None and cid > started.source and meta.get(_ORIGIN[started.action]) == started.source:
                del open_runs[started.run]
                found.append(_recovered(started, cid, meta, self.store.url))
        return found


_ORIGIN = {"migrate": "migrated_from", "rollback": "restores"}  # the metadata naming a run's source


def _first_outcomes(entries: list[LogEntry]) -> list[LogEntry]:
    """The log without the repeats of an outcome (two repairs racing each wrote it)."""
    seen: set[str] = set()
    kept = []
    for entry in sorted(entries, key=lambda e: e.sequence):
        if entry.outcome != "started":
            if entry.run in seen:
                continue
            seen.add(entry.run)
        kept.append(entry)
    return kept


def _recovered(started: LogEntry, target: str, meta: dict[str, Any], url: str) -> dict[str, Any]:
    """The outcome entry a run would have written, from the checkpoint it committed."""
    fields = {f: getattr(started, f) for f in ("action", "run", "source", "types")}
    before = started.source if started.action == "migrate" else str(meta.get("rollback_of", ""))
    undo = f"amber rollback {url} --to {before}" if before else ""
    return fields | {"outcome": "committed", "target": target, "recovered": True, "undo": undo}


class MigrationResult(msgspec.Struct, frozen=True):
    """What ``migrate`` did (or, with ``dry_run``, would do)."""

    source: str
    target: str | None  # the committed checkpoint; None for a dry run or when nothing changes
    dry_run: bool
    changed: bool  # False when every type is already at the running code's version
    records: int
    seconds: float
    types: tuple[TypeChange, ...]


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
            types=changes,
            records=result.records,
            seconds=result.seconds,
            undo=f"amber rollback {store.url} --to {source.id}",
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
    records = sum(t.records for t in changes)
    seconds = time.perf_counter() - begun
    return MigrationResult(source.id, target.id if target else None, run.dry_run, True, records, seconds, changes)


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


def rollback(store: CheckpointStore, *, to: str | int | None = None) -> dict[str, Any]:
    """Make an earlier checkpoint the newest again (by default the source of the last
    migration that produced the newest checkpoint). Nothing is deleted; the rollback is logged."""
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
        undo=f"amber rollback {store.url} --to {newest.id}",
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
    return {"from": newest.id, "restored": restored.id, "target": target.id}
