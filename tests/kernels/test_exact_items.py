"""exact_items, compiled against the Python twin: whether a column of containers (a
``list[str]`` field's values, say) holds only containers of one exact type whose items all have
exact types among those given. The same answer on generated columns, never an error for what
the containers hold, and the same TypeError for bad arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from amber._kernels import _python

try:
    from amber._kernels import _compiled
except ImportError:  # test_selection.py fails where a compiler should have built it
    pytest.skip("the compiled kernels are not built", allow_module_level=True)


class Str(str):
    pass


class ListChild(list[Any]):
    pass


def outcome(function: Callable[..., Any], *args: Any) -> tuple[str, Any]:
    try:
        return "returned", function(*args)
    except Exception as error:
        return "raised", (type(error), error.args)


def expected(values: list[Any], container: type, items: tuple[type, ...]) -> bool:
    """The answer written out plainly."""
    return all(type(v) is container for v in values) and all(
        any(type(item) is kind for kind in items) for v in values for item in v
    )


def agree(values: list[Any], container: type, items: tuple[type, ...]) -> bool:
    compiled, python = (
        outcome(_compiled.exact_items, values, container, items),
        outcome(_python.exact_items, values, container, items),
    )
    assert compiled == python == ("returned", expected(values, container, items))
    return bool(compiled[1])


scalars = st.one_of(
    st.text(max_size=3),
    st.text(max_size=3).map(Str),
    st.integers(-5, 2**70),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.binary(max_size=2),
)
hashables = st.one_of(scalars, st.tuples(st.integers()), st.frozensets(st.integers(), max_size=2))
containers = st.one_of(
    st.lists(scalars, max_size=5),
    st.lists(st.lists(st.text(max_size=2), max_size=2), max_size=3),  # lists of lists
    st.sets(hashables, max_size=5),
    st.frozensets(hashables, max_size=5),
    st.lists(scalars, max_size=3).map(tuple),
    st.lists(scalars, max_size=3).map(ListChild),
    st.dictionaries(st.text(max_size=2), scalars, max_size=2),
    scalars,
)
SCALAR_KINDS = (str, Str, int, bool, type(None), float, bytes)
KINDS: list[type] = [str, Str, int, bool, type(None), float, bytes, list, tuple, frozenset]
kinds = st.lists(st.sampled_from(KINDS), max_size=4)


@st.composite
def columns(draw: st.DrawFn) -> tuple[list[Any], type, tuple[type, ...]]:
    """Mostly columns of one container type, sometimes with an odd value among them."""
    container: type = draw(st.sampled_from([list, set, frozenset]))
    items: tuple[type, ...] = tuple(draw(kinds))
    drawn = [k for k in items if k in SCALAR_KINDS]
    if container is list and drawn:  # lists whose items are all of the kinds asked for
        of_kinds = st.sampled_from(drawn).flatmap(lambda k: scalars.filter(lambda v: type(v) is k))
        fitting = st.lists(of_kinds, max_size=4) | st.lists(scalars, max_size=4)
    elif container is list:
        fitting = st.lists(scalars, max_size=4)
    else:
        fitting = st.builds(container, st.lists(hashables, max_size=4))
    values: list[Any] = draw(st.lists(fitting | containers if draw(st.booleans()) else fitting, max_size=8))
    return values, container, items


@settings(deadline=None, max_examples=400)
@given(columns())
def test_generated_columns(column: tuple[list[Any], type, tuple[type, ...]]) -> None:
    agree(*column)


@settings(deadline=None)
@given(st.lists(containers, max_size=8), st.sampled_from([list, set, frozenset]), kinds.map(tuple))
def test_anything(values: list[Any], container: type, items: tuple[type, ...]) -> None:
    agree(values, container, items)


def test_the_plain_cases() -> None:
    assert agree([], list, ())
    assert agree([[], []], list, ())
    assert not agree([["a"]], list, ())
    assert agree([["a", "b"], [], ["c"]], list, (str,))
    assert not agree([["a", "b"], [], ["c", 1]], list, (str,))
    assert not agree([["a"], ("b",)], list, (str,))
    assert not agree([["a"], ListChild(["b"])], list, (str,))
    assert not agree([["a"], [Str("b")]], list, (str,))
    assert agree([["a"], [Str("b")]], list, (Str, str))
    assert not agree([[True]], list, (int,))  # exact types: a bool is not an int
    assert agree([{1, 2}, set()], set, (int,))
    assert not agree([{1, 2}, frozenset()], set, (int,))
    assert agree([frozenset({"a", None})], frozenset, (str, type(None)))
    assert agree([[["a"]], [[]]], list, (list,))
    inner: list[Any] = []
    inner.append(inner)  # a list holding itself
    assert agree([inner], list, (list,))


def test_a_large_column() -> None:
    values: list[list[Any]] = [[f"tag {i}", "shared", str(i % 7)] for i in range(200_000)]
    assert agree(values, list, (str,))
    values[199_999].append(None)
    assert not agree(values, list, (str,))
    assert agree(values, list, (str, type(None)))
    sets: list[set[Any]] = [set(v) for v in values]
    assert agree(sets, set, (str, type(None)))
    sets[123_456].add(1)
    assert not agree(sets, set, (str, type(None)))


def test_types_are_compared_by_identity() -> None:
    class Meta(type):
        def __eq__(cls, other: object) -> bool:
            return True  # equal to every type: a comparison by == would let it pass

        def __hash__(cls) -> int:
            return hash(str)

    class Odd(metaclass=Meta):
        pass

    assert not agree([[Odd()]], list, (str,))
    assert not agree([["a"]], list, (Odd,))
    assert agree([[Odd(), "a"]], list, (str, Odd))


BAD_CALLS: list[tuple[Any, ...]] = [
    ((["a"],), list, (str,)),  # values: a tuple
    (ListChild(), list, (str,)),
    (None, list, (str,)),
    ([], dict, (str,)),  # container: not list, set or frozenset
    ([], tuple, (str,)),
    ([], "list", (str,)),
    ([], ListChild, (str,)),
    ([], list, [str]),  # items: a list
    ([], list, str),
    ([], list, ("str",)),  # items: not types
    ([], list, (str, None)),
    ((), dict, [1]),  # the first bad argument is the one named
    ([], dict, [1]),
]


@pytest.mark.parametrize("args", BAD_CALLS)
def test_bad_arguments_raise_the_same_type_error(args: tuple[Any, ...]) -> None:
    compiled, python = outcome(_compiled.exact_items, *args), outcome(_python.exact_items, *args)
    assert compiled == python
    assert compiled[0] == "raised" and compiled[1][0] is TypeError


def test_argument_counts_and_keywords() -> None:
    for twin in (_compiled, _python):
        assert twin.exact_items(values=[["a"]], container=list, items=(str,)) is True
        calls: list[tuple[Any, ...]] = [(), ([],), ([], list), ([], list, (), ())]
        for args in calls:
            with pytest.raises(TypeError):
                twin.exact_items(*args)
