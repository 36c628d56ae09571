"""Issue 19 hostile review 2: What a class's own code keeps is compared with arrays by identity (_graph/_kept.py
_ArrayIds uses id(array)). Code that copies an array without changing it -- an attrs
converter=np.array, a __post_init__ normalising dtype, or a third-party class that copies its
input (the natural adapter) -- saves fine and then every load is refused: the checkpoint
can never be restored."""

import dataclasses
from typing import Any

import attrs
import numpy as np
import pytest

import amber

reg = amber.Registry()


@reg.record("r20.A", version=1)
@attrs.define
class A:
    w: np.ndarray = attrs.field(converter=np.array)


@reg.record("r20.D", version=1)
@dataclasses.dataclass
class D:
    w: np.ndarray

    def __post_init__(self) -> None:
        self.w = np.array(self.w, dtype=np.float64)  # idempotent: float64 in, equal copy out


class Curve:  # a class the application does not own: it copies its input
    def __init__(self, pts: Any) -> None:
        self.pts = np.array(pts, dtype=float)


@reg.adapter(Curve, "r20.Curve", version=1)
class CurveForm(amber.Record):
    pts: np.ndarray

    @classmethod
    def from_value(cls, c: Curve) -> "CurveForm":
        return cls(c.pts)

    def to_value(self) -> Curve:
        return Curve(self.pts)


@pytest.mark.parametrize(
    "value", [A(np.zeros(3)), D(np.zeros(3)), Curve([1.0, 2.0])], ids=["attrs", "dataclass", "adapter"]
)
def test_lossless_array_copy_in_class_code_loads(value: Any) -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([value])
    (loaded,) = store.load()  # was refused: arrays were compared by identity, and the copy is another
    assert type(loaded) is type(value)
