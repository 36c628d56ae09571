"""Checkpoints in a store: the commit protocol, reading, listing and verifying.

Commit protocol: the data file is written first (temp file, fsync, rename), the manifest
last and create-only. A checkpoint exists exactly when its manifest does; readers never see
a data file without one. Two writers racing for one sequence number: one manifest wins, the
other writer takes the next number, and both checkpoints are committed.
"""

from __future__ import annotations

import builtins
import contextlib
import datetime as dt
import gc
import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec

from .._evolution._plan import Plan
from .._evolution._planner import plan
from .._format._format import (
    DATA_MAGIC,
    FORMAT_VERSION,
    HEADER_SIZE,
    ID_PATTERN,
    MAX_MANIFEST_BYTES,
    MAX_ROWS,
    MAX_SEGMENT_BYTES,
    MAX_SEQUENCE,
    MAX_TOKEN,
    SHORT_ID,
    Manifest,
    SegmentEntry,
    TypeEntry,
    compressor,
    content_version,
    data_header,
    digest,
    encode_manifest,
    format_id,
    manifest_digest,
    manifest_key,
    names_enums,
    needed_version,
    parse_manifest,
)
from .._format._signing import Keyring
from .._graph._graph import Delta, StateWriter, Table
from .._schema._fields import RecordSchema
from .._schema._keyed import Changes, find_tables
from .._schema._keyed import Table as KeyedTable
from .._schema._schema import Registry, default_registry
from .._version import __version__
from ..errors import (
    AmberError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointTooLargeError,
    CommitUncertainError,
    ConflictError,
    CorruptCheckpointError,
    FencedError,
    IncompatibleSchemaError,
    ObjectNotFoundError,
    PlantedLinkError,
    SchemaMismatchError,
    SchemaProblem,
    SerializationError,
    StoreError,
    UnknownTypeError,
    UnsupportedFormatError,
)
from ..events import CheckpointAborted, CheckpointCommitted, CheckpointStarted, Event, Listener, PhaseFinished
from ..events._dispatch import dispatch
from ..events._loud import loud
from ..storage import Storage
from ._fencing import FENCE_WAIT, WINDOW, FenceView
from ._gc_guard import writing
from ._history import History
from ._lease import LEASE_KEY, Lease
from ._memory import check_chain, default_memory_limit, readers_of
from ._pipeline import pipelined
from ._reading import CheckpointReader, Progress, StepTiming, verify_chain

T = TypeVar("T")
_COMMIT_ATTEMPTS = 1000
_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")

log = logging.getLogger("amber.schema")


class CheckpointInfo(msgspec.Struct, frozen=True):
    """What ``save`` returns and ``list`` shows: one committed checkpoint."""

    id: str
    sequence: int
    time: dt.datetime
    size: int  # bytes stored: data file plus manifest
    digest: str  # content digest: equal states give equal digests
    types: dict[str, int]  # type name -> version
    counts: dict[str, int]  # type name -> number of records
    meta: dict[str, Any]
    parent: str = ""  # a delta's parent checkpoint ("" for a full checkpoint)
    depth: int = 0  # deltas between this checkpoint and its full base
    manifest_digest: str = ""  # what a delta on this checkpoint names it by (format 5)

    @property
    def is_delta(self) -> bool:
        return bool(self.parent)


@dataclass(frozen=True)
class VerifyReport:
    """What ``verify`` checked on a sound checkpoint."""

    info: CheckpointInfo
    segments: int
    records: int
    raw_bytes: int


class CheckpointStore:
    """A store of checkpoints: ``save``, ``load``, ``list``, ``verify``. See ``amber.open_store``."""

    def __init__(
        self,
        storage: Storage,
        *,
        registry: Registry | None = None,
        compression_level: int = 1,
        write_versions: dict[str, int] | None = None,
        oldest_supported: dict[str, int] | None = None,
        max_load_bytes: int = 4 << 30,
        listeners: Iterable[Listener] = (),
        history: bool = True,
        signing: Keyring | None = None,
        read_newer: bool = True,
        max_load_memory: int | None = None,
    ) -> None:
        self.storage = storage
        # Signs new manifests (with a signing key) and refuses any not signed by one of its keys.
        self.signing = signing
        # Told of everything done on this store, by any manager, migration or collection.
        self.listeners: builtins.list[Listener] = builtins.list(listeners)
        self.history = History(storage) if history else None
        self.registry = registry or default_registry
        self.compression_level = compression_level
        self.write_versions = dict(write_versions or {})  # type name -> version to write (a pin)
        self.oldest_supported = dict(oldest_supported or {})  # type name -> oldest version read
        # Whether a type written at a newer version than the code's is read by the rules (which
        # drop the fields this code does not know and default the ones the writer lacks).
        self.read_newer = read_newer
        self._warned: set[tuple[str, int, int]] = set()  # newer versions already warned about
        self.progress: Progress | None = None  # called with (phase, segments done, segments in all)
        # Decompressed bytes one load may read; bounds the memory a hostile checkpoint can cost.
        self.max_load_bytes = max_load_bytes
        # Memory one read may take, estimated from its manifests before any segment is read
        # (default: a multiple of the machine's memory); see amber._memory.
        self.max_load_memory = default_memory_limit() if max_load_memory is None else max_load_memory
        self.lease: Lease | None = None  # this writer's lease, once acquired: its commits are fenced
        self._fencing = FenceView(storage)

    @property
    def url(self) -> str:
        return self.storage.url

    def __repr__(self) -> str:
        return f"<amber.CheckpointStore {self.url}>"

    def emit(self, event: Event, also: Iterable[Listener] = ()) -> None:
        """Log ``event`` and tell this store's listeners (and ``also``: a manager's) of it;
        record it in the store's history when it is worth keeping."""
        dispatch(event, self.listeners, also, (self.history,) if self.history is not None else ())

    # --- the writer's lease ----------------------------------------------------------------

    def acquire_lease(
        self, *, seconds: float = 30.0, wait: float = 0.0, holder: str | None = None, keep: bool = True
    ) -> Lease:
        """Become this store's one writer: take its lease (free, released or expired; waiting
        up to ``wait`` seconds for it) and fence off every earlier holder, whose commits from
        now on exist for no reader and raise ``FencedError`` in that writer. A daemon thread
        renews the lease every ``seconds / 3`` (without ``keep``, call ``lease.renew()``
        yourself); ``LeaseHeldError`` when another writer holds it.

        Once any writer has taken the lease, every writer of the store must: commits without
        a token are fenced off like any older holder's."""
        self.refuse_unsigned()  # taking the lease would fence off the writer that can sign
        floor = self._fencing.newest_token()
        lease = Lease.acquire(
            self.storage, LEASE_KEY, holder=holder, seconds=seconds, wait=wait, keep=keep, floor=floor
        )
        try:
            # Takers before us that never wrote their fence (they died or stalled between
            # their lease and it) are closed: should one wake up, its fence is taken.
            for stalled in range(max(floor + 1, lease.token - WINDOW + 1), lease.token):
                self._fencing.close(stalled)
            # Our fence: commits from this sequence on with an older token are void. Anything
            # an earlier holder committed before it is ours to restore from.
            first = self._last_sequence() + 1
            if time.time() - lease.acquired > FENCE_WAIT or not self._fencing.write(lease.token, first):
                raise FencedError(
                    f"{self.url}: lease token {lease.token} was closed before its fence was written "
                    f"(over {FENCE_WAIT:g} s): take the lease again",
                    lease=f"{self.url}/{LEASE_KEY}",
                    token=lease.token,
                )
            lease.renew()  # still ours, and pushed forward from now
        except BaseException:
            with contextlib.suppress(AmberError):  # settle our token: nobody waits for its fence
                self._fencing.close(lease.token)
            lease.release()
            raise
        self.lease = lease
        return lease

    def release_lease(self) -> None:
        """Give the lease up so the next writer needn't wait for it to expire."""
        if self.lease is not None:
            self.lease.release()
            self.lease = None

    def fences(self) -> builtins.list[tuple[int, int]]:
        """Every takeover of the lease: (token, first sequence it fenced), oldest first."""
        return self._fencing.listed()

    def fenced_by(self, manifest: Manifest) -> tuple[int, int] | None:
        """The fence (token, first sequence) that voids a commit, or None: a commit from a
        sequence a newer token fenced, by an older token, exists for no reader."""
        return self._fencing.covering(manifest.sequence, manifest.token)

    # --- writing --------------------------------------------------------------------------

    def save(
        self,
        state: Any,
        *,
        meta: dict[str, Any] | None = None,
        write_versions: dict[str, int] | None = None,
        parent: str | int | None = None,
    ) -> CheckpointInfo:
        """Write ``state`` as a new checkpoint and commit it; return what was committed.

        ``write_versions`` (default: the store's) pins types to an older version, written
        through their ``@amber.downgrade`` twins, for readers that do not know the newer one.
        With ``parent`` (the checkpoint this state was last saved in), the checkpoint is a
        delta: each ``amber.Table`` of the parent contributes only its changes.
        """
        return self._save(state, meta=meta, write_versions=write_versions, parent=parent)

    def _save(
        self,
        state: Any,
        *,
        meta: dict[str, Any] | None = None,
        write_versions: dict[str, int] | None = None,
        parent: str | int | None = None,
        announce: bool = True,
    ) -> CheckpointInfo:
        """``save``; without ``announce``, no checkpoint events (a migration reports its own)."""
        self.refuse_unsigned()  # before its events: a save that cannot be signed writes nothing
        attempt = _DirectSave(self, "delta" if parent is not None else "full", announce)
        taken: Taken | None = None
        try:
            taken = self.take_tables(state, parent)
            capture = self.capture(state, taken, meta=meta, write_versions=write_versions)
            attempt.phase("committing")
            info = self.write(capture)
        except BaseException as e:
            if taken is not None:
                taken.give_back()
            attempt.aborted(e)
            raise
        taken.committed(self.url, info)
        attempt.committed(info)
        return info

    def take_tables(self, state: Any, parent: str | int | None = None, *, strict: bool = True) -> Taken:
        """Find the state's tables and take their changes for one checkpoint (cheap: the
        service's pause covers it). A delta needs every table of ``parent`` to have been
        saved last in ``parent`` itself, or its changes would not be relative to it: when
        one was not, this raises (``strict``) or settles for a full checkpoint."""
        tables = find_tables(state)
        base = self._parent_of_delta(parent, strict)
        if base is not None:
            # By content too: the parent's id may have been freed and taken by another checkpoint.
            saved_in = (self.url, base.id, manifest_digest(base))
            stale = [t for t in tables if str(t.token) in base.tables and t.last != saved_in]
            if stale and not strict:
                base = None
            elif stale:
                last = stale[0].last
                where = f"checkpoint {last[1]} of {last[0]}" if last else "no checkpoint"
                if last is not None and last[:2] == saved_in[:2]:
                    where += ", whose id another checkpoint has taken since"
                raise SerializationError(
                    f"cannot save a delta on {base.id}: amber.Table {stale[0].token} was last saved in {where}; "
                    "save a full checkpoint"
                )
        return Taken(tables, {t.token: t._take_changes() for t in tables}, base)

    def _parent_of_delta(self, parent: str | int | None, strict: bool) -> Manifest | None:
        """The manifest a delta would be written on; not ``strict``, None (a full checkpoint)
        when it cannot be read (deleted, say): nothing else could carry the changes."""
        if parent is None:
            return None
        try:
            return self.manifest(parent)
        except CheckpointError:
            if strict:
                raise
            return None

    def capture(
        self,
        state: Any,
        taken: Taken,
        *,
        meta: dict[str, Any] | None = None,
        write_versions: dict[str, int] | None = None,
        encode_now: bool = False,
    ) -> Capture:
        """Find every record of ``state`` and encode its root; with ``encode_now``, encode
        every table too, so the state may change as soon as this returns."""
        pins = self.write_versions if write_versions is None else write_versions
        base = taken.parent
        delta = None
        if base is not None:
            changes = {token: c for token, c in taken.changes.items() if str(token) in base.tables}
            delta = Delta(changes, taken.tables)
        with gc_paused():
            writer = StateWriter(self.registry, pins, delta)
            root = writer.capture(state)
            segments: Iterable[tuple[SegmentEntry, bytes]] = self._segments(writer, root)
            if encode_now:
                segments = builtins.list(segments)
        return Capture(writer, segments, _checked_meta(meta), base)

    def write(
        self,
        capture: Capture,
        *,
        rate: float | None = None,
        check: Callable[[str], None] | None = None,
        diagnose: bool = False,
        on_data: Callable[[str], None] | None = None,
    ) -> CheckpointInfo:
        """Compress and write a captured state, then commit it. ``rate`` caps the write rate
        (bytes per second); ``check(phase)`` is called between steps and may raise to abort;
        ``diagnose`` adds per-type sizes to the meta (under ``amber.types``); ``on_data`` is
        told the data file's key before it is written."""
        self._refuse_unleased()
        data_key = new_data_key()
        with writing(self.storage, data_key):  # no collection meanwhile: it would see the data file unnamed
            draft = self.stage(capture, rate=rate, check=check, diagnose=diagnose, on_data=on_data, data_key=data_key)
            return self.publish(draft, check=check)

    def refuse_unsigned(self) -> None:
        """``SigningKeyError`` when this store checks signatures but holds no key to sign
        with: whatever it committed would be refused on load. Asked before anything is written."""
        if self.signing is not None:
            self.signing.refuse_unsigned(self.url)

    def _refuse_unleased(self) -> None:
        """A writer without the lease of a store written under one, or without the key of a
        store that checks signatures: refused before it writes anything (its commit would be
        void, or refused on load; ``_confirm_fencing`` catches the races)."""
        self.refuse_unsigned()
        if self.lease is None:
            fences = self._fencing.listed()
            if fences:
                raise self._unleased(fences[-1], "")

    def stage(
        self,
        capture: Capture,
        *,
        into: Storage | None = None,
        rate: float | None = None,
        check: Callable[[str], None] | None = None,
        diagnose: bool = False,
        on_data: Callable[[str], None] | None = None,
        data_key: str | None = None,
    ) -> Manifest:
        """Write a captured state's data file (into ``into``, by default this store; under
        ``data_key``, by default a new one) and return the manifest that will commit it: the
        first half of ``write``."""
        writer, base = capture.writer, capture.parent
        version = 2 if base is not None or writer.keyed_tables or any(t.linked for t in writer.tables) else 1
        if any(names_enums(t.written.schema) for t in writer.tables):
            version = 4
        data_key = data_key or new_data_key()
        if on_data is not None:
            on_data(data_key)
        segments: builtins.list[SegmentEntry] = []
        chunks = self._data_chunks(writer, capture.segments, segments, version, check)
        with gc_paused():
            data_size = (into or self.storage).put(data_key, _throttled(chunks, rate) if rate else chunks)
        meta = _with_sizes(capture.meta, writer, segments) if diagnose else capture.meta
        draft = _draft(
            writer, segments, data_key=data_key, data_size=data_size, meta=meta, version=version, parent=base
        )
        writer.release()
        return draft

    def upload(
        self,
        draft: Manifest,
        spool: Storage,
        *,
        rate: float | None = None,
        check: Callable[[str], None] | None = None,
        piece: int = 8 << 20,
    ) -> None:
        """Copy a staged data file from ``spool`` into this store, streamed; ``rate`` caps
        it (bytes per second) and ``check("upload")`` runs before each piece."""
        self._refuse_unleased()

        def pieces() -> Iterator[bytes]:
            for offset in range(0, draft.data_size, piece):
                if check is not None:
                    check("upload")
                yield spool.get_range(draft.data, offset, piece)
            if check is not None:
                check("upload")  # after the throttled wait that follows the last piece

        size = self.storage.put(draft.data, _throttled(pieces(), rate) if rate else pieces())
        if size != draft.data_size:
            self.storage.delete(draft.data)
            raise CorruptCheckpointError("(staged)", "data file", f"{draft.data_size} bytes", str(size))

    def publish(self, draft: Manifest, *, check: Callable[[str], None] | None = None) -> CheckpointInfo:
        """Commit a staged manifest whose data file is in this store: the second half of
        ``write``. On failure the data file goes, unless a manifest names it."""
        tried: builtins.list[str] = []
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

    def _data_chunks(
        self,
        writer: StateWriter,
        raw_segments: Iterable[tuple[SegmentEntry, bytes]],
        out: builtins.list[SegmentEntry],
        version: int,
        check: Callable[[str], None] | None,
    ) -> Iterator[bytes]:
        yield data_header(version)
        offset = HEADER_SIZE
        level = self.compression_level
        sha = self.signing is not None and self.signing.signing is not None
        total = 1 + sum(-(-len(t.objects) // MAX_ROWS) for t in writer.tables)  # at least; halves add more
        for entry, (blob, blob_digest, sha256) in pipelined(iter(raw_segments), lambda raw: _compress(raw, level, sha)):
            out.append(
                msgspec.structs.replace(entry, offset=offset, length=len(blob), digest=blob_digest, sha256=sha256)
            )
            offset += len(blob)
            if self.progress is not None:
                self.progress("write", min(len(out), total), total)
            if check is not None:
                check("write")
            yield blob

    def _segments(self, writer: StateWriter, root: Any) -> Iterator[tuple[SegmentEntry, bytes]]:
        raw = _encode(root, "the state's root")
        yield SegmentEntry("root", 0, 0, len(raw), ""), raw
        for table in writer.tables:
            for first_row, rows, node in writer.link_chunks(table):
                raw = _encode(node, f"links of {table.rt.name}")
                yield SegmentEntry("links", 0, 0, len(raw), "", table.index, first_row, rows), raw
            for first_row, rows, node in writer.adoption_chunks(table):
                raw = _encode(node, f"adoptions of {table.rt.name}")
                yield SegmentEntry("adopt", 0, 0, len(raw), "", table.index, first_row, rows), raw
            for first_row, rows in writer.chunks(table):
                yield from self._table_segments(writer, table, first_row, rows)

    def _table_segments(
        self, writer: StateWriter, table: Table, first_row: int, rows: int
    ) -> Iterator[tuple[SegmentEntry, bytes]]:
        """A chunk's segment, or two halves of it when it would exceed the segment limit."""
        what = f"{table.rt.name} rows {first_row}-{first_row + rows - 1}"
        raw = _encode(writer.columns(table, first_row, rows), what, limit=None)
        if len(raw) <= MAX_SEGMENT_BYTES:
            yield SegmentEntry("table", 0, 0, len(raw), "", table.index, first_row, rows), raw
        elif rows == 1:
            raise SerializationError(f"cannot save {what}: one record takes {len(raw)} bytes, over {MAX_SEGMENT_BYTES}")
        else:
            del raw
            half = rows // 2
            yield from self._table_segments(writer, table, first_row, half)
            yield from self._table_segments(writer, table, first_row + half, rows - half)

    def _commit(self, draft: Manifest, tried: builtins.list[str]) -> CheckpointInfo:
        """Publish the manifest under the next free sequence number, create-only."""
        for _ in range(_COMMIT_ATTEMPTS):
            sequence = self._last_sequence() + 1
            if sequence > MAX_SEQUENCE:
                raise StoreError(f"{self.url}: sequence numbers are exhausted ({MAX_SEQUENCE})")
            created = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
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
                    f"{self.url}: checkpoint {manifest.id} was committed, but it may not survive a power loss: {e}",
                    checkpoint=manifest.id,
                ) from e
            self._confirm_fencing(manifest, tried)
            self._confirm_named(manifest)
            return _info(manifest, len(encoded))
        raise ConflictError(f"{self.url}: gave up after {_COMMIT_ATTEMPTS} commit conflicts")

    def _finished(self, manifest: Manifest) -> Manifest:
        """The manifest stamped with this writer's lease token (after checking that the
        lease is not known to be lost) and signed with its key, at the lowest format version
        that holds it. Without a lease or a key, neither (a signature of a rolled-back
        source would not fit its new id)."""
        token = 0
        if self.lease is not None:
            self.lease.check_held()
            token = min(self.lease.token, MAX_TOKEN)
        stamped = msgspec.structs.replace(manifest, token=token, signature="")
        if self.signing is None:
            return msgspec.structs.replace(stamped, format_version=needed_version(stamped))
        # The version is signed too: the one a signature needs, set before signing.
        version = needed_version(msgspec.structs.replace(stamped, signature="to be signed"))
        return self.signing.sign(msgspec.structs.replace(stamped, format_version=version))

    def _confirm_fencing(self, manifest: Manifest, tried: builtins.list[str]) -> None:
        """After a commit: unless this writer's lease still stands (then no fence can cover
        the commit: fences come after their lease), look at the fences as they are now. A
        commit one covers is void: raise ``FencedError`` and let its data file go (off
        ``tried``). The void manifest stays, unread: a sequence number is never reused."""
        lost = None
        if self.lease is not None:
            try:
                self.lease.check()
                return
            except FencedError as e:
                lost = e
        self._fencing.refresh(manifest.sequence, writer=True)
        fence = self._fencing.covering(manifest.sequence, manifest.token)
        if fence is None:
            return  # committed before any takeover: it stands (a lost lease fails the next commit)
        tried.remove(manifest.id)
        if lost is not None:
            raise lost
        raise self._unleased(fence, f"checkpoint {manifest.id} is void: ")

    def _confirm_named(self, manifest: Manifest) -> None:
        """After a commit: what it names is still there, its data file and a delta's parent
        (the one it names). A collection that could not be kept out may have taken either:
        on a store without locks (S3), or, for the parent read before the write's window
        opened, after another writer's newer checkpoint made it collectable. Then the commit
        is no checkpoint, and is said so, not acknowledged."""
        what = "its data file"
        try:
            self._check_data_file(manifest)
            what = f"its parent {manifest.parent}"
            if manifest.parent:
                _check_link(manifest, self._parse(manifest.parent)[0])
        except CheckpointError as e:
            with contextlib.suppress(AmberError):
                self.quarantine(manifest.id, f"committed, but {what} is gone: {e}")
            raise StoreError(
                f"{self.url}: checkpoint {manifest.id} was committed but {what} is gone (a collection ran "
                f"meanwhile); it is quarantined, and the next checkpoint must be full: {e}"
            ) from None

    def _unleased(self, fence: tuple[int, int], what: str) -> FencedError:
        return FencedError(
            f"{self.url}: {what}the store is written under a lease (token {fence[0]} from checkpoint "
            f"{fence[1]}) and this writer holds none: take it first (store.acquire_lease(), or --lease in the CLI)",
            lease=f"{self.url}/{LEASE_KEY}",
            token=fence[0],
        )

    def quarantine(self, checkpoint_id: str | int, reason: str) -> None:
        """Mark a checkpoint bad: restores skip it; nothing is deleted (an operator inspects it)."""
        cid = self._resolve_id(checkpoint_id)
        body = msgspec.json.encode({"checkpoint": cid, "reason": reason[:4000], "time": time.time()})
        self.storage.put(f"quarantine/{cid}.json", [body])

    def quarantined(self) -> dict[str, str]:
        """Quarantined checkpoint ids with the reason each was set aside."""
        found = {}
        for key in self.storage.list("quarantine/"):
            cid = key.removeprefix("quarantine/").removesuffix(".json")
            if not ID_PATTERN.fullmatch(cid):
                continue
            try:
                body = msgspec.json.decode(self.storage.get_range(key, 0, 8192))
                found[cid] = str(body.get("reason", "")) if isinstance(body, dict) else ""
            except (ValueError, RecursionError, StoreError):  # a planted link: its target is not shown
                found[cid] = "(unreadable quarantine note)"
        return found

    def release(self, checkpoint_id: str | int) -> None:
        """Lift a checkpoint's quarantine."""
        self.storage.delete(f"quarantine/{self._resolve_id(checkpoint_id)}.json")

    # --- reading --------------------------------------------------------------------------

    def ids(self) -> builtins.list[str]:
        """Ids of committed checkpoints, oldest first (commits of a fenced writer are none)."""
        return self._fencing.valid(self._manifest_ids(), self._token_of)

    def void_ids(self) -> builtins.list[str]:
        """Manifests that are not checkpoints: commits of writers a fence fenced off."""
        raw = self._manifest_ids()
        return sorted(set(raw) - set(self._fencing.valid(raw, self._token_of)))

    def _token_of(self, checkpoint_id: str) -> int | None:
        try:
            return self._parse(checkpoint_id)[0].token
        except (CheckpointError, StoreError):
            return None

    def _manifest_ids(self) -> builtins.list[str]:
        """Ids of every manifest in the store, fenced or not: sequence numbers they hold."""
        ids = []
        for key in self.storage.list("checkpoints/"):
            name = key.removeprefix("checkpoints/")
            if name.endswith(".manifest") and ID_PATTERN.fullmatch(name[: -len(".manifest")]):
                ids.append(name[: -len(".manifest")])
        return ids

    def list(self) -> builtins.list[CheckpointInfo]:
        """Every committed checkpoint, oldest first."""
        return [self.info(i) for i in self.ids()]

    def info(self, checkpoint_id: str | int | None = None) -> CheckpointInfo:
        """The committed checkpoint ``checkpoint_id`` (the newest when None)."""
        manifest, size = self._read_manifest(checkpoint_id)
        return _info(manifest, size)

    def manifest(self, checkpoint_id: str | int | None = None) -> Manifest:
        """The parsed, checked manifest of a checkpoint (the newest when None)."""
        return self._read_manifest(checkpoint_id)[0]

    def load(self, checkpoint_id: str | int | None = None) -> Any:
        """Rebuild the state saved in a checkpoint (the newest committed one when None),
        upgraded to the running code's versions in memory; nothing is written.

        A delta is rebuilt from its full base and every delta up to it, in order; each
        table's entry count is checked against its manifest along the way.
        """
        return self._load(checkpoint_id, None)

    def _load(self, checkpoint_id: str | int | None, steps: builtins.list[StepTiming] | None) -> Any:
        """``load``, adding each type upgrade it runs (timed) to ``steps``: what a migration reports."""
        chain = self.chain(checkpoint_id)
        plans = [self._plan(m) for m in chain]
        raw = sum(s.raw_length for m in chain for s in m.segments)
        if raw > self.max_load_bytes:
            expected = f"at most {self.max_load_bytes} decompressed bytes (raise max_load_bytes)"
            raise CheckpointTooLargeError(chain[-1].id, "chain", expected, str(raw))
        self.check_memory(chain)
        state: Any = None
        prior: dict[int, KeyedTable[Any, Any]] | None = None
        with gc_paused():
            for manifest, migration in zip(chain, plans, strict=True):
                reader = CheckpointReader(self.storage, manifest, self.progress, steps, self.max_load_memory)
                state = reader.state(migration, prior)
                prior = _tables_as_saved(manifest, state)
        for table in (prior or {}).values():
            table.last = (self.url, chain[-1].id, manifest_digest(chain[-1]))
        return state

    def chain(self, checkpoint_id: str | int | None = None) -> builtins.list[Manifest]:
        """The manifests a checkpoint needs, its full base first and itself last."""
        chain = [self.manifest(checkpoint_id)]
        while chain[-1].parent:
            child = chain[-1]
            try:
                parent = self.manifest(child.parent)
            except CheckpointNotFoundError:
                raise CorruptCheckpointError(
                    child.id, "parent", f"its parent checkpoint {child.parent}", "it is missing"
                ) from None
            if parent.depth != child.depth - 1:
                expected = f"a parent at depth {child.depth - 1}"
                raise CorruptCheckpointError(child.id, "parent", expected, str(parent.depth))
            _check_link(child, parent)
            chain.append(parent)
        return chain[::-1]

    def recommit(self, checkpoint_id: str | int, *, meta: dict[str, Any]) -> CheckpointInfo:
        """Commit an existing checkpoint's content again as the newest, with new metadata.

        The new manifest names the same data file; nothing is copied or deleted.
        """
        self._refuse_unleased()
        data_key = self.manifest(checkpoint_id).data
        with writing(self.storage, data_key):  # the source's data file must outlive the new manifest's commit
            source = self.manifest(checkpoint_id)  # again, now marked: a collection may have run before
            if source.data != data_key:
                raise ConflictError(f"{self.url}: checkpoint {source.id} changed while being rolled back to")
            return self._commit(msgspec.structs.replace(source, meta=_checked_meta(meta)), [])

    def plan(self, checkpoint_id: str | int | None = None) -> Plan:
        """How each type of a checkpoint becomes the running code's type; raises
        ``IncompatibleSchemaError`` listing every problem when that is impossible."""
        return self._plan(self.manifest(checkpoint_id))

    def _plan(self, manifest: Manifest) -> Plan:
        migration = plan([t.schema for t in manifest.types], self.registry, self.oldest_supported)
        refused = [] if self.read_newer else self._newer_refused(manifest)
        if migration.problems or refused:
            raise incompatible(manifest.id, [*refused, *migration.problems])
        # A renamed type may restart its versions: only the same name's versions compare.
        newer = [
            tp for tp in migration.types if tp.writer.name == tp.reader.name and tp.writer.version > tp.reader.version
        ]
        self._warn_by_value(manifest, migration)
        for tp in newer:
            key = (tp.writer.name, tp.writer.version, tp.reader.version)
            if key not in self._warned:  # once per store: not once per delta of every chain loaded
                self._warned.add(key)
                loud(
                    log,
                    logging.WARNING,
                    "checkpoint %s: %s v%d is newer than this code's v%d; read by the rules: fields this code "
                    "does not know are dropped, fields the writer lacks get their defaults",
                    manifest.id,
                    tp.writer.name,
                    tp.writer.version,
                    tp.reader.version,
                )
        return migration

    def _newer_refused(self, manifest: Manifest) -> builtins.list[SchemaProblem]:
        """``read_newer=False``: every type written at a newer version than the code declares."""
        found = []
        for entry in manifest.types:
            current = self.registry.current(entry.schema.name)
            if current is not None and current.name == entry.schema.name and entry.schema.version > current.version:
                found.append(_newer_problem(entry.schema, current.version))
        return found

    def _warn_by_value(self, manifest: Manifest, migration: Plan) -> None:
        """Enums written before format 4 are matched by value, as they were then: say so,
        once per store and type, with the way out."""
        for tp in migration.types:
            key = (tp.writer.name, tp.writer.version, -1)
            if tp.by_value and key not in self._warned:
                self._warned.add(key)
                log.warning(
                    "checkpoint %s: %s v%d stores its enums by value only (written before format 4): read by value; "
                    "`amber migrate` rewrites the store with member names, which later releases resolve by name",
                    manifest.id,
                    tp.writer.name,
                    tp.writer.version,
                )

    def verify(self, checkpoint_id: str | int | None = None) -> VerifyReport:
        """Check digests, lengths, structure and references, without the application's code."""
        manifest, size = self._read_manifest(checkpoint_id)
        with gc_paused():
            if manifest.parent:  # a delta is sound only with its chain: read it all
                chain = self.chain(manifest.id)
                self.check_memory(chain)
                verify_chain(self.storage, chain, self.max_load_memory)
            else:
                self.check_memory([manifest])
                CheckpointReader(self.storage, manifest, memory_limit=self.max_load_memory).generic()
        return VerifyReport(
            info=_info(manifest, size),
            segments=len(manifest.segments),
            records=sum(t.count for t in manifest.types),
            raw_bytes=sum(s.raw_length for s in manifest.segments),
        )

    def read_generic(
        self, checkpoint_id: str | int | None = None
    ) -> tuple[Manifest, builtins.list[builtins.list[dict[str, Any]]], Any]:
        """A checkpoint's records (as dicts) and root, read with its own schemas, no app code.

        References come back as ``Ref(name, row)`` markers.
        """
        manifest = self.manifest(checkpoint_id)
        with gc_paused():
            self.check_memory([manifest])
            records, root = CheckpointReader(self.storage, manifest, memory_limit=self.max_load_memory).generic()
        return manifest, records, root

    def check_memory(self, chain: builtins.list[Manifest]) -> None:
        """Refuse (``CheckpointTooLargeError``) reading ``chain`` when the memory it may take,
        estimated from its manifests alone, exceeds ``max_load_memory``: before any segment."""
        check_chain(chain, self.max_load_memory, readers_of(self.registry))

    def _read_manifest(self, checkpoint_id: str | int | None) -> tuple[Manifest, int]:
        manifest, size = self.parsed_manifest(checkpoint_id)
        raw = sum(s.raw_length for s in manifest.segments)
        if raw > self.max_load_bytes:
            raise CheckpointTooLargeError(
                manifest.id,
                "manifest",
                f"at most {self.max_load_bytes} decompressed bytes (raise max_load_bytes)",
                str(raw),
            )
        self._check_data_file(manifest)
        return manifest, size

    def parsed_manifest(self, checkpoint_id: str | int | None) -> tuple[Manifest, int]:
        """A checkpoint's manifest, checked on its own (not its data file or its size
        against ``max_load_bytes``), with the manifest's size in bytes."""
        manifest, size = self._parse(self._resolve_id(checkpoint_id))
        fence = self.fenced_by(manifest)
        if fence is not None:
            raise CheckpointNotFoundError(
                manifest.id,
                "manifest",
                "a commit by the store's lease holder",
                f"a commit by lease token {manifest.token}, fenced off by token {fence[0]} from sequence {fence[1]}",
            )
        return manifest, size

    def _parse(self, cid: str) -> tuple[Manifest, int]:
        key = manifest_key(cid)
        try:
            size = self.storage.size(key)
            if size > MAX_MANIFEST_BYTES:
                raise CorruptCheckpointError(cid, "manifest", f"at most {MAX_MANIFEST_BYTES} bytes", str(size))
            data = self.storage.get_range(key, 0, size)
        except ObjectNotFoundError:
            raise CheckpointNotFoundError(cid, "manifest", "a committed checkpoint with this id", "none") from None
        except PlantedLinkError as e:  # listed, never read through
            raise CorruptCheckpointError(cid, "manifest", "a readable manifest file", str(e)) from None
        manifest = parse_manifest(data, cid)
        if manifest.id != cid:
            raise CorruptCheckpointError(cid, "manifest", f"id {cid}", manifest.id)
        if self.signing is not None:
            self.signing.check(manifest)
        return manifest, size

    def _check_data_file(self, manifest: Manifest) -> None:
        try:
            size = self.storage.size(manifest.data)
            header = self.storage.get_range(manifest.data, 0, HEADER_SIZE)
        except ObjectNotFoundError:
            raise CorruptCheckpointError(manifest.id, "data file", manifest.data, "it is missing") from None
        except PlantedLinkError as e:
            raise CorruptCheckpointError(manifest.id, "data file", manifest.data, str(e)) from None
        if size != manifest.data_size:
            raise CorruptCheckpointError(manifest.id, "data file", f"{manifest.data_size} bytes", str(size))
        expected = data_header(_data_version(manifest))
        if header[: len(DATA_MAGIC)] == DATA_MAGIC and header > data_header(FORMAT_VERSION):
            raise UnsupportedFormatError(
                manifest.id, "data file header", f"format version {FORMAT_VERSION} or older", header[10:12].hex()
            )
        if header != expected:
            raise CorruptCheckpointError(manifest.id, "data file header", expected.hex(), header.hex())

    def _resolve_id(self, checkpoint_id: str | int | None) -> str:
        if checkpoint_id is None:
            newest = self._fencing.newest(self._manifest_ids(), self._token_of)
            if newest is None:
                raise CheckpointNotFoundError(self.url, "store", "at least one committed checkpoint", "none")
            return newest
        text = str(checkpoint_id)
        if SHORT_ID.fullmatch(text):  # ASCII digits only: int() would take "٣" for 3
            return format_id(int(text))
        raise CheckpointNotFoundError(text, "id", "a checkpoint id (its sequence number)", repr(text))

    def _last_sequence(self) -> int:
        ids = self._manifest_ids()
        return int(ids[-1]) if ids else 0


def _encode(value: Any, what: str, limit: int | None = MAX_SEGMENT_BYTES) -> bytes:
    try:
        raw = _encoder.encode(value)
    except OverflowError:
        raise SerializationError(f"cannot save {what}: an integer is outside [-2**63, 2**64 - 1]") from None
    except UnicodeEncodeError:
        raise SerializationError(f"cannot save {what}: a string is not valid Unicode (a lone surrogate)") from None
    if limit is not None and len(raw) > limit:
        raise SerializationError(
            f"cannot save {what}: {len(raw)} bytes exceed one segment's limit ({limit}); "
            "keep large collections in records, whose tables are split into segments"
        )
    return raw


_local = threading.local()


def _compress(raw: bytes, level: int, sha: bool) -> tuple[bytes, str, str]:
    # One compressor per thread and level, reused: its work buffers are allocated once.
    compressors: dict[int, Any] = _local.__dict__.setdefault("compressors", {})
    if level not in compressors:
        compressors[level] = compressor(level)
    blob = compressors[level].compress(raw)
    return blob, digest(blob), hashlib.sha256(blob).hexdigest() if sha else ""


def _throttled(chunks: Iterator[bytes], rate: float) -> Iterator[bytes]:
    """Chunks at no more than ``rate`` bytes per second on average (sleeping between them)."""
    start, sent = time.monotonic(), 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)


class _DirectSave:
    """The events of one ``save()``: the caller's state is held for all of it (its pause)."""

    def __init__(self, store: CheckpointStore, kind: str, announce: bool) -> None:
        self.store = store
        self.announce = announce
        self.kind = kind
        self.token = secrets.token_hex(8)
        self.start = time.time()
        self.began = time.perf_counter()
        self.current = "capturing"
        self.current_start = (self.start, self.began)
        self.phases: dict[str, float] = {}
        self.emit(
            CheckpointStarted(
                time=self.start, attempt=self.token, kind=kind, capture="direct", level="minimal", start=self.start
            )
        )

    def emit(self, event: Event) -> None:
        if self.announce:
            self.store.emit(event)

    def phase(self, name: str, *, error: str = "", size: int = 0) -> None:
        wall, began = self.current_start
        seconds = time.perf_counter() - began
        self.phases[self.current] = seconds
        self.emit(
            PhaseFinished(
                time=time.time(),
                attempt=self.token,
                phase=self.current,
                start=wall,
                seconds=seconds,
                bytes=size,
                error=error,
            )
        )
        self.current, self.current_start = name, (time.time(), time.perf_counter())

    def committed(self, info: CheckpointInfo) -> None:
        self.phase("done", size=info.size)
        seconds = time.perf_counter() - self.began
        self.emit(
            CheckpointCommitted(
                time=time.time(),
                attempt=self.token,
                checkpoint=info.id,
                kind="delta" if info.parent else "full",
                capture="direct",
                parent=info.parent,
                depth=info.depth,
                bytes=info.size,
                records=sum(info.counts.values()),
                start=self.start,
                seconds=seconds,
                pause_seconds=seconds,
                phases=self.phases,
            )
        )

    def aborted(self, error: BaseException) -> None:
        phase = self.current
        reason = str(error) or type(error).__name__
        self.phase("done", error=reason)
        seconds = time.perf_counter() - self.began
        self.emit(
            CheckpointAborted(
                time=time.time(),
                attempt=self.token,
                kind=self.kind,
                capture="direct",
                phase=phase,
                participant=None,
                reason=reason,
                error=type(error).__name__,
                start=self.start,
                seconds=seconds,
                pause_seconds=seconds,
                phases=self.phases,
            )
        )


@dataclass
class Taken:
    """The tables of a state and the changes taken from them for one checkpoint."""

    tables: builtins.list[KeyedTable[Any, Any]]
    changes: dict[int, Changes]
    parent: Manifest | None

    def give_back(self) -> None:
        """The checkpoint failed: the next one must include these changes."""
        for table in self.tables:
            table._return_changes(self.changes[table.token])

    def committed(self, store_url: str, info: CheckpointInfo) -> None:
        for table in self.tables:
            table.last = (store_url, info.id, info.manifest_digest)


@dataclass
class Capture:
    """A captured state: records found and root encoded; segments encoded now or lazily."""

    writer: StateWriter
    segments: Iterable[tuple[SegmentEntry, bytes]]
    meta: dict[str, Any]
    parent: Manifest | None


def _data_version(manifest: Manifest) -> int:
    """A data file's format version: what its content needs (1, 2 or 4). The lease token of
    format 3 lives in the manifest only, so a rollback can name an older data file."""
    return manifest.format_version if manifest.format_version < 3 else content_version(manifest)


def _draft(
    writer: StateWriter,
    segments: list[SegmentEntry],
    *,
    data_key: str,
    data_size: int,
    meta: dict[str, Any],
    version: int,
    parent: Manifest | None,
) -> Manifest:
    """The manifest of a written data file, before it gets its sequence number and time."""
    tables = writer.tables
    return Manifest(
        format="amber.checkpoint",
        format_version=version,
        id="",
        sequence=0,
        created="",
        library=f"amber {__version__}",
        data=data_key,
        data_size=data_size,
        digest=digest(b"".join(bytes.fromhex(s.digest) for s in segments)),
        types=tuple(
            TypeEntry(
                t.written.schema, t.written.schema.fingerprint, len(t.objects) - t.linked, t.linked, len(t.adopted)
            )
            for t in tables
        ),
        segments=tuple(segments),
        meta=meta,
        write_versions={t.rt.name: t.written.version for t in tables if t.pin is not None},
        parent=parent.id if parent is not None else "",
        parent_digest=manifest_digest(parent) if parent is not None else "",
        depth=parent.depth + 1 if parent is not None else 0,
        tables={str(token): n for token, n in sorted(writer.keyed_tables.items())},
    )


def _with_sizes(meta: dict[str, Any], writer: StateWriter, segments: list[SegmentEntry]) -> dict[str, Any]:
    """``meta`` plus, under ``amber.types``, each type's records, links and bytes."""
    sizes: dict[str, dict[str, int]] = {}
    for table in writer.tables:
        sizes[table.rt.name] = {"records": len(table.objects) - table.linked, "links": table.linked}
        sizes[table.rt.name].update(stored_bytes=0, raw_bytes=0)
    for entry in segments:
        name = writer.tables[entry.type].rt.name if entry.kind != "root" else "(root)"
        target = sizes.setdefault(name, {"stored_bytes": 0, "raw_bytes": 0})
        target["stored_bytes"] += entry.length
        target["raw_bytes"] += entry.raw_length
    amber_meta = dict(meta.get("amber", {}))
    amber_meta["types"] = sizes
    return {**meta, "amber": amber_meta}


def _tables_as_saved(manifest: Manifest, state: Any) -> dict[int, KeyedTable[Any, Any]]:
    """The state's tables by token, each checked against the entry count its manifest
    recorded (a broken chain, or a delta applied to the wrong parent, shows up here)."""
    found_tables = find_tables(state)
    tables = {t.token: t for t in found_tables}
    found = {str(token): len(t) for token, t in tables.items()}
    if found != manifest.tables or len(tables) != len(found_tables):
        wrong = sorted(set(found.items()) ^ set(manifest.tables.items()))[:3]
        raise CorruptCheckpointError(
            manifest.id, "tables", "tables with the entry counts in the manifest", f"differences {wrong}"
        )
    return tables


def new_data_key() -> str:
    return f"data/{secrets.token_hex(16)}.seg"


def _check_link(child: Manifest, parent: Manifest) -> None:
    """A delta of format 5 on is bound to its parent's content: under a reused id (manifests
    deleted, another checkpoint committed there) the digest tells the impostor apart."""
    if child.parent_digest and child.parent_digest != manifest_digest(parent):
        raise CorruptCheckpointError(
            child.id,
            "parent",
            f"parent {child.parent} with manifest digest {child.parent_digest[:16]}…",
            f"another checkpoint under that id (digest {manifest_digest(parent)[:16]}…)",
        )


def _info(manifest: Manifest, manifest_size: int) -> CheckpointInfo:
    return CheckpointInfo(
        parent=manifest.parent,
        depth=manifest.depth,
        id=manifest.id,
        sequence=manifest.sequence,
        time=dt.datetime.fromisoformat(manifest.created),
        size=manifest_size + manifest.data_size,
        digest=manifest.digest,
        types={t.schema.name: t.schema.version for t in manifest.types},
        counts={t.schema.name: t.count for t in manifest.types},
        meta=manifest.meta,
        manifest_digest=manifest_digest(manifest),
    )


def incompatible(checkpoint_id: str, problems: builtins.list[SchemaProblem]) -> IncompatibleSchemaError:
    """The most specific error for a set of planning problems."""
    kinds = {p.kind for p in problems}
    error = {"unknown": UnknownTypeError, "mismatch": SchemaMismatchError}.get(kinds.pop() if len(kinds) == 1 else "")
    return (error or IncompatibleSchemaError)(checkpoint_id, problems)


def _checked_meta(meta: dict[str, Any] | None) -> dict[str, Any]:
    if meta is None:
        return {}
    if not isinstance(meta, dict) or not all(isinstance(k, str) for k in meta):
        raise TypeError("meta must be a dict with str keys")
    try:
        return dict(msgspec.json.decode(msgspec.json.encode(meta)))
    except (TypeError, msgspec.EncodeError) as e:
        raise SerializationError(f"meta must hold JSON values only: {e}") from None


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic GC: building or walking millions of objects otherwise triggers it
    over and over, for nothing (3-4x slower decoding, measured)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _newer_problem(written: RecordSchema, version: int) -> SchemaProblem:
    return SchemaProblem(
        written.name,
        f"v{written.version} is newer than v{version}, the newest this code declares (read_newer=False)",
        f"run the release that wrote it, or have that release write v{version} (write_versions) while this one "
        "may read the store",
    )
