"""A store's history: an advisory journal of what happened to it, for ``amber report``.

Checkpoints committed and aborted, restores, quarantines, migrations, rollbacks and
collections are kept, one small JSON object per event under ``history/``, named by time
so that listing sorts them. Entries are written without fsync: losing the last few on
power loss costs report detail, never data. Restore never reads them; a damaged entry is
skipped and counted, never trusted. Collection keeps the newest ``MAX_ENTRIES``.
"""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass, field

import msgspec

from .errors import AmberError
from .events import (
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
from .storage import Storage

log = logging.getLogger("amber.history")

PREFIX = "history/"
MAX_ENTRIES = 10_000
MAX_ENTRY_BYTES = 1 << 16
_KEPT = (
    CheckpointCommitted,
    CheckpointAborted,
    RestoreFinished,
    RestoreFailed,
    Quarantined,
    MigrationFinished,
    RolledBack,
    GarbageCollected,
)
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

    def __call__(self, event: Event) -> None:
        if not isinstance(event, _KEPT) or _wrote_nothing(event):
            return  # a dry run writes nothing, not even history
        if isinstance(event, GarbageCollected):  # the ids kept are the store's listing: not worth a copy
            event = msgspec.structs.replace(event, kept=[])
        body = msgspec.json.encode(event)
        if len(body) > MAX_ENTRY_BYTES:
            log.warning("history entry for %s skipped: %d bytes", type(event).__name__, len(body))
            return
        key = f"{PREFIX}{int(event.time * 1e6):016d}-{secrets.token_hex(4)}.json"
        try:
            self.storage.put(key, [body], create_only=True, durable=False)
        except AmberError as e:  # a full or read-only disk must not fail what is being recorded
            log.warning("history entry for %s not written: %s", type(event).__name__, e)

    def keys(self) -> list[str]:
        return [k for k in self.storage.list(PREFIX) if _NAME.fullmatch(k.removeprefix(PREFIX))]

    def read(self, limit: int = MAX_ENTRIES) -> Entries:
        """The newest ``limit`` entries, oldest first."""
        found = Entries()
        for key in self.keys()[-limit:]:
            try:
                found.events.append(_decoder.decode(self.storage.get_range(key, 0, MAX_ENTRY_BYTES)))
            except (msgspec.DecodeError, AmberError):
                found.unreadable += 1
        return found

    def prune(self, keep: int = MAX_ENTRIES, *, dry_run: bool = False) -> list[str]:
        """Delete all but the newest ``keep`` entries; return the keys deleted."""
        doomed = self.keys()[:-keep] if keep else self.keys()
        if not dry_run:
            for key in doomed:
                self.storage.delete(key)
        return doomed


def _wrote_nothing(event: Event) -> bool:
    if isinstance(event, GarbageCollected):
        return event.dry_run
    return isinstance(event, MigrationFinished) and event.outcome in ("dry-run", "unchanged")
