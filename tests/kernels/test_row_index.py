"""The compiled RowIndex (``_identity.c``) against its pure-Python reference (``_identity.py``):
the same rows, lengths and ``objects`` after the same calls (objects met again, calls on the
index's own list, growth past many rehashes), the same errors, and the same references held:
one per object indexed, through ``objects``, given back when the index goes (cycles too)."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amber._kernels import _identity

try:
    from amber._kernels import _compiled_identity
except ImportError:  # test_selection.py fails where a compiler should have built it
    pytest.skip("the compiled identity index is not built", allow_module_level=True)

Python = _identity.RowIndex
Compiled = _compiled_identity.RowIndex


class Interface(Protocol):
    @property
    def objects(self) -> list[Any]: ...
    def add(self, objs: list[Any]) -> list[int]: ...
    def rows(self, objs: list[Any]) -> list[int]: ...
    def find(self, objs: list[Any]) -> list[int]: ...
    def __len__(self) -> int: ...


# mypy checks that both twins have the interface amber._kernels casts the compiled one to.
TWINS: list[Callable[[], Interface]] = [Python, Compiled]


class Rec:
    __slots__ = ("__weakref__", "held", "n")

    def __init__(self, n: int) -> None:
        self.n = n
        self.held: object = None

    def __repr__(self) -> str:
        return f"Rec({self.n})"


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "returned", function(*args, **kwargs)
    except Exception as error:
        return type(error).__name__, error.args


def state(index: Interface) -> tuple[int, list[int]]:
    return len(index), [id(o) for o in index.objects]


# Equal but distinct objects (the index goes by identity), shared singletons, small ints.
POOL: list[Any] = [*(Rec(i) for i in range(10)), None, True, 0, 1, "a", (), int("9" * 30), int("9" * 30), [], []]
picks = st.lists(st.integers(0, len(POOL) - 1), max_size=30).map(lambda p: [POOL[i] for i in p])
calls = st.lists(st.tuples(st.sampled_from(["add", "rows", "find", "add own", "rows own"]), picks), max_size=8)


class Plain:
    """The answers written out plainly, without ids or dicts."""

    def __init__(self) -> None:
        self.objects: list[Any] = []

    def row(self, obj: object) -> int:
        return next((row for row, known in enumerate(self.objects) if known is obj), -1)

    def add(self, objs: list[Any]) -> list[int]:
        for obj in objs:
            if self.row(obj) < 0:
                self.objects.append(obj)
        return [self.row(o) for o in objs]

    def rows(self, objs: list[Any]) -> list[int]:
        missing = [o for o in objs if self.row(o) < 0]
        if missing:
            raise KeyError(id(missing[0]))
        return [self.row(o) for o in objs]

    def find(self, objs: list[Any]) -> list[int]:
        return [self.row(o) for o in objs]

    def __len__(self) -> int:
        return len(self.objects)


@settings(deadline=None)
@given(calls)
def test_the_twins_agree_on_any_calls(script: list[tuple[str, list[Any]]]) -> None:
    """Calls on lists with repeats, interleaved: rows between adds know exactly the objects
    added so far (KeyError(id) for the first other one), and the index's own list may be
    passed to its own methods."""
    seen = []
    for twin in [*TWINS, Plain]:
        index = twin()
        log = []
        for call, picked in script:
            method, objs = (call.split()[0], index.objects) if call.endswith(" own") else (call, picked)
            log.append((call, outcome(getattr(index, method), objs), state(index)))
        seen.append(log)
    assert seen[0] == seen[1] == seen[2]


def test_rows_and_errors() -> None:
    a, b, c = Rec(0), Rec(1), Rec(2)
    for twin in TWINS:
        index = twin()
        assert index.add([a, b, a, a]) == [0, 1, 0, 0]
        assert index.add([c, b, c]) == [2, 1, 2]
        assert index.rows([c, a, b, a]) == [2, 0, 1, 0]
        assert index.find([a, Rec(9), c]) == [0, -1, 2]
        stranger = Rec(4)
        assert outcome(index.rows, [a, stranger, Rec(5)]) == ("KeyError", (id(stranger),))
        assert index.objects == [a, b, c] and len(index) == 3
        assert index.rows([]) == index.find([]) == index.add([]) == []


def test_growth_past_many_rehashes() -> None:
    """200k objects in batches of growing size (the table doubles from 16 slots: 15 rehashes),
    each batch with objects already indexed among them."""
    objs = [Rec(i) for i in range(200_000)]
    results = []
    for twin in TWINS:
        index = twin()
        got: list[int] = []
        start, size = 0, 1
        while start < len(objs):
            batch = objs[start : start + size]
            again = objs[: start : max(1, start // 50)]  # some of those indexed before
            got += index.add(batch + again + batch[:3])
            start, size = start + size, size * 2
        assert index.objects == objs and len(index) == len(objs)
        assert index.rows(objs) == list(range(len(objs)))
        strangers = [Rec(-1) for _ in range(1000)]
        assert index.find(strangers + objs[::1000]) == [-1] * 1000 + list(range(0, len(objs), 1000))
        results.append(got)
    assert results[0] == results[1]


def test_the_index_adds_its_own_list() -> None:
    """objects may be passed to add and rows: nothing new, or (put there from outside) an
    object not indexed, which add appends again, as Python's loop does."""
    a, b, outsider = Rec(0), Rec(1), Rec(2)
    seen = []
    for twin in TWINS:
        index = twin()
        index.add([a, b])
        log: list[Any] = [index.add(index.objects), index.rows(index.objects)]
        index.objects.append(outsider)  # not indexed: the index does not know it
        log += [index.find(index.objects), outcome(index.rows, index.objects)]
        log += [index.add(index.objects), state(index)]  # appended again: row 3 (len(objects))
        index.objects.clear()  # the list emptied from outside: the rows stay, by address
        log += [index.add([b, a]), state(index)]
        seen.append([repr(entry) for entry in log])
    assert seen[0] == seen[1]
    assert seen[0][:5] == ["[0, 1]", "[0, 1]", "[0, 1, -1]", f"('KeyError', ({id(outsider)},))", "[0, 1, 3, 3]"]


def test_each_object_is_held_once_and_released_with_the_index() -> None:
    objs = [Rec(i) for i in range(1000)]
    counts = [sys.getrefcount(o) for o in objs]
    for twin in TWINS:
        index = twin()
        index.add(objs + objs[::2])
        assert [sys.getrefcount(o) for o in objs] == [c + 1 for c in counts]  # held once, by objects
        index.rows(objs)
        index.find(objs[::3])
        index.add(objs[:10])
        assert [sys.getrefcount(o) for o in objs] == [c + 1 for c in counts]
        index.add([Rec(-1), Rec(-2)])  # held by the index alone
        held = [weakref.ref(o) for o in index.objects[-2:]]
        del index
        assert [sys.getrefcount(o) for o in objs] == counts
        assert [ref() for ref in held] == [None, None]


def test_a_cycle_through_the_index_is_collected() -> None:
    for twin in TWINS:
        index = twin()
        obj = Rec(0)
        obj.held = index  # the index holds obj (its objects list), obj holds the index
        index.add([obj])
        gone = weakref.ref(obj)
        del index, obj
        gc.collect()
        assert gone() is None


def test_objects_is_read_only_and_the_same_list() -> None:
    for twin in TWINS:
        index = twin()
        objects = index.objects
        index.add([Rec(0)])
        assert index.objects is objects and type(objects) is list
        with pytest.raises(AttributeError):
            index.objects = []  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del index.objects


def test_init_again_starts_afresh() -> None:
    a = Rec(0)
    for twin in TWINS:
        index = twin()
        index.add([a])
        old = index.objects
        index.__init__()  # type: ignore[misc]
        assert (len(index), index.objects, index.find([a])) == (0, [], [-1])
        assert index.objects is not old and old == [a]
        with pytest.raises(TypeError):
            index.__init__([a])  # type: ignore[misc]


BAD: list[Any] = [(), (1, 2), None, {}, "ab", iter([1]), range(3), type("Sub", (list,), {})([1])]


@pytest.mark.parametrize("bad", BAD, ids=lambda bad: type(bad).__name__)
@pytest.mark.parametrize("method", ["add", "rows", "find"])
def test_arguments_that_are_not_exactly_lists(method: str, bad: Any) -> None:
    python, compiled = Python(), Compiled()
    message = f"objs must be a list, not {type(bad).__name__}"
    assert outcome(getattr(python, method), bad) == outcome(getattr(compiled, method), bad) == ("TypeError", (message,))
    assert len(python) == len(compiled) == 0


def test_argument_counts_and_keywords() -> None:
    a = Rec(0)
    for twin in TWINS:
        with pytest.raises(TypeError):
            twin(1)  # type: ignore[call-arg]
        index = twin()
        assert index.add(objs=[a]) == index.rows(objs=[a]) == index.find(objs=[a]) == [0]
        for method in (index.add, index.rows, index.find):
            with pytest.raises(TypeError):
                method()  # type: ignore[call-arg]
            with pytest.raises(TypeError):
                method([a], [a])  # type: ignore[call-arg]


def test_the_compiled_index_before_init_is_empty() -> None:
    index = Compiled.__new__(Compiled)
    assert (len(index), index.find([Rec(0)]), index.objects) == (0, [-1], [])
    assert index.add([Rec(1)]) == [0]


def test_the_compiled_type_cannot_be_subclassed() -> None:
    with pytest.raises(TypeError):
        type("Sub", (Compiled,), {})
