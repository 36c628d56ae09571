"""A storage seen through a folder of another: how a fleet gives each worker its own store."""

from __future__ import annotations

import builtins
from collections.abc import Iterable

from ._base import ReadsInto, Storage, check_key
from ._local import LocalStorage


def sub_storage(inner: Storage, prefix: str) -> Storage:
    """The objects of ``inner`` under ``prefix/`` as a storage of their own: a local folder
    stays a local folder (with its own writer lock); anything else is seen through a prefix."""
    return inner.folder(prefix) if isinstance(inner, LocalStorage) else PrefixedStorage(inner, prefix)


class PrefixedStorage:
    """The objects of ``inner`` under ``prefix/``, with keys relative to it."""

    def __init__(self, inner: Storage, prefix: str) -> None:
        self.inner = inner
        self.prefix = check_key(prefix) + "/"
        self.fork_safe = bool(getattr(inner, "fork_safe", False))

    @property
    def url(self) -> str:
        return f"{self.inner.url.rstrip('/')}/{self.prefix.rstrip('/')}"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self.inner.get_range(self._key(key), start, length)

    def read_range_into(self, key: str, start: int, buffer: memoryview) -> int:
        if isinstance(self.inner, ReadsInto):
            return self.inner.read_range_into(self._key(key), start, buffer)
        data = self.inner.get_range(self._key(key), start, len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def size(self, key: str) -> int:
        return self.inner.size(self._key(key))

    def put(self, key: str, chunks: Iterable[bytes], *, create_only: bool = False, durable: bool = True) -> int:
        return self.inner.put(self._key(key), chunks, create_only=create_only, durable=durable)

    def list(self, prefix: str) -> builtins.list[str]:
        return [k.removeprefix(self.prefix) for k in self.inner.list(self.prefix + prefix)]

    def delete(self, key: str) -> None:
        self.inner.delete(self._key(key))

    def etag(self, key: str) -> str:
        return self.inner.etag(self._key(key))

    def replace(self, key: str, data: bytes, *, etag: str | None) -> str:
        return self.inner.replace(self._key(key), data, etag=etag)

    def exists(self) -> bool:
        return self.inner.exists()

    def modified(self, key: str) -> float:
        return self.inner.modified(self._key(key))

    def temporaries(self, prefix: str) -> builtins.list[tuple[str, float]]:
        found = self.inner.temporaries(self.prefix + prefix)
        return [(name.removeprefix(self.prefix), at) for name, at in found]

    def delete_temporary(self, name: str) -> None:
        self.inner.delete_temporary(self.prefix + name)
