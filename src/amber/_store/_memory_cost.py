"""What one value costs in memory, by kind of field type: the sizes the read bound adds up.

A checkpoint's size says little about the memory its objects take: one msgpack byte is an
empty set (216 bytes of Python), an int that is not cached (28), an empty dict (64). So each
field type gets a ``Cost``: the most memory a value of it takes at its smallest encoding,
and per encoded byte past that, wherever in the value the byte lies. ``_memory_bound`` adds these
up per row and segment from what a checkpoint's manifest declares.

Sizes come from ``sys.getsizeof`` on the running interpreter, rounded up to the 16 bytes
the allocator hands out (comments: CPython 3.11, 64 bits).
"""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import sys
import uuid
from dataclasses import dataclass

from .._schema._types import FieldType
from .._schema._values import Ref
from .._schema._wrapped import WRAPPED


def allocated(size: int) -> int:
    """What the allocator hands out for ``size`` bytes: pymalloc and glibc round up to 16;
    ``sys.getsizeof`` (and tracemalloc) count the bytes asked for."""
    return -(-size // 16) * 16


SLOT = 8  # a pointer: one item of a list or tuple
INT = allocated(sys.getsizeof(2**59))  # 32: ints below 2**60; -32..-6 take one msgpack byte and are not cached
BIG_INT = allocated(sys.getsizeof(2**64 - 1))  # 48: up to 2**64, in 9 msgpack bytes: 2 bytes a byte past the first
FLOAT = allocated(sys.getsizeof(0.0))  # 32: a float field reads any number, a one-byte int too
# A str of n characters takes at most 76 + 4n bytes (one astral character makes them all 4
# bytes wide; ASCII takes 49 + n), and n is at most its UTF-8 bytes: 12 bytes of rounding on
# top, then 4 bytes per encoded byte. The empty str and those of one Latin-1 character are
# cached: a str of its own takes 3 encoded bytes or more, (88 + 8) / 3 = 32 bytes a byte.
STR = sys.getsizeof("\U0001f600") - 4 + 12  # 88
STR_DENSE = (STR + 4 * 2) / 3  # 32
# bytes: 33 + n rounded up, then 1 byte per encoded byte; those of 0 or 1 byte are cached,
# so one of its own takes 4 encoded bytes or more (2 of header): 51 / 4 bytes a byte.
BYTES = sys.getsizeof(b"") + 15  # 48
BYTES_DENSE = (BYTES + 3) / 4  # 12.75
# msgspec caches the time zones of the offsets it reads, but not every one: an aware value
# may hold its own (a timezone of 32 bytes and its timedelta of 48).
ZONE = allocated(sys.getsizeof(dt.timezone(dt.timedelta(hours=1)))) + allocated(sys.getsizeof(dt.timedelta(1)))
DATETIME = allocated(sys.getsizeof(dt.datetime(2000, 1, 1))) + ZONE  # 128
TIME = allocated(sys.getsizeof(dt.time())) + ZONE  # 128
DATE = allocated(sys.getsizeof(dt.date(2000, 1, 1)))  # 32
TIMEDELTA = allocated(sys.getsizeof(dt.timedelta(1)))  # 48
UUID = allocated(sys.getsizeof(uuid.UUID(int=0))) + allocated(sys.getsizeof(2**127))  # 112: the object and its int
# 104 bytes holds 19 digits; every 19 more take a word (under half a byte a digit), and the
# str msgspec reads it from lives while it is parsed: 1 byte per encoded byte.
DECIMAL = allocated(sys.getsizeof(decimal.Decimal(1)))  # 112
REF = allocated(sys.getsizeof(Ref("", 0)))  # 48: what a reference reads as without the app's code
LIST = allocated(sys.getsizeof([])) + SLOT  # 72: 56 rounded up, and up to 8 more rounding its item array
TUPLE = sys.getsizeof(())  # 40, plus a slot an item
EMPTY_SET = allocated(sys.getsizeof(set()))  # 224: a set holds up to 4 members in itself
# A set's table has 16-byte slots; it grows at 3/5 full to 4 times its size, and the old
# table lives while members are copied. The worst moment is the 19th member: 128 slots new
# and 32 old, 16 x 160 / 19 = 134.7 bytes a member (later resizes: 133.4 at most). Traced in
# a process that has run a while (the whole test suite first), decoding 19 members peaked at
# 140.2 a member: the allocator's state adds a little, so 9 more bytes a member.
SET_MEMBER = -(-16 * (128 + 32) // 19) + 9  # 144
# A dict's first table (5 items) comes with its first item: 224 bytes. It grows at 2/3 full
# to twice its size: then 3 index bytes (4 each, up to 2**31 slots) and 2 entries of 24
# bytes an item, 60 in all, and the old table (half that, 30) lives while items are copied.
DICT = allocated(sys.getsizeof({0: 0}))  # 224
DICT_ITEM = 2 * 24 + 3 * 4 + 30  # 90
ROW_ITEM = 2 * 24 + 3 * 4  # 60: a field of a row's dict (they are built one at a time: one resize copy)

# A tagged value (the root, Any fields) as msgpack nodes beside what they decode to. Its
# most costly byte: a row (below 128: one byte, a cached int) in a list of references (8),
# the list of records made of them (8) with its Ref marker without app code (48), made a
# set member (144). A one-byte int (-32..-6) in a list of scalars costs 8 + 32 + 144.
TAGGED = LIST + SLOT  # a value of one byte: an empty map or array (72), in a decoded column (8)
TAGGED_RATIO = 2 * SLOT + REF + SET_MEMBER  # 208


@dataclass(frozen=True)
class Cost:
    """What a value of one field type costs (its slot in whatever holds it aside): at most
    ``fixed`` bytes at its smallest encoding of ``least`` bytes, and ``ratio`` bytes for every
    encoded byte past those, wherever it lies inside the value; and at most ``dense`` bytes
    per encoded byte of the whole value (what it costs as an element of a container)."""

    fixed: int
    least: int
    ratio: float
    dense: float


def _cost(fixed: int, least: int, ratio: float, dense: float | None = None) -> Cost:
    """A cost whose ``dense`` follows from the rest (the value at its smallest, or any byte
    past it) unless a tighter one is known."""
    return Cost(fixed, least, ratio, max(fixed / least, ratio) if dense is None else dense)


_SCALARS = {
    "none": _cost(0, 1, 0),  # None, True and False are singletons
    "bool": _cost(0, 1, 0),
    "int": _cost(INT, 1, (BIG_INT - INT) / 8),
    "float": _cost(FLOAT, 1, 0),
    "str": _cost(STR, 1, 4, STR_DENSE),
    "bytes": _cost(BYTES, 1, 1, BYTES_DENSE),
    "bytearray": _cost(BYTES, 1, 1, BYTES_DENSE),
    "datetime": _cost(DATETIME, 1, 0),
    "date": _cost(DATE, 1, 0),
    "time": _cost(TIME, 1, 0),
    "timedelta": _cost(TIMEDELTA, 1, 0),
    "decimal": _cost(DECIMAL, 1, 1),
    "uuid": _cost(UUID, 1, 0),
    # A row number, its slot in the resolved column and its Ref marker when read without the
    # app's code (56). Rows below 257 are cached ints; an int of its own takes 3 bytes or
    # more (32, and up to 48 in 9 bytes): 16 bytes a byte past the first.
    "record": _cost(SLOT + REF, 1, INT / 2),
}


ARRAY_OBJECT = 112 + 8 * 32  # sys.getsizeof(numpy.empty(0)), and its shape and strides at most
_ARRAY_HEADER = FieldType(
    "tuple", items=(FieldType("str"), FieldType("list", items=(FieldType("int"),)), FieldType("int"))
)


@functools.lru_cache(maxsize=4096)
def cost(t: FieldType) -> Cost:  # noqa: PLR0911 - one return per kind
    """What a value of ``t`` costs, as decoded (not yet resolved: see ``field_cost``)."""
    if t.is_tagged():
        return _cost(TAGGED, 1, TAGGED_RATIO)
    scalar = _SCALARS.get(t.kind)
    if scalar is not None:
        return scalar
    if t.kind in ("enum", "literal"):  # the member; read by value (no app code, or a Literal), its value
        return _cost(max(map(_enum_value, t.values)), 1, 0)
    if t.kind == "ndarray":  # its header as decoded and the array object; a small array's bytes twice
        header = cost(_ARRAY_HEADER)
        return Cost(header.fixed + ARRAY_OBJECT, header.least, max(header.ratio, 2.0), max(header.dense, 2.0))
    wrapped = WRAPPED.get(t.kind)
    if wrapped is not None:  # decoded in its stored form, then rebuilt as its class beside it: twice
        c = cost(wrapped.stored(t))
        return Cost(2 * c.fixed, c.least, 2 * c.ratio, 2 * c.dense)
    if t.kind == "union":  # one member's cost each time: the most fixed, the least bytes
        members = [cost(m) for m in t.items]
        fixed, least = max(m.fixed for m in members), min(m.least for m in members)
        return Cost(fixed, least, max(m.ratio for m in members), max(m.dense for m in members))
    if t.kind == "tuple" and not t.variadic:
        items = [cost(i) for i in t.items]
        fixed = allocated(TUPLE + SLOT * len(items)) + sum(i.fixed for i in items)
        return _cost(fixed, 1 + sum(i.least for i in items), max(i.ratio for i in items))
    return _container(t)


def _container(t: FieldType) -> Cost:
    """A list, set, frozenset, dict or tuple of any length: the empty container, then per
    encoded byte of an element its slot (or table share) over the element's smallest
    encoding, and the element's own bytes a byte."""
    if t.kind == "dict":
        key, value = cost(t.items[0]), cost(t.items[1])
        return _cost(DICT, 1, DICT_ITEM / (key.least + value.least) + max(key.dense, value.dense))
    item = cost(t.items[0])
    empty, each = (EMPTY_SET, SET_MEMBER) if t.kind in ("set", "frozenset") else (LIST, SLOT)
    return _cost(empty, 1, each / item.least + item.dense)


def field_cost(t: FieldType) -> Cost:
    """A column's value: a container holding references is rebuilt with the records (or
    Ref markers) in place of row numbers, beside the decoded one: twice its cost."""
    c = cost(t)
    if t.kind in ("list", "set", "frozenset", "tuple", "dict") and not t.is_tagged() and t.references():
        return Cost(2 * c.fixed, c.least, 2 * c.ratio, 2 * c.dense)
    return c


def _enum_value(value: int | str) -> int:
    if isinstance(value, str):
        return STR + 4 * len(value.encode("utf-8", "surrogatepass"))
    return INT if abs(value) < 2**60 else BIG_INT


def row_object(fields: int) -> int:
    """A record built from a row, or the dict a generic read makes of it: the dict is the
    larger (a msgspec record takes 32 + 8 a field, a dataclass 56 and its values, a dict of
    its own past 29 fields)."""
    return DICT + ROW_ITEM * fields
