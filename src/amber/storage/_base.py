"""The narrow protocol between checkpoints and the place their bytes live.

A backend stores named, immutable-once-committed objects. Keys are ``/``-separated
relative names made only of ``[A-Za-z0-9._-]`` segments. Every backend translates its own
exceptions into the ``amber.errors`` tree here, at this boundary, and nowhere else.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9_-][A-Za-z0-9._-]*)*")


def check_key(key: str) -> str:
    """Refuse keys that could escape the store (``..``, absolute paths, odd characters)."""
    if not _KEY.fullmatch(key) or ".." in key.split("/"):
        raise ValueError(f"invalid storage key {key!r}")
    return key


@runtime_checkable
class ReadsInto(Protocol):
    """An optional capability of a backend: reading a range straight into a buffer the
    caller owns (a numpy array's memory), saving a copy and the page faults of a new
    ``bytes`` for every large array part. Readers fall back to ``get_range`` without it."""

    def read_range_into(self, key: str, start: int, buffer: memoryview) -> int:
        """Fill ``buffer`` from ``start``; return the bytes read (fewer only when the object is shorter)."""
        ...


class Staged(Protocol):
    """An object's bytes written by ``Stages.stage``, not yet the object."""

    def publish(self, *, create_only: bool = False, durable: bool = True) -> int:
        """Make them the object, atomically and as durably as ``put`` would (create-only
        likewise: ``ConflictError`` when the key exists); return the byte count. With
        ``durable=False`` the object's name survives power loss only once ``Stages.flush``
        flushes its folder: one flush for many objects."""
        ...

    def discard(self) -> None:
        """Drop them: the object is not made."""
        ...


@runtime_checkable
class Stages(Protocol):
    """An optional capability of a backend: ``put`` in two steps, so that the slow one
    (writing the bytes and flushing them, on any thread) runs ahead of the quick one that
    makes the object appear (a commit, in order: ``amber copy`` commits its manifests so).
    Callers fall back to ``put`` without it."""

    def stage(self, key: str, chunks: Iterable[bytes], *, durable: bool = True) -> Staged:
        """Write the concatenated chunks where no reader sees them, flushed unless ``durable`` is False."""
        ...

    def flush(self, folder: str) -> None:
        """Make the names published in ``folder`` (ending in ``/``) with ``durable=False`` survive power loss."""
        ...


@runtime_checkable
class Storage(Protocol):
    """What a checkpoint store needs from a backend.

    ``put`` with ``create_only=True`` is the commit primitive: it must be atomic, and must
    raise ``ConflictError`` when the key exists, without a check-then-set window.
    ``amber.storage.contract`` holds the tests a backend must pass.

    A backend may set ``fork_safe = True`` when a forked child process can write to it and
    the parent then sees what it wrote (a local directory): with ``Manager(capture="fork")``
    the child then commits itself. Otherwise the child stages the data file in a local spool
    and the parent uploads it and commits.
    """

    @property
    def url(self) -> str: ...

    def get_range(self, key: str, start: int, length: int) -> bytes:
        """Up to ``length`` bytes from ``start``; fewer only when the object is shorter."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes; ``ObjectNotFoundError`` when absent."""
        ...

    def put(self, key: str, chunks: Iterable[bytes], *, create_only: bool = False, durable: bool = True) -> int:
        """Store the concatenated chunks atomically; return the byte count. ``durable=False``
        allows skipping what survives power loss (fsync): advisory objects such as history."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Keys of committed objects directly under ``prefix`` (a folder ending in ``/``)."""
        ...

    def delete(self, key: str) -> None:
        """Remove an object; absent objects are not an error."""
        ...

    def etag(self, key: str) -> str:
        """An opaque tag that changes whenever the object's content does (``replace`` compares
        it); ``ObjectNotFoundError`` when absent."""
        ...

    def replace(self, key: str, data: bytes, *, etag: str | None) -> str:
        """Compare-and-swap: store ``data`` only if the object still has ``etag`` (with None:
        only if it does not exist), atomically; return the new tag or raise ``ConflictError``.

        For small mutable objects (leases); a request retried after it succeeded must not
        report a conflict."""
        ...

    def exists(self) -> bool:
        """Whether the store's location exists at all."""
        ...

    def modified(self, key: str) -> float:
        """When the object was last written (Unix seconds); ``ObjectNotFoundError`` when absent."""
        ...

    def temporaries(self, prefix: str) -> builtins.list[tuple[str, float]]:
        """Leftovers of interrupted writes directly under ``prefix``, with their Unix mtime.

        They are never listed by ``list`` and never read; garbage collection removes them."""
        ...

    def delete_temporary(self, name: str) -> None:
        """Remove a leftover named by ``temporaries``."""
        ...
