"""Issue 19 hostile review 2: Reading a shared array through a dtype widening (float32 -> float64 by rule) makes one
astype() copy per place that holds it: sharing is lost, and memory grows with the number of
references, far past the estimate max_load_memory is checked against (the estimate counts
the array's bytes twice)."""

import tracemalloc
from typing import Any

import numpy as np
import numpy.typing as npt

import amber
from tests.support.helpers import memory_opener

old, new = amber.Registry(), amber.Registry()


@old.record("r20.S", version=1)
class S1(amber.Record):
    values: npt.NDArray[np.float32]


@new.record("r20.S", version=2)
class S2(amber.Record):
    values: npt.NDArray[np.float64]


def _saved() -> Any:
    opened = memory_opener()
    shared = np.ones(1 << 18, dtype=np.float32)  # 1 MiB, held by 50 records
    opened(registry=old).save([S1(shared) for _ in range(50)])
    return opened


def test_a_shared_array_read_through_a_widening_stays_shared() -> None:
    loaded = _saved()(registry=new).load()
    assert len({id(r.values) for r in loaded}) == 1, "50 copies of one array"


def test_a_widened_read_stays_within_max_load_memory() -> None:
    store = _saved()(registry=new, max_load_memory=16 << 20)
    tracemalloc.start()
    try:
        store.load()  # the estimate (a few MiB) passes: the read itself takes ~100 MiB
        _, peak = tracemalloc.get_traced_memory()
    except amber.CheckpointTooLargeError:
        return  # refused: bounded, as promised
    finally:
        tracemalloc.stop()
    assert peak <= 16 << 20, f"load under max_load_memory=16 MiB peaked at {peak >> 20} MiB"
