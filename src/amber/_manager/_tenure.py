"""A manager's tenure as its store's one writer (``Manager(exclusive=True)``): the writer
lock of a local folder, or the lease of an object store, held from its first restore or
checkpoint until ``close()``.

Apart from the manager because it is one concern with its own state (the lock, whether the
lease is ours, which manager of this process holds a store's lease).
"""

from __future__ import annotations

import contextlib
import weakref

from .._store._checkpoint import CheckpointStore
from .._store._commit import refuse_unsigned
from .._store._lease import LEASE_KEY
from .._store._writer_lock import WriterLock
from ..errors import AmberError, LeaseHeldError
from ..storage import MemoryStorage

_lease_holders: dict[int, weakref.ref[object]] = {}  # store object -> the manager holding its lease


class Tenure:
    """What one manager holds of its store, so that no second writer commits beside it."""

    def __init__(self) -> None:
        self.store: CheckpointStore | None = None  # the store held, which release() lets go of
        self._writer_lock: WriterLock | None = None
        self._own_lease = False  # the lease this manager took (object storage), released on close

    def hold(self, manager: object, store: CheckpointStore, *, wait: float | None, seconds: float = 30.0) -> None:
        """Become the store's one writer before the first restore or checkpoint: its writer
        lock on a local folder, its lease elsewhere (object storage: ``seconds`` long),
        unless the store holds one already. A second manager gets ``StoreLockedError`` or ``LeaseHeldError`` before
        it has acknowledged anything, or after ``wait`` seconds. In-process memory stores
        need neither."""
        self.store = store
        refuse_unsigned(store)  # its lock would keep the writer that can sign out
        if self._writer_lock is None:
            self._writer_lock = WriterLock.take(store.storage, wait=wait)
        local = self._writer_lock is not None or isinstance(store.storage, MemoryStorage)
        holder = _lease_holders.get(id(store))
        if local or (holder is not None and holder() is manager):
            return
        if holder is not None and holder() is not None:
            raise LeaseHeldError(
                f"{store.url}: another manager of this process holds the store's lease: one manager per store",
                lease=f"{store.url}/{LEASE_KEY}",
            )
        if store.lease is None:  # else the application took it itself: it keeps it
            self._own_lease = True
            try:
                store.acquire_lease(seconds=seconds, wait=wait or 0.0)
            except LeaseHeldError as e:
                raise LeaseHeldError(
                    f"{e}; one manager per store (after a crash, Manager(lock_wait=SECONDS) waits for the lease)",
                    lease=e.lease,
                    token=e.token,
                    holder=e.holder,
                ) from None
        _lease_holders[id(store)] = weakref.ref(manager)

    def release(self, manager: object) -> None:
        """Let go of what ``hold`` took (the lock, our lease); safe to call when nothing is held."""
        if self._writer_lock is not None:
            self._writer_lock.release()
            self._writer_lock = None
        store = self.store
        if store is None:
            return
        holder = _lease_holders.get(id(store))
        if holder is not None and holder() is manager:
            del _lease_holders[id(store)]
        if self._own_lease:
            self._own_lease = False
            with contextlib.suppress(AmberError):  # it expires by itself if the store is unreachable
                store.release_lease()
