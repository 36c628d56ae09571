"""A store's history: an advisory journal of what happened to it, for ``amber report``.

Checkpoints committed and aborted, restores, quarantines, migrations, rollbacks and
collections are kept, one small JSON object per event under ``history/``, named by time
so that listing sorts them. Entries are written without fsync: losing the last few on
power loss costs report detail, never data. Restore never reads them; a damaged entry is
skipped and counted, never trusted. The journal prunes itself to the newest ``MAX_ENTRIES``
every ``PRUNE_EVERY`` entries it writes.
"""

from __future__ import annotations

import functools
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import msgspec

from ..errors import AmberError
from ..events import (
    AnyEvent,
    CheckpointAborted,
    CheckpointCommitted,
    Event,
    GarbageCollected,
    MigrationFinished,
    Quarantined,
    RestoreFailed,
    RestoreFinished,
    RolledBack,
)
from ..storage import Storage

log = logging.getLogger("amber.history")

PREFIX = "history/"
MAX_ENTRIES = 10_000
MAX_ENTRY_BYTES = 1 << 16
PRUNE_EVERY = 500  # writes between two prunings of the journal
_SHORTER = ((2000, 100), (500, 20), (100, 5))  # what an oversized entry keeps of each string and list
_YEAR_9999 = 253402300799.0
_NAME = re.compile(r"[0-9]{16}-[0-9a-f]{8}\.json")
_decoder = msgspec.json.Decoder(AnyEvent)


@dataclass
class Entries:
    """History entries read back, oldest first, and how many could not be read."""

    events: list[Event] = field(default_factory=list)
    unreadable: int = 0


class History:
    """Records the events worth keeping (it is a listener) and reads them back."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._written = 0

    def __call__(self, event: Event) -> None:
        entry = _entry(event)
        if entry is None:
            return
        key = f"{PREFIX}{int(entry.time * 1e6):016d}-{secrets.token_hex(4)}.json"
        try:
            self.storage.put(key, [_encoded(entry)], create_only=True, durable=False)
            self._written += 1
            if self._written % PRUNE_EVERY == 1:  # bounded without listing the journal each time
                self.prune()
        except AmberError as e:  # a full or read-only disk must not fail the step
            log.warning("history entry for %s not written: %s", type(event).__name__, e)

    def keys(self) -> list[str]:
        return [k for k in self.storage.list(PREFIX) if _NAME.fullmatch(k.removeprefix(PREFIX))]

    def read(self, limit: int | None = None) -> Entries:
        """The newest ``limit`` (default ``MAX_ENTRIES``) entries, oldest first."""
        found = Entries()
        for key in self.keys()[-(MAX_ENTRIES if limit is None else limit) :]:
            try:
                event = _decoder.decode(self.storage.get_range(key, 0, MAX_ENTRY_BYTES))
            except (ValueError, RecursionError, AmberError):  # msgspec errors, bad UTF-8, nesting
                found.unreadable += 1
                continue
            if _plausible(event):
                found.events.append(event)
            else:
                found.unreadable += 1
        return found

    def prune(self, keep: int | None = None, *, dry_run: bool = False) -> list[str]:
        """Delete all but the newest ``keep`` (default ``MAX_ENTRIES``) entries; return the keys deleted."""
        keep = MAX_ENTRIES if keep is None else keep
        doomed = self.keys()[:-keep] if keep else self.keys()
        if not dry_run:
            for key in doomed:
                self.storage.delete(key)
        return doomed


# --- what is journaled, by the event's class ----------------------------------------------


@functools.singledispatch
def _entry(event: Event) -> Event | None:
    """The entry the journal keeps for ``event``, or None: by default none (the steps inside
    a checkpoint, restore or migration are in its outcome's event)."""
    return None


@_entry.register
def _outcome(
    event: CheckpointCommitted | CheckpointAborted | RestoreFinished | RestoreFailed | Quarantined | RolledBack,
) -> Event | None:
    return event


@_entry.register
def _migrated(event: MigrationFinished) -> Event | None:
    if event.dry_run or event.outcome == "unchanged":
        return None  # a dry run writes nothing, not even history; nor does a migration of nothing
    return event


@_entry.register
def _collected(event: GarbageCollected) -> Event | None:
    if event.dry_run or not (event.deleted_checkpoints or event.deleted_files):
        return None  # a dry run writes nothing; a collection of nothing is not news
    return msgspec.structs.replace(event, kept=[])  # the ids kept are the store's listing: not worth a copy


# --- entries as stored --------------------------------------------------------------------


def _encoded(event: Event) -> bytes:
    """The event as JSON, its long strings and lists cut shorter until it fits an entry."""
    try:
        body = msgspec.json.encode(event)  # the common case: nothing to mend
    except UnicodeEncodeError:  # a lone surrogate (an undecodable file name in a reason): escaped
        body = msgspec.json.encode(_escaped(msgspec.to_builtins(event)))
    for text, items in _SHORTER:
        if len(body) <= MAX_ENTRY_BYTES:
            break
        fields = _escaped(msgspec.to_builtins(event))
        body = msgspec.json.encode({k: _shortened(v, text, items) for k, v in fields.items()})
    if len(body) > MAX_ENTRY_BYTES:
        raise AmberError(f"{len(body)} bytes even when shortened")
    return body


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode()
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    if isinstance(value, dict):
        return {k: _escaped(v) for k, v in value.items()}
    return value


def _shortened(value: Any, text: int, items: int) -> Any:
    if isinstance(value, str):
        return value[:text]
    if isinstance(value, list):
        return [_shortened(v, text, items) for v in value[:items]]
    if isinstance(value, dict):
        return {k: _shortened(v, text, items) for k, v in list(value.items())[:items]}
    return value


def _plausible(event: Event) -> bool:
    """Times a report can draw: read from the store, so checked, never trusted."""
    times = [event.time, getattr(event, "start", event.time)]
    seconds = getattr(event, "seconds", 0.0)
    return all(0 <= t < _YEAR_9999 for t in times) and 0 <= seconds < _YEAR_9999
