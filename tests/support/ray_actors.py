"""Durable Ray actors for the Ray tests (importable by Ray's workers)."""

from __future__ import annotations

from typing import Any

import amber
import amber.ray


class Counts:
    """A counter's state and methods, not yet durable: ``counter_class`` decorates a subclass
    (tests/engines/test_ray_methods.py too: its methods are inherited)."""

    def __init__(self) -> None:
        self.counts: amber.Table[str, int] = amber.Table()

    def snapshot(self) -> dict[str, Any]:
        return {"counts": self.counts}

    def restore(self, state: dict[str, Any]) -> None:
        self.counts = state["counts"]

    @amber.ray.acknowledged
    def add(self, key: str, n: int) -> int:
        self.counts[key] = self.counts.get(key, 0) + n
        return int(self.counts[key])

    def total(self) -> dict[str, int]:
        return dict(self.counts)


def counter_class(store: str, **options: Any) -> type:
    """A durable counter in ``store``: ``add(n)`` acknowledged, ``total()`` read."""

    @amber.ray.durable(store, name="counter", interval=None, **options)
    class Counter(Counts):
        pass

    return Counter


registry = amber.Registry()  # an application's own registry, not the default one


@registry.record("ray.Note", version=1)
class Note(amber.Record):
    text: str


def notes_class(store: str) -> type:
    """A durable actor whose records are declared in ``registry``: ``write`` acknowledged."""

    @amber.ray.durable(store, name="notes", interval=None, store_options={"registry": registry})
    class Notes:
        def __init__(self) -> None:
            self.notes: amber.Table[int, Note] = amber.Table()

        def snapshot(self) -> dict[str, Any]:
            return {"notes": self.notes}

        def restore(self, state: dict[str, Any]) -> None:
            self.notes = state["notes"]

        @amber.ray.acknowledged
        def write(self, text: str) -> int:
            self.notes[len(self.notes)] = Note(text)
            return len(self.notes)

        def read(self) -> list[str]:
            return [note.text for note in self.notes.values()]

    return Notes
