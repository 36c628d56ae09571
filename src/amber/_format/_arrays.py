"""numpy arrays: a typed column holds each array's header, its bytes lie in segments of
their own (docs/format.md §14).

A header is ``[dtype, shape, number]``: the dtype as numpy's little-endian type string from
a fixed list (numbers and booleans only: no objects, records or strings, so nothing read is
ever more than bytes), the shape, and the array's number in the checkpoint, which names its
``array`` segments: its C-ordered, little-endian bytes, split at ``ARRAY_PART`` bytes. An array
held by two places is stored once and loads as one array. Bytes are written from the array's
own memory where it is contiguous and little-endian (no copy), compressed only where a
sample shows it pays, and read into the new array segment by segment (one copy, bounded).
numpy is imported only when a checkpoint or a declaration holds arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import xxhash

from .._schema._types import ARRAY_DTYPES
from .._schema._values import ArrayRef
from ._errors import BadValue, Corrupt
from ._format import SegmentEntry

DTYPES = ARRAY_DTYPES  # numpy's type strings of the dtypes an array may hold, little-endian (or byte-sized)
MAX_DIMS = 32
INLINE = 4096  # bytes of an array kept in its header rather than in a segment of its own
MAX_SIDE = 2**40  # one dimension's size: far beyond any array that fits in memory, and within numpy's
ARRAY_PART = 32 << 20  # bytes of one array segment: bounds what a write or a read holds at once

# Dtypes whose every value the wider one holds exactly (read without an upgrade step).
_WIDER = {
    "|i1": ("<i2", "<i4", "<i8", "<f4", "<f8", "<c8", "<c16"),
    "<i2": ("<i4", "<i8", "<f4", "<f8", "<c8", "<c16"),
    "<i4": ("<i8", "<f8", "<c16"),
    "|u1": ("<u2", "<u4", "<u8", "<i2", "<i4", "<i8", "<f4", "<f8", "<c8", "<c16"),
    "<u2": ("<u4", "<u8", "<i4", "<i8", "<f4", "<f8", "<c8", "<c16"),
    "<u4": ("<u8", "<i8", "<f8", "<c16"),
    "<f2": ("<f4", "<f8", "<c8", "<c16"),
    "<f4": ("<f8", "<c8", "<c16"),
    "<f8": ("<c16",),
    "<c8": ("<c16",),
}


def widens(written: str, read: str) -> bool:
    """Whether every value of dtype ``written`` is exactly a value of ``read``."""
    return written == read or read in _WIDER.get(written, ())


def numpy() -> Any:
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - the extra is installed wherever arrays are used
        raise Corrupt("numpy installed, to read numpy arrays (pip install amber-state[numpy])", "", "arrays") from None
    return np


def dtype_code(dtype: Any) -> str:
    """An array dtype's type string in the fixed list, little-endian; BadValue otherwise."""
    np = numpy()
    code: str = np.dtype(dtype).newbyteorder("<").str
    if code not in DTYPES:
        raise BadValue(f"an array of numbers or booleans, not dtype {np.dtype(dtype)} (object arrays are refused)")
    return code


class ArrayPlaces:
    """The writer's arrays, numbered in the order met; one number per array object. Arrays
    of at most ``INLINE`` bytes sit in the header itself (numbered -1, -2, ...): a segment of
    their own would cost more than they hold (a service with an embedding per user)."""

    def __init__(self) -> None:
        self._numbers: dict[int, int] = {}
        self.arrays: list[Any] = []  # kept alive while numbered: ids are only unique among live objects
        self.inline: list[Any] = []  # likewise, for the arrays held in headers
        self.written = 0  # arrays whose segments have been yielded

    def header(self, array: Any, declared: str) -> list[Any]:
        code = dtype_code(array.dtype)
        if declared and code != declared:
            raise BadValue(
                f"the field holds arrays of dtype {declared}; this one is {array.dtype} (convert it with .astype)"
            )
        if array.ndim > MAX_DIMS:
            raise BadValue(f"an array of at most {MAX_DIMS} dimensions, not {array.ndim}")
        number = self._numbers.get(id(array))
        if number is None and array.nbytes <= INLINE:
            self.inline.append(array)
            number = self._numbers[id(array)] = -len(self.inline)
        elif number is None:
            number = self._numbers[id(array)] = len(self.arrays)
            self.arrays.append(array)
        if number < 0:  # every header of it carries the bytes: headers are decoded in no set order
            return [code, list(array.shape), number, b"".join(_parts(array))]
        return [code, list(array.shape), number]

    def unwritten(self) -> Iterator[tuple[int, int, memoryview]]:
        """(array number, part, bytes) of every array numbered since the last call."""
        while self.written < len(self.arrays):
            number = self.written
            self.written += 1
            for part, chunk in enumerate(_parts(self.arrays[number])):
                yield number, part, chunk


def _parts(array: Any) -> Iterator[memoryview]:
    """An array's bytes, C order, little-endian, ``ARRAY_PART`` at a time: its own memory
    when it is laid out so, else converted a slab at a time (bounded: never the whole array)."""
    np = numpy()
    little = array.dtype.newbyteorder("<")
    if array.size == 0:
        yield memoryview(b"")
        return
    if array.flags.c_contiguous and array.dtype.str == little.str:
        flat = memoryview(array.reshape(-1).view(np.uint8))
        for start in range(0, len(flat), ARRAY_PART):
            yield flat[start : start + ARRAY_PART]
        return
    for slab in _slabs(np.atleast_1d(array)):
        yield memoryview(np.ascontiguousarray(slab, dtype=little).reshape(-1).view(np.uint8))


def _slabs(array: Any) -> Iterator[Any]:
    """Consecutive pieces of an array along its first axis, each of at most ``ARRAY_PART``
    bytes (going down an axis where one row is larger), in C order."""
    row_bytes = array.itemsize * (array.size // array.shape[0])
    if row_bytes > ARRAY_PART and array.ndim > 1:
        for row in array:
            yield from _slabs(row)
        return
    rows = max(1, ARRAY_PART // max(row_bytes, 1))
    for start in range(0, array.shape[0], rows):
        yield array[start : start + rows]


def content(array: Any) -> list[Any]:
    """An array as comparable data: its little-endian dtype, its shape and a digest of its
    bytes (read a part at a time, as a save would)."""
    hasher = xxhash.xxh3_128()
    for part in _parts(array):
        hasher.update(part)
    return [array.dtype.newbyteorder("<").str, list(array.shape), hasher.hexdigest()]


ReadPart = Callable[[int, int, memoryview], None]  # (array number, part, where its bytes go)


class ArraySource:
    """The reader's arrays, built on first use from their segments (one per number)."""

    def __init__(self, sizes: dict[int, list[int]], read_into: ReadPart) -> None:
        self._sizes = sizes  # array number -> raw bytes of each of its parts
        self._read_into = read_into
        self._built: dict[int, Any] = {}
        self._widened: dict[tuple[int, str], Any] = {}

    def array(self, header: Any, declared: str) -> Any:
        code, shape, number, data = checked_header(header, self._sizes)
        if declared and not widens(code, declared):
            raise Corrupt(f"an array of dtype {declared}", code, "arrays")
        built = self._built.get(number)
        if built is None:
            built = self._built[number] = (
                self._inline(code, shape, data) if data is not None else self._build(code, shape, number)
            )
        elif data is not None and built.tobytes() != data:
            raise Corrupt(f"array {number} with the bytes it was first read with", "other bytes", "arrays")
        if built.dtype.str != code or list(built.shape) != shape:
            raise Corrupt(f"array {number} with the dtype and shape it was first read with", str(header), "arrays")
        if not declared or declared == code:
            return built
        widened = self._widened.get((number, declared))  # one array, however many hold it
        if widened is None:
            widened = self._widened[number, declared] = built.astype(declared)
        return widened

    @staticmethod
    def _inline(code: str, shape: list[int], data: bytes) -> Any:
        np = numpy()
        return np.frombuffer(data, dtype=np.dtype(code)).reshape(shape).copy()  # writable, its own

    def _build(self, code: str, shape: list[int], number: int) -> Any:
        np = numpy()
        out = np.empty(shape, dtype=np.dtype(code))
        flat = out.reshape(-1).view(np.uint8)
        at = 0
        for part, size in enumerate(self._sizes[number]):
            self._read_into(number, part, memoryview(flat[at : at + size]))  # straight into the array
            at += size
        return out


class ArrayMarkers:
    """What a read without the application's code gives for arrays: ``ArrayRef`` markers,
    checked against the array segments, their bytes left unread."""

    def __init__(self, sizes: dict[int, list[int]]) -> None:
        self._sizes = sizes
        self._seen: dict[int, tuple[str, list[int], bytes | None]] = {}

    def array(self, header: Any, declared: str) -> ArrayRef:
        code, shape, number, data = checked_header(header, self._sizes)
        if declared and code != declared:  # read with the writer's own schema: exactly its dtype
            raise Corrupt(f"an array of dtype {declared}", code, "arrays")
        if self._seen.setdefault(number, (code, shape, data)) != (code, shape, data):
            raise Corrupt(f"array {number} as it was first read", str(header)[:80], "arrays")
        return ArrayRef(code, shape, number, data or b"")


def array_sizes(segments: Iterable[SegmentEntry]) -> dict[int, list[int]]:
    """Array number -> the raw bytes of each of its parts (the manifest has checked their order)."""
    sizes: dict[int, list[int]] = {}
    for s in segments:
        if s.kind == "array":
            sizes.setdefault(s.array, []).append(s.raw_length)
    return sizes


def checked_header(header: Any, sizes: dict[int, list[int]]) -> tuple[str, list[int], int, bytes | None]:
    """A stored header, checked against the array segments (or its own bytes, for an array
    held in it) before anything is allocated."""
    if not (type(header) in (list, tuple) and len(header) in (3, 4)):
        raise Corrupt(
            "an array header [dtype, shape, number] or [dtype, shape, number, bytes]", repr(header)[:80], "arrays"
        )
    code, shape, number = header[:3]
    data = header[3] if len(header) == 4 else None
    if code not in DTYPES:
        raise Corrupt(f"an array dtype among {', '.join(DTYPES)}", repr(code)[:40], "arrays")
    if not (
        type(shape) in (list, tuple)
        and len(shape) <= MAX_DIMS
        and all(type(n) is int and 0 <= n < MAX_SIDE for n in shape)
    ):
        raise Corrupt(f"an array shape of at most {MAX_DIMS} sizes >= 0", repr(shape)[:80], "arrays")
    inline = type(number) is int and number < 0 and type(data) is bytes and len(data) <= INLINE
    if not (inline or (type(number) is int and number in sizes and data is None)):
        raise Corrupt("the number of an array the checkpoint holds (< 0 with its bytes)", repr(number)[:40], "arrays")
    if math.prod(n for n in shape if n) > 2**62:  # numpy refuses such a shape even with a zero in it
        raise Corrupt("an array shape numpy can make", str(shape)[:80], "arrays")
    expected = math.prod(shape) * int(code[2:])  # the type string ends in the item size
    found = len(data) if data is not None else sum(sizes[number])
    if found != expected:
        raise Corrupt(f"{expected} bytes for array {number} ({code}, shape {shape})", str(found), "arrays")
    return code, list(shape), number, data
