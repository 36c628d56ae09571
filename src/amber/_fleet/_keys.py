"""Key groups: how a fleet's table keys are spread over its workers.

A fleet has a fixed number of key groups; worker ``i`` of ``n`` owns a contiguous range of
them. A key's group is a hash of its msgpack encoding, the same in every process, host and
Python version, so any process can route a key, and a restore into another number of
workers knows which keys each takes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import msgspec
import xxhash

from ..errors import SerializationError

_keys = msgspec.msgpack.Encoder(uuid_format="bytes")


def key_group(key: Any, key_groups: int) -> int:
    """The key group of a table key: a hash of its msgpack encoding, the same in every
    process, host and Python version (unlike ``hash()``)."""
    try:
        encoded = _keys.encode(key)
    except (OverflowError, TypeError, UnicodeEncodeError) as e:
        raise SerializationError(f"{key!r} cannot be a table key: {e}") from None
    return xxhash.xxh3_64_intdigest(encoded) % key_groups


def groups_of(worker: int, workers: int, key_groups: int) -> tuple[int, int]:
    """The key groups ``[first, end)`` worker ``worker`` of ``workers`` owns."""
    return worker * key_groups // workers, (worker + 1) * key_groups // workers


def of_groups(items: Iterable[tuple[Any, Any]], first: int, end: int, key_groups: int) -> Iterator[tuple[Any, Any]]:
    """The (key, value) pairs whose key falls in groups ``[first, end)``."""
    return ((k, v) for k, v in items if first <= key_group(k, key_groups) < end)
