"""One manager writing a local store at a time: an ``flock`` held from a manager's first
restore or checkpoint until it closes (or its process dies: the kernel drops it)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path

from .errors import StoreLockedError
from .storage import LocalStorage, Storage

LOCK_NAME = ".amber-writer.lock"  # hidden: never listed, never collected


class WriterLock:
    """The lock file of a local store, held by this process."""

    def __init__(self, fd: int, path: Path) -> None:
        self._fd = fd
        self.path = path

    @classmethod
    def take(cls, storage: Storage, *, wait: float | None) -> WriterLock | None:
        """Take the store's writer lock, waiting up to ``wait`` seconds (None: not at all);
        ``StoreLockedError`` naming the holder. None for stores that are not local folders
        (use ``store.acquire_lease()`` there)."""
        if not isinstance(storage, LocalStorage):
            return None
        storage.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = storage.root / LOCK_NAME
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + (wait or 0.0)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "another manager"
                    os.close(fd)
                    raise StoreLockedError(
                        f"{storage.url} is being written by {holder}: one manager per store "
                        "(Manager(lock_wait=SECONDS) waits for it)"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()} pid {os.getpid()}".encode(), 0)
        return cls(fd, path)

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the lock

    def __del__(self) -> None:
        self.release()
