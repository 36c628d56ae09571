"""The round-trip assertion: what a user's state must survive."""

from __future__ import annotations

from typing import Any

from .._schema._keyed import Table, find_tables
from .._schema._registry import Registry
from .._store._checkpoint import CheckpointStore
from ..storage import MemoryStorage


def assert_roundtrip(state: Any, *, registry: Registry | None = None, same_bytes: bool = True) -> Any:
    """Save ``state`` and load it back (in memory): the loaded state must equal it, and
    (with ``same_bytes``) saving the loaded state must give the same content digest (the
    same state, the same bytes; pass False for states holding sets of records, whose order
    may differ: docs/format.md §9). Returns the loaded state, for further checks."""
    store = CheckpointStore(MemoryStorage(), registry=registry, history=False)
    first = store.save(state)
    loaded = store.load()
    if not same_state(loaded, state, store.registry):
        raise AssertionError(
            f"the state loaded back differs from the one saved:\n  saved:  {state!r:.2000}\n  loaded: {loaded!r:.2000}"
        )
    again = store.save(loaded)
    if same_bytes and again.digest != first.digest:
        raise AssertionError(
            f"saving the loaded state gave other bytes (content digest {again.digest}, first {first.digest})"
        )
    return loaded


def assert_restores_to(store: CheckpointStore, state: Any, checkpoint: str | int | None = None) -> None:
    """Assert that a store's checkpoint (the newest by default; a delta's chain resolved) holds
    ``state``: every table entry by key, then the whole state. For a manager's store, pass
    ``{participant.name: participant.snapshot()}``. Finds, among others, records changed in
    place without ``table.touch(key)``, which deltas miss."""
    restored = store.load(checkpoint)
    saved = {t.token: t for t in find_tables(restored)}
    problems = []
    for table in find_tables(state):
        other = saved.get(table.token)
        if other is None:
            problems.append(f"table {table.token}: not in the checkpoint")
            continue
        missing, extra = table.keys() - other.keys(), other.keys() - table.keys()
        differ = [k for k in table.keys() & other.keys() if not same_state(table[k], other[k], store.registry)]
        for what, keys in (("missing", missing), ("not live any more", extra), ("holding other values", differ)):
            if keys:
                shown = ", ".join(map(repr, sorted(keys, key=repr)[:10]))
                problems.append(f"table {table.token}: {len(keys)} key(s) {what}: {shown}")
    if problems:
        raise AssertionError("the checkpoint does not hold the live state: " + "; ".join(problems))
    if not same_state(restored, state, store.registry):
        raise AssertionError("the checkpoint does not hold the live state (outside its tables)")


def same_state(a: Any, b: Any, registry: Registry) -> bool:
    """Whether two states hold the same values: ``==`` for plain values, records field by
    field, numpy arrays by dtype, shape and bytes (``==`` on arrays compares elements: a
    one-element ``[1.0]`` would equal ``[1]``, and ``[nan]`` not itself)."""
    return _same(a, b, registry, set())


def _same(a: Any, b: Any, registry: Registry, seen: set[tuple[int, int]]) -> bool:  # noqa: PLR0911 - one return per kind
    if type(a) is not type(b):
        return False
    if type(a).__module__ == "numpy" and hasattr(a, "tobytes"):
        return bool(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes())
    if (id(a), id(b)) in seen:
        return True  # a cycle: compared where it started
    seen.add((id(a), id(b)))
    declared = registry.type_of(type(a))
    if declared is not None:
        return all(_same(g(a), g(b), registry, seen) for g in declared.getters)
    if isinstance(a, dict | Table):
        return a.keys() == b.keys() and all(_same(v, b[k], registry, seen) for k, v in a.items())
    if isinstance(a, list | tuple) or type(a).__name__ == "deque":
        return len(a) == len(b) and all(_same(x, y, registry, seen) for x, y in zip(a, b, strict=True))
    if isinstance(a, set | frozenset):
        return bool(a == b)
    try:
        return bool(a == b)
    except ValueError:
        return False
