"""Storage backends: the narrow object-store protocol every checkpoint store is built on."""

from typing import Any

from ._base import ReadsInto, Storage
from ._local import LocalStorage
from ._memory import MemoryStorage

__all__ = ["LocalStorage", "MemoryStorage", "ReadsInto", "S3Storage", "Storage"]


def __getattr__(name: str) -> Any:
    if name == "S3Storage":  # needs the optional obstore: imported only when asked for
        from ._s3 import S3Storage

        return S3Storage
    raise AttributeError(f"module 'amber.storage' has no attribute {name!r}")
