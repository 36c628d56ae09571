"""The commit protocol (docs/format.md, section 6): a captured state becomes a checkpoint.

The data file is written first (temp file, fsync, rename), the manifest last and
create-only. A checkpoint exists exactly when its manifest does; readers never see a data
file without one. Two writers racing for one sequence number: one manifest wins, the other
writer takes the next number, and both checkpoints are committed. After the manifest, the
commit is confirmed: not fenced off by a newer lease holder, its data file and a delta's
parent still there. Only then is it acknowledged.

``write`` is ``stage`` (the data file) then ``publish`` (the manifest); a fork child that
cannot write to the store stages into a spool, and its parent ``upload``s before publishing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from .._format._format import (
    MAX_MANIFEST_BYTES,
    MAX_SEQUENCE,
    MAX_TOKEN,
    Manifest,
    SegmentEntry,
    encode_manifest,
    format_id,
    kinds_version,
    manifest_key,
    needed_version,
)
from .._format._objects import utc_stamp
from ..errors import (
    AmberError,
    CheckpointError,
    CommitUncertainError,
    ConflictError,
    CorruptCheckpointError,
    FencedError,
    ObjectNotFoundError,
    StoreError,
)
from ..storage import Storage
from ._capture import CapturedState, checked_meta, gc_paused
from ._gc_guard import writing
from ._info import CheckpointInfo, checkpoint_info
from ._lease import LEASE_KEY
from ._manifests import check_link
from ._segments import data_chunks, draft_manifest, new_data_key, throttled, with_sizes

if TYPE_CHECKING:
    from ._checkpoint import CheckpointStore

_COMMIT_ATTEMPTS = 1000
Check = Callable[[str], None]  # called between steps with the step's name; raises to abort


def refuse_unsigned(store: CheckpointStore) -> None:
    """``SigningKeyError`` when ``store`` checks signatures but holds no key to sign with:
    whatever it committed would be refused on load. Asked before anything is written."""
    if store.signing is not None:
        store.signing.refuse_unsigned(store.url)


class Committer:
    """Commits to one store, under its lease and signing key (both read when used)."""

    def __init__(self, store: CheckpointStore) -> None:
        self.store = store
        self.storage = store.storage

    def write(
        self,
        capture: CapturedState,
        *,
        rate: float | None = None,
        check: Check | None = None,
        diagnose: bool = False,
        on_data: Callable[[str], None] | None = None,
    ) -> CheckpointInfo:
        """Compress and write a captured state, then commit it. ``rate`` caps the write rate
        (bytes per second); ``check(phase)`` is called between steps and may raise to abort;
        ``diagnose`` adds per-type sizes to the meta (under ``amber.types``); ``on_data`` is
        told the data file's key before it is written."""
        self.refuse_unleased()
        data_key = new_data_key()
        with writing(self.storage, data_key):  # no collection meanwhile: it would see the data file unnamed
            draft = self.stage(capture, rate=rate, check=check, diagnose=diagnose, on_data=on_data, data_key=data_key)
            return self.publish(draft, check=check)

    def stage(
        self,
        capture: CapturedState,
        *,
        into: Storage | None = None,
        rate: float | None = None,
        check: Check | None = None,
        diagnose: bool = False,
        on_data: Callable[[str], None] | None = None,
        data_key: str | None = None,
    ) -> Manifest:
        """Write a captured state's data file (into ``into``, by default this store; under
        ``data_key``, by default a new one) and return the manifest that will commit it: the
        first half of ``write``."""
        writer, base = capture.writer, capture.parent
        version = 2 if base is not None or writer.keyed_tables or any(t.linked for t in writer.tables) else 1
        version = max(version, kinds_version([t.written.schema for t in writer.tables]))
        data_key = data_key or new_data_key()
        if on_data is not None:
            on_data(data_key)
        segments: list[SegmentEntry] = []
        signing = self.store.signing
        chunks = data_chunks(
            writer,
            capture.segments,
            segments,
            version=version,
            level=self.store.compression_level,
            sha=signing is not None and signing.signing is not None,
            progress=self.store.progress,
            check=check,
        )
        with gc_paused():
            data_size = (into or self.storage).put(data_key, throttled(chunks, rate) if rate else chunks)
        meta = with_sizes(capture.meta, writer, segments) if diagnose else capture.meta
        draft = draft_manifest(
            writer, segments, data_key=data_key, data_size=data_size, meta=meta, version=version, parent=base
        )
        writer.close()
        return draft

    def upload(
        self,
        draft: Manifest,
        spool: Storage,
        *,
        rate: float | None = None,
        check: Check | None = None,
        piece: int = 8 << 20,
    ) -> None:
        """Copy a staged data file from ``spool`` into this store, streamed; ``rate`` caps
        it (bytes per second) and ``check("upload")`` runs before each piece."""
        self.refuse_unleased()

        def pieces() -> Iterator[bytes]:
            for offset in range(0, draft.data_size, piece):
                if check is not None:
                    check("upload")
                yield spool.get_range(draft.data, offset, piece)
            if check is not None:
                check("upload")  # after the throttled wait that follows the last piece

        size = self.storage.put(draft.data, throttled(pieces(), rate) if rate else pieces())
        if size != draft.data_size:
            self.storage.delete(draft.data)
            raise CorruptCheckpointError("(staged)", "data file", f"{draft.data_size} bytes", str(size))

    def publish(self, draft: Manifest, *, check: Check | None = None) -> CheckpointInfo:
        """Commit a draft manifest whose data file is in this store: the second half of
        ``write``. On failure the data file goes, unless a manifest names it."""
        tried: list[str] = []
        try:
            if check is not None:
                check("commit")
            return self._commit(draft, tried)
        except BaseException:
            # Remove the data file only when no manifest names it: a failure after the
            # manifest was linked (a folder fsync error, an interrupt) leaves it committed.
            if not any(self._names_data(cid, draft.data) for cid in tried):
                self.storage.delete(draft.data)
            raise

    def recommit(self, checkpoint_id: str | int, *, meta: dict[str, Any]) -> CheckpointInfo:
        """Commit an existing checkpoint's content again as the newest, with new metadata.

        The new manifest names the same data file; nothing is copied or deleted.
        """
        self.refuse_unleased()
        data_key = self.store.manifest(checkpoint_id).data
        with writing(self.storage, data_key):  # the source's data file must outlive the new manifest's commit
            source = self.store.manifest(checkpoint_id)  # again, now marked: a collection may have run before
            if source.data != data_key:
                raise ConflictError(f"{self.store.url}: checkpoint {source.id} changed while being rolled back to")
            return self._commit(msgspec.structs.replace(source, meta=checked_meta(meta)), [])

    def refuse_unleased(self) -> None:
        """A writer without the lease of a store written under one, or without the key of a
        store that checks signatures: refused before it writes anything (its commit would be
        void, or refused on load; ``_confirm_fencing`` catches the races)."""
        refuse_unsigned(self.store)
        if self.store.lease is None:
            fences = self.store.manifests.fencing.listed()
            if fences:
                raise unleased(self.store.url, fences[-1], "")

    def _commit(self, draft: Manifest, tried: list[str]) -> CheckpointInfo:
        """Publish the manifest under the next free sequence number, create-only."""
        for _ in range(_COMMIT_ATTEMPTS):
            sequence = self.store.manifests.last_sequence() + 1
            if sequence > MAX_SEQUENCE:
                raise StoreError(f"{self.store.url}: sequence numbers are exhausted ({MAX_SEQUENCE})")
            created = utc_stamp()
            manifest = msgspec.structs.replace(draft, id=format_id(sequence), sequence=sequence, created=created)
            manifest = self._finished(manifest)
            encoded = encode_manifest(manifest)
            tried.append(manifest.id)
            try:
                self.storage.put(manifest_key(manifest.id), [encoded], create_only=True)
            except ConflictError:
                if not self._holds(manifest_key(manifest.id), encoded):
                    continue  # another writer took this sequence number; take the next one
                # else: our own put, retried after it succeeded
            except StoreError as e:
                if not self._holds(manifest_key(manifest.id), encoded):
                    raise
                raise CommitUncertainError(
                    f"{self.store.url}: checkpoint {manifest.id} was committed, "
                    f"but it may not survive a power loss: {e}",
                    checkpoint=manifest.id,
                ) from e
            self._confirm_fencing(manifest, tried)
            self._confirm_named(manifest)
            return checkpoint_info(manifest, len(encoded))
        raise ConflictError(f"{self.store.url}: gave up after {_COMMIT_ATTEMPTS} commit conflicts")

    def _finished(self, manifest: Manifest) -> Manifest:
        """The manifest stamped with this writer's lease token (after checking that the
        lease is not known to be lost) and signed with its key, at the lowest format version
        that holds it. Without a lease or a key, neither (a signature of a rolled-back
        source would not fit its new id)."""
        token = 0
        lease, signing = self.store.lease, self.store.signing
        if lease is not None:
            lease.check_held()
            token = min(lease.token, MAX_TOKEN)
        stamped = msgspec.structs.replace(manifest, token=token, signature="")
        if signing is None:
            return msgspec.structs.replace(stamped, format_version=needed_version(stamped))
        # The version is signed too: the one a signature needs, set before signing.
        version = needed_version(msgspec.structs.replace(stamped, signature="to be signed"))
        return signing.sign(msgspec.structs.replace(stamped, format_version=version))

    def _confirm_fencing(self, manifest: Manifest, tried: list[str]) -> None:
        """After a commit: unless this writer's lease still stands (then no fence can cover
        the commit: fences come after their lease), look at the fences as they are now. A
        commit one covers is void: raise ``FencedError`` and let its data file go (off
        ``tried``). The void manifest stays, unread: a sequence number is never reused."""
        lost = None
        if self.store.lease is not None:
            try:
                self.store.lease.check()
                return
            except FencedError as e:
                lost = e
        fencing = self.store.manifests.fencing
        fencing.refresh(manifest.sequence, writer=True)
        fence = fencing.covering(manifest.sequence, manifest.token)
        if fence is None:
            return  # committed before any takeover: it stands (a lost lease fails the next commit)
        tried.remove(manifest.id)
        if lost is not None:
            raise lost
        raise unleased(self.store.url, fence, f"checkpoint {manifest.id} is void: ")

    def _confirm_named(self, manifest: Manifest) -> None:
        """After a commit: what it names is still there, its data file and a delta's parent
        (the one it names). A collection that could not be kept out may have taken either:
        on a store without locks (S3), or, for the parent read before the write's window
        opened, after another writer's newer checkpoint made it collectable. Then the commit
        is no checkpoint, and is said so, not acknowledged."""
        what = "its data file"
        manifests = self.store.manifests
        try:
            manifests.check_data_file(manifest)
            what = f"its parent {manifest.parent}"
            if manifest.parent:
                check_link(manifest, manifests.parse(manifest.parent)[0])
        except CheckpointError as e:
            with contextlib.suppress(AmberError):
                self.store.quarantine(manifest.id, f"committed, but {what} is gone: {e}")
            raise StoreError(
                f"{self.store.url}: checkpoint {manifest.id} was committed but {what} is gone (a collection ran "
                f"meanwhile); it is quarantined, and the next checkpoint must be full: {e}"
            ) from None

    def _holds(self, key: str, content: bytes) -> bool:
        """Whether ``key`` holds exactly ``content`` (False when it cannot be read)."""
        try:
            return self.storage.get_range(key, 0, len(content) + 1) == content
        except StoreError:
            return False

    def _names_data(self, checkpoint_id: str, data_key: str) -> bool:
        try:
            key = manifest_key(checkpoint_id)
            return data_key.encode() in self.storage.get_range(key, 0, MAX_MANIFEST_BYTES)
        except ObjectNotFoundError:
            return False  # no manifest (its write failed, e.g. on a full disk): nothing names the data
        except StoreError:
            return True  # cannot tell: keeping a stray data file is the safe mistake


def unleased(url: str, fence: tuple[int, int], what: str) -> FencedError:
    """The refusal of a writer without the lease of a store written under one."""
    return FencedError(
        f"{url}: {what}the store is written under a lease (token {fence[0]} from checkpoint "
        f"{fence[1]}) and this writer holds none: take it first (store.acquire_lease(), or --lease in the CLI)",
        lease=f"{url}/{LEASE_KEY}",
        token=fence[0],
    )
