"""Issue 19 hostile review: A wrapped kind (Path, Fraction, deque, Counter, OrderedDict) widened to Any (or list[Any])
is judged 'resolved', and the load hands back its *stored form*: a str, a tuple, a dict.
bytearray -> Any leaks the internal BadValue."""

import collections
import fractions
import pathlib
from typing import Any

import pytest

import amber
from tests.support.helpers import memory_opener


def evolve(before: Any, after: Any, value: Any) -> Any:
    old, new = amber.Registry(), amber.Registry()
    old.record("r4.C", version=1)(type("C", (amber.Record,), {"__annotations__": {"v": before}}))
    new.record("r4.C", version=2)(type("C", (amber.Record,), {"__annotations__": {"v": after}}))
    opened = memory_opener()
    opened(registry=old).save([old.current("r4.C").cls(value)])  # type: ignore[union-attr]
    (loaded,) = opened(registry=new).load()
    return loaded.v


@pytest.mark.parametrize(
    ("before", "after", "value"),
    [
        (pathlib.Path, Any, pathlib.Path("/srv/x")),
        (fractions.Fraction, Any, fractions.Fraction(1, 3)),
        (collections.deque[int], Any, collections.deque([1], maxlen=2)),
        (collections.Counter[str], Any, collections.Counter(a=1)),
        (collections.OrderedDict[str, int], Any, collections.OrderedDict(b=1, a=2)),
        (list[pathlib.Path], list[Any], [pathlib.Path("/srv/x")]),
    ],
)
def test_a_wrapped_kind_read_as_any_is_refused_not_turned_into_its_stored_form(
    before: Any, after: Any, value: Any
) -> None:
    # Expected: IncompatibleSchemaError (Any cannot hold these kinds), as for enums/records.
    # Observed: '/srv/x' (str), '1/3' (str), (2, [1]) (tuple), {'a': 1} (dict) ...
    try:
        got = evolve(before, after, value)
    except amber.IncompatibleSchemaError:
        return
    assert type(got) is type(value) and got == value, f"loaded {got!r} for {value!r}"


def test_bytearray_read_as_any_is_a_typed_error() -> None:
    with pytest.raises(amber.AmberError):  # observed: amber._format._errors.BadValue (internal)
        evolve(bytearray, Any, bytearray(b"x"))
