"""Capturing a state for one checkpoint: the part a service pauses for.

``take_tables`` takes each ``amber.Table``'s changes (and decides whether a delta is
possible); ``capture`` finds every record and encodes the root. What they return is
committed by ``_commit.Committer``, or handed back (``Taken.give_back``) when it fails.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from .._format._format import Manifest, SegmentEntry, manifest_digest
from .._graph._delta import Delta
from .._graph._writer import StateWriter
from .._schema._keyed import Changes, Table, find_tables
from ..errors import CheckpointError, SerializationError
from ._info import CheckpointInfo
from ._segments import Raw, raw_segments

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore


@dataclass
class Taken:
    """The tables of a state and the changes taken from them for one checkpoint."""

    tables: list[Table[Any, Any]]
    changes: dict[int, Changes]
    parent: Manifest | None

    def give_back(self) -> None:
        """The checkpoint failed: the next one must include these changes."""
        for table in self.tables:
            table._return_changes(self.changes[table.token])

    def committed(self, store_url: str, info: CheckpointInfo) -> None:
        for table in self.tables:
            table.last = (store_url, info.id, info.manifest_digest)


@dataclass
class CapturedState:
    """A captured state: records found and root encoded; segments encoded now or lazily."""

    writer: StateWriter
    segments: Iterable[tuple[SegmentEntry, Raw]]
    meta: dict[str, Any]
    parent: Manifest | None


def take_tables(store: CheckpointStore, state: Any, parent: str | int | None = None, *, strict: bool = True) -> Taken:
    """Find the state's tables and take their changes for one checkpoint (cheap: the
    service's pause covers it). A delta needs every table of ``parent`` to have been
    saved last in ``parent`` itself, or its changes would not be relative to it: when
    one was not, this raises (``strict``) or settles for a full checkpoint."""
    tables = find_tables(state)
    base = _parent_of_delta(store, parent, strict)
    if base is not None:
        # By content too: the parent's id may have been freed and taken by another checkpoint.
        saved_in = (store.url, base.id, manifest_digest(base))
        stale = [t for t in tables if str(t.token) in base.tables and t.last != saved_in]
        if stale and not strict:
            base = None
        elif stale:
            last = stale[0].last
            where = f"checkpoint {last[1]} of {last[0]}" if last else "no checkpoint"
            if last is not None and last[:2] == saved_in[:2]:
                where += ", whose id another checkpoint has taken since"
            raise SerializationError(
                f"cannot save a delta on {base.id}: amber.Table {stale[0].token} was last saved in {where}; "
                "save a full checkpoint"
            )
    return Taken(tables, {t.token: t._take_changes() for t in tables}, base)


def _parent_of_delta(store: CheckpointStore, parent: str | int | None, strict: bool) -> Manifest | None:
    """The manifest a delta would be written on; not ``strict``, None (a full checkpoint)
    when it cannot be read (deleted, say): nothing else could carry the changes."""
    if parent is None:
        return None
    try:
        return store.manifest(parent)
    except CheckpointError:
        if strict:
            raise
        return None


def capture(
    store: CheckpointStore,
    state: Any,
    taken: Taken,
    *,
    meta: dict[str, Any] | None = None,
    write_versions: dict[str, int] | None = None,
    encode_now: bool = False,
) -> CapturedState:
    """Find every record of ``state`` and encode its root; with ``encode_now``, encode
    every table too, so the state may change as soon as this returns."""
    pins = store.write_versions if write_versions is None else write_versions
    base = taken.parent
    delta = None
    if base is not None:
        changes = {token: c for token, c in taken.changes.items() if str(token) in base.tables}
        delta = Delta(changes, taken.tables)
    with gc_paused():
        writer = StateWriter(store.registry, pins, delta)
        root = writer.discover(state)
        segments: Iterable[tuple[SegmentEntry, Raw]] = raw_segments(writer, root)
        if encode_now:  # arrays' bytes are copied: the live arrays may change once this returns
            segments = [(entry, bytes(raw) if isinstance(raw, memoryview) else raw) for entry, raw in segments]
    return CapturedState(writer, segments, checked_meta(meta), base)


def checked_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    """A checkpoint's metadata as JSON will hold it, or ``SerializationError``."""
    if meta is None:
        return {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise TypeError("meta must be a dict with str keys")
    try:
        return dict(msgspec.json.decode(msgspec.json.encode(meta)))
    except (TypeError, msgspec.EncodeError) as e:
        raise SerializationError(f"meta must hold JSON values only: {e}") from None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: building or walking millions of objects otherwise triggers it
    over and over, for nothing (3-4x slower decoding, measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
