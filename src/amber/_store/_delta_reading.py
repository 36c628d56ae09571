"""Reading what a delta takes from its parent: its link rows (records of the parent that
its rows stand for), its adoptions (parent objects its rows change in place), and its
table nodes, which change the parent's ``amber.Table`` of the same token.

The reader's half of _graph/_delta.py. Every (token, key) a delta names is looked up in the
parent's tables and checked to hold a record of the row's type before anything is built.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import groupby, repeat
from operator import itemgetter
from typing import Annotated, Any

import msgspec

from .._evolution._plan import Plan
from .._format._errors import Corrupt
from .._format._format import MAX_ROWS, Manifest, SegmentEntry
from .._format._tagged_decoder import KeyedHook, TaggedDecoder
from .._schema._keyed import MISSING, Table
from .._schema._record_type import hashed_by_value
from ..errors import CorruptCheckpointError

Prior = dict[int, Table[Any, Any]]  # the parent's tables, by token


class ParentRows:
    """A delta's rows that name its parent's records: links and adoptions, read from their
    segments (``segment`` reads one, checked) and resolved against the parent's tables."""

    def __init__(self, manifest: Manifest, segment: Callable[[int, SegmentEntry], bytes]) -> None:
        self._manifest = manifest
        self._segment = segment

    def linked(self, migration: Plan, prior: Prior) -> list[list[Any]]:
        """The records each type's link rows stand for, found in the parent's tables."""
        found: list[list[Any]] = [[] for _ in self._manifest.types]
        for index, entry in enumerate(self._manifest.segments):
            if entry.kind != "links":
                continue
            part = entry.describe(index, self._manifest)
            cls = migration.types[entry.type].reader.cls
            targets = self.link_targets(index, entry, part)
            values = _entries(prior, targets)
            if set(map(type, values)) - {cls}:
                culprit = next(t for t, v in zip(targets, values, strict=True) if type(v) is not cls)
                expected = f"links to {cls.__qualname__} entries of the parent {self._manifest.parent}"
                raise CorruptCheckpointError(self._manifest.id, part, expected, f"{culprit!r:.80}")
            found[entry.type].extend(values)
        return found

    def adopted(self, migration: Plan, prior: Prior) -> list[list[tuple[int, Any]]]:
        """Per type, (row, the parent's object) for each record changed in place."""
        found: list[list[tuple[int, Any]]] = [[] for _ in self._manifest.types]
        for index, entry in enumerate(self._manifest.segments):
            if entry.kind == "adopt":
                part = entry.describe(index, self._manifest)
                found[entry.type].extend(self._adopted_in(index, entry, part, migration, prior))
        for adoptions in found:
            rows, objects = {row for row, _ in adoptions}, {id(v) for _, v in adoptions}
            if len(rows) != len(adoptions) or len(objects) != len(adoptions):
                raise CorruptCheckpointError(self._manifest.id, "adoptions", "each row and object adopted once")
        return found

    def _adopted_in(
        self, index: int, entry: SegmentEntry, part: str, migration: Plan, prior: Prior
    ) -> list[tuple[int, Any]]:
        """One adopt segment's rows and objects, checked in bulk (this runs per delta on restore)."""
        type_entry = self._manifest.types[entry.type]
        cls = migration.types[entry.type].reader.cls
        adoptions = self.adoptions(index, entry, part)
        rows = [row for row, _, _ in adoptions]
        values = _entries(prior, [(token, key) for _, token, key in adoptions])
        stored = not rows or type_entry.links <= min(rows) <= max(rows) < type_entry.links + type_entry.count
        if not stored or hashed_by_value(cls) or set(map(type, values)) - {cls}:
            expected = f"rows of records changed in place, in entries of the parent {self._manifest.parent}"
            culprit = next((a for a, v in zip(adoptions, values, strict=True) if type(v) is not cls), adoptions[0])
            raise CorruptCheckpointError(self._manifest.id, part, expected, f"{culprit!r:.80}")
        return list(zip(rows, values, strict=True))

    def adoptions(self, index: int, entry: SegmentEntry, part: str) -> list[tuple[int, int, Any]]:
        """One adopt segment as (row, table token, key) triples, decoded and checked."""
        raw = self._segment(index, entry)
        try:
            rows, tokens, keys_node = _adopt_decoder.decode(raw)
            keys = TaggedDecoder([]).sequence(keys_node, 0)  # no records, no tables
            set(keys)  # every key hashable
        except (ValueError, TypeError, Corrupt, RecursionError, MemoryError) as e:
            raise CorruptCheckpointError(
                self._manifest.id, part, "rows, table tokens and hashable keys", str(e)
            ) from None
        if not len(rows) == len(tokens) == len(keys) == entry.rows:
            raise CorruptCheckpointError(self._manifest.id, part, f"{entry.rows} adoptions", str(len(rows)))
        return list(zip(rows, tokens, keys, strict=True))

    def link_targets(self, index: int, entry: SegmentEntry, part: str) -> list[tuple[int, Any]]:
        """One links segment as the (table token, key) each link row names, decoded and checked."""
        raw = self._segment(index, entry)
        try:
            tokens, keys_node = _links_decoder.decode(raw)
            keys = TaggedDecoder([]).sequence(keys_node, 0)  # no records, no tables
            set(keys)  # every key hashable
        except (ValueError, TypeError, Corrupt, RecursionError, MemoryError) as e:
            raise CorruptCheckpointError(self._manifest.id, part, "table tokens and hashable keys", str(e)) from None
        if len(tokens) != entry.rows or len(keys) != entry.rows:
            raise CorruptCheckpointError(self._manifest.id, part, f"{entry.rows} links", str(len(tokens)))
        return list(zip(tokens, keys, strict=True))


_links_decoder = msgspec.msgpack.Decoder(
    tuple[Annotated[list[Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]], msgspec.Meta(max_length=MAX_ROWS)], Any]
)


_adopt_decoder = msgspec.msgpack.Decoder(
    tuple[
        Annotated[list[Annotated[int, msgspec.Meta(ge=0)]], msgspec.Meta(max_length=MAX_ROWS)],
        Annotated[list[Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]], msgspec.Meta(max_length=MAX_ROWS)],
        Any,
    ]
)


def _entries(prior: Prior, targets: list[tuple[int, Any]]) -> list[Any]:
    """The values at (token, key) in the parent's tables (MISSING where there is none),
    looked up in bulk: a delta can link thousands of records."""
    found: list[Any] = []
    for token, group in groupby(targets, key=itemgetter(0)):
        table = prior.get(token)
        keys = list(map(itemgetter(1), group))
        found.extend(map(table._data.get, keys, repeat(MISSING)) if table is not None else [MISSING] * len(keys))
    return found


def applier(m: Manifest, prior: Prior) -> KeyedHook:
    """Table nodes of a delta: changes go to the parent's table of the same token."""
    seen: set[int] = set()

    def apply(token: int, entries: dict[Any, Any], deleted: list[Any] | None) -> Any:
        if token in seen:
            raise Corrupt("each table once in the state", f"table {token} twice")
        seen.add(token)
        if deleted is None:
            return Table._restored(token, entries)
        table = prior.get(token)
        if table is None:
            raise Corrupt(f"changes to tables of the parent {m.parent}", f"changes to unknown table {token}")
        table._apply(entries, deleted)
        return table

    return apply
