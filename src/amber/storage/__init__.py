"""Storage backends: the narrow object-store protocol every checkpoint store is built on."""

from ._base import Storage
from ._local import LocalStorage
from ._memory import MemoryStorage

__all__ = ["LocalStorage", "MemoryStorage", "Storage"]
