"""Standard-library types stored as another field type: their *stored form*.

A ``deque`` is stored as ``[maxlen, items]``, an ``OrderedDict``, a ``Counter`` and a
``defaultdict`` as the dict they hold (in order), a path and a ``Fraction`` as text. Each is
its own kind in the schema (so a reader without the application's code rebuilds the same
class, and evolution never confuses a deque with a list), and is encoded, checked and
judged through its stored form. A ``defaultdict``'s default factory is never stored: it is
what its value type makes empty (``defaultdict[str, list[int]]``: ``list``), and a value
whose factory differs is refused at save rather than loaded with another one.
"""

from __future__ import annotations

import collections
import fractions
import pathlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._types import CONTAINER_KINDS, SCALAR_TYPES, FieldType

_INT = FieldType("int")
_OPTIONAL_INT = FieldType("union", items=(FieldType("int"), FieldType("none")))
_STR = FieldType("str")


@dataclass(frozen=True)
class Wrapped:
    """A kind stored as another field type."""

    kind: str
    classes: tuple[type, ...]  # the runtime classes a value may be (Path: PosixPath or WindowsPath)
    arity: int
    stored: Callable[[FieldType], FieldType]
    to_stored: Callable[[Any], Any]
    from_stored: Callable[[FieldType, Any], Any]


def _deque_stored(t: FieldType) -> FieldType:
    return FieldType("tuple", items=(_OPTIONAL_INT, FieldType("list", items=t.items)))


def _dict_stored(t: FieldType) -> FieldType:
    return FieldType("dict", items=t.items)


def _counter_stored(t: FieldType) -> FieldType:
    return FieldType("dict", items=(t.items[0], _INT))


def _text(t: FieldType) -> FieldType:
    return _STR


def _deque(t: FieldType, stored: Any) -> collections.deque[Any]:
    maxlen, items = stored
    if maxlen is not None and len(items) > maxlen:  # a deque would drop the first items unsaid
        raise ValueError(f"{len(items)} items in a deque of maxlen {maxlen}")
    return collections.deque(items, maxlen)


def _defaultdict(t: FieldType, stored: Any) -> collections.defaultdict[Any, Any]:
    return collections.defaultdict(default_factory(t.items[1]), stored)


def _fraction(t: FieldType, stored: Any) -> fractions.Fraction:
    """The one form a writer gives: ``n/d`` in lowest terms, the sign on ``n``, ``d`` > 0."""
    numerator, slash, denominator = stored.partition("/")
    if not (slash and _integer(numerator) and denominator.isascii() and denominator.isdigit()):
        raise ValueError(f"a fraction written n/d, not {stored[:40]!r}")
    value = fractions.Fraction(int(numerator), int(denominator))
    if f"{value.numerator}/{value.denominator}" != stored:
        raise ValueError(f"a fraction in lowest terms with the sign on its numerator, not {stored[:40]!r}")
    return value


def _integer(text: str) -> bool:
    digits = text[1:] if text[:1] == "-" else text
    return digits.isascii() and digits.isdigit()


_PATH_CLASSES = (pathlib.Path, type(pathlib.Path()))  # Path() makes a PosixPath (or WindowsPath)

WRAPPED: dict[str, Wrapped] = {
    w.kind: w
    for w in (
        Wrapped(
            "deque",
            (collections.deque,),
            1,
            _deque_stored,
            lambda v: (v.maxlen, list(v)),
            _deque,
        ),
        Wrapped(
            "ordereddict",
            (collections.OrderedDict,),
            2,
            _dict_stored,
            dict,
            lambda t, v: collections.OrderedDict(v),
        ),
        Wrapped("counter", (collections.Counter,), 1, _counter_stored, dict, lambda t, v: collections.Counter(v)),
        Wrapped("defaultdict", (collections.defaultdict,), 2, _dict_stored, dict, _defaultdict),
        Wrapped("path", _PATH_CLASSES, 0, _text, str, lambda t, v: pathlib.Path(v)),
        Wrapped("pureposixpath", (pathlib.PurePosixPath,), 0, _text, str, lambda t, v: pathlib.PurePosixPath(v)),
        Wrapped("fraction", (fractions.Fraction,), 0, _text, lambda v: f"{v.numerator}/{v.denominator}", _fraction),
    )
}


WRAPPED_CLASSES: dict[type, Wrapped] = {cls: w for w in WRAPPED.values() for cls in w.classes}


def wraps(t: FieldType) -> bool:
    """Whether a type holds a wrapped kind anywhere (its values need converting)."""
    return any(node.kind in WRAPPED for node in t.walk())


def default_factory(value_type: FieldType) -> Callable[[], Any]:
    """What a ``defaultdict`` of this value type makes missing values with (a kind in
    ``FACTORY_KINDS``: checked when the type is validated)."""
    kind = value_type.kind
    return SCALAR_TYPES.get(kind) or CONTAINER_KINDS.get(kind) or WRAPPED[kind].classes[0]


def to_stored(t: FieldType, value: Any) -> Any:  # noqa: PLR0911 - one return per kind
    """A Python value of ``t`` with every wrapped value inside it in its stored form
    (records untouched)."""
    kind = t.kind
    if kind == "union":
        member = next((m for m in t.items if _is_value_of(m, value)), None)
        return value if member is None else to_stored(member, value)
    wrapped = WRAPPED.get(kind)
    if wrapped is not None:
        if type(value) not in wrapped.classes:
            return value  # not of its class: left for the caller's type check to refuse
        stored = wrapped.to_stored(value)
        return to_stored(wrapped.stored(t), stored) if wraps(wrapped.stored(t)) else stored
    if not wraps(t) or value is None:
        return value
    if kind == "dict":
        k, v = t.items
        return {to_stored(k, x): to_stored(v, y) for x, y in value.items()}
    if kind == "tuple":
        items = t.items * len(value) if t.variadic else t.items
        return tuple(to_stored(i, x) for i, x in zip(items, value, strict=True))
    if kind in ("list", "set", "frozenset"):
        return CONTAINER_KINDS[kind](to_stored(t.items[0], x) for x in value)
    return value


def stored_type(t: FieldType) -> FieldType:
    """``t`` with every wrapped kind in it replaced by the type it is stored as."""
    if not wraps(t):
        return t
    wrapped = WRAPPED.get(t.kind)
    if wrapped is not None:
        return stored_type(wrapped.stored(t))
    return FieldType(t.kind, tuple(stored_type(i) for i in t.items), t.variadic, t.record, t.values, t.enum, t.members)


def _is_value_of(t: FieldType, value: Any) -> bool:
    wrapped = WRAPPED.get(t.kind)
    if wrapped is not None:
        return type(value) in wrapped.classes
    cls = SCALAR_TYPES.get(t.kind) or CONTAINER_KINDS.get(t.kind)
    return cls is not None and type(value) is cls
