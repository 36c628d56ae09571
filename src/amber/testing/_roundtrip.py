"""The round-trip assertion: what a user's state must survive."""

from __future__ import annotations

from typing import Any

from .._checkpoint import CheckpointStore
from .._schema import Registry
from ..storage import MemoryStorage


def assert_roundtrip(state: Any, *, registry: Registry | None = None, same_bytes: bool = True) -> Any:
    """Save ``state`` and load it back (in memory): the loaded state must equal it, and
    (with ``same_bytes``) saving the loaded state must give the same content digest (the
    same state, the same bytes; pass False for states holding sets of records, whose order
    may differ: docs/format.md §9). Returns the loaded state, for further checks."""
    store = CheckpointStore(MemoryStorage(), registry=registry, history=False)
    first = store.save(state)
    loaded = store.load()
    if loaded != state:
        raise AssertionError(
            f"the state loaded back differs from the one saved:\n  saved:  {state!r:.2000}\n  loaded: {loaded!r:.2000}"
        )
    again = store.save(loaded)
    if same_bytes and again.digest != first.digest:
        raise AssertionError(
            f"saving the loaded state gave other bytes (content digest {again.digest}, first {first.digest})"
        )
    return loaded
