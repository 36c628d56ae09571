"""Issue 19 hostile review 2: _arrays._parts promises a non-contiguous (Fortran, transposed, strided, big-endian
non-contiguous) array is 'converted a part at a time (bounded)', but array.reshape(-1)
copies the whole array before the first part is yielded."""

import tracemalloc

import numpy as np

from amber._format import _arrays


def test_a_fortran_array_is_converted_one_part_at_a_time() -> None:
    big = np.asfortranarray(np.random.default_rng(0).random((4096, 4096)))  # 128 MiB
    parts = _arrays._parts(big)
    tracemalloc.start()
    try:
        next(parts)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak <= 2 * _arrays.ARRAY_PART, f"{peak >> 20} MiB held for a {_arrays.ARRAY_PART >> 20} MiB part"
