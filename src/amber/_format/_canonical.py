"""Canonical ordering: the order unordered collections (sets, a delta's keys) are written in.

A checkpoint's bytes must not depend on hashing or on where objects live in memory, so that
the same state always writes the same bytes. Both encodings sort by what is here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ._errors import BadValue
from ._tagged import PLAIN

_encode_for_sort = msgspec.msgpack.Encoder(uuid_format="bytes").encode


def sort_key(value: Any) -> bytes:
    """The canonical order of unordered collections: by the bytes of each element's encoding."""
    try:
        return _encode_for_sort(value)
    except OverflowError:
        raise BadValue("an integer is outside [-2**63, 2**64 - 1]") from None
    except UnicodeEncodeError:
        raise BadValue("a string is not valid Unicode (it holds a lone surrogate)") from None


def sort_canonically(keys: list[Any]) -> list[Any]:
    """Keys in an order that does not depend on hashing: natural, else by encoded bytes."""
    try:
        return sorted(keys)
    except TypeError:
        return sorted(keys, key=sort_key)


def content_key(value: Any) -> bytes:
    """Order set members by their own content, never by where they live in memory.

    Records count by their type and fields two levels deep (records further in by their
    type name alone), so the key stays small however much the records share.
    """
    try:
        return _encode_for_sort(_shallow(value, 2))
    except (TypeError, ValueError, OverflowError):
        return type(value).__qualname__.encode()


def _shallow(value: Any, depth: int) -> Any:
    kind = type(value)
    names = _field_names(kind)
    if kind in PLAIN or not (names or kind in (list, tuple, set, frozenset, dict)):
        return value
    if depth <= 0:
        return kind.__qualname__
    if names:
        return [kind.__qualname__, *(_shallow(getattr(value, n), depth - 1) for n in names)]
    if kind is dict:
        return [[_shallow(k, depth - 1), _shallow(v, depth - 1)] for k, v in value.items()]
    items = [_shallow(x, depth - 1) for x in value]
    return sorted(items, key=_encode_for_sort) if kind in (set, frozenset) else items


def _field_names(kind: type) -> list[str]:
    """The fields of a msgspec struct or dataclass type; [] for anything else."""
    names = getattr(kind, "__struct_fields__", None)
    if names is None:
        names = list(getattr(kind, "__dataclass_fields__", {}))
    return list(names)
