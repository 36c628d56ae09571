"""Telling the commits of fenced-off writers from the others (docs/format.md, section 11).

Each takeover of a store's lease leaves a fence ``fences/<token>-<first sequence>``, written
by the new holder right after it took the lease and listed the store. A manifest is void
when a fence of a higher token starts at or below its sequence number.

A list of fences made after a manifest existed is complete for it, with one window: a
taker between its lease and its fence. A reader that sees a lease token above every fence's
waits for that fence (milliseconds), but no longer than ``FENCE_WAIT`` after the lease was
taken, nor past its expiry: a taker that died there leaves a warning, not a hung reader.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ._format import MAX_TOKEN
from ._lease import LEASE_KEY, LeaseRecord, peek_lease
from .errors import StoreError
from .storage import Storage

log = logging.getLogger("amber.lease")
Fence = tuple[int, int]  # (token, first sequence it voids for older tokens)
FENCE_WAIT = 30.0  # seconds after taking a lease within which its taker writes its fence


def fence_key(token: int, first: int) -> str:
    return f"fences/{token:019d}-{first:012d}"


class FenceView:
    """The fences of one store as last listed, and the highest sequence number that list is
    complete for; manifests' tokens, read once each (manifests never change)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.fences: list[Fence] = []
        self.complete_to = -1
        self.tokens: dict[str, int] = {}

    def listed(self) -> list[Fence]:
        """The fences as they are in the store now, oldest first; odd names are ignored."""
        found = []
        for key in self.storage.list("fences/"):
            token, _, first = key.removeprefix("fences/").partition("-")
            if token.isdigit() and first.isdigit() and len(token) == 19 and len(first) == 12:
                found.append((int(token), int(first)))
        return sorted(found)

    def refresh(self, complete_to: int) -> None:
        """List the fences now, for manifests up to ``complete_to`` that exist already,
        waiting out a taker that has its lease but not yet its fence."""
        began = time.monotonic()
        while True:
            fences = self.listed()
            newest = max((token for token, _ in fences), default=0)
            pending = self._pending_taker(newest)
            if pending is None:
                self.fences, self.complete_to = fences, complete_to
                return
            waited = time.monotonic() - began
            if waited > FENCE_WAIT or time.time() > min(pending.expires, pending.acquired + FENCE_WAIT):
                log.warning(
                    "%s: lease token %d (%s) has no fence %.0f s after it was taken; going on without it",
                    self.storage.url,
                    pending.token,
                    pending.holder,
                    time.time() - pending.acquired,
                )
                self.fences, self.complete_to = fences, complete_to
                return
            time.sleep(0.05)

    def _pending_taker(self, newest_fence: int) -> LeaseRecord | None:
        """The lease, when its token is above every fence's: a taker whose fence is coming."""
        try:
            lease = peek_lease(self.storage, LEASE_KEY)
        except StoreError as e:  # a damaged lease stops writers, not readers
            log.warning("%s", e)
            return None
        if lease is None or lease.token <= newest_fence or lease.token > MAX_TOKEN:
            return None
        return lease

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
        if not self.fences:
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
