"""One manager writing a local store at a time: an ``flock`` held from a manager's first
restore or checkpoint until it closes (or its process dies: the kernel drops it)."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import socket
import stat
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path

from ..errors import AmberError, StoreLockedError
from ..storage import LocalStorage, Storage
from ..storage._prefixed import PrefixedStorage

LOCK_NAME = ".amber-writer.lock"  # hidden: never listed, never collected
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


def _open_lock_file(path: Path) -> int:
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
        fd = _open_lock_file(path)
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
                time.sleep(0.05)
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


# --- gc against writers -------------------------------------------------------------------
# A data file exists before the manifest naming it, and a rollback names a data file it read
# from another manifest: between the two, a collection would see it unnamed. On a local store
# every such window holds this lock shared, and a collection holds it exclusive, so it never
# runs inside one, whatever the clocks say. A store without locks (S3) gets a marker instead,
# pending/<data file>.<random>, put before the data file is written (or, for a rollback,
# before its source is read again) and deleted after the commit; a collection lists data
# files, then markers, then manifests, and spares every data file a marker names: with
# listings that see every put before them (S3's), a file is either marked or named.
GC_LOCK_NAME = ".amber-gc.lock"
PENDING = "pending/"
PENDING_STALE = 24 * 3600.0  # a marker this old (on the store's clock) is a crashed writer's


@contextlib.contextmanager
def writing(storage: Storage, data_key: str | None = None) -> Iterator[None]:
    """Held while a data file (``data_key``, when the store needs it named) may be in the
    store without a manifest naming it yet."""
    folder = _local_folder(storage)
    if folder is not None or data_key is None:
        with _flocked(folder, fcntl.LOCK_SH, wait=None, url=storage.url):
            yield
        return
    marker = f"{PENDING}{data_key.removeprefix('data/')}.{secrets.token_hex(4)}"
    storage.put(marker, [b""])
    try:
        yield
    finally:
        with contextlib.suppress(AmberError):  # a marker left behind only delays a collection
            storage.delete(marker)


def pending_data(storage: Storage) -> dict[str, str]:
    """Data files a writer has marked as about to be named: data key -> its marker."""
    found = {}
    for marker in storage.list(PENDING):
        name, _, _ = marker.removeprefix(PENDING).rpartition(".")
        if name:
            found[f"data/{name}"] = marker
    return found


@contextlib.contextmanager
def collecting(storage: Storage, *, wait: float) -> Iterator[None]:
    """Held by a collection: waits up to ``wait`` seconds for the writes in progress."""
    with _flocked(_local_folder(storage), fcntl.LOCK_EX, wait=wait, url=storage.url):
        yield


_gc_fds: set[int] = set()  # this process's gc lock descriptors: a forked child closes its copies


def _close_gc_locks_in_child() -> None:
    """A child forked while a write held the gc lock (a multiprocessing worker, say) must not
    hold it for its whole life: its copy is closed (the parent's lock stands). A checkpoint's
    child takes its own when it writes."""
    for fd in list(_gc_fds):
        with contextlib.suppress(OSError):
            os.close(fd)
    _gc_fds.clear()


os.register_at_fork(after_in_child=_close_gc_locks_in_child)


def _local_folder(storage: Storage) -> Path | None:
    """The folder a store's objects live in, when it is one on this host (a fleet worker's
    store is a folder of the fleet's, seen through a prefix), created if missing."""
    if isinstance(storage, LocalStorage):
        storage.ensure_root()
        return storage.root
    if isinstance(storage, PrefixedStorage):
        inner = _local_folder(storage.inner)
        if inner is None:
            return None
        folder = inner / storage.prefix.rstrip("/")
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        return folder
    return None


@contextlib.contextmanager
def _flocked(folder: Path | None, mode: int, *, wait: float | None, url: str) -> Iterator[None]:
    if folder is None:
        yield
        return
    fd = _open_lock_file(folder / GC_LOCK_NAME)
    _gc_fds.add(fd)
    try:
        if wait is None:
            fcntl.flock(fd, mode)
        else:
            _flock_within(fd, mode, wait, url)
        yield
    finally:
        _gc_fds.discard(fd)
        os.close(fd)


def _flock_within(fd: int, mode: int, wait: float, url: str) -> None:
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreLockedError(
                    f"{url}: a checkpoint is being written (or a collection runs) for over {wait:g} s: "
                    "try the collection again later"
                ) from None
            time.sleep(0.05)
