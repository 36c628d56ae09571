"""How a value the rules resolve becomes the reader's: the conversion per field type (pure).

``TypeJudge`` (``_judge``) decides whether a writer's type reads as a reader's; this module
builds, for a pair it accepts, the function applied to each decoded value before
``msgspec.convert`` finishes it. A conversion keeps values exactly or refuses them with
``BadValue`` naming what was lost: an int with no exact float value, bytes that are not
UTF-8, a removed enum member with no default, members a set would merge.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from .._format._errors import BadValue
from .._schema._enums import fallback
from .._schema._types import FieldType
from .._schema._types import family as stored_family
from .._schema._wrapped import WRAPPED
from ._judge import CONTAINERS, TypeJudge, member_names

Convert = Callable[[Any], Any]

EXACT_FLOAT_LIMIT = 2**53  # every int of at most this magnitude has an exact float64 value


def converter(judge: TypeJudge, a: FieldType, b: FieldType) -> Convert | None:  # noqa: PLR0911 - one return per rule
    """A function turning one decoded value of ``a`` into what decoding ``b`` expects
    (then ``msgspec.convert`` finishes it), raising ``BadValue`` for a value that cannot
    be kept exactly; None when no value needs more than ``msgspec.convert``."""
    if judge.same(a, b) or a.is_tagged() or b.kind == "any":
        return None
    if a.kind == "union":
        return _union_converter(judge, a, b)
    if b.kind == "union":
        member = judge.member_for(a, b)
        return None if member is None else converter(judge, a, member)
    if (a.kind, b.kind) in _LEAVES:
        judge.notes.append(_LEAF_NOTES[a.kind, b.kind])
        return _LEAVES[a.kind, b.kind]
    if a.kind == b.kind == "enum":
        return _enum_converter(judge, a, b)
    if a.kind == b.kind and a.kind in WRAPPED:  # values are converted in their stored form
        return converter(judge, WRAPPED[a.kind].stored(a), WRAPPED[b.kind].stored(b))
    return _container_converter(judge, a, b) if a.kind in CONTAINERS else None


def _union_converter(judge: TypeJudge, a: FieldType, b: FieldType) -> Convert | None:
    by_family = {family(m): converter(judge, m, b) for m in a.items}
    if not any(by_family.values()):
        return None

    def convert(value: Any) -> Any:
        step = by_family.get(value_family(value))
        return value if step is None else step(value)

    return convert


def _container_converter(judge: TypeJudge, a: FieldType, b: FieldType) -> Convert | None:
    steps = [converter(judge, x, y) for x, y in zip(a.items, b.items, strict=True)]
    if not any(steps):
        return None
    keep: Convert = _same
    if a.kind == "dict":
        k, v = (s or keep for s in steps)
        return lambda value: _no_merged({k(x): v(y) for x, y in value.items()}, value)
    if a.kind == "tuple" and not a.variadic:
        each = [s or keep for s in steps]
        return lambda value: tuple(s(x) for s, x in zip(each, value, strict=True))
    one = steps[0] or keep
    if a.kind in ("set", "frozenset"):
        return lambda value: _no_merged({one(x) for x in value}, value)
    return lambda value: [one(x) for x in value]


def _enum_converter(judge: TypeJudge, a: FieldType, b: FieldType) -> Convert | None:
    cls = judge.enum_class(b)
    if not a.members or a == b or cls is None:
        return None  # by value: msgspec.convert finds the member
    kept = set(a.members) & set(member_names(b, cls))
    removed = {v: n for n, v in zip(a.members, a.values, strict=True) if n not in kept}
    if not removed:
        return None
    resolve = fallback(cls)
    if resolve is not None:
        judge.notes.append(f"{a.enum} members {', '.join(removed.values())} read as {b.enum}'s default")

    def convert(value: Any) -> Any:
        if isinstance(value, enum.Enum) or value not in removed:
            return value
        member = resolve(value) if resolve is not None else None
        if member is None:
            raise BadValue(
                f"member {removed[value]} ({value!r}) of enum {a.enum}, which {b.enum} here does not have "
                f"(fix: @amber.enum({b.enum!r}, default=...), or an upgrade step)"
            )
        return member.value

    return convert


def exact_float(value: Any) -> Any:
    """An int read into a float field: only when float64 holds it exactly."""
    if type(value) is not int or -EXACT_FLOAT_LIMIT <= value <= EXACT_FLOAT_LIMIT:
        return value
    try:
        converted = float(value)
    except OverflowError:
        converted = float("inf")
    if converted != value:
        raise BadValue(f"the int {value} has no exact float value (fix: keep the field an int, or an upgrade step)")
    return converted


def _utf8(value: Any) -> Any:
    return value.encode() if type(value) is str else value


def _from_utf8(value: Any) -> Any:
    if type(value) is not bytes:
        return value
    try:
        return value.decode()
    except UnicodeDecodeError as e:
        raise BadValue(f"bytes that are not UTF-8 ({e.reason} at byte {e.start}) for a str field") from None


_LEAVES: dict[tuple[str, str], Convert] = {
    ("int", "float"): exact_float,
    ("str", "bytes"): _utf8,
    ("bytes", "str"): _from_utf8,
}


_LEAF_NOTES = {
    ("int", "float"): "ints without an exact float value (beyond 2**53) fail to load",
    ("str", "bytes"): "str read as its UTF-8 bytes",
    ("bytes", "str"): "bytes that are not UTF-8 fail to load",
}


def _same(value: Any) -> Any:
    return value


def _no_merged(converted: Any, original: Any) -> Any:
    if len(converted) != len(original):
        raise BadValue(f"{len(original) - len(converted)} member(s) that would merge with others once converted")
    return converted


def family(t: FieldType) -> str:
    """The msgpack family of a typed union's member; ``any`` for kinds of several."""
    return stored_family(t) or "any"


def value_family(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    kind = type(value)
    if value is None:
        return "nil"
    if kind is bool:
        return "bool"
    if kind is int:
        return "int"
    if kind is float:
        return "float"
    if kind in (list, tuple, set, frozenset):
        return "array"
    return "map" if kind is dict else "str"
