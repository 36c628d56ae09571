"""The identity indexes in Python: the references the compiled ``IdIndex`` and ``RowIndex``
(``_identity.c``) must match. A table's reverse index (which key holds an object) is built on
``IdIndex``; the writer's record tables give their objects rows with ``RowIndex``.

As for the other kernels, the argument must be a list exactly (not a subclass, whose
overridden methods the C twin would bypass): both refuse anything else with the same TypeError."""

from __future__ import annotations

from itertools import compress, repeat
from operator import not_
from typing import Any, final

from ._python import _need


@final  # as the C twin, which cannot be subclassed
class IdIndex:
    """Where each object of a list sat when the index was built, by identity (the first
    position of an object met twice). It holds no reference to the objects, so a position
    found says only where an object *with that address* was: check it against the list."""

    __slots__ = ("_duplicates", "_positions")

    def __init__(self, objs: list[Any]) -> None:
        _need(objs, list, "objs")
        # Built from the end, so the first position of an object met twice is the one kept.
        self._positions = dict(zip(map(id, reversed(objs)), range(len(objs) - 1, -1, -1), strict=True))
        self._duplicates = len(self._positions) < len(objs)

    @property
    def duplicates(self) -> bool:
        """Whether some object appears twice (by identity) in the list indexed."""
        return self._duplicates

    def find(self, objs: list[Any]) -> list[int]:
        """The position of each object, -1 where it was not in the list."""
        _need(objs, list, "objs")
        return list(map(self._positions.get, map(id, objs), repeat(-1)))

    def __len__(self) -> int:
        return len(self._positions)


@final  # as the C twin, which cannot be subclassed
class RowIndex:
    """The rows of a table's objects, by identity: ``add`` gives each new object the next
    row, appending it to ``objects``, which holds it (so its address stays its own)."""

    __slots__ = ("_objects", "_rows")

    def __init__(self) -> None:
        self._objects: list[Any] = []
        self._rows: dict[int, int] = {}  # id(object) -> row

    @property
    def objects(self) -> list[Any]:
        """The objects indexed, each at its row (the same list each time, held by the index)."""
        return self._objects

    def add(self, objs: list[Any]) -> list[int]:
        """Give each object not yet in the index the next row (appending it to ``objects``);
        return the row of every object, in order."""
        _need(objs, list, "objs")
        rows, objects = self._rows, self._objects
        # In C-level passes: one object per identity, first met first; then those not yet in.
        once = list(dict(zip(map(id, objs), objs, strict=True)).values())
        fresh = list(compress(once, map(not_, map(rows.__contains__, map(id, once)))))
        rows.update(zip(map(id, fresh), range(len(objects), len(objects) + len(fresh)), strict=True))
        objects.extend(fresh)
        return list(map(rows.__getitem__, map(id, objs)))

    def rows(self, objs: list[Any]) -> list[int]:
        """The row of each object; KeyError(id(obj)) for the first not in the index."""
        _need(objs, list, "objs")
        return list(map(self._rows.__getitem__, map(id, objs)))

    def find(self, objs: list[Any]) -> list[int]:
        """The row of each object, -1 where it is not in the index."""
        _need(objs, list, "objs")
        return list(map(self._rows.get, map(id, objs), repeat(-1)))

    def __len__(self) -> int:
        return len(self._rows)
