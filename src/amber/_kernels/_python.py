"""The writer's inner loops in Python: the reference the compiled twin (``_compiled.c``)
must match result for result and error for error (tests/kernels checks both on generated
inputs). Each runs over a whole column in C-implemented builtins where it can.

Arguments must be of the exact types annotated (a list, not a list subclass or any other
iterable; a dict, not a subclass): a subclass's overridden methods would run here and be
bypassed by the C twin, so both refuse them with the same TypeError, checked in the same order."""

from __future__ import annotations

from itertools import chain, repeat
from operator import is_, rshift
from typing import Any


def _need(value: object, kind: type, what: str) -> None:
    if type(value) is not kind:
        raise TypeError(f"{what} must be a {kind.__name__}, not {type(value).__name__}")


def distinct(objs: list[Any]) -> bool:
    """Whether no object appears twice (by identity) in ``objs``."""
    _need(objs, list, "objs")
    # Ids shifted right: objects are 16-byte aligned, and unshifted ids crowd a set's low bits.
    # Two live objects (16 bytes at least each) never share an id's upper bits.
    return len(set(map(rshift, map(id, objs), repeat(4)))) == len(objs)


def gather(
    objs: list[Any], names: tuple[str, ...], allowed: tuple[tuple[type, ...] | None, ...]
) -> tuple[list[list[Any]], list[bool]]:
    """Each named attribute of every object as a column, and for each column whether every
    value's exact type is one of its ``allowed`` types (False where ``allowed`` is None).
    An object without an attribute raises AttributeError."""
    _need(objs, list, "objs")
    _need(names, tuple, "names")
    _need(allowed, tuple, "allowed")
    if len(names) != len(allowed):
        raise ValueError(f"names and allowed differ in length: {len(names)} and {len(allowed)}")
    for name in names:
        if type(name) is not str:
            raise TypeError(f"names must hold str, not {type(name).__name__}")
    for kinds in allowed:
        if kinds is not None and type(kinds) is not tuple:
            raise TypeError(f"allowed must hold tuples or None, not {type(kinds).__name__}")
    columns = [list(map(getattr, objs, repeat(name))) for name in names]
    checked = [kinds is not None and _all_of(column, kinds) for column, kinds in zip(columns, allowed, strict=True)]
    return columns, checked


def _all_of(values: Any, kinds: tuple[type, ...]) -> bool:
    """Whether every value's exact type is one of ``kinds``, compared by identity as the C
    twin compares them (a metaclass's __eq__ or __hash__ never runs)."""
    if len(kinds) == 1:  # the usual case, in one C-level pass
        return all(map(is_, map(type, values), repeat(kinds[0])))
    return set(map(id, map(type, values))) <= set(map(id, kinds))


def exact_items(values: list[Any], container: type, items: tuple[type, ...]) -> bool:
    """Whether every value's exact type is ``container`` (list, set or frozenset) and every
    item of every value has an exact type among ``items`` (compared by identity)."""
    _need(values, list, "values")
    if container is not list and container is not set and container is not frozenset:
        raise TypeError(f"container must be list, set or frozenset, not {container!r}")
    _need(items, tuple, "items")
    for kind in items:
        if not issubclass(type(kind), type):  # not isinstance, which a __class__ could fool
            raise TypeError(f"items must hold types, not {type(kind).__name__}")
    # First the containers, then their items; types by identity, as for gather.
    return _all_of(values, (container,)) and _all_of(chain.from_iterable(values), items)
