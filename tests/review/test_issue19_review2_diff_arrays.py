"""Issue 19 hostile review 2: amber diff compares arrays by (dtype, shape, array number) only: an entry whose array
bytes changed, or two entries whose arrays were swapped, is reported unchanged."""

from pathlib import Path

import numpy as np

import amber
from amber import commands

reg = amber.Registry()


@reg.record("r20.Vec3", version=1)
class Vec(amber.Record):
    name: str
    data: np.ndarray


def test_diff_sees_an_array_changed_in_place(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    t = amber.Table({"a": Vec("a", np.zeros(3)), "b": Vec("b", np.ones(3))})
    first = store.save({"t": t})
    t["a"].data[0] = 42.0
    t.touch("a")
    second = store.save({"t": t})  # a full checkpoint
    changed = commands.diff(str(tmp_path), first.id, second.id)["types"]
    assert changed.get("r20.Vec3", {}).get("keys", {}).get("changed") == ["a"], changed


def test_diff_sees_arrays_swapped_between_entries(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    t = amber.Table({"a": Vec("a", np.zeros(3)), "b": Vec("b", np.ones(3))})
    first = store.save({"t": t})
    t["a"].data, t["b"].data = t["b"].data, t["a"].data
    second = store.save({"t": t})
    changed = commands.diff(str(tmp_path), first.id, second.id)["types"]
    assert changed.get("r20.Vec3", {}).get("changed") == 2, changed
