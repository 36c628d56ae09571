"""numpy arrays as a field type (issue 19): headers in the typed column, bytes in array
segments of their own (raw where compressing does not pay), loaded writable, shared arrays
loaded shared, dtype widenings read by rule, and every forged header or byte a typed error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import amber
import amber.storage
import amber.testing
from amber import commands
from amber._format import _arrays, _format
from tests.support.helpers import forge, memory_opener

reg = amber.Registry()


@reg.record("np.Model", version=1)
class Model(amber.Record):
    weights: npt.NDArray[np.float64]
    anything: np.ndarray
    named: dict[str, np.ndarray] = {}
    maybe: npt.NDArray[np.int32] | None = None


def saved_and_loaded(state: Any, path: Path | None = None) -> Any:
    store = amber.open_store(path or "memory://", registry=reg)
    store.save(state)
    return store.load()


def test_arrays_load_equal_writable_and_of_their_dtype_and_shape() -> None:
    weights = np.arange(12, dtype=np.float64).reshape(3, 4)
    flags = np.array([[True, False]])
    (loaded,) = saved_and_loaded([Model(weights, flags, {"c": np.array([1 + 2j])})])
    assert np.array_equal(loaded.weights, weights) and loaded.weights.shape == (3, 4)
    assert loaded.anything.dtype == np.bool_ and loaded.named["c"].dtype == np.complex128
    loaded.weights[0, 0] = 7.0  # writable, and its own memory
    assert weights[0, 0] == 0.0


def test_views_big_endian_and_fortran_arrays_load_as_their_values() -> None:
    base = np.arange(20, dtype=np.float64).reshape(4, 5)
    big_endian = np.arange(6, dtype=">i4")
    (loaded,) = saved_and_loaded([Model(base[:, 1], np.asfortranarray(base), {"be": big_endian})])
    assert np.array_equal(loaded.weights, base[:, 1]) and np.array_equal(loaded.anything, base)
    assert np.array_equal(loaded.named["be"], big_endian) and loaded.named["be"].dtype == np.dtype("<i4")


def test_an_array_held_twice_is_stored_once_and_loads_shared(tmp_path: Path) -> None:
    shared = np.zeros(2000, dtype=np.int32)  # 8,000 bytes: in a segment of its own
    loaded = saved_and_loaded([Model(np.zeros(1), shared, {"a": shared}, shared)], tmp_path)
    assert loaded[0].anything is loaded[0].named["a"] is loaded[0].maybe
    store = amber.open_store(tmp_path, registry=reg)
    assert len([s for s in store.manifest().segments if s.kind == "array"]) == 1  # the small one sits in its header


def test_large_float_arrays_are_stored_raw_in_parts_and_small_ones_compressed(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).random(_arrays.ARRAY_PART // 8 + 10_000)  # two parts, both over the sample
    zeros = np.zeros(100_000)
    saved_and_loaded([Model(noise, zeros)], tmp_path)
    segments = [s for s in amber.open_store(tmp_path, registry=reg).manifest().segments if s.kind == "array"]
    assert [(s.array, s.part, s.codec) for s in segments] == [(0, 0, "none"), (0, 1, "none"), (1, 0, "zstd")]
    assert segments[2].length < segments[2].raw_length // 100


@pytest.mark.parametrize(
    ("value", "said"),
    [
        (np.array(["text"]), "not dtype <U4"),
        (np.array([object()]), "not dtype object"),
        (np.zeros(2, dtype=np.float32), "the field holds arrays of dtype <f8; this one is float32"),
        (np.ma.masked_array([1.0]), "expected ndarray\\[<f8\\], got MaskedArray"),
    ],
)
def test_arrays_that_cannot_be_kept_are_refused_at_save(value: Any, said: str) -> None:
    with pytest.raises(amber.SerializationError, match=said):
        saved_and_loaded([Model(value, np.zeros(1))])


def test_an_array_in_any_or_the_root_is_refused_naming_the_place() -> None:
    with pytest.raises(amber.SerializationError, match=r"state\['x'\]: numpy.ndarray is stored only in a typed field"):
        saved_and_loaded({"x": np.zeros(2)})


def test_a_dtype_widening_is_read_by_rule_and_a_narrowing_is_refused() -> None:
    old, new, narrow = amber.Registry(), amber.Registry(), amber.Registry()

    @old.record("np.Series", version=1)
    class SeriesV1(amber.Record):
        values: npt.NDArray[np.int32]

    @new.record("np.Series", version=2)
    class Series(amber.Record):
        values: npt.NDArray[np.float64]

    @narrow.record("np.Series", version=2)
    class Narrow(amber.Record):
        values: npt.NDArray[np.int16]

    opened = memory_opener()
    opened(registry=old).save([SeriesV1(np.array([1, -2, 2**31 - 1], dtype=np.int32))])
    (loaded,) = opened(registry=new).load()
    assert loaded.values.dtype == np.float64 and loaded.values.tolist() == [1.0, -2.0, 2147483647.0]
    with pytest.raises(amber.IncompatibleSchemaError, match="changed from ndarray\\[<i4\\] to ndarray\\[<i2\\]"):
        opened(registry=narrow).load()


def test_a_step_may_pass_arrays_on_and_is_told_it_cannot_make_new_ones() -> None:
    old, new, making = amber.Registry(), amber.Registry(), amber.Registry()

    @old.record("np.Layer", version=1)
    class LayerV1(amber.Record):
        w: np.ndarray

    @new.record("np.Layer", version=2)
    class Layer(amber.Record):
        w: np.ndarray
        name: str

    @new.upgrade("np.Layer", 1)
    def named(fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "name": "dense"}

    @making.record("np.Layer", version=2)
    class Made(amber.Record):
        w: np.ndarray
        name: str

    @making.upgrade("np.Layer", 1)
    def doubled(fields: dict[str, Any]) -> dict[str, Any]:
        return {"w": np.ones(2), "name": "x"}

    opened = memory_opener()
    opened(registry=old).save([LayerV1(np.arange(3.0))])
    (loaded,) = opened(registry=new).load()
    assert np.array_equal(loaded.w, np.arange(3.0)) and loaded.name == "dense"
    with pytest.raises(amber.MigrationError, match="cannot hand back new arrays"):
        opened(registry=making).load()


def test_the_generic_view_and_dump_show_arrays_without_reading_their_bytes() -> None:
    store = amber.open_store("memory://", registry=reg)
    store.save([Model(np.zeros((200, 3)), np.array([1], dtype=np.uint8))])
    record = commands.dump_changes(store)["records"]["np.Model"][0]
    assert record["weights"] == {"$ndarray": {"dtype": "<f8", "shape": [200, 3], "array": 0}}
    assert record["anything"] == {"$ndarray": {"dtype": "|u1", "shape": [1], "array": -1}}
    assert commands.dump_changes(store)["types"]["np.Model"]["fields"]["weights"] == "ndarray[<f8]"


def _stored(tmp_path: Path) -> tuple[amber.CheckpointStore, Any, int]:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Model(np.arange(1000.0), np.zeros(1000))])  # two arrays in segments of their own
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    return store, manifest, index


@pytest.mark.parametrize(
    ("header", "said"),
    [
        (["|O", [1], 0], "an array dtype among"),
        (["<f8", [5], 0], r"expected 40 bytes for array 0 \(<f8, shape \[5\]\), found 8000"),  # not the bytes
        (["<f8", [-1], 0], "an array shape of at most 32 sizes >= 0"),
        (["<f8", [2**62, 2**62], 0], "an array shape of at most 32 sizes"),  # a shape that would allocate exabytes
        (["<f8", [1000], 9], "the number of an array the checkpoint holds"),
        (["<i8", [1000], 0], "np.Model.weights: arrays: expected an array of dtype <f8"),  # another dtype
        (["<f8", [2], -1, b"\x00" * 8], "expected 16 bytes for array -1"),  # its own bytes too short
        (["<f8", [1], 0, b"\x00" * 8], "the number of an array the checkpoint holds"),  # bytes with a segment's number
    ],
)
def test_a_forged_header_is_a_typed_error_naming_the_field(tmp_path: Path, header: list[Any], said: str) -> None:
    store, manifest, index = _stored(tmp_path)
    columns = [[header], [["<f8", [1000], 1]], [{}], [None]]
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode(columns)))
    with pytest.raises(amber.CorruptCheckpointError, match=said):
        store.load()
    with pytest.raises(amber.CorruptCheckpointError):
        store.verify()


def test_a_flipped_byte_in_an_array_is_found_by_load_and_verify(tmp_path: Path) -> None:
    store, manifest, _ = _stored(tmp_path)
    segment = next(s for s in manifest.segments if s.kind == "array")
    data = tmp_path / manifest.data
    flipped = bytearray(data.read_bytes())
    flipped[segment.offset + 3] ^= 0x40
    data.write_bytes(bytes(flipped))
    for read in (store.load, store.verify):
        with pytest.raises(amber.CorruptCheckpointError, match="array 0 part 0"):
            read()


def test_array_segments_out_of_order_are_corruption(tmp_path: Path) -> None:
    store, manifest, _ = _stored(tmp_path)

    def renumbered(m: dict[str, Any]) -> dict[str, Any]:
        segments = [dict(s, array=5) if s.get("kind") == "array" else s for s in m["segments"]]
        return {**m, "segments": segments}

    forge(tmp_path, manifest.id, edit=renumbered)
    with pytest.raises(amber.CorruptCheckpointError, match="to be the next part of an array"):
        store.load()


def test_a_checkpoint_with_arrays_is_format_6(tmp_path: Path) -> None:
    _, manifest, _ = _stored(tmp_path)
    assert manifest.format_version == 6
    assert (tmp_path / manifest.data).read_bytes()[:16] == _format.data_header(6)


_DTYPES = st.sampled_from(
    [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint64, np.float16, np.float32]
)
_DTYPES |= st.sampled_from([np.float64, np.complex64, np.complex128])


@settings(max_examples=60)
@given(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_any_array_of_any_supported_dtype_round_trips_bit_for_bit(array: Any) -> None:
    (loaded,) = saved_and_loaded([Model(np.zeros(1), array)])
    assert loaded.anything.dtype == array.dtype.newbyteorder("<") and loaded.anything.shape == array.shape
    assert loaded.anything.tobytes() == array.astype(array.dtype.newbyteorder("<")).tobytes()  # NaNs too


def test_small_arrays_sit_in_their_headers_and_stay_shared(tmp_path: Path) -> None:
    """newcomer trial: one segment per array made a service with an embedding per user
    slow and large (10,000 users: 10,005 segments). Small arrays now sit in their column."""
    embedding = np.ones(16, dtype=np.float32)
    state = [Model(np.arange(3.0), np.full(16, i, dtype=np.float32)) for i in range(1000)]
    state.append(Model(np.zeros(1), embedding, {"a": embedding, "b": embedding}))
    loaded = saved_and_loaded(state, tmp_path)
    assert all(np.array_equal(a.anything, b.anything) for a, b in zip(loaded, state, strict=True))
    last = loaded[-1]
    assert last.anything is last.named["a"] is last.named["b"], "a small array held twice is still one"
    segments = amber.open_store(tmp_path, registry=reg).manifest().segments
    assert [s.kind for s in segments if s.kind == "array"] == []


def test_a_forged_small_array_with_other_bytes_under_one_number_is_corruption(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Model(np.zeros(1), np.zeros(2))])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    one, other = np.zeros(2).tobytes(), np.ones(2).tobytes()
    columns = [[["<f8", [2], -1, one]], [["<f8", [2], -1, other]], [{}], [None]]
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode(columns)))
    for read in (store.load, store.verify):
        with pytest.raises(amber.CorruptCheckpointError, match="array -1"):
            read()


def test_a_raw_array_part_read_in_place_is_checked_there(tmp_path: Path) -> None:
    """Raw parts are read straight into the new array (ReadsInto), and their digest checked
    in place: a flipped byte is refused, not loaded."""
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Model(np.random.default_rng(1).random(20_000), np.zeros(1))])  # 160 KB of noise: raw
    manifest = store.manifest()
    raw = next(s for s in manifest.segments if s.kind == "array")
    assert raw.codec == "none" and isinstance(store.storage, amber.storage.ReadsInto)
    data = tmp_path / manifest.data
    flipped = bytearray(data.read_bytes())
    flipped[raw.offset + 12345] ^= 1
    data.write_bytes(bytes(flipped))
    with pytest.raises(amber.CorruptCheckpointError, match=r"array 0 part 0\): expected xxh3-128 digest"):
        store.load()
