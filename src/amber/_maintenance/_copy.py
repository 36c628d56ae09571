"""Copy a store to another place: a folder to object storage, one bucket to another.

The copy follows the commit protocol: a checkpoint's data file lands before its manifest,
manifests in sequence order, each one create-only. So a copy interrupted at any point leaves
the target holding a prefix of the source's checkpoints, each complete, and running the
copy again finishes it. Bytes are copied as they are (digests and signatures stay valid),
in bounded chunks, and every copied checkpoint is verified in the target at the end.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from .._format._format import Manifest
from .._store._checkpoint import CheckpointStore
from .._store._gc_guard import writing
from .._store._reading import Progress
from ..errors import ConflictError, StoreError
from ..storage import Storage

CHUNK = 8 << 20  # bytes read and written at a time: memory stays bounded on any data file
ADVISORY = ("quarantine/", "log/", "history/", "fences/")  # copied too; leases are not (a writer's, not the store's)


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
        manifests = [source.manifests.parsed(cid)[0] for cid in ids]  # a damaged one fails before any write
        held = _check_target(source, target, ids)  # a refused target is not even locked
        with writing(target.storage):
            _copy_checkpoints(source, target, manifests, held, report, progress)
    if verify:
        report.unverified = sorted(set(ids) & source.quarantined().keys())
        _verify(target, [cid for cid in ids if cid not in report.unverified], progress)
        report.verified = True
    report.seconds = time.perf_counter() - began
    return report


def _copy_checkpoints(  # noqa: PLR0917 (a private step of copy_store, called once)
    source: CheckpointStore,
    target: CheckpointStore,
    manifests: list[Manifest],
    held: set[str],
    report: CopyReport,
    progress: Progress | None,
) -> None:
    copied: set[str] = set()
    for done, manifest in enumerate(manifests, 1):
        if manifest.id in held:
            report.present.append(manifest.id)
            continue
        with writing(target.storage, manifest.data):  # marked on a store without locks, until named
            if manifest.data not in copied:  # a rollback's manifest shares its target's data file
                _copy(source.storage, target.storage, manifest.data, report, create_only=False)
                copied.add(manifest.data)
            _copy(source.storage, target.storage, f"checkpoints/{manifest.id}.manifest", report, create_only=True)
        report.checkpoints.append(manifest.id)
        if progress is not None:
            progress("copy", done, len(manifests))
    for folder in ADVISORY:
        for key in source.storage.list(folder):
            _copy(source.storage, target.storage, key, report, create_only=False)


def _verify(target: CheckpointStore, ids: list[str], progress: Progress | None) -> None:
    for done, cid in enumerate(ids, 1):
        target.verify(cid)
        if progress is not None:
            progress("verify", done, len(ids))


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


def _copy(source: Storage, target: Storage, key: str, report: CopyReport, *, create_only: bool) -> None:
    size = source.size(key)
    try:
        target.put(key, _chunks(source, key, size), create_only=create_only)
    except ConflictError:
        raise StoreError(f"{target.url}: {key}: expected to create it, found it taken by another writer") from None
    report.files += 1
    report.bytes += size


def _chunks(storage: Storage, key: str, size: int) -> Iterator[bytes]:
    for start in range(0, size, CHUNK):
        yield storage.get_range(key, start, min(CHUNK, size - start))


def _read(storage: Storage, key: str) -> bytes:
    return storage.get_range(key, 0, storage.size(key))
