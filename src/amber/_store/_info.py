"""What a store says of a committed checkpoint: ``CheckpointInfo`` (``save`` returns it,
``list`` shows it) and ``VerifyReport``, both built from a manifest alone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec

from .._format._format import Manifest, manifest_digest


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


def checkpoint_info(manifest: Manifest, manifest_size: int) -> CheckpointInfo:
    """The info of a checkpoint from its manifest and the manifest's size in bytes."""
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
