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

from .._format._format import MAX_SEQUENCE, MAX_TOKEN
from ..errors import AmberError, ConflictError, FencedError, ObjectNotFoundError, StoreError
from ..storage import Storage
from ._lease import LEASE_KEY, Lease, peek_lease

log = logging.getLogger("amber.lease")
Fence = tuple[int, int]  # (token, first sequence it voids for older tokens)
CLOSED = MAX_SEQUENCE + 1  # the first sequence of a closed token's fence: it voids nothing
FENCE_WAIT = 30.0  # seconds a writer waits for a taker's fence before closing its token
WINDOW = 100  # tokens below the lease's that may still lack a fence (older ones are settled)


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
            if not (name.isascii() and name.isdigit() and len(name) == 19):
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
        if text.isascii() and text.isdigit() and len(text) == 12:
            return int(text)
        if text != "closed":  # damaged (a power cut on a store without fsync): it settles its token
            log.warning("%s: %s is not a fence (%r): taken as closed", self.storage.url, key, text[:20])
        return CLOSED

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
        waiting out takers that have their lease but not yet their fence: after
        ``FENCE_WAIT`` a ``writer`` closes their tokens; a reader waits twice that, then
        closes them if it may write (else it warns and goes on, once per token)."""
        began = time.monotonic()
        while True:
            fences = self.listed()
            pending = self.unfenced(fences)
            if not pending:
                break
            waited = time.monotonic() - began
            if waited > (FENCE_WAIT if writer else 2 * FENCE_WAIT):
                self._settle(pending)
                fences = self.listed()
                break
            time.sleep(0.05)
        self.fences, self.complete_to = fences, complete_to

    def unfenced(self, fences: list[Fence]) -> list[int]:
        """Tokens up to the lease's (within ``WINDOW``) that have no fence yet: takers
        between their lease and their fence, alive or not."""
        try:
            lease = peek_lease(self.storage, LEASE_KEY)
        except StoreError as e:  # a damaged lease stops writers, not readers
            log.warning("%s", e)
            return []
        if lease is None or lease.token > MAX_TOKEN:
            return []
        present = {token for token, _ in fences}
        lowest = max(1, lease.token - WINDOW + 1)
        return [t for t in range(lowest, lease.token + 1) if t not in present and t not in self._given_up]

    def _settle(self, tokens: list[int]) -> None:
        """Close the tokens whose fence never came, oldest first; a reader that may not
        write goes on without them (and says so)."""
        for token in tokens:
            try:
                self.close(token)
            except StoreError as e:
                log.warning("%s: lease token %d has no fence, and it cannot be closed (%s)", self.storage.url, token, e)
                self._given_up.add(token)

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
        return [cid for cid in ids if not self._void(cid, token_of)]

    def newest(self, ids: list[str], token_of: Callable[[str], int | None]) -> str | None:
        """The highest of ``ids`` (just listed) that is not void, reading manifests from the
        top down only as far as needed."""
        self.refresh(int(ids[-1]) if ids else -1)
        return next((cid for cid in reversed(ids) if not self._void(cid, token_of)), None)

    def _void(self, cid: str, token_of: Callable[[str], int | None]) -> bool:
        sequence = int(cid)
        if not any(first <= sequence for _, first in self.fences):
            return False  # no fence reaches it: no manifest to read
        if cid not in self.tokens:
            token = token_of(cid)
            if token is None:
                return False
            self.tokens[cid] = token
        return self.covering(sequence, self.tokens[cid]) is not None

    def newest_token(self) -> int:
        return max((token for token, _ in self.listed()), default=0)

    def take_over(self, lease: Lease, floor: int, next_sequence: Callable[[], int]) -> None:
        """The takeover protocol of a lease just acquired (``floor``: the newest token fenced
        before it): close the tokens of takers that never wrote their fence, then write ours
        (from ``next_sequence()``), within ``FENCE_WAIT`` of the lease. On any failure our
        own token is settled and the lease released, so nobody waits for its fence."""
        try:
            # Takers before us that never wrote their fence (they died or stalled between
            # their lease and it) are closed: should one wake up, its fence is taken.
            for stalled in range(max(floor + 1, lease.token - WINDOW + 1), lease.token):
                self.close(stalled)
            # Our fence: commits from this sequence on with an older token are void. Anything
            # an earlier holder committed before it is ours to restore from.
            first = next_sequence()
            if time.time() - lease.acquired > FENCE_WAIT or not self.write(lease.token, first):
                raise FencedError(
                    f"{self.storage.url}: lease token {lease.token} was closed before its fence was written "
                    f"(over {FENCE_WAIT:g} s): take the lease again",
                    lease=f"{self.storage.url}/{LEASE_KEY}",
                    token=lease.token,
                )
            lease.renew()  # still ours, and pushed forward from now
        except BaseException:
            with contextlib.suppress(AmberError):
                self.close(lease.token)
            lease.release()
            raise
