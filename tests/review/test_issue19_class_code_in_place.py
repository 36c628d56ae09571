"""Issue 19 hostile review: The class's own code that changes a stored container *in place* is not caught: _check_kept
compares the built record's value with the very object it mutated (got is stored)."""

import collections
import dataclasses
from typing import Any

import attrs
import pydantic
import pytest

import amber
from tests.support.review_util import saved_and_loaded


def test_attrs_post_init_trimming_a_deque_in_place_silently_drops_items() -> None:
    reg = amber.Registry()

    @reg.record("r1.Recent", version=1)
    @attrs.define
    class Recent:
        q: collections.deque[int]

        def __attrs_post_init__(self) -> None:
            while len(self.q) > 2:
                self.q.popleft()

    live = Recent(collections.deque([1]))
    live.q.extend([2, 3, 4])  # the state the service holds
    # The class's code would change a stored value: refused at save (it used to load deque([3, 4])).
    with pytest.raises(amber.SerializationError):
        saved_and_loaded([live], reg)


def test_dataclass_post_init_sorting_in_place_silently_reorders() -> None:
    reg = amber.Registry()

    @reg.record("r1.Tags", version=1)
    @dataclasses.dataclass
    class Tags:
        tags: list[str]

        def __post_init__(self) -> None:
            self.tags.sort()

    live = Tags(["a", "b"])
    live.tags.append("0")
    with pytest.raises(amber.SerializationError):
        saved_and_loaded([live], reg)  # observed: loads ['0', 'a', 'b']


def test_pydantic_before_validator_mutating_the_input_in_place() -> None:
    reg = amber.Registry()

    @reg.record("r1.P", version=1)
    class P(pydantic.BaseModel):
        tags: list[str]

        @pydantic.model_validator(mode="before")
        @classmethod
        def norm(cls, data: dict[str, Any]) -> dict[str, Any]:
            data["tags"].sort()
            return data

    live = P(tags=["a", "b"])
    live.tags.append("0")
    with pytest.raises(amber.SerializationError):
        saved_and_loaded([live], reg)
