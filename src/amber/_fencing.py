"""Telling the commits of fenced-off writers from the others (docs/format.md, section 11).

Each takeover of a store's lease leaves one fence per token, ``fences/<token>``, created
once (create-only) by the new holder right after it took the lease and listed the store;
it holds the first sequence number it voids for older tokens. A manifest is void when a
fence of a higher token starts at or below its sequence number.

A list of fences made after a manifest existed is complete for it, with one window: a
taker between its lease and its fence. Whoever lists fences also reads the lease; a token
above every fence's means that fence is coming. Readers wait for it; writers (who can)
wait ``FENCE_WAIT`` and then *close* the token: its fence, created by them, voids nothing,
so a taker stalled that long finds its own fence taken and knows it lost.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable

from ._format import MAX_SEQUENCE, MAX_TOKEN
from ._lease import LEASE_KEY, LeaseRecord, peek_lease
from .errors import ConflictError, ObjectNotFoundError, StoreError
from .storage import Storage

log = logging.getLogger("amber.lease")
Fence = tuple[int, int]  # (token, first sequence it voids for older tokens)
CLOSED = MAX_SEQUENCE + 1  # the first sequence of a closed token's fence: it voids nothing
FENCE_WAIT = 30.0  # seconds a writer waits for a taker's fence before closing its token


def fence_key(token: int) -> str:
    return f"fences/{token:019d}"


class FenceView:
    """The fences of one store as last listed, and the highest sequence number that list is
    complete for; manifests' tokens and fences' contents, read once each (never changed)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.fences: list[Fence] = []
        self.complete_to = -1
        self.tokens: dict[str, int] = {}
        self._firsts: dict[int, int] = {}  # token -> first sequence, as read
        self._given_up: set[int] = set()  # tokens whose fence a reader stopped waiting for

    def listed(self) -> list[Fence]:
        """The fences as they are in the store now, oldest first; odd names are ignored."""
        found = []
        for key in self.storage.list("fences/"):
            name = key.removeprefix("fences/")
            if not (name.isdigit() and len(name) == 19):
                continue
            token = int(name)
            if token not in self._firsts:
                first = self._read(key)
                if first is None:
                    continue
                self._firsts[token] = first
            found.append((token, self._firsts[token]))
        return sorted(found)

    def _read(self, key: str) -> int | None:
        try:
            text = self.storage.get_range(key, 0, 64).decode("ascii", "replace").strip()
        except ObjectNotFoundError:
            return None
        if text == "closed":
            return CLOSED
        if text.isdigit() and len(text) == 12:
            return int(text)
        log.warning("%s: %s is not a fence (%r); ignored", self.storage.url, key, text[:20])
        return None

    def write(self, token: int, first: int) -> bool:
        """Create token's fence; False when it exists already (a writer closed it)."""
        try:
            self.storage.put(fence_key(token), [f"{first:012d}".encode()], create_only=True)
        except ConflictError:
            return self._read(fence_key(token)) == first  # our own put, retried after it succeeded
        return True

    def close(self, token: int) -> None:
        """Create token's fence voiding nothing, unless its taker wrote it first."""
        with contextlib.suppress(ConflictError):
            self.storage.put(fence_key(token), [b"closed"], create_only=True)
            log.warning("%s: closed lease token %d, whose fence never came", self.storage.url, token)

    def refresh(self, complete_to: int, *, writer: bool = False) -> None:
        """List the fences now, for manifests up to ``complete_to`` that exist already,
        waiting out a taker that has its lease but not yet its fence: a ``writer`` closes
        its token after ``FENCE_WAIT``; a reader waits twice that (once per token)."""
        began = time.monotonic()
        while True:
            fences = self.listed()
            pending = self._pending_taker(fences)
            if pending is None:
                break
            waited = time.monotonic() - began
            if writer and waited > FENCE_WAIT:
                self.close(pending.token)
                continue
            if not writer and waited > 2 * FENCE_WAIT:
                log.warning(
                    "%s: lease token %d (%s) has no fence; going on without it",
                    self.storage.url,
                    pending.token,
                    pending.holder,
                )
                self._given_up.add(pending.token)
                break
            time.sleep(0.05)
        self.fences, self.complete_to = fences, complete_to

    def _pending_taker(self, fences: list[Fence]) -> LeaseRecord | None:
        """The lease, when a taker holds it whose fence is not written yet."""
        try:
            lease = peek_lease(self.storage, LEASE_KEY)
        except StoreError as e:  # a damaged lease stops writers, not readers
            log.warning("%s", e)
            return None
        newest = max((token for token, _ in fences), default=0)
        if lease is None or lease.token <= newest or lease.token > MAX_TOKEN or lease.expires == 0:
            return None  # no lease, fenced already, damaged, or released (its taker gave up)
        return None if lease.token in self._given_up else lease

    def covering(self, sequence: int, token: int) -> Fence | None:
        """The fence that voids a commit of ``token`` at ``sequence``, or None."""
        if sequence > self.complete_to:
            self.refresh(sequence)
        over = [f for f in self.fences if f[1] <= sequence and f[0] > token]
        return over[0] if over else None

    def valid(self, ids: list[str], token_of: Callable[[str], int | None]) -> list[str]:
        """``ids`` (just listed) without the void ones; ``token_of`` reads a manifest's
        token (None when unreadable: kept, to be refused with its own error when read)."""
        self.refresh(int(ids[-1]) if ids else -1)
        listed = set(ids)
        self.tokens = {cid: t for cid, t in self.tokens.items() if cid in listed}  # gone ones stay gone
        if not any(first <= MAX_SEQUENCE for _, first in self.fences):
            return ids
        first_fenced = min(first for _, first in self.fences)
        kept = []
        for cid in ids:
            if int(cid) >= first_fenced:
                if cid not in self.tokens:
                    token = token_of(cid)
                    if token is None:
                        kept.append(cid)
                        continue
                    self.tokens[cid] = token
                if self.covering(int(cid), self.tokens[cid]) is not None:
                    continue
            kept.append(cid)
        return kept

    def newest_token(self) -> int:
        return max((token for token, _ in self.listed()), default=0)
