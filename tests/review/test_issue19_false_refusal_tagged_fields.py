"""Issue 19 hostile review: A pydantic model (or an attrs converter) with a field stored tagged (dict[str, Any],
list[int] | tuple[int, ...], Any holding a container) saves, but *every* load is refused:
_check_kept demands identity for tagged fields and pydantic copies containers. The message
even says "stored {'k': [1]}, but the class's own code made it {'k': [1]}". The Manager
cannot restore, and amber.testing.records() raises the internal RecordRejected."""

from typing import Any

import attrs
import pydantic
from hypothesis import given, settings

import amber
import amber.testing
from tests.support.review_util import saved_and_loaded

reg = amber.Registry()


@reg.record("r7.Event", version=1)
class Event(pydantic.BaseModel):
    kind: str
    meta: dict[str, Any] = {}


@reg.record("r7.Shape", version=1)
class Shape(pydantic.BaseModel):
    dims: list[int] | tuple[int, ...]
    blob: Any = None


@reg.record("r7.Conf", version=1)
@attrs.define
class Conf:
    opts: dict[str, Any] = attrs.field(factory=dict, converter=dict)


def test_a_pydantic_model_with_a_dict_of_any_loads() -> None:
    (e,) = saved_and_loaded([Event(kind="x", meta={"tags": [1, 2]})], reg)
    assert e.meta == {"tags": [1, 2]}


def test_a_pydantic_model_with_a_mixed_union_and_any_container_loads() -> None:
    (s,) = saved_and_loaded([Shape(dims=[1, 2], blob=[1])], reg)
    assert s.dims == [1, 2] and s.blob == [1]


def test_an_attrs_converter_on_a_dict_of_any_loads() -> None:
    (c,) = saved_and_loaded([Conf({"a": [1]})], reg)  # type: ignore[arg-type]
    assert c.opts == {"a": [1]}


def test_a_manager_can_restore_it(tmp_path: Any) -> None:
    class P:
        name = "p"

        def __init__(self) -> None:
            self.t: amber.Table[int, Event] = amber.Table()

        def snapshot(self) -> Any:
            return self.t

        def restore(self, state: Any) -> None:
            self.t = state

    live = P()
    live.t[1] = Event(kind="x", meta={"k": [1]})
    amber.Manager(amber.open_store(tmp_path, registry=reg), [live]).checkpoint()
    again = P()
    amber.Manager(amber.open_store(tmp_path, registry=reg), [again]).restore()  # RecordRejectedError
    assert again.t[1].meta == {"k": [1]}


@settings(max_examples=20, database=None)
@given(amber.testing.records(Event, registry=reg))
def test_the_test_kit_draws_and_round_trips_it(e: Event) -> None:
    amber.testing.assert_roundtrip([e], registry=reg)
