"""Issue 19 hostile review 2: The forgotten-touch check (Manager verify) treats any table entry holding a numpy array
as unhashable, so a change in place without touch() to such an entry -- even to a plain
str field next to the array -- is never reported nor written: a crash restores the old value."""

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import amber

reg = amber.Registry()


@reg.record("r20.Vec", version=1)
class Vec(amber.Record):
    name: str
    data: np.ndarray


class Holder:
    name = "p"

    def __init__(self) -> None:
        self.t: amber.Table[int, Vec] = amber.Table()

    def snapshot(self) -> Any:
        return {"t": self.t}

    def restore(self, state: Any) -> None:
        self.t = state["t"]


@pytest.mark.parametrize("capture", ["inline", "fork"])
def test_untouched_change_to_a_record_holding_an_array_is_found(tmp_path: Path, capture: Any) -> None:
    live = Holder()
    live.t[0] = Vec("a", np.zeros(4))
    m = amber.Manager(amber.open_store(tmp_path, registry=reg), [live], capture=capture, verify_every=1)
    m.restore()
    m.checkpoint()
    live.t[0].name = "renamed"  # in place, no touch (a record without an array is caught)
    live.t[0].data[0] = 5.0
    m.checkpoint()  # verify_every=1: a missed change is written now, and logged
    m.close(final=False)
    loaded = amber.open_store(tmp_path, registry=reg).load()["p"]["t"]
    assert loaded[0].name == "renamed", "missed change neither reported nor written"
    assert loaded[0].data[0] == 5.0
