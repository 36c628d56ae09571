"""Issue 19 hostile review 2: The converse of the id() comparison: code that changes an array in place (non
idempotent) keeps its identity, so the check passes and every load silently changes the
state -- the case docs/types.md says is caught ('code that changes them in place ... is
caught too')."""

import dataclasses

import numpy as np
import pytest

import amber

reg = amber.Registry()


@reg.record("r20.Counted", version=1)
@dataclasses.dataclass
class Counted:
    loads: np.ndarray

    def __post_init__(self) -> None:
        self.loads += 1  # in place: counts each construction, and each load


def test_code_changing_an_array_in_place_is_refused_at_save() -> None:
    store = amber.open_store("memory://", registry=reg)
    with pytest.raises(amber.SerializationError, match="loads: stored"):  # it loaded [2, 2] for a saved [1, 1]
        store.save([Counted(np.zeros(2))])  # live value: [1, 1]
