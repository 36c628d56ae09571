"""The migration log: an append-only, durable record of a store's migrations and rollbacks.

One create-only object per entry under ``log/``. A run writes a ``started`` entry before it
reads and a ``committed`` or ``failed`` entry after. The checkpoint a run commits names the
run in its metadata (``amber.log_run``), so the manifest, not the log, is the proof of what
became visible: an outcome entry that could not be written (a full disk, a kill just after
the commit) is written later from the manifests (``recovered``). A ``started`` entry no
manifest names marks a run killed before it committed anything.

An entry names no store: the command that undoes a run (``undo``) is rendered when the log
is read, with the URL of the store read, from the checkpoint it rolls back to (``undo_to``).
So a copy's log (``amber copy``) undoes in the copy, not in the original. Entries written
before carry the whole command, with the URL of the store that wrote them: read, it is
rendered anew the same way.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import Any, Literal

import msgspec

from .._format._format import ID_PATTERN, format_id
from .._format._objects import decode_object, utc_stamp
from .._store._checkpoint import CheckpointStore
from .._store._gc_guard import writing
from ..errors import AmberError, CheckpointError, ConflictError, CorruptCheckpointError
from ..events._loud import loud

log = logging.getLogger("amber.migrate")
_LOG = "log/"
RUN_KEY = "amber.log_run"  # the metadata naming the log run that committed a checkpoint


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
    undo: str = ""  # the command that undoes it: rendered when read (rollback_command), never written
    undo_to: str = ""  # the checkpoint that command rolls back to
    error: str = ""
    recovered: bool = False  # written later, from the committed checkpoint's manifest


class MigrationLog:
    """The append-only log of a store's migrations and rollbacks."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store

    def entries(self) -> list[LogEntry]:
        """The log, oldest first, each run's outcome once, undo commands naming this store."""
        return [self.rendered(e) for e in _first_outcomes(self._written())]

    def rendered(self, entry: LogEntry) -> LogEntry:
        """``entry`` with its undo command naming this store (an entry written with the
        command in it, by an earlier version, names the store that wrote it)."""
        to = entry.undo_to
        if not to and (old := _WRITTEN_UNDO.fullmatch(entry.undo)):
            to = old["to"]
        if not to:
            return entry
        return msgspec.structs.replace(entry, undo=rollback_command(self.store.url, to), undo_to=to)

    def unwritten(self) -> list[LogEntry]:
        """The outcome entries ``repair`` would write, as entries (sequence 0, no time)."""
        return [self.rendered(LogEntry(sequence=0, time="", **fields)) for fields in self.recoveries()]

    def _written(self) -> list[LogEntry]:
        entries = []
        for key in self.store.storage.list(_LOG):
            name = key.removeprefix(_LOG).removesuffix(".json")
            if not (key.endswith(".json") and ID_PATTERN.fullmatch(name)):
                continue
            data = self.store.storage.get_range(key, 0, 1 << 20)
            refuse = functools.partial(CorruptCheckpointError, name, f"migration log entry {key}", "a log entry")
            entries.append(decode_object(data, LogEntry, refuse))
        return entries

    def append(self, **fields: Any) -> LogEntry:
        """Add an entry under the next free sequence number (create-only, so never overwritten)."""
        for _ in range(1000):
            sequence = max((e.sequence for e in self._written()), default=0) + 1
            now = utc_stamp()
            entry = LogEntry(sequence=sequence, time=now, **{"run": format_id(sequence), **fields, "undo": ""})
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
                found.append(recovered_outcome(started, cid, meta))
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


def recovered_outcome(started: LogEntry, target: str, meta: dict[str, Any]) -> dict[str, Any]:
    """The outcome entry a run would have written, from the checkpoint it committed."""
    fields = {f: getattr(started, f) for f in ("action", "run", "source", "types")}
    before = started.source if started.action == "migrate" else str(meta.get("rollback_of", ""))
    return fields | {"outcome": "committed", "target": target, "recovered": True, "undo_to": before}


def rollback_command(url: str, to: str) -> str:
    """The command that rolls the store at ``url`` back to checkpoint ``to``."""
    return f"amber rollback {url} --to {to}"


# The undo command as entries held it before they named no store: the URL is whatever precedes " --to ".
_WRITTEN_UNDO = re.compile(r"amber rollback (?P<url>.+) --to (?P<to>[0-9]+)")
