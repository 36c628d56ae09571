"""Issue 19 hostile review 2: A forged header whose shape holds a zero and a dimension numpy cannot take (product 0,
so the byte count matches an empty array) passes verify and makes load raise numpy's
ValueError, not a typed amber error."""

from pathlib import Path

import msgspec
import numpy as np
import numpy.typing as npt
import pytest

import amber
from tests.support.helpers import forge

reg = amber.Registry()


@reg.record("r20.M", version=1)
class M(amber.Record):
    weights: npt.NDArray[np.float64]
    anything: np.ndarray


@pytest.mark.parametrize("shape", [[2**63, 0], [2**62, 2**62, 0]])
def test_a_zero_size_shape_numpy_cannot_allocate_is_corruption(tmp_path: Path, shape: list[int]) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([M(np.zeros(0), np.zeros(2))])  # array 0 holds 0 bytes
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode([[["<f8", shape, 0]], [["<f8", [2], 1]]])))
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()  # raises builtins.ValueError: Maximum allowed dimension exceeded
    with pytest.raises(amber.CorruptCheckpointError):
        store.verify()  # passes


def test_verify_refuses_what_load_refuses_one_array_number_two_dtypes(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([M(np.zeros(2), np.zeros(2))])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode([[["<f8", [2], 0]], [["<i8", [2], 0]]])))
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()  # refused: "array 0 with the dtype and shape it was first read with"
    with pytest.raises(amber.CorruptCheckpointError):
        store.verify()  # observed: OK (exit 0 from `amber verify`)
