"""Applying a migration plan to decoded columns: the writer's layout in, the reader's out.

Rules-only plans work column by column (renames and drops are free, defaults and widenings
one C-level pass), so they cost about what an unchanged checkpoint costs. Plans with
upgrade steps turn each record into a dict, run the steps, and turn the dicts back into
the reader's columns, checking every value on the way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from operator import attrgetter
from typing import Any

import msgspec

from .._format._arrays import widens
from .._format._columns import column_type
from .._format._errors import BadValue
from .._format._tagged import PLAIN
from .._format._tagged_encoder import NoRefs, TaggedEncoder
from .._schema._fields import RecordSchema
from .._schema._record_type import MissingField, RecordType, field_values
from .._schema._registry import CheckpointStep
from .._schema._types import FieldType
from .._schema._values import ArrayRef, Ref
from .._schema._wrapped import stored_type, to_stored, wraps
from ._convert import Convert, exact_float
from ._plan import FieldPlan, Hop, Stage, TypePlan
from ._step_guards import check_exact, plain

Columns = list[list[Any]]


class StepFailed(Exception):
    """An upgrade step raised or returned something unusable (internal; carries the place)."""

    def __init__(self, part: str, expected: str, found: str) -> None:
        super().__init__(part)
        self.part, self.expected, self.found = part, expected, found


class RefIndex:
    """Maps ``Ref`` markers (by writer or reader type name) to (type index, row)."""

    def __init__(self, names: dict[str, int], counts: Sequence[int]) -> None:
        self._names = names
        self._counts = counts

    def ref(self, obj: Any) -> tuple[int, int] | None:
        if type(obj) is not Ref:
            return None
        if type(obj.name) is not str or type(obj.row) is not int:
            raise BadValue(f"an amber.Ref of a type name and a row number, not {obj!r:.80}")
        index = self._names.get(obj.name)
        if index is None or not 0 <= obj.row < self._counts[index]:
            raise BadValue(f"a reference to {obj.name}/{obj.row}, which the checkpoint does not hold")
        return index, obj.row

    def ref_many(self, objs: list[Any]) -> tuple[int, range | list[int]] | None:
        return None

    def keyed(self, table: Any, encoder: TaggedEncoder) -> list[Any]:
        raise BadValue("an amber.Table cannot be a record's field")

    def rows(self, objs: list[Any], target: str) -> list[int]:
        """Row numbers of a column of references to ``target`` (checked in bulk)."""
        index = self._names.get(target)
        if index is None:
            raise BadValue(f"references to {target}, of which the checkpoint holds no records")
        names = {n for n, i in self._names.items() if i == index}
        if not set(map(type, objs)) <= {Ref} or not all(type(o.name) is str and type(o.row) is int for o in objs):
            return [self.row(o, target) for o in objs]  # finds and reports the culprit
        if not set(map(attrgetter("name"), objs)) <= names:
            return [self.row(o, target) for o in objs]  # finds and reports the culprit
        rows = list(map(attrgetter("row"), objs))
        if rows and not (min(rows) >= 0 and max(rows) < self._counts[index]):
            return [self.row(o, target) for o in objs]
        return rows

    def row(self, obj: Any, target: str) -> int:
        found = self.ref(obj)
        if found is None or found[0] != self._names.get(target):
            raise BadValue(f"a reference to a {target}, not {obj!r:.60}")
        return found[1]


class Tables:
    """Every type's records as dicts, as a checkpoint step sees them.

    Records pointing at others hold ``amber.Ref(type, row)`` markers; ``add`` returns the
    marker of the record it appends. Rows are never removed one by one (markers would move);
    a whole type can be dropped once nothing points at it.
    """

    def __init__(self, records: dict[str, list[dict[str, Any]]], versions: dict[str, int]) -> None:
        self._records = records
        self._versions = versions

    def __getitem__(self, name: str) -> list[dict[str, Any]]:
        if name not in self._records:
            raise KeyError(f"no type {name!r} at this point; types: {', '.join(self._records)}")
        return self._records[name]

    def __contains__(self, name: object) -> bool:
        return name in self._records

    def names(self) -> list[str]:
        return list(self._records)

    def version(self, name: str) -> int:
        """The version the records of ``name`` are at right now."""
        return self._versions[name]

    def add(self, name: str, fields: dict[str, Any]) -> Ref:
        """Append a record to ``name`` (created if absent); return its reference."""
        rows = self._records.setdefault(name, [])
        rows.append(fields)
        return Ref(name, len(rows) - 1)

    def drop(self, name: str) -> None:
        """Remove a whole type (nothing may point at its records any more)."""
        self._records[name] = []
        self._versions[name] = 0


def by_rules(tp: TypePlan, columns: Columns, count: int) -> Columns:
    """The reader's columns from the writer's, for a plan without steps."""
    reader = tp.reader
    out = []
    for fp, fs in zip(tp.fields, reader.schema.fields, strict=True):
        if fp.mode == "default":
            assert fp.default is not None  # the planner refused required fields without a source
            out.append(_defaults(fp.default, count))
        elif fp.mode == "same":
            out.append(columns[fp.source])
        else:
            values = _converted(tp, fp, columns[fp.source])
            if fp.mode == "tag":
                encoder = TaggedEncoder(NoRefs())
                out.append([encoder.encode(v) for v in values])
                continue
            if any(n.kind == "enum" for n in fs.type.walk()):
                values = [_enum_values(fs.type, v, reader.classes) for v in values]  # members decoded by value
            out.append(msgspec.convert(values, list[column_type(fs.type, reader.classes)]))  # type: ignore[misc]
    return out


def _converted(tp: TypePlan, fp: FieldPlan, values: list[Any]) -> list[Any]:
    """A column through the plan's per-value conversion, failing on the first value that
    cannot be kept exactly, with its row."""
    convert = fp.convert
    if convert is None:
        return values
    if convert is exact_float and plain("float", values):
        return values  # the usual case, checked in C
    out: list[Any] = []
    try:
        out.extend(map(convert, values))
    except BadValue as e:
        part = f"{tp.reader.name} v{tp.reader.version} field {fp.name!r}, row {len(out)}"
        raise StepFailed(part, "a value the reader's type holds exactly", str(e)) from None
    return out


def by_steps(tp: TypePlan, records: list[dict[str, Any]], refs: RefIndex) -> Columns:
    """The reader's columns from the writer's records as dicts, through the upgrade steps and
    the rules between them."""
    name = tp.reader.name
    written = {key: [r.get(key, _ABSENT) for r in records] for key, _ in tp.end_guards}  # before any step
    for stage in tp.route:
        if isinstance(stage, Hop):
            records = apply_hop(name, stage, records)
        else:
            records = _run_step(name, stage.version, stage.step, records, stage.guards)
            if stage.fills is not None:
                _fill_defaults(stage.fills, records)
    for key, check in tp.end_guards:  # values still as the writer wrote them
        _guarded(f"{name} upgrade steps", key, check, written[key], records)
    return reader_columns(tp.reader, records, refs)


def _fill_defaults(declared: RecordType, records: list[dict[str, Any]]) -> None:
    """Fields a step left unset take the defaults of the version it produced (a later
    version's defaults may differ: what the release of that version read is what counts)."""
    for f, make in zip(declared.schema.fields, declared.defaults, strict=True):
        if make is None:
            continue
        names = declared.names_for(f.name)
        for record in records:
            if not any(n in record for n in names):
                record[f.name] = make()


def apply_hop(name: str, hop: Hop, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records as dicts brought by the rules to the next declared version: fields renamed,
    added ones with their defaults, removed ones dropped, values converted as the plan says.
    A required field without a value stays absent (a step may supply it)."""
    plans = [(fp, hop.source.fields[fp.source].name if fp.source >= 0 else "") for fp in hop.fields]
    out: list[dict[str, Any]] = []
    try:
        for record in records:
            shaped = {}
            for fp, source in plans:
                if source in record:
                    value = record[source]
                    shaped[fp.name] = value if fp.convert is None else fp.convert(value)
                elif fp.mode == "default" and fp.default is not None:
                    shaped[fp.name] = fp.default()
            out.append(shaped)
    except BadValue as e:
        raise StepFailed(
            f"{name} v{hop.source.version}, row {len(out)}", "a value the next version holds exactly", str(e)
        ) from None
    return out


def reader_columns(reader: RecordType, records: list[dict[str, Any]], refs: RefIndex) -> Columns:
    """Records as dicts, resolved against the reader's schema into its columns."""
    return [_reader_column(reader, i, records, refs) for i in range(len(reader.schema.fields))]


def run_stage(stage: Stage, tables: Tables) -> None:
    """One action of a plan with checkpoint steps, applied to the tables in place."""
    if stage.type != "*":
        rows = tables[stage.type]
        if stage.step is not None:
            rows[:] = _run_step(stage.type, stage.version, stage.step, rows, stage.guards)
        elif stage.hop is not None:
            rows[:] = apply_hop(stage.type, stage.hop, rows)
        tables._versions[stage.type] = stage.version + 1
        return
    step: CheckpointStep = stage.step
    try:
        step.run(tables)
    except Exception as e:
        raise StepFailed(f"checkpoint step {step.name}", "the step to complete", f"{type(e).__name__}: {e}") from e
    for name, version in step.produces.items():
        if version is None:
            tables.drop(name)
        else:
            tables._records.setdefault(name, [])
            tables._versions[name] = version


def _run_step(
    name: str,
    version: int,
    step: Callable[[dict[str, Any]], Any],
    records: list[dict[str, Any]],
    guards: Sequence[tuple[str, Convert]] = (),
) -> list[dict[str, Any]]:
    """Run one per-type step over every record (one try for the loop: this is the hot path),
    then apply the guards to the values it handed back as it received them."""
    before = [[r.get(field, _ABSENT) for r in records] for field, _ in guards]
    out: list[Any] = []
    try:
        out.extend(map(step, records))
    except Exception as e:
        part = f"{name} upgrade step {version}->{version + 1}, row {len(out)}"
        raise StepFailed(part, "the step to return the next version's fields", f"{type(e).__name__}: {e}") from e
    if not set(map(type, out)) <= {dict}:
        row = next(i for i, r in enumerate(out) if type(r) is not dict)
        part = f"{name} upgrade step {version}->{version + 1}, row {row}"
        raise StepFailed(part, "a dict of fields", type(out[row]).__name__)
    for (field, check), old in zip(guards, before, strict=True):
        _guarded(f"{name} upgrade step {version}->{version + 1}", field, check, old, out)
    return out


_ABSENT = object()


def _guarded(where: str, field: str, check: Convert, old: list[Any], out: list[dict[str, Any]]) -> None:
    for row, (was, record) in enumerate(zip(old, out, strict=True)):
        value = record.get(field, _ABSENT)
        if value is _ABSENT or (value is not was and (type(value) is not type(was) or value != was)):
            continue  # the step gave it a value of its own
        try:
            record[field] = check(value)
        except BadValue as e:
            part = f"{where}, row {row}, field {field!r}"
            raise StepFailed(part, "the step to map values whose meaning changes", str(e)) from None


def _reader_column(reader: RecordType, index: int, records: list[dict[str, Any]], refs: RefIndex) -> list[Any]:
    fs = reader.schema.fields[index]
    try:
        values = field_values(records, reader.names_for(fs.name), reader.defaults[index])
    except MissingField as e:
        raise StepFailed(
            f"{reader.name} v{reader.version}, row {e.row}", f"a value for field {fs.name!r}", "none"
        ) from None
    try:
        return _stored(fs.type, values, reader, refs)
    except (BadValue, msgspec.ValidationError) as e:
        part = f"{reader.name} v{reader.version} field {fs.name!r}"
        raise StepFailed(part, fs.type.render(), str(e)) from None


def _stored(t: FieldType, values: list[Any], reader: RecordType, refs: RefIndex) -> list[Any]:
    """Values in the form typed decoding gives (records as rows), or tagged nodes."""
    column = column_type(t, reader.classes)
    if any(n.kind == "ndarray" for n in t.walk()):
        top = [t, *t.items] if t.kind == "union" else [t]  # the field's own array type, if it has one
        declared = next((n.dtype for n in top if n.kind == "ndarray"), "")
        values = [_array_headers(v, declared) for v in values]
    if wraps(t):  # deques, Counters, paths... as they are stored
        values, t = [to_stored(t, v) for v in values], stored_type(t)
    check_exact(t, values)
    if t.is_tagged():
        encoder = TaggedEncoder(refs)
        return [encoder.encode(v) for v in values]
    if t.kind == "record":
        values = refs.rows(values, t.record)
    elif t.references():
        values = [_rows(t, v, refs) for v in values]
    if any(n.kind == "enum" for n in t.walk()):
        values = [_enum_values(t, v, reader.classes) for v in values]
    converted: list[Any] = msgspec.convert(values, list[column])  # type: ignore[valid-type]
    return converted


def _array_headers(value: Any, declared: str = "") -> Any:
    """A step's arrays: the checkpoint's own (``ArrayRef``, passed on) become their headers
    again; an array the step made is refused (its bytes would have nowhere to go), and so is
    one put in a field of a dtype that does not hold its values."""
    if type(value) is ArrayRef:
        if declared and not widens(value.dtype, declared):
            raise BadValue(f"an array of dtype {declared}, not {value.dtype} (a step cannot convert arrays yet)")
        header = [value.dtype, value.shape, value.number]
        return [*header, value.data] if value.number < 0 else header
    if isinstance(value, list | tuple):
        return type(value)(_array_headers(v) for v in value)
    if type(value) is dict:
        return {k: _array_headers(v) for k, v in value.items()}
    if type(value).__module__ == "numpy":
        raise BadValue("an array of the checkpoint passed on as it came (a step cannot hand back new arrays yet)")
    return value


def _enum_values(t: FieldType, value: Any, classes: dict[FieldType, type]) -> Any:
    """A step may return the reader's enum members: their values, for ``msgspec.convert``
    (which takes values only). A member of another enum class stays, and is refused there."""
    if t.kind == "enum":
        own = type(value) is classes.get(t)
        return value.value if own else value
    if t.kind == "union":
        member = next((m for m in t.items if m.kind == "enum" and type(value) is classes.get(m)), None)
        return value.value if member is not None else value
    if t.kind == "dict" and isinstance(value, dict):
        k, v = t.items
        return {_enum_values(k, x, classes): _enum_values(v, y, classes) for x, y in value.items()}
    if t.kind in ("list", "set", "frozenset", "tuple") and isinstance(value, list | tuple | set | frozenset):
        items = t.items * len(value) if t.kind != "tuple" or t.variadic else t.items
        converted = [_enum_values(i, x, classes) for i, x in zip(items, value, strict=False)]
        return type(value)(converted) if isinstance(value, set | frozenset) else converted
    return value


def _rows(t: FieldType, value: Any, refs: RefIndex) -> Any:
    """Replace Ref markers by row numbers where the type holds records."""
    if t.kind == "record":
        return refs.row(value, t.record)
    if t.kind == "union":
        member = next((m for m in t.items if m.kind == "record"), None)
        if member is not None and type(value) is Ref:
            return refs.row(value, member.record)
        container = next((m for m in t.items if m.kind not in ("record", "none") and m.references()), None)
        return _rows(container, value, refs) if container is not None and value is not None else value
    if not t.references() or not isinstance(value, list | tuple | set | frozenset | dict):
        return value
    if isinstance(value, dict):
        k, v = t.items
        return {_hashable(_rows(k, x, refs)): _rows(v, y, refs) for x, y in value.items()}
    items = t.items * len(value) if t.kind != "tuple" or t.variadic else t.items
    return [_rows(i, x, refs) for i, x in zip(items, value, strict=False)]


def _hashable(value: Any) -> Any:
    return tuple(_hashable(x) for x in value) if type(value) is list else value


def _defaults(make: Callable[[], Any], count: int) -> list[Any]:
    value = make()
    if type(value) in PLAIN or type(value) in (tuple, frozenset):
        return [value] * count  # immutable: one object serves every record
    return [value, *(make() for _ in range(count - 1))] if count else []


def removed_type(name: str) -> RecordType:
    """Stands in for a type a checkpoint step removed: no fields, no records."""
    return RecordType(type(None), RecordSchema(name, 1, ()), (), True, {})
