"""Small JSON objects stored beside checkpoints (a lease, a fleet's config, votes and
decisions, migration-log entries): read bounded, decoded into their type, a failure
turned into the caller's typed error; and the UTC time stamps they carry.

One boundary, written once: msgspec raises ``ValueError`` subclasses for malformed JSON,
bad UTF-8 and wrong types, and ``RecursionError`` for absurd nesting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TypeVar

import msgspec

from ..errors import AmberError, ObjectNotFoundError
from ..storage import Storage

T = TypeVar("T")


def decode_object(data: bytes, kind: type[T], refuse: Callable[[str], AmberError]) -> T:
    """``data`` decoded as ``kind``; ``refuse(reason)`` is raised when it is not one."""
    try:
        return msgspec.json.decode(data, type=kind)
    except (ValueError, RecursionError) as e:  # msgspec errors, bad UTF-8, absurd nesting
        raise refuse(str(e)) from None


def read_object(storage: Storage, key: str, limit: int) -> bytes | None:
    """The first ``limit`` bytes of ``key`` (an object that size is refused when decoded),
    or None when there is no such object."""
    try:
        return storage.get_range(key, 0, limit)
    except ObjectNotFoundError:
        return None


def utc_stamp(when: dt.datetime | float | None = None) -> str:
    """ISO 8601 in UTC with a ``Z`` (now, or ``when``: a datetime or epoch seconds)."""
    if when is None:
        when = dt.datetime.now(dt.UTC)
    elif isinstance(when, (int, float)):
        when = dt.datetime.fromtimestamp(when, dt.UTC)
    return when.isoformat().replace("+00:00", "Z")
