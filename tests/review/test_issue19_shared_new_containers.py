"""Issue 19 hostile review: One deque / bytearray / Counter / OrderedDict / defaultdict held by two records is stored
twice and loads as two objects, silently; the same with a list is refused at save
('one list object is held by both'). shared_rows only looks at list/set/dict columns."""

import collections
from typing import Any

import pytest

import amber
from tests.support.review_util import one_field, saved_and_loaded


@pytest.mark.parametrize(
    ("annotation", "value"),
    [
        (collections.deque[int], collections.deque([1], maxlen=5)),
        (bytearray, bytearray(b"buf")),
        (collections.Counter[str], collections.Counter(a=1)),
        (collections.OrderedDict[str, int], collections.OrderedDict(a=1)),
        (collections.defaultdict[str, list[int]], collections.defaultdict(list)),
        (list[int], [1]),  # control: refused at save
    ],
)
def test_a_mutable_container_shared_by_two_records_is_refused_or_stays_shared(annotation: Any, value: Any) -> None:
    reg, cls = one_field(annotation, "r6.C")
    try:
        a, b = saved_and_loaded([cls(value), cls(value)], reg)
    except amber.SerializationError:
        return  # what lists, sets and dicts get
    assert a.v is b.v, "sharing lost unsaid: appending to one no longer shows in the other"
