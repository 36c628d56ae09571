"""Issue 19 hostile review: _check_kept compares with ==, which for the new kinds ignores part of the value:
deque == ignores maxlen, Counter == ignores zero counts (3.10+). Class code that changes those
passes the check and the value changes on every load."""

import collections
import dataclasses

import attrs
import pytest

import amber
from tests.support.review_util import saved_and_loaded


def test_attrs_converter_deque_silently_drops_the_maxlen() -> None:
    reg = amber.Registry()

    @reg.record("r3.Buf", version=1)
    @attrs.define
    class Buf:
        q: collections.deque[int] = attrs.field(factory=collections.deque, converter=collections.deque)

    b = Buf()
    object.__setattr__(b, "q", collections.deque([1], maxlen=3))  # attrs converts on setattr: set it raw
    with pytest.raises(amber.SerializationError, match="q: stored"):  # it dropped the maxlen
        saved_and_loaded([b], reg)


def test_dataclass_post_init_changing_maxlen_passes_the_check() -> None:
    reg = amber.Registry()

    @reg.record("r3.Q", version=1)
    @dataclasses.dataclass
    class Q:
        q: collections.deque[int] = dataclasses.field(default_factory=collections.deque)

        def __post_init__(self) -> None:
            self.q = collections.deque(self.q, maxlen=50)

    live = Q()
    live.q = collections.deque([1], maxlen=100)
    with pytest.raises(amber.SerializationError, match="q: stored"):  # it made the maxlen 50
        saved_and_loaded([live], reg)


def test_attrs_converter_dropping_zero_counts_passes_the_check() -> None:
    reg = amber.Registry()

    @reg.record("r3.C", version=1)
    @attrs.define
    class C:
        c: collections.Counter[str] = attrs.field(converter=_positive)

    live = C(collections.Counter(a=1))
    live.c["b"] = 0
    with pytest.raises(amber.SerializationError, match="c: stored"):  # it dropped the zero count
        saved_and_loaded([live], reg)


def _positive(counts: collections.Counter[str]) -> collections.Counter[str]:
    return +collections.Counter(counts)
