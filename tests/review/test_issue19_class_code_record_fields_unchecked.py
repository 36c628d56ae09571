"""Issue 19 hostile review: _check_kept skips every non-record field that *may* hold records (list[Item], Item | None,
dict[str, Item]): a validator/converter that reorders, filters or replaces them changes the
state on load, silently."""

from typing import Any

import attrs
import pydantic
import pytest

import amber
from tests.support.review_util import saved_and_loaded


def test_pydantic_validator_sorting_a_list_of_records_silently_reorders() -> None:
    reg = amber.Registry()

    @reg.record("r2.Item", version=1)
    class Item(pydantic.BaseModel):
        name: str

    @reg.record("r2.Box", version=1)
    class Box(pydantic.BaseModel):
        items: list[Item]

        @pydantic.field_validator("items")
        @classmethod
        def by_name(cls, v: list[Item]) -> list[Item]:
            return sorted(v, key=lambda i: i.name)

    box = Box(items=[Item(name="a")])
    box.items.append(Item(name="0"))  # live order: a, 0
    with pytest.raises(amber.SerializationError):
        saved_and_loaded([box], reg)  # observed: loads items in order 0, a


def test_attrs_converter_dropping_records_from_a_list() -> None:
    reg = amber.Registry()

    @reg.record("r2.Node", version=1)
    @attrs.define
    class Node:
        name: str

    @reg.record("r2.Group", version=1)
    @attrs.define
    class Group:
        members: list[Node] = attrs.field(converter=_named)

    g = Group([Node("a")])
    g.members.append(Node(""))
    with pytest.raises(amber.SerializationError):
        saved_and_loaded([g], reg)  # observed: loads one member of two


def _named(nodes: list[Any]) -> list[Any]:
    return [m for m in nodes if m.name]
