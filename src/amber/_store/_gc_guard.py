"""Collections kept out of writers' windows.

A data file exists before the manifest naming it, and a rollback names a data file it read
from another manifest: between the two, a collection would see it unnamed. On a local store
every such window holds a lock shared, and a collection holds it exclusive, so it never runs
inside one, whatever the clocks say. A store without locks (S3) gets a marker instead,
pending/<data file>.<random>, put before the data file is written (or, for a rollback, before
its source is read again) and deleted after the commit; a collection lists data files, then
markers, then manifests, and spares every data file a marker names: with listings that see
every put before them (S3's), a file is either marked or named.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import AmberError, StoreLockedError
from ..storage import LocalStorage, Storage
from ..storage._prefixed import PrefixedStorage
from ._writer_lock import open_lock_file

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


def pending_data(storage: Storage) -> list[tuple[str, str]]:
    """Data files writers have marked as about to be named, each with its marker: a file may
    have several (two rollbacks to one checkpoint)."""
    found = []
    for marker in storage.list(PENDING):
        name, _, _ = marker.removeprefix(PENDING).rpartition(".")
        if name:
            found.append((f"data/{name}", marker))
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
    fd = open_lock_file(folder / GC_LOCK_NAME)
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
