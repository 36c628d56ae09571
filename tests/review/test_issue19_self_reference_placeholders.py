"""Issue 19 hostile review: A self-referential (or cyclic) attrs class/dataclass whose code touches a field that holds
records: the reader defers that field, builds the record with None in its place, and runs the
class's converter/validator/__attrs_post_init__ on the None. A state that saved fine can never
be loaded (RecordRejectedError: "'NoneType' object is not iterable"). pydantic gets
model_construct + finish() for this; attrs and dataclasses do not."""

from __future__ import annotations

import attrs

import amber
from tests.support.review_util import saved_and_loaded


def test_attrs_converter_list_on_a_self_referential_field_loads() -> None:
    reg = amber.Registry()

    @reg.record("r8.Node", version=1)
    @attrs.define
    class Node:
        name: str
        parent: Node | None = None
        kids: list[Node] = attrs.field(factory=list, converter=list)  # a common attrs idiom

    root = Node("root")
    root.kids.append(Node("kid", root))
    (loaded,) = saved_and_loaded([root], reg)  # observed: RecordRejectedError
    assert loaded.kids[0].parent is loaded


def test_attrs_instance_of_validator_on_a_cycle_loads() -> None:
    reg = amber.Registry()

    @reg.record("r8.Emp", version=1)
    @attrs.define
    class Emp:
        name: str
        boss: Emp | None = attrs.field(default=None)

        @boss.validator
        def _has_boss_unless_ceo(self, attribute: object, value: object) -> None:
            if self.name != "ceo" and value is None:
                raise ValueError("only the ceo has no boss")

    ceo = Emp("ceo")
    a = Emp("a", ceo)
    b = Emp("b", a)
    ceo.boss = b  # a cycle
    loaded = saved_and_loaded([ceo, a, b], reg)  # observed: RecordRejectedError
    assert loaded[1].boss is loaded[0]
