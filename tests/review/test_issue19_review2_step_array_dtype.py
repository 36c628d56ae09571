"""Issue 19 hostile review 2: An upgrade step that passes an array on into a field of another dtype is the code's
fault, but the load reports it as CorruptCheckpointError (the data's fault), which a
manager's restore answers by quarantining the checkpoint."""

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

import amber
from tests.support.helpers import memory_opener

old, new = amber.Registry(), amber.Registry()


@old.record("r20.L", version=1)
class L1(amber.Record):
    w: np.ndarray


@new.record("r20.L", version=2)
class L2(amber.Record):
    w: np.ndarray
    ints: npt.NDArray[np.int64] | None = None


@new.upgrade("r20.L", 1)
def step(fields: dict[str, Any]) -> dict[str, Any]:
    return {"w": fields["w"], "ints": fields["w"]}  # a float64 array into an int64 field


def test_a_step_putting_an_array_in_a_field_of_another_dtype_is_a_migration_error() -> None:
    opened = memory_opener()
    opened(registry=old).save([L1(np.arange(3.0))])
    with pytest.raises(amber.MigrationError):  # observed: CorruptCheckpointError "np... expected an array of dtype <i8"
        opened(registry=new).load()
