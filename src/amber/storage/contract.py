"""The contract every storage backend must keep, as tests anyone can run on their own store.

Subclass ``StorageContract`` and say how to make a fresh, empty storage; pytest runs every
check. ``StorageModel`` is a hypothesis state machine that drives random sequences of
operations against the store and a dict, comparing them after each step::

    from amber.storage.contract import StorageContract, StorageModel

    class TestMyStore(StorageContract):
        def make(self) -> Storage:
            return MyStore(...)

    TestMyStoreModel = StorageModel.for_storage(lambda: MyStore(...)).TestCase

Needs pytest and hypothesis (the test dependencies, not the library's).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ..errors import AmberError, ConflictError, ObjectNotFoundError, SerializationError
from ._base import Storage

__all__ = ["StorageContract", "StorageModel"]


class StorageContract:
    """Checks of the ``Storage`` protocol; ``make()`` returns a fresh, empty storage."""

    def make(self) -> Storage:
        raise NotImplementedError("return a fresh, empty storage")

    def test_an_object_reads_back_by_range(self) -> None:
        s = self.make()
        assert s.put("data/a.seg", [b"0123", b"456", b"789"]) == 10
        assert s.get_range("data/a.seg", 0, 10) == b"0123456789"
        assert s.get_range("data/a.seg", 3, 4) == b"3456"
        assert s.get_range("data/a.seg", 8, 100) == b"89", "fewer bytes only when the object is shorter"
        assert s.get_range("data/a.seg", 10, 5) == b"" and s.get_range("data/a.seg", 50, 5) == b""
        assert s.size("data/a.seg") == 10

    def test_an_empty_object_is_an_object(self) -> None:
        s = self.make()
        assert s.put("e", []) == 0
        assert s.size("e") == 0 and s.get_range("e", 0, 10) == b"" and s.list("") == ["e"]

    def test_a_missing_object_is_object_not_found(self) -> None:
        s = self.make()
        s.put("x/present", [b"1"])
        for read in (lambda: s.size("x/absent"), lambda: s.get_range("x/absent", 0, 1), lambda: s.modified("x/a")):
            with pytest.raises(ObjectNotFoundError):
                read()

    def test_create_only_never_overwrites(self) -> None:
        s = self.make()
        s.put("checkpoints/1.manifest", [b"first"], create_only=True)
        with pytest.raises(ConflictError):
            s.put("checkpoints/1.manifest", [b"second"], create_only=True)
        assert s.get_range("checkpoints/1.manifest", 0, 100) == b"first"

    def test_a_plain_put_replaces(self) -> None:
        s = self.make()
        s.put("q/n.json", [b"old, longer"])
        s.put("q/n.json", [b"new"])
        assert s.get_range("q/n.json", 0, 100) == b"new" and s.size("q/n.json") == 3

    def test_of_racing_creators_exactly_one_wins(self) -> None:
        s = self.make()
        assert _race(lambda n: s.put("race", [str(n).encode()], create_only=True)) == ["lost"] * 7 + ["won"]

    def test_list_shows_the_direct_children_sorted(self) -> None:
        s = self.make()
        for key in ("d/b", "d/a", "d/sub/c", "e/x", "top"):
            s.put(key, [b"."])
        assert s.list("d/") == ["d/a", "d/b"]
        assert s.list("") == ["top"]
        assert s.list("nothing/") == []

    def test_delete_removes_and_forgives_absence(self) -> None:
        s = self.make()
        s.put("k/v", [b"1"])
        s.delete("k/v")
        s.delete("k/v")
        s.delete("k/never")
        assert s.list("k/") == []
        with pytest.raises(ObjectNotFoundError):
            s.size("k/v")

    def test_an_overwrite_that_fails_midway_keeps_the_old_object(self) -> None:
        s = self.make()
        s.put("q/note.json", [b"the old note"])

        def chunks() -> Iterator[bytes]:
            yield b"half of the new"
            raise SerializationError("cannot")

        with pytest.raises(SerializationError):
            s.put("q/note.json", chunks())
        assert s.get_range("q/note.json", 0, 100) == b"the old note"

    def test_a_put_that_fails_midway_leaves_nothing(self) -> None:
        s = self.make()

        def chunks() -> Iterator[bytes]:
            yield b"half of it"
            raise SerializationError("the state cannot be saved")

        with pytest.raises(SerializationError):  # our own errors pass through unchanged
            s.put("data/broken.seg", chunks())
        assert s.list("data/") == []
        with pytest.raises(ObjectNotFoundError):
            s.size("data/broken.seg")

    def test_keys_that_could_escape_are_refused(self) -> None:
        s = self.make()
        uses: list[Callable[[str], object]] = [lambda k: s.put(k, [b"."]), s.size, lambda k: s.get_range(k, 0, 1)]
        for key in ("../x", "a/../../x", "/abs", "a//b", ".hidden/x", "a b"):
            for use in uses:
                with pytest.raises(ValueError):
                    use(key)

    def test_times_and_existence(self) -> None:
        s = self.make()
        before = time.time()
        s.put("t", [b"."])
        assert s.exists()
        # Garbage collection trusts this time to spare young files: it must not be in the past.
        assert before - 5 <= s.modified("t") <= time.time() + 5
        for name, at in s.temporaries(""):
            assert isinstance(name, str) and isinstance(at, float)

    def test_replace_is_compare_and_swap(self) -> None:
        s = self.make()
        first = s.replace("leases/w.json", b"one", etag=None)
        assert s.etag("leases/w.json") == first and s.get_range("leases/w.json", 0, 9) == b"one"
        with pytest.raises(ConflictError):
            s.replace("leases/w.json", b"again", etag=None)  # it exists now
        second = s.replace("leases/w.json", b"two", etag=first)
        assert second != first and s.etag("leases/w.json") == second
        with pytest.raises(ConflictError):
            s.replace("leases/w.json", b"stale", etag=first)
        assert s.get_range("leases/w.json", 0, 9) == b"two", "a refused swap changes nothing"
        with pytest.raises(ObjectNotFoundError):
            s.etag("leases/none.json")
        with pytest.raises(ValueError):
            s.replace("../x", b".", etag=None)

    def test_of_racing_swaps_from_one_tag_exactly_one_wins(self) -> None:
        s = self.make()
        tag = s.replace("lease", b"0", etag=None)
        assert _race(lambda n: s.replace("lease", f"taken by {n}".encode(), etag=tag)) == ["lost"] * 7 + ["won"]


def _race(attempt: Callable[[int], object], writers: int = 8) -> list[str]:
    """Run ``attempt(n)`` in ``writers`` threads at once: each "won" or "lost" (a conflict)."""
    outcomes: list[str] = []
    lock = threading.Lock()

    def one(n: int) -> None:
        try:
            attempt(n)
            result = "won"
        except ConflictError:
            result = "lost"
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(outcomes)


_KEYS = st.sampled_from(["a", "b", "f/a", "f/b", "f/g/a"])
_DATA = st.binary(max_size=64)


class StorageModel(RuleBasedStateMachine):
    """Random operations on a storage and on a dict, compared after every step."""

    make: Callable[[], Storage]

    def __init__(self) -> None:
        super().__init__()
        self.storage = type(self).make()
        self.model: dict[str, bytes] = {}

    @classmethod
    def for_storage(cls, make: Callable[[], Storage]) -> type[StorageModel]:
        machine: Any = type(f"{cls.__name__}For", (cls,), {"make": staticmethod(make)})
        machine.TestCase.settings = settings(max_examples=25, stateful_step_count=20, deadline=None)
        return machine  # type: ignore[no-any-return]

    @rule(key=_KEYS, data=_DATA, create_only=st.booleans())
    def put(self, key: str, data: bytes, create_only: bool) -> None:
        try:
            written = self.storage.put(key, [data[: len(data) // 2], data[len(data) // 2 :]], create_only=create_only)
        except ConflictError:
            assert create_only and key in self.model
            return
        assert not (create_only and key in self.model), "create-only overwrote an object"
        assert written == len(data)
        self.model[key] = data

    @rule(key=_KEYS, data=_DATA, stale=st.booleans())
    def replace(self, key: str, data: bytes, stale: bool) -> None:
        tag = self.storage.etag(key) if key in self.model else None
        if stale:
            tag = "0" * 32 if tag is None else None  # a tag that does not stand
        try:
            self.storage.replace(key, data, etag=tag)
        except ConflictError:
            assert stale, "a swap from the current tag was refused"
            return
        # A stale swap whose bytes are there already may pass for a retried success.
        assert not stale or self.model.get(key) == data, "a swap from a stale tag succeeded"
        self.model[key] = data

    @rule(key=_KEYS)
    def delete(self, key: str) -> None:
        self.storage.delete(key)
        self.model.pop(key, None)

    @rule(key=_KEYS, start=st.integers(0, 70), length=st.integers(0, 70))
    def read(self, key: str, start: int, length: int) -> None:
        if key not in self.model:
            for missing in (
                self.storage.size,
                self.storage.modified,
                lambda k: self.storage.get_range(k, start, length),
            ):
                with pytest.raises(ObjectNotFoundError):
                    missing(key)
            return
        assert self.storage.get_range(key, start, length) == self.model[key][start : start + length]

    @invariant()
    def listings_agree(self) -> None:
        for folder in ("", "f/", "f/g/"):
            expected = sorted(k for k in self.model if k.startswith(folder) and "/" not in k[len(folder) :])
            assert self.storage.list(folder) == expected

    def teardown(self) -> None:
        for key in list(self.model):
            with contextlib.suppress(AmberError):
                self.storage.delete(key)
