"""Writers' leases: one writer at a time per store, with fencing tokens.

A lease is a small object changed only by compare-and-swap (``Storage.replace``): its holder,
the wall-clock time it expires, and a token that grows by one at every acquisition. A
writer may take a lease that is absent, expired, or released; the holder renews it well
before it expires (a daemon thread does, every third of its duration). A holder that was
paused past its expiry (a stopped VM, a long GC) and wakes up finds a newer token: it is
fenced, and the store refuses to let it commit (``_checkpoint`` checks the token around
every commit, and readers ignore commits that a newer token fenced off).

Expiry compares wall clocks of different hosts: leases should last far longer than their
clocks can drift apart (NTP keeps them within milliseconds; the default is 30 seconds).
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import socket
import threading
import time
from typing import NoReturn

import msgspec

from .._format._format import MAX_TOKEN
from .._format._objects import decode_object, read_object
from ..errors import ConflictError, FencedError, LeaseHeldError, ObjectNotFoundError, StoreError, StoreNotFoundError
from ..storage import Storage

log = logging.getLogger("amber.lease")
_MAX_BYTES = 4096
LEASE_KEY = "leases/writer.json"  # a store's one writer lease


class LeaseRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The lease object's content."""

    token: int
    holder: str
    expires: float  # Unix seconds; 0 once released
    acquired: float


def holder_name() -> str:
    """Who this process is, for humans reading a lease: host, pid and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def read_lease(storage: Storage, key: str) -> tuple[LeaseRecord, str] | None:
    """The lease at ``key`` and its tag, or None when there is none; a damaged lease object
    raises ``StoreError`` (no writer may guess whether it is held)."""
    try:
        tag = storage.etag(key)
    except (ObjectNotFoundError, StoreNotFoundError):  # a new store: its folder comes with the first write
        return None
    record = peek_lease(storage, key)
    return (record, tag) if record is not None else None


def peek_lease(storage: Storage, key: str) -> LeaseRecord | None:
    """The lease at ``key`` without its tag (one request), or None when there is none."""
    try:
        data = read_object(storage, key, _MAX_BYTES)
    except StoreNotFoundError:
        return None
    if data is None:
        return None
    return decode_object(
        data,
        LeaseRecord,
        lambda e: StoreError(f"{storage.url}: {key}: not a lease object ({e}); remove it to reset the lease"),
    )


class Lease:
    """A lease held on ``storage`` at ``key``: ``token`` fences off every earlier holder."""

    def __init__(self, storage: Storage, key: str, record: LeaseRecord, tag: str, seconds: float) -> None:
        self.storage = storage
        self.key = key
        self.token = record.token
        self.holder = record.holder
        self.acquired = record.acquired
        self.seconds = seconds
        self._tag = tag
        self._lock = threading.Lock()
        self._lost: FencedError | None = None
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def where(self) -> str:
        return f"{self.storage.url}/{self.key}"

    @classmethod
    def acquire(
        cls,
        storage: Storage,
        key: str,
        *,
        holder: str | None = None,
        seconds: float = 30.0,
        wait: float = 0.0,
        keep: bool = True,
        floor: int = 0,
    ) -> Lease:
        """Take the lease when it is free or expired, waiting up to ``wait`` seconds for it;
        ``LeaseHeldError`` otherwise. With ``keep``, a daemon thread renews it. The token is
        one above the previous holder's and above ``floor`` (the store's highest fence: a
        lease object removed by hand must not bring an old token back)."""
        if not 0 < seconds < math.inf:  # NaN too: a lease that never expires would stop every writer
            raise ValueError(f"seconds must be a positive, finite number, not {seconds}")
        holder = holder or holder_name()
        deadline = time.monotonic() + wait
        while True:
            current = read_lease(storage, key)
            now = time.time()
            if current is None or current[0].expires <= now:
                token = max(current[0].token if current else 0, floor) + 1
                if token > MAX_TOKEN:
                    raise StoreError(f"{storage.url}/{key}: lease token {token} is beyond {MAX_TOKEN}: a damaged lease")
                record = LeaseRecord(token=token, holder=holder, expires=now + seconds, acquired=now)
                try:
                    tag = storage.replace(key, msgspec.json.encode(record), etag=current[1] if current else None)
                except ConflictError:
                    continue  # another writer changed it meanwhile: look again
                lease = cls(storage, key, record, tag, seconds)
                if current is not None and current[0].expires > 0:
                    log.warning("lease %s taken over from %s (token %d)", lease.where, current[0].holder, token)
                if keep:
                    lease._start_keeper()
                return lease
            left = current[0].expires - now
            if time.monotonic() + min(left, 0.2) > deadline:
                raise LeaseHeldError(
                    f"{storage.url}/{key}: held by {current[0].holder} (token {current[0].token}) "
                    f"for {left:.1f} s more",
                    lease=f"{storage.url}/{key}",
                    token=current[0].token,
                    holder=current[0].holder,
                )
            time.sleep(min(left, 0.2, max(0.0, deadline - time.monotonic())) or 0.01)

    def renew(self) -> None:
        """Push the expiry ``seconds`` ahead; ``FencedError`` if the lease was taken over."""
        with self._lock:
            self.check_held()
            record = LeaseRecord(self.token, self.holder, time.time() + self.seconds, self.acquired)
            data = msgspec.json.encode(record)
            try:
                self._tag = self.storage.replace(self.key, data, etag=self._tag)
            except ConflictError:
                current = read_lease(self.storage, self.key)
                if current is None or (current[0].token, current[0].holder) != (self.token, self.holder):
                    self._fenced(current)
                # Still ours (a renewal whose answer was lost moved the tag): swap from the tag seen.
                self._tag = self.storage.replace(self.key, data, etag=current[1])

    def check_held(self) -> None:
        """Raise ``FencedError`` if the lease is known to be lost (no request)."""
        if self._lost is not None:
            raise self._lost

    def check(self) -> None:
        """Read the lease and raise ``FencedError`` unless this holder's token still stands."""
        self.check_held()
        current = read_lease(self.storage, self.key)
        if current is None or current[0].token != self.token:
            self._fenced(current)

    def release(self) -> None:
        """Give the lease up (it expires now, its token stays): the next writer needn't wait."""
        self._stop.set()
        with self._lock:
            if self._lost is not None:
                return
            record = LeaseRecord(self.token, self.holder, 0.0, self.acquired)
            with contextlib.suppress(ConflictError, StoreError):  # taken over, or unreachable: it expires
                self.storage.replace(self.key, msgspec.json.encode(record), etag=self._tag)
            self._lost = FencedError(
                f"{self.where}: released by this writer", lease=self.where, token=self.token, holder=self.holder
            )

    def _fenced(self, current: tuple[LeaseRecord, str] | None) -> NoReturn:
        now_held = f"held by {current[0].holder} with token {current[0].token}" if current else "gone"
        self._lost = FencedError(
            f"{self.where}: this writer's lease (token {self.token}) was taken over, now {now_held}; "
            "it may commit nothing more",
            lease=self.where,
            token=current[0].token if current else 0,
            holder=current[0].holder if current else "",
        )
        self._stop.set()
        raise self._lost

    def _start_keeper(self) -> None:
        self._keeper = threading.Thread(target=self._keep, name=f"amber-lease-{self.key}", daemon=True)
        self._keeper.start()

    def _keep(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except FencedError:
                if not self._stop.is_set():  # taken over, not released by this writer
                    log.error("%s", self._lost)
                return
            except StoreError as e:  # transient: try again at the next beat, before it expires
                log.warning("lease %s not renewed: %s", self.where, e)
