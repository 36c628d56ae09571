"""The compiled IdIndex (``_identity.c``) against its pure-Python reference (``_identity.py``):
the same positions, length and ``duplicates`` on generated lists, the same exceptions on bad
arguments, and neither holds a reference to the objects it indexed, so both answer by address
once those objects are gone."""

from __future__ import annotations

import gc
import sys
import weakref
from collections.abc import Callable
from typing import Any, Protocol

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amber._kernels import _identity

try:
    from amber._kernels import _compiled_identity
except ImportError:  # test_selection.py fails where a compiler should have built it
    pytest.skip("the compiled identity index is not built", allow_module_level=True)

Python = _identity.IdIndex
Compiled = _compiled_identity.IdIndex


class Interface(Protocol):
    @property
    def duplicates(self) -> bool: ...
    def find(self, objs: list[Any]) -> list[int]: ...
    def __len__(self) -> int: ...


# mypy checks that both twins have the interface amber._kernels casts the compiled one to.
TWINS: list[Callable[[list[Any]], Interface]] = [Python, Compiled]


class Rec:
    __slots__ = ("__weakref__", "n")

    def __init__(self, n: int) -> None:
        self.n = n


def answers(index: Interface, probes: list[Any]) -> tuple[int, bool, list[int]]:
    return len(index), index.duplicates, index.find(probes)


def agree(objs: list[Any], probes: list[Any]) -> tuple[int, bool, list[int]]:
    """What both twins say about ``objs``, asked for ``probes``: the same, checked here."""
    python, compiled = answers(Python(objs), probes), answers(Compiled(objs), probes)
    assert compiled == python
    return python


def reference(objs: list[Any], probes: list[Any]) -> tuple[int, bool, list[int]]:
    """The answers written out plainly, without ids or dicts."""
    first: list[Any] = []
    for obj in objs:
        if not any(obj is seen for seen in first):
            first.append(obj)
    positions = [next((i for i, obj in enumerate(objs) if obj is probe), -1) for probe in probes]
    return len(first), len(first) < len(objs), positions


# A pool of objects: equal but distinct ones (the index goes by identity), shared singletons
# and small ints, records.
POOL: list[Any] = [*(Rec(i) for i in range(8)), None, True, 0, 1, "a", (), int("9" * 30), int("9" * 30), [], []]


@given(st.lists(st.integers(0, len(POOL) - 1), max_size=40), st.lists(st.integers(0, len(POOL) - 1), max_size=20))
def test_the_twins_agree_on_lists_with_repeats(picks: list[int], asked: list[int]) -> None:
    objs = [POOL[i] for i in picks]
    probes = [POOL[i] for i in asked] + [Rec(-1), object()]  # the last two are in no list
    assert agree(objs, probes) == reference(objs, probes)


@given(st.lists(st.integers(0, 50), max_size=200))
def test_the_twins_agree_on_fresh_objects(picks: list[int]) -> None:
    fresh = [Rec(i) for i in range(51)]
    objs = [fresh[i] for i in picks]
    assert agree(objs, fresh) == reference(objs, fresh)


def test_empty_lists() -> None:
    obj = Rec(0)
    assert agree([], []) == (0, False, [])
    assert agree([], [obj, None]) == (0, False, [-1, -1])
    assert agree([obj], []) == (1, False, [])
    assert not Compiled([])  # len() is 0


def test_the_first_position_of_an_object_met_twice_is_kept() -> None:
    a, b = Rec(0), Rec(1)
    assert agree([a, b, a, b, a], [b, a, Rec(2)]) == (2, True, [1, 0, -1])


def test_a_large_list() -> None:
    objs = [Rec(i) for i in range(300_000)]
    listed = objs + objs[::7] + objs[100:200]
    probes = objs[::3] + [Rec(-1) for _ in range(1000)] + objs[-5:]
    length, duplicates, found = agree(listed, probes)
    assert (length, duplicates) == (300_000, True)
    assert found == [*range(0, 300_000, 3), *([-1] * 1000), *range(299_995, 300_000)]
    assert agree(objs, probes)[:2] == (300_000, False)


def test_no_reference_is_held_and_the_answers_stay_by_address() -> None:
    objs = [Rec(i) for i in range(5000)]
    counts = [sys.getrefcount(obj) for obj in objs[:50]]
    python, compiled = Python(objs), Compiled(objs)
    assert [sys.getrefcount(obj) for obj in objs[:50]] == counts
    gone = weakref.ref(objs[0])
    del objs
    gc.collect()
    assert gone() is None
    # New objects of the same size are likely at the addresses of the old ones: either way,
    # both twins key by address and must give the same (possibly stale) positions.
    newcomers = [Rec(i) for i in range(5000)]
    assert compiled.find(newcomers) == python.find(newcomers)
    assert (len(compiled), compiled.duplicates) == (len(python), python.duplicates) == (5000, False)


BAD: list[Any] = [(), (1, 2), None, {}, {1: 2}, "ab", iter([1]), range(3), type("Sub", (list,), {})([1])]


def outcome(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[str, Any]:
    try:
        return "returned", function(*args, **kwargs)
    except Exception as error:
        return type(error).__name__, str(error)


@pytest.mark.parametrize("bad", BAD, ids=lambda bad: type(bad).__name__)
def test_arguments_that_are_not_exactly_lists(bad: Any) -> None:
    built = outcome(Python, bad)
    assert built == outcome(Compiled, bad) == ("TypeError", f"objs must be a list, not {type(bad).__name__}")
    python, compiled = Python([1]), Compiled([1])
    assert outcome(python.find, bad) == outcome(compiled.find, bad) == built


def test_argument_counts_and_keywords() -> None:
    objs = [Rec(0)]
    for cls in (Python, Compiled):
        with pytest.raises(TypeError):
            cls()  # type: ignore[call-arg]
        with pytest.raises(TypeError):
            cls(objs, objs)  # type: ignore[call-arg]
        index = cls(objs=objs)
        assert index.find(objs=objs) == [0]
        with pytest.raises(TypeError):
            index.find()  # type: ignore[call-arg]


def test_duplicates_is_read_only() -> None:
    for index in (Python([1, 1]), Compiled([1, 1])):
        with pytest.raises(AttributeError):
            index.duplicates = False  # type: ignore[misc]
        with pytest.raises(AttributeError):
            del index.duplicates
        assert index.duplicates


def test_init_again_rebuilds_and_a_failed_init_keeps_the_index() -> None:
    a, b = Rec(0), Rec(1)
    for cls in (Python, Compiled):
        index = cls([a, a])
        for _ in range(3):  # built anew each time: the old table is freed, not leaked
            index.__init__([b, a])
        assert answers(index, [a, b]) == (2, False, [1, 0])
        with pytest.raises(TypeError):
            index.__init__((a,))  # type: ignore[arg-type]
        assert answers(index, [a, b]) == (2, False, [1, 0])


def test_the_compiled_index_before_init_is_empty() -> None:
    index = Compiled.__new__(Compiled)
    assert answers(index, [Rec(0)]) == (0, False, [-1])


def test_the_compiled_type_cannot_be_subclassed() -> None:
    with pytest.raises(TypeError):
        type("Sub", (Compiled,), {})
