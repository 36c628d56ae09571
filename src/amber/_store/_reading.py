"""Reading one committed checkpoint: segments, columns, the root, and the rebuilt state.

Every segment is checked (length, digest, bounded decompression) before it is decoded, and
decoded against the writer's schema before anything is built from it. Types are brought to
the running code's versions on the way (by rules, upgrade steps or checkpoint steps). What a
delta takes from its parent is read by _delta_reading; the generic view (records as dicts,
no application code) is built from _generic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated, Any

import msgspec

from .._evolution._apply import (
    RefIndex,
    StepFailed,
    Tables,
    by_rules,
    by_steps,
    reader_columns,
    removed_type,
    run_stage,
)
from .._evolution._plan import Plan, Stage, TypePlan
from .._format._arrays import ArraySource, array_sizes
from .._format._columns import column_type, keeps_zones
from .._format._errors import Corrupt
from .._format._format import MAX_ROWS, Manifest, SegmentEntry, TypeEntry, digest, inflate
from .._format._tagged_decoder import whole_tables
from .._format._zones import zone_of
from .._graph._reader import StateReader
from .._schema._keyed import Table
from .._schema._record_type import RecordRejected
from .._schema._types import FieldType
from .._schema._values import Link, Ref, TableNode
from ..errors import CheckpointError, CorruptCheckpointError, MigrationError, ObjectNotFoundError
from ..storage import ReadsInto, Storage
from ._delta_reading import ParentRows, applier
from ._generic import (
    GenericColumns,
    decoded_columns,
    dict_rows,
    generic_root_and_tables,
    markers,
    ref_index,
    table_nodes,
)
from ._memory_bound import Estimate, default_memory_limit, estimate, range_excess, refuse
from ._pipeline import pipelined

Columns = list[list[Any]]
Progress = Callable[[str, int, int], None]  # (phase, segments done, segments in all)


@dataclass(frozen=True)
class StepTiming:
    """One upgrade run while reading: a type (or a stage of checkpoint steps) in one checkpoint."""

    checkpoint: str
    type: str
    from_version: int
    to_version: int
    how: str
    records: int
    start: float  # wall clock
    seconds: float = 0.0
    # A checkpoint step: the records it added to each type it produces (what no plan knows
    # before the step runs: how many records of a new type it makes).
    created: tuple[tuple[str, int], ...] = ()


class CheckpointReader:
    """Reads the segments of one checkpoint whose manifest has been parsed and checked."""

    def __init__(
        self,
        storage: Storage,
        manifest: Manifest,
        progress: Progress | None = None,
        steps: list[StepTiming] | None = None,
        memory_limit: int | None = None,
    ) -> None:
        self.storage = storage
        self.manifest = manifest
        self.progress = progress
        self.steps = steps  # when a list: each upgrade of a type (or stage) run, timed, is added
        # The memory a read may take once the reference ranges in its tagged values are counted
        # (the store's max_load_memory). The store has checked the manifest's estimate, which
        # allows one range a record, against it already.
        self.memory_limit = default_memory_limit() if memory_limit is None else memory_limit

    def state(self, migration: Plan, prior: dict[int, Table[Any, Any]] | None = None) -> Any:
        """The state, with every type brought to the running code's version by ``migration``.

        A delta needs ``prior``: the tables of its parent's state (by token), which its
        changes are applied to and its links point into.
        """
        m = self.manifest
        if m.is_delta and prior is None:
            raise CheckpointError(m.id, "parent", "the parent's state to apply this delta to", "none")
        if migration.stages:
            if m.is_delta:
                raise MigrationError(
                    m.id,
                    "checkpoint steps",
                    "a full checkpoint (checkpoint steps cannot run on a delta)",
                    f"a delta on {m.parent}; stop the service with Manager(compact_on_close=True), or take "
                    "checkpoint(full=True) with the previous release, then migrate",
                )
            return self._staged_state(migration)
        classes = [_decoding_classes(tp) for tp in migration.types]
        columns = self.columns(classes)
        root = self.root()
        self._check_ranges(root, columns)
        try:
            parent = ParentRows(m, self.segment)
            linked = parent.linked(migration, prior or {})
            adopted = parent.adopted(migration, prior or {})
            columns = [
                self._to_reader(i, tp, cols, migration)
                for i, (tp, cols) in enumerate(zip(migration.types, columns, strict=True))
            ]
            reader = StateReader([tp.reader for tp in migration.types], [tp.reader.name for tp in migration.types])
            hook = applier(m, prior) if prior is not None else whole_tables()
            counts = [t.count for t in m.types]
            arrays = self.arrays()
            return reader.assemble(columns, counts, root, linked=linked, adopted=adopted, keyed=hook, arrays=arrays)
        except Corrupt as e:
            raise CorruptCheckpointError(m.id, e.part, e.expected, e.found) from None
        except RecursionError:
            raise CorruptCheckpointError(m.id, "values", "nesting the reader can follow") from None
        except StepFailed as e:
            raise MigrationError(m.id, e.part, e.expected, e.found) from e.__cause__
        except RecordRejected as e:
            raise e.error(m.id) from e.cause

    def _staged_state(self, migration: Plan) -> Any:
        """The state through checkpoint steps: every record as a dict, stage by stage."""
        m = self.manifest
        decoder, objects_of = markers(self.manifest)
        names = [name for name, _ in migration.final[: len(m.types)]]  # the checkpoint's types, current names
        columns = self.columns([{} for _ in m.types])
        root = self.root()
        self._check_ranges(root, columns)
        try:
            records = [dict_rows(t, c, objects_of, decoder) for t, c in zip(m.types, columns, strict=True)]
            versions = {n: t.schema.version for n, t in zip(names, m.types, strict=True)}
            tables = Tables(dict(zip(names, records, strict=True)), versions)
            for name, version in migration.empty:  # a step's type the checkpoint held no records of
                tables._records[name], tables._versions[name] = [], version
            for stage in migration.stages:
                wall, began = time.time(), time.perf_counter()
                before = _produced_counts(stage, tables)
                run_stage(stage, tables)
                self._timed_stage(stage, tables, wall, began, before)
            return self._assemble_tables(migration, tables, names, root)
        except Corrupt as e:
            removed = [name for name, reader in migration.final if reader is None]
            if removed:  # the steps removed a type the state still points at: the code's fault, not the data's
                expected = f"nothing pointing at the types the checkpoint steps remove ({', '.join(removed)})"
                raise MigrationError(m.id, "checkpoint steps", expected, e.found) from None
            raise CorruptCheckpointError(m.id, e.part, e.expected, e.found) from None
        except StepFailed as e:
            raise MigrationError(m.id, e.part, e.expected, e.found) from e.__cause__
        except RecordRejected as e:
            raise e.error(m.id) from e.cause

    def _timed_stage(self, stage: Stage, tables: Tables, wall: float, began: float, before: dict[str, int]) -> None:
        cid, how = self.manifest.id, stage.describe()
        if stage.type == "*":
            after = _produced_counts(stage, tables)
            created = tuple((name, after[name] - before.get(name, 0)) for name in after)
            self._timed(began, StepTiming(cid, "(checkpoint steps)", 0, 0, how, 0, wall, created=created))
        else:
            records = len(tables[stage.type]) if stage.type in tables else 0
            self._timed(began, StepTiming(cid, stage.type, stage.version, stage.version + 1, how, records, wall))

    def _assemble_tables(self, migration: Plan, tables: Tables, names: list[str], root: Any) -> Any:
        final = [name for name, _ in migration.final]
        unexpected = [n for n in tables.names() if tables[n] and n not in final]
        if unexpected:
            raise StepFailed(
                "checkpoint steps", "records only of the types they declare in produces", ", ".join(unexpected)
            )
        readers = [reader or removed_type(name) for name, reader in migration.final]
        counts = [len(tables[n]) if n in tables and reader is not None else 0 for n, reader in migration.final]
        written = {t.schema.name: final.index(n) for t, n in zip(self.manifest.types, names, strict=True)}
        refs = RefIndex({**written, **{n: i for i, n in enumerate(final)}}, counts)
        columns = [
            reader_columns(r, tables[n] if c else [], refs) for n, r, c in zip(final, readers, counts, strict=True)
        ]
        return StateReader(readers, final).assemble(columns, counts, root, arrays=self.arrays())

    def generic(self) -> tuple[list[list[dict[str, Any]]], Any]:
        """Records as dicts and the root, read with the writer's schemas (no app code);
        references come back as ``Ref(name, row)`` markers, link rows as ``{"$link": Link}``
        and tables as ``TableNode`` values."""
        types, root, _ = self.generic_columns()
        records = []
        for t in types:
            rows = [{"$link": link} for link in t.links] + t.rows()
            for row, link in t.adopts.items():
                rows[row] = {"$adopts": link, **rows[row]}
            records.append(rows)
        return records, root

    def generic_columns(self) -> tuple[list[GenericColumns], Any, dict[int, TableNode]]:
        """Each type's stored columns (references as ``Ref`` markers), link rows and
        adoptions, the root with tables as ``TableNode`` values and those by token:
        ``generic`` without a dict per record (what a diff or an export of millions of
        records reads)."""
        m = self.manifest
        columns = self.columns([{} for _ in m.types])
        root = self.root()
        self._check_ranges(root, columns)
        decoder, objects_of = markers(m)
        parent = ParentRows(m, self.segment)
        links: list[list[Link]] = [[] for _ in m.types]
        adoptions: list[dict[int, Link]] = [{} for _ in m.types]
        for index, entry in enumerate(m.segments):
            if entry.kind == "links":
                targets = parent.link_targets(index, entry, entry.describe(index, m))
                links[entry.type].extend(Link(token, key) for token, key in targets)
            elif entry.kind == "adopt":
                found = parent.adoptions(index, entry, entry.describe(index, m))
                adoptions[entry.type].update((row, Link(token, key)) for row, token, key in found)
        try:
            types = [
                GenericColumns(entry, decoded_columns(entry, cols, objects_of, decoder), linked, adopted)
                for entry, cols, linked, adopted in zip(m.types, columns, links, adoptions, strict=True)
            ]
            for t in types:
                if any(not len(t.links) <= row < len(t.links) + t.entry.count for row in t.adopts):
                    raise Corrupt(f"adopted rows among the records of {t.entry.schema.name}", str(min(t.adopts)))
            return (types, *generic_root_and_tables(m, root))
        except Corrupt as e:
            raise CorruptCheckpointError(m.id, e.part, e.expected, e.found) from None
        except RecursionError:
            raise CorruptCheckpointError(m.id, "values", "nesting the reader can follow") from None

    def _check_ranges(self, root: Any, columns: list[Columns]) -> None:
        """Before tagged values are built: rows their reference ranges name beyond one range
        a record (which the manifest's estimate allows) are added to it, and checked."""
        m = self.manifest
        tagged = [
            column
            for entry, type_columns in zip(m.types, columns, strict=True)
            for f, column in zip(entry.schema.fields, type_columns, strict=True)
            if f.type.is_tagged()
        ]
        excess = range_excess(m, [root, *(value for column in tagged for value in column)])
        if excess:
            found = estimate([m]).parts | {"reference ranges": excess}
            refuse(m.id, Estimate(found), self.memory_limit, " with the rows its reference ranges name")

    def _to_reader(self, index: int, tp: TypePlan, columns: Columns, migration: Plan) -> Columns:
        if tp.direct:
            return columns
        entry = self.manifest.types[index]
        wall, began = time.time(), time.perf_counter()
        if not tp.steps:
            upgraded = by_rules(tp, columns, entry.count)
        else:
            decoder, objects_of = markers(self.manifest)
            refs = ref_index(self.manifest, [t.reader.name for t in migration.types])
            upgraded = by_steps(tp, dict_rows(entry, columns, objects_of, decoder), refs)
        w, r = tp.writer, tp.reader
        self._timed(began, StepTiming(self.manifest.id, w.name, w.version, r.version, tp.how, entry.count, wall))
        return upgraded

    def _timed(self, began: float, step: StepTiming) -> None:
        if self.steps is not None:
            self.steps.append(replace(step, seconds=time.perf_counter() - began))

    def columns(self, classes: list[dict[FieldType, type]]) -> list[Columns]:
        """Every table's columns, decoded (typed) against the writer's schema."""
        m = self.manifest
        decoders = [_chunk_decoder(t, c) for t, c in zip(m.types, classes, strict=True)]
        zoned = [_chunk_decoder(t, c, zones=True) for t, c in zip(m.types, classes, strict=True)]
        columns: list[Columns] = [[[] for _ in t.schema.fields] for t in m.types]
        tables = [(i, s) for i, s in enumerate(m.segments) if s.kind == "table"]  # not links
        for done, ((index, entry), raw) in enumerate(pipelined(((t, t) for t in tables), lambda t: self.segment(*t))):
            if self.progress is not None:
                self.progress("read", done + 1, len(tables))
            part = entry.describe(index, m)
            chunk = _decode_chunk((zoned if entry.zones else decoders)[entry.type], raw, m.id, part)
            if entry.zones:
                chunk = _zoned(chunk, m.types[entry.type], entry.rows, m.id, part)
            if any(len(c) != entry.rows for c in chunk):
                raise CorruptCheckpointError(m.id, part, f"{entry.rows} values in every column")
            for target, column in zip(columns[entry.type], chunk[: len(columns[entry.type])], strict=True):
                target.extend(column)
        return columns

    def root(self) -> Any:
        """The root segment, as msgpack data (tagged nodes)."""
        index, entry = next((i, s) for i, s in enumerate(self.manifest.segments) if s.kind == "root")
        raw = self.segment(index, entry)
        try:
            return msgspec.msgpack.decode(raw)
        except (ValueError, RecursionError, MemoryError) as e:  # msgspec errors, bad UTF-8, absurd counts
            part = entry.describe(index, self.manifest)
            raise CorruptCheckpointError(self.manifest.id, part, "a msgpack value", str(e)) from None

    def check_arrays(self) -> None:
        """Every array segment's length and digest (and inflation), one segment at a time:
        what a generic read leaves unread (it gives arrays as markers)."""
        for index, entry in enumerate(self.manifest.segments):
            if entry.kind == "array":
                self.segment(index, entry)

    def arrays(self) -> ArraySource:
        """The checkpoint's numpy arrays, each read from its segments when first asked for."""
        where = {(s.array, s.part): i for i, s in enumerate(self.manifest.segments) if s.kind == "array"}

        def read_into(number: int, part: int, target: memoryview) -> None:
            index = where[number, part]
            self.segment_into(index, self.manifest.segments[index], target)

        return ArraySource(array_sizes(self.manifest.segments), read_into)

    def segment_into(self, index: int, entry: SegmentEntry, target: memoryview) -> None:
        """One segment's bytes into ``target`` (its raw length): a raw segment is read straight
        into it where the storage can (no copy, no new ``bytes``), then its length and digests
        are checked there; any other one is read, checked and inflated as ``segment`` does."""
        if entry.codec != "none" or not isinstance(self.storage, ReadsInto):
            target[:] = self.segment(index, entry)
            return
        m = self.manifest
        part = entry.describe(index, m)
        try:
            got = self.storage.read_range_into(m.data, entry.offset, target)
        except ObjectNotFoundError:
            raise CorruptCheckpointError(m.id, part, f"data file {m.data}", "it is missing") from None
        if got != entry.length:
            raise CorruptCheckpointError(m.id, part, f"{entry.length} bytes", f"{got} (truncated)")
        found = digest(target)
        if found != entry.digest:
            raise CorruptCheckpointError(m.id, part, f"xxh3-128 digest {entry.digest}", found)
        if entry.sha256 and hashlib.sha256(target).hexdigest() != entry.sha256:
            raise CorruptCheckpointError(m.id, part, f"SHA-256 {entry.sha256}", hashlib.sha256(target).hexdigest())

    def segment(self, index: int, entry: SegmentEntry) -> bytes:
        """One segment's bytes: length and digest checked, then inflated with a bound."""
        m = self.manifest
        part = entry.describe(index, m)
        try:
            blob = self.storage.get_range(m.data, entry.offset, entry.length)
        except ObjectNotFoundError:
            raise CorruptCheckpointError(m.id, part, f"data file {m.data}", "it is missing") from None
        if len(blob) != entry.length:
            raise CorruptCheckpointError(m.id, part, f"{entry.length} bytes", f"{len(blob)} (truncated)")
        found = digest(blob)
        if found != entry.digest:
            raise CorruptCheckpointError(m.id, part, f"xxh3-128 digest {entry.digest}", found)
        if entry.sha256 and hashlib.sha256(blob).hexdigest() != entry.sha256:  # signed: forgeries too
            raise CorruptCheckpointError(m.id, part, f"SHA-256 {entry.sha256}", hashlib.sha256(blob).hexdigest())
        if entry.codec == "none":  # stored raw: the manifest's checks tied its length to raw_length
            return blob
        try:
            return inflate(blob, entry.raw_length)
        except Exception as e:  # zstandard raises its own ZstdError as well as ValueError
            raise CorruptCheckpointError(m.id, part, "a zstd frame", str(e)) from None


def _produced_counts(stage: Stage, tables: Tables) -> dict[str, int]:
    """For a checkpoint step, the records of each type it produces (and keeps) right now."""
    if stage.type != "*":
        return {}
    kept = [name for name, version in stage.step.produces.items() if version is not None]
    return {name: len(tables[name]) if name in tables else 0 for name in kept}


def _decoding_classes(tp: TypePlan) -> dict[FieldType, type]:
    """The classes a type's columns decode into: the reader's, also for enums the writer
    described by value only (as before format 4, so that a flag's combined values still
    decode); none where steps run (they take raw values)."""
    if tp.steps:
        return {}
    if not tp.by_value:
        return tp.reader.classes
    return {**tp.reader.classes, **{t.by_value(): c for t, c in tp.reader.classes.items() if t.kind == "enum"}}


def _chunk_decoder(
    entry: TypeEntry, classes: dict[FieldType, type], zones: bool = False
) -> msgspec.msgpack.Decoder[Any]:
    """A decoder for one table segment: a tuple of one typed list per field (for a type
    without fields, one list of nils), each at most MAX_ROWS long, checked before decoding;
    with ``zones``, then the zone tokens of its datetime fields (format 6)."""
    item_types = [column_type(f.type, classes) for f in entry.schema.fields] or [None]
    columns: list[Any] = [Annotated[list[t], msgspec.Meta(max_length=MAX_ROWS)] for t in item_types]  # type: ignore[valid-type]
    if zones:
        columns.append(dict[int, Annotated[list[str | None], msgspec.Meta(max_length=MAX_ROWS)]])
    return msgspec.msgpack.Decoder(tuple[tuple(columns)])  # type: ignore[misc]


def _zoned(chunk: list[Any], entry: TypeEntry, rows: int, cid: str, part: str) -> list[Any]:
    """A chunk's columns with each datetime in the zone its token names (the instant kept)."""
    *columns, tokens = chunk
    fields = entry.schema.fields
    for index, column_tokens in tokens.items():
        if not (0 <= index < len(fields) and keeps_zones(fields[index].type) and len(column_tokens) == rows):
            raise CorruptCheckpointError(cid, part, f"zone tokens for a datetime field's {rows} rows", f"field {index}")
        column = columns[index]
        for row, token in enumerate(column_tokens):
            if token is None:
                continue
            value = column[row] if row < len(column) else None
            if type(value) is not dt.datetime or value.tzinfo is None:
                raise CorruptCheckpointError(cid, part, "a zone token beside an aware datetime", f"row {row}")
            try:
                column[row] = value.astimezone(zone_of(token))
            except ValueError as e:
                raise CorruptCheckpointError(cid, part, f"{fields[index].name}: a zone token", str(e)) from None
    return columns


def _decode_chunk(decoder: msgspec.msgpack.Decoder[Any], raw: bytes, cid: str, part: str) -> list[list[Any]]:
    try:
        return list(decoder.decode(raw))
    except (ValueError, TypeError, RecursionError, MemoryError) as e:  # msgspec errors, bad UTF-8, unhashable keys
        raise CorruptCheckpointError(cid, part, "columns matching the writer's schema", str(e)) from None


def verify_chain(storage: Storage, chain: list[Manifest], memory_limit: int | None = None) -> None:
    """Check a chain without app code as a load would: every checkpoint's own structure, and
    along the chain each delta's changes and links against the tables built so far (links
    to present keys holding a record of the link's type), and every table's entry count."""
    tables: Kinds = {}
    for m in chain:
        reader = CheckpointReader(storage, m, memory_limit=memory_limit)
        records, root = reader.generic()
        reader.check_arrays()
        for entry, rows in zip(m.types, records, strict=True):
            for row in rows:
                link = row.get("$link") or row.get("$adopts")
                if link is not None and tables.get(link.table, {}).get(link.key) != entry.schema.name:
                    raise CorruptCheckpointError(
                        m.id, f"links of {entry.schema.name}", f"links to entries of the parent {m.parent}", repr(link)
                    )
        tables = _tables_after(m, tables, table_nodes(root))


Kinds = dict[int, dict[Any, str]]  # table token -> key -> type name of the value


def _tables_after(m: Manifest, before: Kinds, nodes: dict[int, TableNode]) -> Kinds:
    """The tables (keys and the kind of each value) once ``m``'s table nodes are applied."""
    after = {}
    for token, node in nodes.items():
        kinds = {k: v.name if isinstance(v, Ref) else type(v).__name__ for k, v in node.entries.items()}
        if node.deleted is None:
            after[token] = kinds
            continue
        if token not in before:
            raise CorruptCheckpointError(m.id, "root", f"changes to tables of the parent {m.parent}", str(token))
        entries = before[token]
        for key in node.deleted:
            entries.pop(key, None)
        entries.update(kinds)
        after[token] = entries
    counts = {str(token): len(entries) for token, entries in after.items()}
    if counts != m.tables:
        raise CorruptCheckpointError(m.id, "tables", "tables with the entry counts in the manifest", str(counts)[:200])
    return after
