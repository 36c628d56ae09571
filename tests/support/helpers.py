"""Test helpers: snapshots of a store directory (to prove reads change nothing), forged
checkpoints, the amber command run as a real process, and one in-memory store opened as often as
a test likes."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import amber
from amber.storage import MemoryStorage

# Opens a store with the options given (``registry=``, ``write_versions=``, ``read_newer=``, ...).
OpenStore = Callable[..., amber.CheckpointStore]


def memory_opener() -> OpenStore:
    """One in-memory store, opened as often as a test likes, each time with its own options (the
    registry of one release of the code, say): a folder opened twice, without the disk, for the
    tests where the disk is not the point. ``amber.open_store("memory://")`` cannot do it: each
    call is a new, empty store."""
    return partial(amber.CheckpointStore, MemoryStorage())


def amber_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The ``amber`` command run in a fresh interpreter, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "-m", "amber", *args], check=False, capture_output=True, text=True, timeout=60
    )


def tree_digest(root: Path, *, history: bool = True) -> dict[str, str]:
    """Every file under root with the SHA-256 of its content (but the writer and gc locks);
    without ``history``, leaving out the store's history journal (where an aborted
    checkpoint or a refused restore is noted)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
        and p.name not in (".amber-writer.lock", ".amber-gc.lock")
        and (history or p.relative_to(root).parts[0] != "history")
    }


def forge(
    store_dir: Path,
    checkpoint_id: str,
    *,
    root: bytes | None = None,
    table: tuple[int, bytes] | None = None,
    raw_length: int | None = None,
    edit: Any = None,
) -> None:
    """Rewrite a committed checkpoint with hostile content and *valid* digests.

    What an attacker with write access (and no signing key) can produce: every digest
    matches, so only the reader's structural checks stand between the bytes and the state.
    ``root`` replaces the root segment's decompressed bytes, ``table`` (segment index, bytes)
    another segment's (a table or links segment); ``raw_length`` overrides the declared size; ``edit`` maps the manifest
    (as a dict) to a new one.
    """
    import msgspec

    from amber._format import _format

    key = f"checkpoints/{checkpoint_id}.manifest"
    manifest = _format.parse_manifest((store_dir / key).read_bytes(), checkpoint_id)
    data = (store_dir / manifest.data).read_bytes()
    blobs, entries = [], []
    offset = len(_format.DATA_HEADER)
    for index, seg in enumerate(manifest.segments):
        blob = data[seg.offset : seg.offset + seg.length]
        replacement = root if seg.kind == "root" else (table[1] if table and table[0] == index else None)
        declared = seg.raw_length
        if replacement is not None:
            blob = _format.compressor(1).compress(replacement)
            declared = len(replacement) if raw_length is None else raw_length
        blobs.append(blob)
        entries.append(
            msgspec.structs.replace(
                seg, offset=offset, length=len(blob), raw_length=declared, digest=_format.digest(blob)
            )
        )
        offset += len(blob)
    new = msgspec.structs.replace(manifest, segments=tuple(entries), data_size=offset)
    if edit is not None:
        new = msgspec.convert(edit(msgspec.to_builtins(new)), _format.Manifest)
    version = new.format_version if new.format_version < 3 else _format.content_version(new)  # 3+: manifest only
    (store_dir / manifest.data).write_bytes(_format.data_header(version) + b"".join(blobs))
    (store_dir / key).write_bytes(_format.encode_manifest(new))


class Counter:
    """The smallest participant: one number."""

    name = "counter"

    def __init__(self) -> None:
        self.n = 0

    def snapshot(self) -> int:
        return self.n

    def restore(self, state: Any) -> None:
        self.n = state
