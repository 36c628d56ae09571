"""Issue 19 hostile review 2: amber.testing's comparison falls back to exact array comparison only when `a == b`
raises; for arrays of one element `==` does not raise, so a NaN array that round-trips bit
for bit is reported as lost, and a dtype or shape change goes unseen."""

from typing import Any

import numpy as np
import pytest

import amber
from amber.testing import assert_roundtrip
from amber.testing._roundtrip import same_state

reg = amber.Registry()


@reg.record("r20.One", version=1)
class One(amber.Record):
    a: np.ndarray


def test_a_nan_array_of_one_element_round_trips() -> None:
    assert_roundtrip([One(np.array([np.nan]))], registry=reg)  # AssertionError: the state loaded back differs


@pytest.mark.parametrize("other", [np.array([1]), np.array([[1.0]]), np.array(1.0)])
def test_same_state_tells_dtype_and_shape_apart(other: Any) -> None:
    assert not same_state(One(np.array([1.0])), One(other), reg)
