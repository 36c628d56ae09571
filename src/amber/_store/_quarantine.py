"""Quarantine notes: ``quarantine/<id>.json`` beside a checkpoint a restore (or a commit
that lost its data file) set aside. Restores skip it; nothing is deleted, so an operator
can inspect it and lift the note (docs/manager.md)."""

from __future__ import annotations

import time

import msgspec

from .._format._format import ID_PATTERN
from ..errors import StoreError
from ..storage import Storage

_NOTE_BYTES = 8192  # a note is read no further: its reason is cut at 4000 characters


def note_key(checkpoint_id: str) -> str:
    return f"quarantine/{checkpoint_id}.json"


def set_aside(storage: Storage, checkpoint_id: str, reason: str) -> None:
    """Write the note that quarantines ``checkpoint_id`` (replacing an earlier one)."""
    body = msgspec.json.encode({"checkpoint": checkpoint_id, "reason": reason[:4000], "time": time.time()})
    storage.put(note_key(checkpoint_id), [body])


def notes(storage: Storage) -> dict[str, str]:
    """Quarantined checkpoint ids with the reason each was set aside."""
    found = {}
    for key in storage.list("quarantine/"):
        cid = key.removeprefix("quarantine/").removesuffix(".json")
        if not ID_PATTERN.fullmatch(cid):
            continue
        try:
            body = msgspec.json.decode(storage.get_range(key, 0, _NOTE_BYTES))
            found[cid] = str(body.get("reason", "")) if isinstance(body, dict) else ""
        except (ValueError, RecursionError, StoreError):  # a planted link: its target is not shown
            found[cid] = "(unreadable quarantine note)"
    return found


def lift(storage: Storage, checkpoint_id: str) -> None:
    """Remove the note: the next restore tries the checkpoint again."""
    storage.delete(note_key(checkpoint_id))
