"""One manager writing a local store at a time: an ``flock`` held from a manager's first
restore or checkpoint until it closes (or its process dies: the kernel drops it)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from ..errors import StoreLockedError
from ..storage import LocalStorage, Storage

LOCK_NAME = ".amber-writer.lock"  # hidden: never listed, never collected
# Seconds between tries while waiting for the lock: a successor waiting to take over (a
# promoted follower, a new release) takes the store within this of its release. A try is
# one system call.
RETRY = 0.005
_held: weakref.WeakSet[WriterLock] = weakref.WeakSet()
_keeper: int | None = None  # the thread forking a checkpoint's child, while it does


def _drop_in_child() -> None:
    """A forked child must not keep the lock alive past its parent's close, unless it is a
    checkpoint's child: that one keeps it until it exits, so that a service killed while its
    child commits is not restarted (and does not commit) before the child is done."""
    if _keeper is not None and _keeper == threading.get_ident():  # only that fork, not another thread's
        return
    for lock in list(_held):
        lock.release()


os.register_at_fork(after_in_child=_drop_in_child)


@contextlib.contextmanager
def kept_by_children() -> Iterator[None]:
    """Forks made by this thread inside this block keep the process's writer locks (a
    checkpoint's child); forks by other threads meanwhile drop them as always."""
    global _keeper  # noqa: PLW0603 (read by the fork handler, which takes no arguments)
    _keeper = threading.get_ident()
    try:
        yield
    finally:
        _keeper = None


def open_lock_file(path: Path) -> int:
    """The lock file, created if missing; a typed error for whatever is in the way (a
    read-only store, a folder or a symlink planted at its name, a path too long)."""
    try:
        # O_NOFOLLOW: a symlink planted here must not make us truncate the file it points at.
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    except OSError as e:
        if e.errno == errno.ELOOP:
            reason = "a symbolic link is planted there (remove it)"
        elif e.errno == errno.EISDIR:
            reason = "a folder is in the way (remove it)"
        else:
            reason = e.strerror or str(e)
        raise StoreLockedError(f"{path}: cannot take the store's writer lock: {reason}") from None


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
        storage.ensure_root()  # private folders, whatever the umask
        path = storage.root / LOCK_NAME
        fd = open_lock_file(path)
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid():
            os.close(fd)
            owner = f"owned by uid {info.st_uid}: run as that user" if stat.S_ISREG(info.st_mode) else "not a file"
            raise StoreLockedError(f"{path} is not a lock file of this user ({owner})")
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
                time.sleep(RETRY)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{socket.gethostname()} pid {os.getpid()}".encode(), 0)
        lock = cls(fd, path)
        _held.add(lock)
        return lock

    def release(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing drops the lock

    def __del__(self) -> None:
        self.release()
