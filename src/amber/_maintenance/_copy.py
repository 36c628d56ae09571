"""Copy a store to another place: a folder to object storage, one bucket to another.

The copy follows the commit protocol: a checkpoint's data file lands before its manifest,
manifests in sequence order, each one create-only. So a copy interrupted at any point leaves
the target holding a prefix of the source's checkpoints, each complete, and running the
copy again finishes it. Bytes are copied as they are (digests and signatures stay valid),
in bounded chunks. Several data files are copied at a time, a bounded window ahead of the
manifest being committed (so the waits on the disk's flushes, or the network, overlap),
while one thread commits the manifests in order.

Verification checks bytes against digests, it does not decode records: as a data file is
read from the source, each segment is hashed against the manifest (a damaged checkpoint is
refused before its manifest is written in the target); at the end, every checkpoint (those
an earlier, interrupted run copied too) is read back from the target, its manifest checked
as a restore checks it (signature, fence, data file size and header, a delta's link to its
parent) and every segment of its chain hashed again (xxh3-128, and SHA-256 where the
checkpoint carries it). That is every byte a restore reads; the bytes are the source's,
whose decoding ``amber verify`` checks.
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import xxhash

from .._format._format import Manifest, SegmentEntry, parse_manifest
from .._store._checkpoint import CheckpointStore
from .._store._gc_guard import writing
from .._store._manifests import check_link
from .._store._reading import Progress
from ..errors import CheckpointNotFoundError, ConflictError, CorruptCheckpointError, StoreError
from ..storage import Storage
from ..storage._base import Staged, Stages

CHUNK = 8 << 20  # bytes read and written at a time: memory stays bounded on any data file
WORKERS = 4  # files copied at a time (each holds one chunk)
AHEAD = 16  # data files copied ahead of the manifest being committed
BEFORE = ("quarantine/", "fences/")  # copied before the manifests: they tell a reader what to skip
AFTER = ("log/", "history/")  # copied after: they tell what the copied checkpoints did
ADVISORY = BEFORE + AFTER  # leases are not copied (a writer's, not the store's)
JOURNAL = "history/"  # written by the store without flushes (advisory): copied alike


@dataclass
class CopyReport:
    source: str
    target: str
    checkpoints: list[str] = field(default_factory=list)  # copied now
    present: list[str] = field(default_factory=list)  # already in the target (a resumed copy)
    unverified: list[str] = field(default_factory=list)  # quarantined in the source: copied as they are
    files: int = 0
    bytes: int = 0
    verified: bool = False
    seconds: float = 0.0


def copy_store(
    source: CheckpointStore, target: CheckpointStore, *, verify: bool = True, progress: Progress | None = None
) -> CopyReport:
    """Copy every committed checkpoint of ``source`` (with its quarantine notes, migration log,
    history and fences) into ``target``, which must be empty or an interrupted copy of it.
    Quarantined checkpoints are copied for the post-mortem, but not verified: a restore
    skips them there too."""
    began = time.perf_counter()
    report = CopyReport(source.url, target.url)
    # No collection on either side meanwhile: the source's would delete what is being read, the
    # target's would see copied data files that no manifest names yet.
    with writing(source.storage):
        ids = source.ids()
        known = _Known()
        manifests = [source.manifests.parsed(cid, parser=known.parse)[0] for cid in ids]  # a damaged one: no write
        quarantined = set(ids) & source.quarantined().keys()
        held = _check_target(source, target, ids)  # a refused target is not even locked
        with ThreadPoolExecutor(WORKERS, thread_name_prefix="amber-copy") as pool, writing(target.storage):
            copier = _Copier(source, target, pool, report, checked=verify, skipped=quarantined)
            copier.folders(BEFORE)
            copier.checkpoints(manifests, held, progress)
            copier.folders(AFTER)
            if verify:  # what an earlier run left too: all a restore would read
                _Verifier(target, known).check([cid for cid in ids if cid not in quarantined], progress)
    if verify:
        report.unverified = sorted(quarantined)
        report.verified = True
    report.seconds = time.perf_counter() - began
    return report


@dataclass
class _Data:
    """A data file being copied: its copy, its mark in the target, and whether it has its name."""

    task: Future[tuple[int, Staged | None]]
    marked: contextlib.ExitStack
    named: bool = False


class _Copier:
    """Copies files on a pool of threads; commits manifests on the calling one, in order."""

    def __init__(
        self,
        source: CheckpointStore,
        target: CheckpointStore,
        pool: ThreadPoolExecutor,
        report: CopyReport,
        *,
        checked: bool,
        skipped: set[str],
    ) -> None:
        self.source, self.target, self.pool, self.report = source, target, pool, report
        self.checked = checked  # each data file's segments hashed as they are read from the source
        self.skipped = skipped  # quarantined: copied as they are
        self.stages = target.storage if isinstance(target.storage, Stages) else None

    def folders(self, folders: Iterable[str]) -> None:
        keys = [key for folder in folders for key in self.source.storage.list(folder)]
        tasks = [self.pool.submit(self._file, key, durable=not key.startswith(JOURNAL)) for key in keys]
        try:
            for task in tasks:
                self._count(task.result())
        finally:
            for task in tasks:
                task.cancel()

    def checkpoints(self, manifests: list[Manifest], held: set[str], progress: Progress | None) -> None:
        """Each data file written ahead (flushed) and named in batches, one flush of its folder
        for the batch; each manifest written ahead, then committed in order once its data file
        is named. A data file a rollback's manifest shares with its target is copied once."""
        missing = [m for m in manifests if m.id not in held]
        self.report.present = [m.id for m in manifests if m.id in held]
        naming: dict[str, list[Manifest]] = {}  # data file -> the missing checkpoints that name it
        for m in missing:
            naming.setdefault(m.data, []).append(m)
        last = {m.data: n for n, m in enumerate(missing)}  # after which its mark in the target can go
        files: dict[str, _Data] = {}  # in the order they were started
        staging: dict[int, Future[Staged]] = {}  # manifests written ahead, until committed
        try:
            for n, manifest in enumerate(missing):
                for ahead in range(n + len(staging), min(n + AHEAD, len(missing))):
                    key = missing[ahead].data
                    if key not in files:
                        checks = [m for m in naming[key] if m.id not in self.skipped] if self.checked else []
                        marked = contextlib.ExitStack()
                        files[key] = _Data(self.pool.submit(self._data, key, checks, marked), marked)
                    staging[ahead] = self.pool.submit(self._stage, f"checkpoints/{missing[ahead].id}.manifest")
                self._name(files, manifest.data)
                try:
                    self._count(staging.pop(n).result().publish(create_only=True))
                except ConflictError:
                    key = f"checkpoints/{manifest.id}.manifest"
                    raise StoreError(
                        f"{self.target.url}: {key}: expected to create it, found it taken by another writer"
                    ) from None
                if last[manifest.data] == n:
                    files[manifest.data].marked.close()
                self.report.checkpoints.append(manifest.id)
                if progress is not None:
                    progress("copy", n + 1, len(missing))
        finally:  # on an error: the copies under way end, what they wrote unnamed goes, and their marks
            for file in files.values():
                file.task.cancel()
                with contextlib.suppress(Exception):
                    staged = None if file.named else file.task.result()[1]
                    if staged is not None:
                        staged.discard()
                file.marked.close()
            for task in staging.values():
                task.cancel()
                with contextlib.suppress(Exception):
                    task.result().discard()

    def _name(self, files: dict[str, _Data], key: str) -> None:
        """Give data file ``key`` its name, with any other finished meanwhile (files are started
        in the order their manifests commit), then flush the folder once for them all."""
        if files[key].named:
            return
        batch: list[tuple[str, _Data]] = []
        reached = False
        for file_key, file in files.items():
            if file.named:
                continue
            if reached and not (file.task.done() and file.task.exception() is None):
                break  # its own manifest waits for it (or raises its error)
            batch.append((file_key, file))
            reached = reached or file_key == key
        folders = set()
        for file_key, file in batch:
            size, staged = file.task.result()
            if staged is not None:
                staged.publish(durable=False)
                folders.add(file_key.rpartition("/")[0] + "/")
            file.named = True
            self._count(size)
        for folder in sorted(folders):
            assert self.stages is not None
            self.stages.flush(folder)

    def _data(self, key: str, checks: list[Manifest], marked: contextlib.ExitStack) -> tuple[int, Staged | None]:
        """One data file, written and flushed in the target (named there by ``_name`` where
        the target can stage), marked there until the last manifest naming it lands."""
        marked.enter_context(writing(self.target.storage, key))  # on a store without locks
        for m in checks:
            self.source.manifests.check_data_file(m)  # its size and header, before its bytes
        streams = [_Segments(m, f"{key} in {self.source.url}") for m in checks]
        size = self.source.storage.size(key)
        chunks = _watched(_chunks(self.source.storage, key, size), streams)
        if self.stages is not None:
            return size, self.stages.stage(key, chunks)
        self.target.storage.put(key, chunks)
        return size, None

    def _stage(self, key: str) -> Staged:
        """A manifest written ahead in the target, not yet committed."""
        chunks = _chunks(self.source.storage, key, self.source.storage.size(key))
        if self.stages is not None:
            return self.stages.stage(key, chunks)
        return _Held(self.target.storage, key, b"".join(chunks))  # a manifest is small

    def _file(self, key: str, *, durable: bool) -> int:
        size = self.source.storage.size(key)
        self.target.storage.put(key, _chunks(self.source.storage, key, size), durable=durable)
        return size

    def _count(self, size: int) -> None:
        self.report.files += 1
        self.report.bytes += size


class _Held:
    """A manifest staged for a backend that cannot stage (``put`` at once): its bytes, held."""

    def __init__(self, storage: Storage, key: str, data: bytes) -> None:
        self.storage, self.key, self.data = storage, key, data

    def publish(self, *, create_only: bool = False, durable: bool = True) -> int:
        return self.storage.put(self.key, [self.data], create_only=create_only, durable=durable)

    def discard(self) -> None:
        pass


def _watched(chunks: Iterator[bytes], streams: list[_Segments]) -> Iterator[bytes]:
    """The chunks, each shown to the ``streams`` on its way; after the last, their checks end
    (before the write is published: what they raise leaves nothing in the target)."""
    for chunk in chunks:
        for stream in streams:
            stream.feed(chunk)
        yield chunk
    for stream in streams:
        stream.finish()


class _Segments:
    """A data file's segments checked against a manifest's digests as its bytes stream past,
    from its first byte: one pass, whatever the order or the sizes of the segments."""

    def __init__(self, manifest: Manifest, where: str) -> None:
        self.manifest = manifest
        self.where = where
        self.order = sorted(enumerate(manifest.segments), key=lambda s: s[1].offset)
        self.next = 0  # into order: the first segment not yet begun
        self.open: list[tuple[int, SegmentEntry, Any, Any]] = []  # begun: index, entry, xxh3, sha256
        self.position = 0

    def feed(self, chunk: bytes) -> None:
        view = memoryview(chunk)
        start, end = self.position, self.position + len(chunk)
        while self.next < len(self.order) and self.order[self.next][1].offset < end:
            index, entry = self.order[self.next]
            self.open.append((index, entry, xxhash.xxh3_128(), hashlib.sha256() if entry.sha256 else None))
            self.next += 1
        going = []
        for begun in self.open:
            index, entry, xxh3, sha256 = begun
            part = view[max(entry.offset - start, 0) : min(entry.offset + entry.length - start, len(chunk))]
            xxh3.update(part)
            if sha256 is not None:
                sha256.update(part)
            if entry.offset + entry.length <= end:
                self._check(index, entry, xxh3, sha256)
            else:
                going.append(begun)
        self.open = going
        self.position = end

    def finish(self) -> None:
        """After the last byte: every segment was whole and as its digests say."""
        for index, entry in self.order[self.next :]:  # none begun: past the end, or empty at it
            if entry.length == 0 and entry.offset <= self.position:
                self._check(index, entry, xxhash.xxh3_128(), hashlib.sha256() if entry.sha256 else None)
            else:
                self._truncated(index, entry)
        for index, entry, _, _ in self.open:
            self._truncated(index, entry)

    def _check(self, index: int, entry: SegmentEntry, xxh3: Any, sha256: Any) -> None:
        found = xxh3.hexdigest()
        if found != entry.digest:
            raise CorruptCheckpointError(self.manifest.id, self._part(index), f"xxh3-128 digest {entry.digest}", found)
        if sha256 is not None and sha256.hexdigest() != entry.sha256:
            raise CorruptCheckpointError(
                self.manifest.id, self._part(index), f"SHA-256 {entry.sha256}", sha256.hexdigest()
            )

    def _truncated(self, index: int, entry: SegmentEntry) -> None:
        raise CorruptCheckpointError(
            self.manifest.id, self._part(index), f"{entry.length} bytes from {entry.offset}", f"{self.position} in all"
        )

    def _part(self, index: int) -> str:
        return f"{self.manifest.segments[index].describe(index, self.manifest)} of {self.where}"


class _Verifier:
    """Reads checkpoints back from the target as a restore reads them, without decoding: each
    manifest and its chain's, then every segment of each once (a data file that several
    checkpoints share, once for each set of segments)."""

    def __init__(self, target: CheckpointStore, known: _Known) -> None:
        self.target, self.known = target, known
        self.manifests: dict[str, Manifest] = {}
        self.sound: set[str] = set()  # checked, with all of its chain
        self.hashed: set[tuple[str, tuple[SegmentEntry, ...]]] = set()

    def check(self, ids: list[str], progress: Progress | None) -> None:
        for done, cid in enumerate(ids, 1):
            chain = [self._read(cid)]
            while chain[-1].parent and chain[-1].id not in self.sound:
                chain.append(_parent(chain[-1], self._read))
            for manifest in chain:
                if manifest.id not in self.sound:
                    self._hash(manifest)
                    self.sound.add(manifest.id)
            if progress is not None:
                progress("verify", done, len(ids))

    def _hash(self, manifest: Manifest) -> None:
        if (manifest.data, manifest.segments) in self.hashed:
            return
        segments = _Segments(manifest, f"{manifest.data} in {self.target.url}")
        for chunk in _chunks(self.target.storage, manifest.data, manifest.data_size):
            segments.feed(chunk)
        segments.finish()
        self.hashed.add((manifest.data, manifest.segments))

    def _read(self, cid: str) -> Manifest:
        if cid not in self.manifests:  # signature, fence, data file size and header
            self.manifests[cid] = self.target.manifests.read(cid, parser=self.known.recall)[0]
        return self.manifests[cid]


class _Known:
    """The source's manifests, each with the bytes it was parsed from: one read back from the
    target with the same bytes is that manifest, not parsed again (its id, signature, fence,
    load bound and data file are checked there all the same)."""

    def __init__(self) -> None:
        self.parsed: dict[str, tuple[bytes, Manifest]] = {}

    def parse(self, data: bytes, cid: str) -> Manifest:
        manifest = parse_manifest(data, cid)
        self.parsed[cid] = (data, manifest)
        return manifest

    def recall(self, data: bytes, cid: str) -> Manifest:
        known = self.parsed.get(cid)
        return known[1] if known is not None and known[0] == data else parse_manifest(data, cid)


def _parent(child: Manifest, read: Callable[[str], Manifest]) -> Manifest:
    """A delta's parent, bound to it as ``Manifests.chain`` binds it."""
    try:
        parent = read(child.parent)
    except CheckpointNotFoundError:
        raise CorruptCheckpointError(
            child.id, "parent", f"its parent checkpoint {child.parent}", "it is missing"
        ) from None
    if parent.depth != child.depth - 1:
        raise CorruptCheckpointError(child.id, "parent", f"a parent at depth {child.depth - 1}", str(parent.depth))
    check_link(child, parent)
    return parent


def _check_target(source: CheckpointStore, target: CheckpointStore, ids: list[str]) -> set[str]:
    """The target holds nothing, or the first checkpoints of the source, byte for byte: which."""
    held = target.ids()
    if held and held != ids[: len(held)]:
        raise StoreError(f"{target.url}: copy target: expected an empty store, found checkpoints {held[0]}..{held[-1]}")
    for cid in held:
        key = f"checkpoints/{cid}.manifest"
        if _read(source.storage, key) != _read(target.storage, key):
            raise StoreError(f"{target.url}: copy target: checkpoint {cid} differs from the source's")
    return set(held)


def _chunks(storage: Storage, key: str, size: int) -> Iterator[bytes]:
    for start in range(0, size, CHUNK):
        yield storage.get_range(key, start, min(CHUNK, size - start))


def _read(storage: Storage, key: str) -> bytes:
    return storage.get_range(key, 0, storage.size(key))
