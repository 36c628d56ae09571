"""The verbs that read a store and write nothing: ``ls``, ``show``, ``verify``, ``dump``,
``diff`` and ``report``, and the plain rows they show a checkpoint as."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from .._format._format import Manifest
from .._format._objects import utc_stamp
from .._maintenance import _diff, _dump, _query, _report
from .._maintenance._retention import Retention
from .._schema._values import Link, to_json_value
from .._store._checkpoint import CheckpointInfo
from ..errors import AmberError, CheckpointError
from ._args import StoreArg, opened, parse_duration


def ls(store: StoreArg) -> list[dict[str, Any]]:
    """Every committed checkpoint, oldest first, as a summary row each.

    A checkpoint whose manifest or data file cannot be read is listed with an ``error``
    instead of hiding the others.
    """
    s = opened(store)
    quarantined = s.quarantined()
    rows = []
    for checkpoint_id in s.ids():
        try:
            row = _summary(s.info(checkpoint_id))
        except CheckpointError as e:
            row = {"id": checkpoint_id, "error": str(e)}
        if checkpoint_id in quarantined:
            row["quarantined"] = quarantined[checkpoint_id]
        rows.append(row)
    return rows


def show(store: StoreArg, checkpoint_id: str | None = None) -> dict[str, Any]:
    """One checkpoint in detail: types, versions, fingerprints, counts, sizes, fields."""
    s = opened(store)
    manifest = s.manifest(checkpoint_id)
    info = s.info(manifest.id)
    return {
        **_summary(info),
        "format_version": manifest.format_version,
        "library": manifest.library,
        "data": manifest.data,
        "meta": info.meta,
        "types": _types(manifest),
        "root": _root_sizes(manifest),
    }


def verify(store: StoreArg, checkpoint_id: str | None = None) -> dict[str, Any]:
    """Check a checkpoint's digests, lengths, structure and references; raise if unsound."""
    report = opened(store).verify(checkpoint_id)
    return {
        "id": report.info.id,
        "ok": True,
        "segments": report.segments,
        "records": report.records,
        "stored_bytes": report.info.size,
        "raw_bytes": report.raw_bytes,
    }


def verify_all(store: StoreArg) -> list[dict[str, Any]]:
    """``verify`` every committed checkpoint, oldest first; a failure is a row with its
    error, not an exception, so that one bad checkpoint does not hide the others."""
    s = opened(store)
    rows = []
    for cid in s.ids():
        try:
            rows.append(verify(s, cid))
        except AmberError as e:
            rows.append({"id": cid, "ok": False, "error": str(e)})
    return rows


def dump(
    store: StoreArg,
    checkpoint_id: str | None = None,
    *,
    type_name: str | None = None,
    key: str | None = None,
    path: str | None = None,
    limit: int | None = None,
    changes: bool = False,
) -> dict[str, Any]:
    """The whole state at a checkpoint as one JSON document (a delta's chain resolved; see
    ``dump_lines`` for the parts and the filters). ``changes``: what a delta itself holds
    instead (its changed entries, deletions and links), the format's own view."""
    if changes:
        return dump_changes(store, checkpoint_id)
    document: dict[str, Any] = {}
    for part in dump_lines(store, checkpoint_id, type_name=type_name, key=key, path=path, limit=limit):
        if "$id" in part:
            document.setdefault("records", []).append(part)
        elif "entry" in part:
            document.setdefault("entries", []).append(part["entry"])
        else:
            document.update(part)
    document.setdefault("records", [])
    return document


def dump_lines(
    store: StoreArg,
    checkpoint_id: str | None = None,
    *,
    type_name: str | None = None,
    key: str | None = None,
    path: str | None = None,
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The state at a checkpoint, streamed as JSON objects: ``{"checkpoint", "types"}``, then
    ``{"root"}`` (or one ``{"entry"}`` per table entry whose key is ``key``, or ``{"value"}`` at
    ``path``, a JSON Pointer such as ``/accounts/42/owner``), then one ``{"$id", ...}`` per
    record reached, breadth first (only ``type_name``'s, at most ``limit``)."""
    return _dump.dump(opened(store), checkpoint_id, type_name=type_name, key=key, path=path, limit=limit)


def dump_changes(store: StoreArg, checkpoint_id: str | None = None) -> dict[str, Any]:
    """What one checkpoint itself holds, in the JSON rendering of docs/format.md: for a delta,
    its changes, deletions and links (not the state)."""
    manifest, records, root = opened(store).read_generic(checkpoint_id)
    return {
        "checkpoint": {
            "id": manifest.id,
            "sequence": manifest.sequence,
            "created": manifest.created,
            "digest": manifest.digest,
            "meta": manifest.meta,
            **({"parent": manifest.parent, "depth": manifest.depth} if manifest.parent else {}),
        },
        "types": {
            t.schema.name: {
                "version": t.schema.version,
                "fingerprint": t.fingerprint,
                "fields": {f.name: f.type.render() for f in t.schema.fields},
            }
            for t in manifest.types
        },
        "records": {
            t.schema.name: [{"$id": f"{t.schema.name}/{row}", **_record_json(r)} for row, r in enumerate(rows)]
            for t, rows in zip(manifest.types, records, strict=True)
        },
        "root": to_json_value(root),
    }


def diff(store: StoreArg, a: str, b: str) -> dict[str, Any]:
    """Per type: table keys added, changed and deleted from checkpoint ``a`` to ``b``; per
    part of the root outside tables (``paths``), what changed; schema differences (no
    application code needed)."""
    return _diff.diff(opened(store), a, b)


def export(
    store: StoreArg, directory: str, checkpoint_id: str | None = None, *, fmt: str = "parquet"
) -> dict[str, Any]:
    """Write each record type of the state at a checkpoint (a delta's chain resolved) as a
    file in ``directory``: ``<type>.parquet``, ``.arrow`` (Arrow IPC) or ``.csv`` (``fmt``)."""
    if fmt not in _query.FORMATS:
        raise ValueError(f"fmt: one of {', '.join(_query.FORMATS)}, not {fmt!r}")
    return _query.export(opened(store), checkpoint_id, directory, fmt)


def query(store: StoreArg, sql: str, checkpoint_id: str | None = None, *, cache: bool = True) -> dict[str, Any]:
    """Run SQL (DuckDB's) over the state at a checkpoint, each record type a table:
    ``{"checkpoint", "columns", "rows"}``. ``cache``: keep the checkpoint's tables as Parquet
    files for the next queries of it (docs/query.md)."""
    return _query.query(opened(store), checkpoint_id, sql, cache=cache)


def report(
    store: StoreArg,
    *,
    keep_last: int | None = None,
    keep_within: str | None = None,
    grace: str = "1h",
) -> dict[str, Any]:
    """The store's history: checkpoints (kind, size, chain, schema versions), durations,
    pauses, aborts and restores from its history journal, the migration log, what retention
    keeps (the policy given, else the one the manager recorded) and outliers."""
    policy = None
    if keep_last is not None or keep_within is not None:
        policy = Retention(
            keep_last=keep_last,
            keep_within=parse_duration(keep_within) if keep_within else None,
            grace=parse_duration(grace),
        )
    return _report.gather(opened(store), policy)


def _summary(info: CheckpointInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "kind": "delta" if info.parent else "full",
        "parent": info.parent,
        "depth": info.depth,
        "time": utc_stamp(info.time),
        "size": info.size,
        "records": sum(info.counts.values()),
        "digest": info.digest,
        "types": dict(info.types),
    }


def _types(manifest: Manifest) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for index, t in enumerate(manifest.types):
        segs = [s for s in manifest.segments if s.kind == "table" and s.type == index]
        rows.append(
            {
                "name": t.schema.name,
                "version": t.schema.version,
                "fingerprint": t.fingerprint,
                "count": t.count,
                "links": t.links,
                "segments": len(segs),
                "stored_bytes": sum(s.length for s in segs),
                "raw_bytes": sum(s.raw_length for s in segs),
                "fields": [
                    {"name": f.name, "type": f.type.render(), "required": f.default is msgspec.UNSET}
                    for f in t.schema.fields
                ],
            }
        )
    return rows


def _root_sizes(manifest: Manifest) -> dict[str, int]:
    root = next(s for s in manifest.segments if s.kind == "root")
    return {"stored_bytes": root.length, "raw_bytes": root.raw_length}


def _record_json(record: dict[str, Any]) -> dict[str, Any]:
    link = record.get("$link")
    if isinstance(link, Link):
        return dict(to_json_value(link))  # {"$link": [token, key]}
    fields = {k: v for k, v in record.items() if k != "$adopts"}
    adopts = record.get("$adopts")
    rendered = dict(to_json_value(fields))
    return {"$adopts": to_json_value(adopts)["$link"], **rendered} if isinstance(adopts, Link) else rendered
