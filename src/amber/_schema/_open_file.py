"""``amber.OpenFile``: Amber's one built-in persisted type, registered in every registry.

An open file cannot be stored, but what reopens it can: its path, mode and offset.
"""

from __future__ import annotations

import os
from typing import Any

from ._record_type import FrozenRecord


class OpenFile(FrozenRecord, frozen=True):
    """An open file, captured as a descriptor (its path, mode and offset) and reopened on
    restore. Put ``amber.OpenFile.of(f)`` in a snapshot; call ``reopen()`` in ``restore``."""

    path: str
    mode: str
    offset: int

    @classmethod
    def of(cls, file: Any) -> OpenFile:
        """Describe ``file`` (flushed first, so the offset counts everything written)."""
        file.flush()
        return cls(os.path.abspath(file.name), file.mode, file.tell())

    def reopen(self, *, truncate: bool = False, within: str | os.PathLike[str] | None = None) -> Any:
        """Open the file again at the saved offset. ``truncate`` cuts what was written after
        the checkpoint (a log then matches the restored state). ``within`` refuses a path
        outside that folder: the path comes from the checkpoint, so check it like input."""
        path = os.path.realpath(self.path)
        if within is not None and os.path.commonpath([path, os.path.realpath(within)]) != os.path.realpath(within):
            raise ValueError(f"{self.path} lies outside {within}")
        mode = _REOPEN_MODES.get(self.mode)
        if mode is None:
            raise ValueError(f"cannot reopen a file opened with mode {self.mode!r}")
        file = open(path, mode)  # noqa: SIM115 - the caller owns the file
        if truncate and mode not in {"rb", "r"}:
            file.truncate(self.offset)
        file.seek(min(self.offset, os.fstat(file.fileno()).st_size))
        return file


# Modes a saved file is reopened with: never one that empties the file or creates it anew.
_REOPEN_MODES = {
    "r": "r", "rb": "rb", "a": "a", "ab": "ab", "r+": "r+", "rb+": "rb+", "r+b": "rb+",
    "a+": "a+", "ab+": "ab+", "a+b": "ab+", "w": "r+", "wb": "rb+", "w+": "r+", "wb+": "rb+", "w+b": "rb+",
}  # fmt: skip
