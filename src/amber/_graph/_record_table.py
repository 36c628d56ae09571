"""One type's records found in a state (the writer's table), in discovery order.

A record's row is its place in this list: every reference to the record stores (type index,
row). In a delta, the first rows may stand for records of earlier checkpoints (links), and
some written rows may adopt a parent's object; both are noted here, worked out in _delta.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .._evolution._pin import WritePin
from .._kernels import RowIndex, distinct
from .._kernels._identity import RowIndex as _RowIndex  # the type; instances are the selected kernels'
from .._schema._record_type import RecordType


@dataclass(eq=False)
class RecordTable:
    """The records of one type found in a state, in discovery order.

    The identity index (record -> row) is built lazily: most tables (a million accounts in a
    dict) are never pointed at by a typed field, and indexing every record would be wasted.
    """

    index: int
    rt: RecordType
    pin: WritePin | None = None  # set when the type is written at an older version
    objects: list[Any] = field(default_factory=list)
    scanned: int = 0  # rows whose fields have been searched for further records
    links: dict[int, tuple[int, Any]] = field(default_factory=dict)  # delta: row -> (table token, key)
    adopted: dict[int, tuple[int, Any]] = field(default_factory=dict)  # delta: written row -> (token, key)
    linked: int = 0  # rows 0..linked-1 stand for records of earlier checkpoints (second pass)
    _rows: _RowIndex | None = None  # holds ``objects`` once built: rows are added through it

    def links_first(self) -> list[int]:
        """Move the link rows to the front (the format puts them there); return, for each
        old row, its new row. Called once discovery is complete."""
        links = self.links
        order = sorted(links) + [row for row in range(len(self.objects)) if row not in links]
        new_of_old = [0] * len(order)
        for new, old in enumerate(order):
            new_of_old[old] = new
        self.objects = [self.objects[old] for old in order]
        self.links = {new_of_old[old]: links[old] for old in sorted(links)}
        self.adopted = {new_of_old[old]: target for old, target in self.adopted.items()}
        self.linked, self.scanned = len(links), len(self.objects)
        self._rows = None
        return new_of_old

    @property
    def written(self) -> RecordType:
        """The declared version the table is written as."""
        return self.pin.written if self.pin is not None else self.rt

    def rows_of(self, objs: list[Any]) -> list[int]:
        """The row of each record (KeyError: one not in the table)."""
        return self._indexed().rows(objs)

    def _indexed(self) -> _RowIndex:
        if self._rows is None:
            self._rows = RowIndex()
            self._rows.add(self.objects)
            self.objects = self._rows.objects  # one list: rows added through the index land in it
        return self._rows

    def add_many(self, objs: list[Any]) -> range | list[int]:
        """Give each new object a row; return the row of every object, in order."""
        start = len(self.objects)
        if not start and distinct(objs):  # the common first batch: all new, all distinct
            self.objects = list(objs)
            return range(len(objs))
        rows = self._indexed().add(objs)
        return range(start, len(self.objects)) if len(self.objects) - start == len(objs) else rows
