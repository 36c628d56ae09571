"""The compiled kernels against their pure-Python reference: the same results and the same
exceptions (type and arguments) on generated inputs, on bad arguments, and while Python code
run by the scan changes the list being scanned."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amber._kernels import _python

try:
    from amber._kernels import _compiled
except ImportError:  # test_selection.py fails where a compiler should have built it
    pytest.skip("the compiled kernels are not built", allow_module_level=True)

FUNCTIONS = ["distinct", "gather", "exact_items"]


class Slot:
    __slots__ = ("a", "b")

    def __init__(self, a: object, b: object) -> None:
        self.a = a
        self.b = b

    def __repr__(self) -> str:
        return f"Slot({self.a!r}, {self.b!r})"


@dataclass
class Data:
    a: object
    b: object


class Hollow:
    """Has ``a``; its ``b`` is a property raising AttributeError."""

    __slots__ = ("a",)

    def __init__(self, a: object) -> None:
        self.a = a

    @property
    def b(self) -> object:
        raise AttributeError("no b here")


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    """What a call gave: its result, or its exception's type and arguments."""
    try:
        return "returned", function(*args)
    except Exception as error:
        return "raised", (type(error), error.args)


# Objects that are the same object each time they are drawn (small ints, None, single
# characters), and objects new at each draw, some equal to others but never identical.
values = st.one_of(
    st.integers(-5, 256),
    st.integers(2**64, 2**80).map(lambda n: int(str(n))),
    st.text(max_size=4).map(lambda s: "".join(list(s))),
    st.sampled_from(["a", "", "shared"]),
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True),
)
records = st.one_of(
    st.builds(Slot, values, values),
    st.builds(Data, values, values),
    st.builds(Slot, st.integers(-5, 2**70), st.text(max_size=3)),  # columns of one type
    st.builds(Data, st.integers(-5, 2**70), st.none() | st.text(max_size=3)),
)
anything = st.one_of(values, records, st.builds(Hollow, values))


@st.composite
def with_repeats(draw: st.DrawFn, items: st.SearchStrategy[Any], max_size: int = 30) -> list[Any]:
    """A list drawn from a few objects, each possibly several times."""
    pool = draw(st.lists(items, min_size=1, max_size=8))
    picks = draw(st.lists(st.integers(0, len(pool) - 1), max_size=max_size))
    return [pool[i] for i in picks]


def ids(objs: list[Any]) -> list[int]:
    return [id(o) for o in objs]


def test_the_signatures_are_the_same() -> None:
    for name in FUNCTIONS:
        compiled = inspect.signature(getattr(_compiled, name))
        python = inspect.signature(getattr(_python, name))
        assert list(compiled.parameters) == list(python.parameters), name


# ---- distinct ----------------------------------------------------------------------------


@settings(deadline=None)
@given(with_repeats(anything))
def test_distinct(objs: list[Any]) -> None:
    expected = len({id(o) for o in objs}) == len(objs)
    assert outcome(_compiled.distinct, objs) == outcome(_python.distinct, objs) == ("returned", expected)


def test_distinct_on_200k_objects_with_one_repeat_at_the_end() -> None:
    objs: list[Any] = [Slot(i, None) for i in range(200_000)]
    assert _compiled.distinct(objs) is _python.distinct(objs) is True
    objs.append(objs[123_456])
    assert _compiled.distinct(objs) is _python.distinct(objs) is False
    mixed: list[Any] = [*objs[:-1], *range(-5, 257), "x", None, 2**70]
    assert _compiled.distinct(mixed) is _python.distinct(mixed) is True
    mixed.append(None)
    assert _compiled.distinct(mixed) is _python.distinct(mixed) is False


def test_distinct_of_empty_and_single_lists() -> None:
    for objs in ([], [None], [1], [None, None]):
        assert _compiled.distinct(objs) is _python.distinct(objs) is (len(objs) < 2)


# ---- gather ----------------------------------------------------------------------------------

names = st.lists(st.sampled_from(["a", "b", "a", "b", "c", "__class__"]), min_size=1, max_size=4).map(tuple)
kinds = st.none() | st.lists(st.sampled_from([int, str, type(None), float, bool, Slot, object]), max_size=4).map(tuple)


def kinds_of(objs: list[Any], name: str) -> st.SearchStrategy[tuple[type, ...]]:
    """The types of a column's values, all of them or all but one, in any order."""
    found = list({type(getattr(o, name, None)) for o in objs})
    return st.permutations(found).flatmap(lambda types: st.sampled_from([tuple(types), tuple(types[1:])]))


@settings(deadline=None)
@given(with_repeats(records), names, st.data())
def test_gather_records(objs: list[Any], attrs: tuple[str, ...], data: st.DataObject) -> None:
    allowed = tuple(data.draw(kinds_of(objs, name) | kinds) for name in attrs)
    compiled, python = outcome(_compiled.gather, objs, attrs, allowed), outcome(_python.gather, objs, attrs, allowed)
    assert compiled == python
    if compiled[0] == "returned":
        (columns, checked), (python_columns, _) = compiled[1], python[1]
        assert [ids(c) for c in columns] == [ids(c) for c in python_columns]  # the same objects
        for column, types, ok in zip(columns, allowed, checked, strict=True):
            assert ok == (types is not None and all(any(type(v) is t for t in types) for v in column))


@settings(deadline=None)
@given(with_repeats(anything), names, st.data())
def test_gather_anything(objs: list[Any], attrs: tuple[str, ...], data: st.DataObject) -> None:
    """Ints, strings, None and a property raising AttributeError among the records."""
    allowed = tuple(data.draw(kinds) for _ in attrs)
    assert outcome(_compiled.gather, objs, attrs, allowed) == outcome(_python.gather, objs, attrs, allowed)


def test_gather_of_no_objects() -> None:
    args: tuple[list[Any], tuple[str, ...], tuple[tuple[type, ...] | None, ...]] = ([], ("a", "b"), ((int,), None))
    assert _compiled.gather(*args) == _python.gather(*args) == ([[], []], [True, False])
    assert _compiled.gather([], (), ()) == _python.gather([], (), ()) == ([], [])


def test_gather_fails_on_the_first_attribute_python_would_fetch() -> None:
    """Column by column, in both: the same attribute of the same object fails first."""

    class Fails:
        def __init__(self, broken: str, error: type[Exception]) -> None:
            self.broken, self.error = broken, error

        def __getattr__(self, name: str) -> object:
            if name == self.broken:
                raise self.error(name)
            return 0

    objs = [Fails("b", ValueError), Fails("a", LookupError)]
    assert outcome(_compiled.gather, objs, ("a", "b"), (None, None)) == ("raised", (LookupError, ("a",)))
    assert outcome(_python.gather, objs, ("a", "b"), (None, None)) == ("raised", (LookupError, ("a",)))


def test_gather_checks_exact_types_by_identity() -> None:
    class Meta(type):
        def __eq__(cls, other: object) -> bool:
            return True  # equal to every type: a set comparison would let it pass

        def __hash__(cls) -> int:
            return 0

    class Odd(metaclass=Meta):
        pass

    objs = [Slot(True, Odd()), Slot(1, 2)]
    for twin in (_compiled, _python):
        assert twin.gather(objs, ("a", "b"), ((int,), (int,)))[1] == [False, False]
        assert twin.gather(objs, ("a", "b"), ((bool, int), (int, Odd)))[1] == [True, True]


# ---- bad arguments -------------------------------------------------------------------------


class ListChild(list[Any]):
    pass


BAD_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("distinct", ((1, 2),)),
    ("distinct", (iter([1]),)),
    ("distinct", (ListChild([1]),)),
    ("distinct", (None,)),
    ("distinct", ()),
    ("distinct", ([], [])),
    ("gather", ((), ("a",), (None,))),
    ("gather", ([], ["a"], [None])),
    ("gather", ([], ("a",), [None])),
    ("gather", ([Slot(1, 2)], ("a", "b"), (None,))),  # ValueError, as zip(strict=True) raised
    ("gather", ([], ("a",), (None, None))),
    ("gather", ([Slot(1, 2)], (1,), (None,))),
    ("gather", ([], ("a", 1), (None, None))),
    ("gather", ([], ("a",), ([int],))),
    ("gather", ([], ("a",), (int,))),
    ("gather", ([], (1,), ([int],))),  # names are checked before allowed
    ("gather", ([], (1,), (None, None))),  # the lengths before the items
    ("gather", ([Slot(1, 2)], ("a",))),
]


@pytest.mark.parametrize(("name", "args"), BAD_CALLS)
def test_bad_arguments_raise_the_same(name: str, args: tuple[Any, ...]) -> None:
    compiled = outcome(getattr(_compiled, name), *args)
    python = outcome(getattr(_python, name), *args)
    assert compiled[0] == python[0] == "raised"
    assert compiled[1][0] is python[1][0]
    if len(args) == len(inspect.signature(getattr(_python, name)).parameters):  # else worded apart
        assert compiled[1][1] == python[1][1]


def test_keyword_arguments() -> None:
    a = Slot(1, 2)
    for twin in (_compiled, _python):
        assert twin.distinct(objs=[a, a]) is False
        assert twin.gather(objs=[a], names=("b",), allowed=((int,),)) == ([[2]], [True])


# ---- Python code that changes the list being scanned -----------------------------------------


class Meddler:
    """Its attribute ``a`` changes ``target`` when fetched: a property running user code."""

    def __init__(self, target: list[Any], action: str) -> None:
        self.target, self.action, self.done = target, action, 0

    def __repr__(self) -> str:
        return f"Meddler({self.action!r}, {self.done})"

    @property
    def a(self) -> object:
        self.done += 1
        if self.action == "clear":
            self.target.clear()
        elif self.action == "pop" and self.target:
            self.target.pop()
        elif self.action == "append" and self.done < 4:
            self.target.append(Slot(self.done, None))
        elif self.action == "shrink":
            del self.target[1:]
        elif self.action == "replace":
            self.target[:] = [Slot("new", None)] * 3
        return self.done


def meddling_case(action: str, at: int, size: int) -> tuple[list[Any], Meddler]:
    objs: list[Any] = [Slot(i, None) for i in range(size)]
    meddler = Meddler(objs, action)
    objs.insert(min(at, size), meddler)
    return objs, meddler


def shape(result: tuple[str, Any]) -> str:
    """A result with the objects made during the call (which differ between calls) as reprs."""
    return repr(result)


@settings(deadline=None)
@given(st.sampled_from(["clear", "pop", "append", "shrink", "replace"]), st.integers(0, 6), st.integers(0, 6))
def test_a_property_that_changes_the_list_being_gathered(action: str, at: int, size: int) -> None:
    got = []
    for twin in (_compiled, _python):
        objs, _ = meddling_case(action, at, size)
        got.append(shape(outcome(twin.gather, objs, ("a", "a"), ((int,), None))) + repr(objs))
    assert got[0] == got[1]
