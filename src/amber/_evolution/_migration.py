"""The migration planner: how each type of a checkpoint becomes the running code's type (pure).

For every type a checkpoint holds, the plan says how its writer's schema reaches the
reader's (the newest version the code declares, found by name or former name):

- *direct*: same version, same fingerprint;
- *rules*: no upgrade step between the versions, and every difference is one the rules
  resolve without code (docs/schema-evolution.md): a field added with a default, a field
  removed, a field or type renamed with an alias, a safe widening;
- *steps*: upgrade steps run record by record, then the rules finish the job.

The whole plan is computed before any data is read, and every problem is collected, each
with a fix, so that an impossible plan fails early and completely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .._schema._fields import DefaultMaker, RecordSchema
from .._schema._schema import CheckpointStep, RecordType, Registry, UpgradeStep
from .._schema._types import FieldType
from ..errors import SchemaProblem
from ._compat import Convert, TypeJudge, guard

Mode = Literal["same", "convert", "tag", "default"]


@dataclass(frozen=True)
class FieldPlan:
    """Where one reader field's values come from, in a rules-only plan."""

    name: str
    mode: Mode  # same column, converted column, typed values re-encoded tagged, or the default
    source: int = -1  # the writer's column index (all modes but "default")
    default: DefaultMaker | None = None  # "default": makes the value (the adding version's default)
    default_from: int = 0  # "default": the version whose default it is
    convert: Convert | None = None  # "convert", "tag": per value, before msgspec.convert


@dataclass(frozen=True)
class Hop:
    """The rules between two versions, applied to records as dicts (around upgrade steps):
    ``fields`` as in a rules-only plan, their sources named by ``source``'s fields."""

    source: RecordSchema
    fields: tuple[FieldPlan, ...]


@dataclass(frozen=True)
class StepRun:
    """An upgrade step, and per field, what to do with a value it hands back as it received
    it (enum values that would change meaning in the next version: see ``_compat.guard``)."""

    version: int
    step: UpgradeStep
    guards: tuple[tuple[str, Convert], ...] = ()
    fills: RecordType | None = None  # a declared version reached: its defaults fill what the step left unset


@dataclass(frozen=True)
class TypePlan:
    writer: RecordSchema
    reader: RecordType
    steps: tuple[tuple[int, UpgradeStep], ...] = ()  # (from version, step), in order
    fields: tuple[FieldPlan, ...] = ()  # rules-only plans: one per reader field
    # Plans with steps: every step and, between them, the rules to the version the next step
    # starts from (while the code declares it), so each step sees that version's fields.
    route: tuple[Hop | StepRun, ...] = ()
    end_guards: tuple[tuple[str, Convert], ...] = ()  # after the steps: see StepRun, against the writer's values
    actions: str = ""  # in a plan with checkpoint steps: the stages that touch this type
    conditional: tuple[SchemaProblem, ...] = ()  # values some records may hold that cannot be read
    notes: tuple[str, ...] = ()  # conversions that refuse some values (the check lists them)

    @property
    def by_value(self) -> bool:
        """Whether the writer described its enums by value only (before format 4)."""
        return any(f.type.enums_by_value() for f in self.writer.fields)

    @property
    def direct(self) -> bool:
        return self.writer.fingerprint == self.reader.schema.fingerprint

    @property
    def how(self) -> str:
        """ "as written", "rules only", or the upgrade steps run, e.g. "step 1->2, step 2->3"."""
        if self.actions:
            return self.actions
        if self.direct:
            return "as written"
        if not self.steps and self.writer.version == self.reader.version and self.by_value:
            return "enums by value (written before format 4)"
        return ", ".join(f"step {v}->{v + 1}" for v, _ in self.steps) or "rules only"

    def describe(self) -> str:
        w, r = self.writer, self.reader
        if self.direct:
            return f"{r.name} v{r.version}: as written"
        return f"{w.name} v{w.version} -> {r.name} v{r.version}: {self.how}"


@dataclass(frozen=True)
class Stage:
    """One action of a plan that runs checkpoint steps: a per-type step, or a checkpoint step."""

    type: str  # the type stepped, or "*" for a checkpoint step
    version: int  # the version stepped from (per-type)
    step: Any  # the per-type step (None: no code, the version just advances) or the CheckpointStep
    hop: Hop | None = None  # without a step: the rules to the version reached, when the code declares it
    guards: tuple[tuple[str, Convert], ...] = ()  # with a per-type step: see StepRun

    def describe(self) -> str:
        return self.action() if self.type == "*" else f"{self.type} {self.action()}"

    def action(self) -> str:
        """What this stage does, without the type's name."""
        if self.type == "*":
            return f"checkpoint step {self.step.name}"
        return f"{'step' if self.step else 'rules'} {self.version}->{self.version + 1}"

    def touches(self, *names: str) -> bool:
        """Whether this stage changes a type known by any of ``names``."""
        if self.type == "*":
            return bool(set(names) & (self.step.requires.keys() | self.step.produces.keys()))
        return self.type in names


@dataclass(frozen=True)
class Plan:
    types: tuple[TypePlan, ...]  # aligned with the checkpoint's types
    problems: tuple[SchemaProblem, ...]
    stages: tuple[Stage, ...] = ()  # when checkpoint steps apply: every action, in order
    # With stages: the tables afterwards, the checkpoint's types first (None: removed), then new ones.
    final: tuple[tuple[str, RecordType | None], ...] = ()
    # With stages: types a checkpoint step needs that the checkpoint holds no records of (it
    # had none to save), as empty tables at the version the step requires.
    empty: tuple[tuple[str, int], ...] = ()
    stage_conditional: tuple[SchemaProblem, ...] = ()

    @property
    def conditional(self) -> tuple[SchemaProblem, ...]:
        """What fails the load only where records hold it (removed enum members with no default)."""
        return tuple(c for t in self.types for c in t.conditional) + self.stage_conditional

    def describe(self) -> list[str]:
        """One line per type, or per action when checkpoint steps run."""
        if self.stages:
            return [s.describe() for s in self.stages]
        return [t.describe() for t in self.types]


def plan(schemas: Sequence[RecordSchema], registry: Registry, oldest: Mapping[str, int] | None = None) -> Plan:
    """Plan reading types written with ``schemas`` into the registry's current types.

    ``oldest`` (from a lock file's policy) gives the oldest version still supported per type.
    """
    readers = {s.name: registry.current(s.name) for s in schemas}
    renamed = {**registry.renamed(), **{w: r.name for w, r in readers.items() if r is not None}}
    versions = {renamed.get(s.name, s.name): s.version for s in schemas}
    if any(_applies(c, versions) for c in registry.checkpoint_steps()):
        return _staged(schemas, registry, readers, oldest or {})
    problems: list[SchemaProblem] = []
    plans: list[TypePlan] = []
    for schema in schemas:
        result = _plan_type(schema, readers[schema.name], registry, renamed.get)
        if isinstance(result, TypePlan):
            plans.append(result)
        else:
            problems.extend(result)
    problems.extend(_shared_readers(schemas, readers))
    problems.extend(_unsupported(schemas, readers, oldest or {}))
    return Plan(tuple(plans) if not problems else (), tuple(problems))


def _applies(step: CheckpointStep, versions: Mapping[str, int]) -> bool:
    """Whether a checkpoint step still lies ahead of data at ``versions``. A type it requires
    that the checkpoint does not hold counts as empty (a checkpoint has no table for a type
    it held no records of), provided it holds one of the others."""
    held = [n for n in step.requires if n in versions]
    ahead = bool(held) and all(versions[n] <= step.requires[n] for n in held)
    done = all((versions.get(n) is None) if v is None else versions.get(n, 0) >= v for n, v in step.produces.items())
    return ahead and not done


def _staged(
    schemas: Sequence[RecordSchema],
    registry: Registry,
    readers: dict[str, RecordType | None],
    oldest: Mapping[str, int],
) -> Plan:
    """Plan a checkpoint through checkpoint steps: per-type steps bring each type to the
    version the next checkpoint step requires, then it runs, and so on; then each type is
    brought to the running code's version. Records go through as dicts, and every version
    reached without a step is reached by the rules, judged as in a rules-only plan."""
    names = [r.name if r else s.name for s, r in zip(schemas, readers.values(), strict=True)]
    versions: dict[str, int] = dict(zip(names, (s.version for s in schemas), strict=True))
    walk = _Stages(registry, dict(zip(names, schemas, strict=True)))
    order = list(names)
    pending = [c for c in registry.checkpoint_steps() if _applies(c, versions)]
    empty = _empty_tables(pending, versions)
    versions.update(empty)
    order += [n for n in empty if n not in order]
    stages: list[Stage] = []
    while True:
        ready = next((c for c in pending if all(versions.get(n) == v for n, v in c.requires.items())), None)
        if ready is not None:
            pending.remove(ready)
            stages.append(Stage("*", 0, ready))
            for name, version in ready.produces.items():
                walk.produced(name, version)
                if version is None:
                    versions.pop(name, None)
                else:
                    versions[name] = version
                    order += [] if name in order else [name]
            continue
        stage = walk.next_stage(versions, pending)
        if stage is None:
            break
        stages.append(stage)
        versions[stage.type] += 1
    problems = [_unreached(c) for c in pending] + _undeclared(registry, versions) + walk.problems
    problems += _unsupported(schemas, readers, oldest) + _unstaged(schemas, readers, registry)
    final = tuple((n, registry.current(n) if n in versions else None) for n in order)
    types = tuple(
        TypePlan(s, r, actions=touching(stages, s.name, r.name))
        for s, r in zip(schemas, readers.values(), strict=True)
        if r is not None
    )
    conditional = tuple(SchemaProblem("*", c, "", kind="conditional") for c in dict.fromkeys(walk.judge.conditional))
    return Plan(
        types if not problems else (),
        tuple(problems),
        tuple(stages) if not problems else (),
        final,
        tuple(empty.items()),
        conditional,
    )


def _unstaged(
    schemas: Sequence[RecordSchema], readers: dict[str, RecordType | None], registry: Registry
) -> list[SchemaProblem]:
    """Types of a checkpoint with checkpoint steps that no stage converts: one at the code's
    version must be what the code declares; one newer than the code cannot be stepped."""
    rename = registry.renamed().get
    problems = []
    for schema in schemas:
        reader = readers[schema.name]
        if reader is None or reader.name != schema.name:
            continue
        if schema.version == reader.version and schema.fingerprint != reader.schema.fingerprint:
            if not same_but_renamed(schema, reader, rename):
                problems.append(_mismatch(schema, reader))
        elif schema.version > reader.version:
            problem = (
                f"v{schema.version} is newer than this code's v{reader.version}: checkpoint steps cannot run on it"
            )
            problems.append(SchemaProblem(schema.name, problem, _older_code_fix(schema, reader)))
    return problems


def _empty_tables(pending: list[CheckpointStep], versions: Mapping[str, int]) -> dict[str, int]:
    empty: dict[str, int] = {}
    for step in pending:
        for name, version in step.requires.items():
            if name not in versions:
                empty[name] = min(version, empty.get(name, version))
    return empty


class _Stages:
    """The per-type stages of a plan with checkpoint steps, each type's schema followed as
    it goes (None once it reaches a version the code does not declare)."""

    def __init__(self, registry: Registry, schemas: dict[str, RecordSchema]) -> None:
        self.registry = registry
        self.schemas: dict[str, RecordSchema | None] = dict(schemas)
        self.judge = TypeJudge(lambda n: registry.renamed().get(n), _enum_classes(registry))
        self.problems: list[SchemaProblem] = []

    def produced(self, name: str, version: int | None) -> None:
        declared = self.registry.lookup(name, version) if version is not None else None
        self.schemas[name] = declared.schema if declared is not None else None

    def next_stage(self, versions: dict[str, int], pending: list[CheckpointStep]) -> Stage | None:
        for name in sorted(versions):
            current = self.registry.current(name)
            caps = [c.requires[name] for c in pending if c.requires.get(name, 0) > versions[name]]
            target = min([current.version if current else versions[name], *caps])
            if versions[name] < target:
                return self._stage(name, versions[name])
        return None

    def _stage(self, name: str, version: int) -> Stage:
        step = self.registry.upgrade_step(name, version)
        source, reached = self.schemas.get(name), self.registry.lookup(name, version + 1)
        if step is not None:
            guards = _guards(source, reached, self.judge)
            self.schemas[name] = reached.schema if reached is not None else None
            return Stage(name, version, step, guards=guards)
        if source is None or reached is None:
            return Stage(name, version, None)  # undeclared: the records go on as they are
        fields, problems = resolve_fields(source, [reached], self.judge)
        self.problems += [p for p in problems if p.kind != "required"]  # a later step may fill it
        self.schemas[name] = reached.schema
        return Stage(name, version, None, hop=Hop(source, fields))


def _enum_classes(registry: Registry) -> Callable[[FieldType], type | None]:
    classes = {t: c for rt in registry for t, c in rt.classes.items()}
    return classes.get


def _guards(
    source: RecordSchema | None, reached: RecordType | None, judge: TypeJudge
) -> tuple[tuple[str, Convert], ...]:
    """What to do with each value an upgrade step hands back as it received it, by the dict
    key it is under: a field of ``reached`` fed (by its name or a former one) by a field of
    ``source`` whose enum values would change meaning."""
    if source is None or reached is None:
        return ()
    before = {f.name: f.type for f in source.fields}
    found = []
    for f in reached.schema.fields:
        for key in reached.names_for(f.name):
            if key in before and (check := guard(judge, before[key], f.type)) is not None:
                found.append((key, check))
                if key != f.name:
                    found.append((f.name, check))  # the step may have moved it under the new name
                break
    return tuple(found)


def touching(stages: Sequence[Stage], *names: str) -> str:
    """The actions of ``stages`` that touch a type known by any of ``names``, in order."""
    return ", ".join(stage.action() for stage in stages if stage.touches(*names))


def _unreached(step: CheckpointStep) -> SchemaProblem:
    needs = ", ".join(f"{n} v{v}" for n, v in step.requires.items())
    return SchemaProblem(
        "*",
        f"checkpoint step {step.name} needs {needs}, which this checkpoint never reaches",
        "add the per-type steps that lead there",
    )


def _undeclared(registry: Registry, versions: Mapping[str, int]) -> list[SchemaProblem]:
    fix = "declare it, or have a checkpoint step remove it (produces={name: None})"
    return [
        SchemaProblem(n, f"v{v} is left after the checkpoint steps but not declared", fix, kind="unknown")
        for n, v in versions.items()
        if registry.current(n) is None
    ]


def _unsupported(
    schemas: Sequence[RecordSchema], readers: dict[str, RecordType | None], oldest: Mapping[str, int]
) -> list[SchemaProblem]:
    problems = []
    for s in schemas:
        reader = readers[s.name]
        floor = oldest.get(reader.name if reader else s.name)
        if floor is not None and s.version < floor:
            fix = f"migrate it with a release that still reads v{s.version}, or lower oldest_supported in the lock"
            problems.append(SchemaProblem(s.name, f"v{s.version} is older than the oldest supported v{floor}", fix))
    return problems


def _shared_readers(schemas: Sequence[RecordSchema], readers: dict[str, RecordType | None]) -> list[SchemaProblem]:
    seen: dict[str, str] = {}
    problems = []
    for s in schemas:
        reader = readers[s.name]
        if reader is None:
            continue
        if reader.name in seen:
            problems.append(
                SchemaProblem(s.name, f"is read into {reader.name}, like {seen[reader.name]}", "merge them with a step")
            )
        seen[reader.name] = s.name
    return problems


def _plan_type(
    w: RecordSchema, reader: RecordType | None, registry: Registry, rename: Callable[[str], str | None]
) -> TypePlan | list[SchemaProblem]:
    if reader is None:
        return [_unknown(w)]
    if w.version == reader.version:
        if w.fingerprint == reader.schema.fingerprint:
            return TypePlan(w, reader)
        if not same_but_renamed(w, reader, rename):
            return [_mismatch(w, reader)]
    if w.version < reader.version:
        steps = tuple(
            (v, step) for v in range(w.version, reader.version) if (step := registry.upgrade_step(reader.name, v))
        )
        if steps:
            return _stepped(w, reader, registry, steps, TypeJudge(rename, _enum_classes(registry)))
    between = [registry.lookup(reader.name, v) for v in range(w.version + 1, reader.version)]
    judge = TypeJudge(rename, reader.classes.get)
    fields, problems = resolve_fields(w, [*(rt for rt in between if rt is not None), reader], judge)
    if problems:
        return problems
    conditional = tuple(SchemaProblem(reader.name, c, "", kind="conditional") for c in dict.fromkeys(judge.conditional))
    return TypePlan(w, reader, fields=fields, conditional=conditional, notes=tuple(dict.fromkeys(judge.notes)))


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
                walk.problems.append(_required(reader, f.name, w.version, walk.where(reader), walk.newer))
            plans.append(FieldPlan(f.name, "default", default=origin.default, default_from=origin.version))
            continue
        written = w.fields[origin.column].type
        problem = judge.problem(written, f.type)
        if problem is not None:
            fix = _older_code_fix(w, reader) if walk.newer else _step_fix(reader)
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
                self.problems.append(_new_across_gap(version, f.name, self.version, self.where(version)))
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
                self.problems.append(_reused(version, f.name, self.dropped_at[f.name], self.where(version)))
            twin = next((n for n in dropped if self.judge.same(self.types[n], f.type)), None)
            if twin is not None:
                self.problems.append(_looks_renamed(version, f.name, twin, self.where(version), self.newer))
        self.dropped_at.update(dict.fromkeys(dropped, version.version))
        self.available = {f.name: flowing[f.name] for f, _ in fields}  # in field order
        self.types = {f.name: f.type for f in version.schema.fields}
        self.version = version.version


def _new_across_gap(version: RecordType, name: str, since: int, where: str) -> SchemaProblem:
    problem = (
        f"{where}: field {name!r} is marked new in v{version.version}, and v{since} data holds an {name!r}: "
        f"whether it is the same field depends on the versions between, which the code does not declare"
    )
    fix = f"keep declaring the versions between v{since} and v{version.version} (their classes), or another name"
    return SchemaProblem(version.name, problem, fix)


def _field_plan(name: str, written: FieldType, wanted: FieldType, column: int, judge: TypeJudge) -> FieldPlan:
    if judge.same(written, wanted):
        return FieldPlan(name, "same", column)
    convert = judge.converter(written, wanted)
    if written.is_tagged():
        return FieldPlan(name, "same", column)  # self-described values, passed on unchanged
    if wanted.is_tagged():
        return FieldPlan(name, "tag", column, convert=convert)
    return FieldPlan(name, "convert", column, convert=convert)


def _required(reader: RecordType, name: str, written: int, where: str, newer: bool) -> SchemaProblem:
    if newer:  # a default would blank what the newer release wrote under another name
        fix = (
            "read it with a release that declares the newer version, or have that one pin this version (write_versions)"
        )
        return SchemaProblem(
            reader.name, f"{where}: field {name!r} is required here and the newer writer lacks it", fix
        )
    fix = f"give it a default, or {_step_fix(reader)}"
    return SchemaProblem(reader.name, f"{where}: new required field {name!r}", fix, kind="required")


def _looks_renamed(version: RecordType, added: str, removed: str, where: str, newer: bool) -> SchemaProblem:
    problem = (
        f"{where}: field {added!r} looks renamed from {removed!r} (v{version.version} drops {removed!r} "
        f"and adds {added!r} of the same type, without an alias): its values would be lost"
    )
    if newer:
        fix = "read it with a release that declares the newer version, or pin the newer release (write_versions)"
    else:
        fix = f"amber.field(aliases=[{removed!r}]) on {added!r}, or amber.field(new=True) if it is not a rename"
    return SchemaProblem(version.name, problem, fix)


def _reused(version: RecordType, name: str, dropped: int, where: str) -> SchemaProblem:
    problem = f"{where}: field {name!r} was removed in v{dropped} and comes back in v{version.version}"
    fix = (
        f"another name, or amber.field(new=True) on {name!r} (records written before v{dropped} then read its default)"
    )
    return SchemaProblem(version.name, problem, fix)


def _step_fix(reader: RecordType) -> str:
    """The step that fixes a change for every older version: the one into the reader's."""
    return f"add @amber.upgrade({reader.name!r}, {reader.version - 1})"


def _older_code_fix(w: RecordSchema, reader: RecordType) -> str:
    return (
        f"this code (v{reader.version}) is older than the checkpoint (v{w.version}): read it with a release "
        f"that declares v{w.version}, or have that release write v{reader.version} (write_versions)"
    )


def _stepped(
    w: RecordSchema,
    reader: RecordType,
    registry: Registry,
    steps: tuple[tuple[int, UpgradeStep], ...],
    judge: TypeJudge,
) -> TypePlan | list[SchemaProblem]:
    """A plan through upgrade steps: before each step (and after the last), the rules bring
    the records to the version the step starts from, judged as in a rules-only plan, while
    the code declares it; without it, the records go on as they are and the step copes."""
    route: list[Hop | StepRun] = []
    problems: list[SchemaProblem] = []
    schema: RecordSchema | None = w
    version = w.version
    for target, step in [*steps, (reader.version, None)]:
        if version < target:
            declared = [rt for v in range(version + 1, target + 1) if (rt := registry.lookup(reader.name, v))]
            reached = declared[-1] if declared and declared[-1].version == target else None
            if schema is not None and reached is not None:
                fields, found = resolve_fields(schema, declared, judge)
                last = step is None  # before a step, a required field may be the step's to fill
                problems += [p for p in found if last or p.kind != "required"]
                route.append(Hop(schema, fields))
            schema = reached.schema if reached is not None else None
            version = target
        if step is None:
            break
        after = registry.lookup(reader.name, target + 1)
        route.append(StepRun(target, step, _guards(schema, after, judge), after if after is not reader else None))
        schema, version = (after.schema if after is not None else None), target + 1
    if problems:
        return problems
    conditional = tuple(SchemaProblem(reader.name, c, "", kind="conditional") for c in dict.fromkeys(judge.conditional))
    notes = tuple(dict.fromkeys(judge.notes))
    # Enum values handed on unchanged from the writer, through steps whose versions the code
    # does not declare, must still name the same members in the reader.
    ends = _guards(w, reader, judge)
    return TypePlan(w, reader, steps=steps, route=tuple(route), end_guards=ends, conditional=conditional, notes=notes)


def same_but_renamed(w: RecordSchema, reader: RecordType, rename: Callable[[str], str | None]) -> bool:
    """Whether two schemas of one version differ only in the names of the record types they
    point at, which were renamed with aliases (renaming a type does not change the types that
    use it), in enums renamed with aliases, or in enums the writer described by value only
    (before format 4)."""
    r = reader.schema
    judge = TypeJudge(rename, reader.classes.get)
    pairs = zip(w.fields, r.fields, strict=False)
    return len(w.fields) == len(r.fields) and all(
        a.name == b.name and a.default == b.default and judge.equivalent(a.type, b.type) for a, b in pairs
    )


def _unknown(w: RecordSchema) -> SchemaProblem:
    return SchemaProblem(
        w.name,
        f"v{w.version} is not declared by the running code",
        f"declare it with @amber.record({w.name!r}, version=...), or list {w.name!r} in the aliases of its new name",
        kind="unknown",
    )


def _mismatch(w: RecordSchema, reader: RecordType) -> SchemaProblem:
    problem = f"v{w.version} in the checkpoint (fingerprint {w.fingerprint}) differs from v{w.version} in the code"
    problem += f" (fingerprint {reader.schema.fingerprint})"
    fix = f"give the changed type version {w.version + 1}; a schema never changes in place"
    renamed = _renamed_enums(w, reader.schema)
    if renamed:
        old, new = renamed[0]
        fix = f"if enum {new} is {old} renamed, declare it @amber.enum({new!r}, aliases=[{old!r}]); else {fix}"
    return SchemaProblem(w.name, problem, fix, kind="mismatch")


def _renamed_enums(w: RecordSchema, r: RecordSchema) -> list[tuple[str, str]]:
    """Enums stored under another name with the same members: (written name, declared name)."""
    found = []
    for a, b in zip(w.fields, r.fields, strict=False):
        for x, y in zip(a.type.walk(), b.type.walk(), strict=False):
            if x.kind == y.kind == "enum" and x.enum != y.enum and (x.members, x.values) == (y.members, y.values):
                found.append((x.enum, y.enum))
    return found
