"""A captured state as bytes: its segments encoded (msgpack) and compressed, the data file
they make, and the draft manifest that names them (docs/format.md, sections 3-5).

Pure production: nothing here touches a store; ``_commit`` writes what this yields.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

from .._format._format import (
    HEADER_SIZE,
    MAX_ROWS,
    MAX_SEGMENT_BYTES,
    Manifest,
    SegmentEntry,
    TypeEntry,
    compressor,
    data_header,
    digest,
    manifest_digest,
)
from .._graph._record_table import RecordTable
from .._graph._writer import StateWriter
from .._version import __version__
from ..errors import SerializationError
from ._pipeline import pipelined
from ._reading import Progress

_encoder = msgspec.msgpack.Encoder(uuid_format="bytes")
Raw = bytes | memoryview  # a segment's bytes: encoded, or an array's own memory


def new_data_key() -> str:
    return f"data/{secrets.token_hex(16)}.seg"


def raw_segments(writer: StateWriter, root: Any) -> Iterator[tuple[SegmentEntry, Raw]]:
    """The uncompressed segments of a captured state, in file order: its root, then each
    table's links, adoptions and row chunks. Encoded as they are asked for."""
    raw = _encode(root, "the state's root")
    yield SegmentEntry("root", 0, 0, len(raw), "", zones=writer.take_zoned()), raw
    for table in writer.tables:
        for first_row, rows, node in writer.link_chunks(table):
            raw = _encode(node, f"links of {table.rt.name}")
            zoned = writer.take_zoned()
            yield SegmentEntry("links", 0, 0, len(raw), "", table.index, first_row, rows, zones=zoned), raw
        for first_row, rows, node in writer.adoption_chunks(table):
            raw = _encode(node, f"adoptions of {table.rt.name}")
            zoned = writer.take_zoned()
            yield SegmentEntry("adopt", 0, 0, len(raw), "", table.index, first_row, rows, zones=zoned), raw
        for first_row, rows in writer.chunks(table):
            yield from _table_segments(writer, table, first_row, rows)
            for number, part, chunk in writer.arrays.unwritten():  # the arrays this chunk named
                yield SegmentEntry("array", 0, 0, len(chunk), "", array=number, part=part), chunk
    writer.refuse_shared_containers()  # before the checkpoint can commit


def _table_segments(
    writer: StateWriter, table: RecordTable, first_row: int, rows: int
) -> Iterator[tuple[SegmentEntry, bytes]]:
    """A chunk's segment, or two halves of it when it would exceed the segment limit."""
    what = f"{table.rt.name} rows {first_row}-{first_row + rows - 1}"
    columns = writer.columns(table, first_row, rows)
    zoned = writer.take_zoned() or bool(writer.chunk_zones)
    raw = _encode([*columns, writer.chunk_zones] if zoned else columns, what, limit=None)
    if len(raw) <= MAX_SEGMENT_BYTES:
        yield SegmentEntry("table", 0, 0, len(raw), "", table.index, first_row, rows, zones=zoned), raw
    elif rows == 1:
        raise SerializationError(f"cannot save {what}: one record takes {len(raw)} bytes, over {MAX_SEGMENT_BYTES}")
    else:
        del raw
        half = rows // 2
        yield from _table_segments(writer, table, first_row, half)
        yield from _table_segments(writer, table, first_row + half, rows - half)


def data_chunks(
    writer: StateWriter,
    segments: Iterable[tuple[SegmentEntry, Raw]],
    out: list[SegmentEntry],
    *,
    version: int,
    level: int,
    sha: bool,
    progress: Progress | None,
    check: Callable[[str], None] | None,
) -> Iterator[bytes]:
    """The data file's bytes: its header, then each segment compressed (on a helper thread,
    one ahead), its entry appended to ``out`` with offset, length and digests."""
    yield data_header(version)
    offset = HEADER_SIZE
    total = 1 + sum(-(-len(t.objects) // MAX_ROWS) for t in writer.tables)  # at least; halves add more
    for entry, (blob, blob_digest, sha256, codec) in pipelined(
        ((entry, (entry, raw)) for entry, raw in segments), lambda item: _compress(item[1], level, sha, item[0].kind)
    ):
        stored = msgspec.structs.replace(entry, offset=offset, length=len(blob), digest=blob_digest, sha256=sha256)
        out.append(msgspec.structs.replace(stored, codec=codec) if codec != "zstd" else stored)
        offset += len(blob)
        if progress is not None:
            progress("write", min(len(out), total), total)
        if check is not None:
            check("write")
        yield blob


def throttled(chunks: Iterator[bytes], rate: float) -> Iterator[bytes]:
    """Chunks at no more than ``rate`` bytes per second on average (sleeping between them)."""
    start, sent = time.monotonic(), 0
    for chunk in chunks:
        yield chunk
        sent += len(chunk)
        ahead = sent / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)


def draft_manifest(
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


def with_sizes(meta: dict[str, Any], writer: StateWriter, segments: list[SegmentEntry]) -> dict[str, Any]:
    """``meta`` plus, under ``amber.types``, each type's records, links and bytes."""
    sizes: dict[str, dict[str, int]] = {}
    for table in writer.tables:
        sizes[table.rt.name] = {"records": len(table.objects) - table.linked, "links": table.linked}
        sizes[table.rt.name].update(stored_bytes=0, raw_bytes=0)
    owner = "(root)"
    for entry in segments:  # an array's segments follow the table chunk that names it: its bytes count there
        if entry.kind != "array":
            owner = "(root)" if entry.kind == "root" else writer.tables[entry.type].rt.name
        name = owner
        target = sizes.setdefault(name, {"stored_bytes": 0, "raw_bytes": 0})
        target["stored_bytes"] += entry.length
        target["raw_bytes"] += entry.raw_length
    amber_meta = dict(meta.get("amber", {}))
    amber_meta["types"] = sizes
    return {**meta, "amber": amber_meta}


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


SAMPLE = 64 << 10  # bytes of an array segment compressed to see whether compressing it pays
PAYS = 0.9  # compressed size over raw size below which it does


def _compress(raw: Raw, level: int, sha: bool, kind: str = "table") -> tuple[Any, str, str, str]:
    """A segment's stored bytes, their digests, and the codec. Array bytes (often floats,
    which zstd barely shrinks) are stored raw unless compressing a sample pays."""
    # One compressor per thread and level, reused: its work buffers are allocated once.
    compressors: dict[int, Any] = _local.__dict__.setdefault("compressors", {})
    if level not in compressors:
        compressors[level] = compressor(level)
    if kind == "array" and len(raw) > SAMPLE and len(compressors[level].compress(raw[:SAMPLE])) > PAYS * SAMPLE:
        return raw, digest(raw), hashlib.sha256(raw).hexdigest() if sha else "", "none"
    blob = compressors[level].compress(raw)
    return blob, digest(blob), hashlib.sha256(blob).hexdigest() if sha else "", "zstd"
