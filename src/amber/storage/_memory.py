"""An in-process store: the default test double and the model for the store contract."""

from __future__ import annotations

import builtins
import threading
import time
from collections.abc import Iterable

import xxhash

from ..errors import ConflictError, ObjectNotFoundError
from ._base import check_key


class MemoryStorage:
    """Objects in a dict, guarded by a lock. Each ``memory://`` store is a new, empty one."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._times: dict[str, float] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return "memory://"

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._get(key)[start : start + length]

    def size(self, key: str) -> int:
        return len(self._get(key))

    def put(self, key: str, chunks: Iterable[bytes], *, create_only: bool = False, durable: bool = True) -> int:
        check_key(key)
        data = b"".join(chunks)
        with self._lock:
            if create_only and key in self._objects:
                raise ConflictError(f"{key} already exists")
            self._objects[key] = data
            self._times[key] = time.time()
        return len(data)

    def etag(self, key: str) -> str:
        return xxhash.xxh3_128_hexdigest(self._get(key))

    def replace(self, key: str, data: bytes, *, etag: str | None) -> str:
        check_key(key)
        with self._lock:
            current = self._objects.get(key)
            found = None if current is None else xxhash.xxh3_128_hexdigest(current)
            if found != etag:
                raise ConflictError(f"{key} changed: expected tag {etag}, found {found}")
            self._objects[key] = bytes(data)
            self._times[key] = time.time()
        return xxhash.xxh3_128_hexdigest(data)

    def list(self, prefix: str) -> list[str]:
        with self._lock:
            keys = list(self._objects)
        return sorted(k for k in keys if k.startswith(prefix) and "/" not in k[len(prefix) :])

    def delete(self, key: str) -> None:
        with self._lock:
            self._objects.pop(key, None)
            self._times.pop(key, None)

    def exists(self) -> bool:
        return True

    def modified(self, key: str) -> float:
        self._get(key)
        return self._times[key]

    def temporaries(self, prefix: str) -> builtins.list[tuple[str, float]]:
        return []  # writes here are atomic: nothing is ever left half-written

    def delete_temporary(self, name: str) -> None:
        pass

    def _get(self, key: str) -> bytes:
        check_key(key)
        with self._lock:
            data = self._objects.get(key)
        if data is None:
            raise ObjectNotFoundError(f"{key} not found in memory://")
        return data
