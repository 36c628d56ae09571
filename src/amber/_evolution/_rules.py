"""What the rules resolve without code: a writer's fields carried to the reader's (pure).

A field flows through the renames of every version the code declares between the writer's
and the reader's, a field dropped on the way stays dropped, and a field added on the way
takes the default of the version that added it (docs/schema-evolution.md). Each reader
field gets a ``FieldPlan``; what cannot be resolved is a ``SchemaProblem`` with its fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .._schema._class_kinds import DefaultMaker
from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._types import FieldType
from ..errors import SchemaProblem
from ._convert import converter
from ._judge import TypeJudge
from ._plan import FieldPlan
from ._problems import looks_renamed, new_across_gap, new_required, older_code_fix, reused_name, step_fix


@dataclass
class _Origin:
    """Where a field's values come from at one version of the chain: a writer's column, or
    the default of the version that added it."""

    column: int = -1
    default: DefaultMaker | None = None
    version: int = 0  # the version that added it (defaults)


def resolve_fields(
    w: RecordSchema, chain: Sequence[RecordType], judge: TypeJudge
) -> tuple[tuple[FieldPlan, ...], list[SchemaProblem]]:
    """Resolve the writer's fields through each declared version up to the reader (the last
    of ``chain``), as releases reading one another's data would have: a field flows through
    the renames of every version, a field dropped on the way stays dropped, and a field
    added on the way takes the default of the version that added it."""
    reader = chain[-1]
    walk = _Walk(w, judge, newer=w.version > reader.version)
    for version in chain:
        walk.step(version)
    plans = []
    for f in reader.schema.fields:
        origin = walk.available[f.name]
        if origin.column < 0:
            if origin.default is None:
                walk.problems.append(new_required(reader, f.name, w.version, walk.where(reader), walk.newer))
            plans.append(FieldPlan(f.name, "default", default=origin.default, default_from=origin.version))
            continue
        written = w.fields[origin.column].type
        problem = judge.problem(written, f.type)
        if problem is not None:
            fix = older_code_fix(w, reader) if walk.newer else step_fix(reader)
            walk.problems.append(SchemaProblem(reader.name, f"{walk.where(reader)}: field {f.name!r} {problem}", fix))
            continue
        plans.append(_field_plan(f.name, written, f.type, origin.column, judge))
    return tuple(plans), walk.problems


class _Walk:
    """The writer's fields carried through a chain of declared versions, one at a time."""

    def __init__(self, w: RecordSchema, judge: TypeJudge, *, newer: bool) -> None:
        self.w, self.judge, self.newer = w, judge, newer  # newer: the writer is newer than the reader
        self.available = {f.name: _Origin(column=i) for i, f in enumerate(w.fields)}
        self.types = {f.name: f.type for f in w.fields}  # each available field's type at the last version
        self.dropped_at: dict[str, int] = {}  # field name -> the version that dropped it
        self.problems: list[SchemaProblem] = []
        self.version = w.version  # the version the available fields are at

    def where(self, reader: RecordType) -> str:
        return f"v{self.w.version} -> v{reader.version}"

    def step(self, version: RecordType) -> None:
        """One version of the chain: which earlier field feeds each of its fields. Fields
        marked new come last, so that a renamed field's alias wins over a new field that
        takes its old name."""
        flowing: dict[str, _Origin] = {}
        consumed: set[str] = set()
        added = []
        fields = list(zip(version.schema.fields, version.defaults, strict=True))
        for f, default in sorted(fields, key=lambda fd: fd[0].name in version.new_fields):
            source = next((n for n in version.names_for(f.name) if n in self.available and n not in consumed), None)
            if source is not None and f.name in version.new_fields and version.version > self.version + 1:
                self.problems.append(new_across_gap(version, f.name, self.version, self.where(version)))
            if source is not None:
                consumed.add(source)
                flowing[f.name] = self.available[source]
                continue
            flowing[f.name] = _Origin(default=default, version=version.version)
            if f.name not in version.new_fields:
                added.append(f)
        dropped = [n for n in self.available if n not in consumed]
        for f in added:
            if f.name in self.dropped_at:
                self.problems.append(reused_name(version, f.name, self.dropped_at[f.name], self.where(version)))
            twin = next((n for n in dropped if self.judge.same(self.types[n], f.type)), None)
            if twin is not None:
                self.problems.append(looks_renamed(version, f.name, twin, self.where(version), self.newer))
        self.dropped_at.update(dict.fromkeys(dropped, version.version))
        self.available = {f.name: flowing[f.name] for f, _ in fields}  # in field order
        self.types = {f.name: f.type for f in version.schema.fields}
        self.version = version.version


def _field_plan(name: str, written: FieldType, wanted: FieldType, column: int, judge: TypeJudge) -> FieldPlan:
    if judge.same(written, wanted):
        return FieldPlan(name, "same", column)
    convert = converter(judge, written, wanted)
    if written.is_tagged():
        return FieldPlan(name, "same", column)  # self-described values, passed on unchanged
    if wanted.is_tagged():
        return FieldPlan(name, "tag", column, convert=convert)
    return FieldPlan(name, "convert", column, convert=convert)
