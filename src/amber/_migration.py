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

from ._fields import RecordSchema
from ._schema import CheckpointStep, RecordType, Registry, UpgradeStep
from ._types import FieldType
from .errors import SchemaProblem

Mode = Literal["same", "convert", "tag", "default"]


@dataclass(frozen=True)
class FieldPlan:
    """Where one reader field's values come from, in a rules-only plan."""

    name: str
    mode: Mode  # same column, converted column, typed values re-encoded tagged, or the default
    source: int = -1  # the writer's column index (all modes but "default")


@dataclass(frozen=True)
class TypePlan:
    writer: RecordSchema
    reader: RecordType
    steps: tuple[tuple[int, UpgradeStep], ...] = ()  # (from version, step), in order
    fields: tuple[FieldPlan, ...] = ()  # rules-only plans: one per reader field
    # Versions a record reaches without a step, before a later step: (version, its declaration).
    # The dicts are resolved to the declaration, so that the next step sees that version's fields.
    shapes: tuple[tuple[int, RecordType], ...] = ()
    actions: str = ""  # in a plan with checkpoint steps: the stages that touch this type

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
    shape: RecordType | None = None  # without a step: the declaration of the version reached, if any

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
    renamed = {w: r.name for w, r in readers.items() if r is not None}
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
    """Whether a checkpoint step still lies ahead of data at ``versions``."""
    ahead = all(n in versions and versions[n] <= v for n, v in step.requires.items())
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
    brought to the running code's version. Records go through as dicts."""
    names = [r.name if r else s.name for s, r in zip(schemas, readers.values(), strict=True)]
    versions: dict[str, int] = dict(zip(names, (s.version for s in schemas), strict=True))
    order = list(names)
    pending = [c for c in registry.checkpoint_steps() if _applies(c, versions)]
    stages: list[Stage] = []
    while True:
        ready = next((c for c in pending if all(versions.get(n) == v for n, v in c.requires.items())), None)
        if ready is not None:
            pending.remove(ready)
            stages.append(Stage("*", 0, ready))
            for name, version in ready.produces.items():
                if version is None:
                    versions.pop(name, None)
                else:
                    versions[name] = version
                    order += [] if name in order else [name]
            continue
        stage = _next_type_stage(registry, versions, pending)
        if stage is None:
            break
        stages.append(stage)
        versions[stage.type] += 1
    problems = [_unreached(c) for c in pending] + _undeclared(registry, versions)
    problems += _unsupported(schemas, readers, oldest)
    final = tuple((n, registry.current(n) if n in versions else None) for n in order)
    types = tuple(
        TypePlan(s, r, actions=touching(stages, s.name, r.name))
        for s, r in zip(schemas, readers.values(), strict=True)
        if r is not None
    )
    return Plan(types if not problems else (), tuple(problems), tuple(stages) if not problems else (), final)


def touching(stages: Sequence[Stage], *names: str) -> str:
    """The actions of ``stages`` that touch a type known by any of ``names``, in order."""
    return ", ".join(stage.action() for stage in stages if stage.touches(*names))


def _next_type_stage(registry: Registry, versions: dict[str, int], pending: list[CheckpointStep]) -> Stage | None:
    for name in sorted(versions):
        current = registry.current(name)
        caps = [c.requires[name] for c in pending if c.requires.get(name, 0) > versions[name]]
        target = min([current.version if current else versions[name], *caps])
        if versions[name] < target:
            step = registry.upgrade_step(name, versions[name])
            return Stage(name, versions[name], step, None if step else registry.lookup(name, versions[name] + 1))
    return None


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
        if not _same_but_renamed(w, reader.schema, rename):
            return [_mismatch(w, reader)]
    if w.version < reader.version:
        steps = tuple(
            (v, step) for v in range(w.version, reader.version) if (step := registry.upgrade_step(reader.name, v))
        )
        if steps:
            return TypePlan(w, reader, steps=steps, shapes=_shapes(registry, reader.name, w.version, steps))
    fields, problems = _resolve_fields(w, reader, rename)
    if problems:
        return problems
    return TypePlan(w, reader, fields=fields)


def _shapes(
    registry: Registry, name: str, written: int, steps: tuple[tuple[int, UpgradeStep], ...]
) -> tuple[tuple[int, RecordType], ...]:
    """The declared versions a record passes through without a step before the last step."""
    with_step = {v for v, _ in steps}
    reached = (v + 1 for v in range(written, steps[-1][0]) if v not in with_step)
    return tuple((v, rt) for v in reached if (rt := registry.lookup(name, v)) is not None)


def _same_but_renamed(w: RecordSchema, r: RecordSchema, rename: Callable[[str], str | None]) -> bool:
    """Whether two schemas differ only in the names of the record types they point at, which
    were renamed with aliases (renaming a type does not change the types that use it)."""
    pairs = zip(w.fields, r.fields, strict=False)
    return len(w.fields) == len(r.fields) and all(
        a.name == b.name and a.default == b.default and same_type(a.type, b.type, rename) for a, b in pairs
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
    return SchemaProblem(w.name, problem, fix, kind="mismatch")


def _resolve_fields(
    w: RecordSchema, reader: RecordType, rename: Callable[[str], str | None]
) -> tuple[tuple[FieldPlan, ...], list[SchemaProblem]]:
    written = {f.name: (i, f.type) for i, f in enumerate(w.fields)}
    where = f"v{w.version} -> v{reader.version}"
    newer = w.version > reader.version
    plans, problems = [], []
    for f, default in zip(reader.schema.fields, reader.defaults, strict=True):
        source = next((written[n] for n in reader.names_for(f.name) if n in written), None)
        if source is None:
            if default is None:
                fix = "give it a default" + ("" if newer else f", or add @amber.upgrade({reader.name!r}, {w.version})")
                problems.append(SchemaProblem(reader.name, f"{where}: new required field {f.name!r}", fix))
            plans.append(FieldPlan(f.name, "default"))
            continue
        index, written_type = source
        mode = _mode(written_type, f.type, rename)
        if mode is None:
            change = f"{where}: field {f.name!r} changed from {written_type.render()} to {f.type.render()}"
            fix = "upgrade the reader" if newer else f"add @amber.upgrade({reader.name!r}, {w.version})"
            problems.append(SchemaProblem(reader.name, change, fix))
            continue
        plans.append(FieldPlan(f.name, mode, index))
    return tuple(plans), problems


def _mode(written: FieldType, wanted: FieldType, rename: Callable[[str], str | None]) -> Mode | None:
    if same_type(written, wanted, rename):
        return "same"
    if written.is_tagged() or not widens(written, wanted, rename):
        return None
    if wanted.is_tagged():
        return None if written.references() else "tag"
    return "convert"


def same_type(a: FieldType, b: FieldType, rename: Callable[[str], str | None]) -> bool:
    """Equal types, once the writer's record names are mapped to the reader's."""
    if a.kind != b.kind or len(a.items) != len(b.items) or (a.variadic, a.values) != (b.variadic, b.values):
        return False
    if a.kind == "record" and (rename(a.record) or a.record) != b.record:
        return False
    return all(same_type(x, y, rename) for x, y in zip(a.items, b.items, strict=True))


def widens(a: FieldType, b: FieldType, rename: Callable[[str], str | None]) -> bool:  # noqa: PLR0911
    """Whether every value of type ``a`` is, unchanged or converted safely, a value of ``b``:
    int to float, a type to a union holding it, an enum to one with more members, and the
    same inside containers."""
    if same_type(a, b, rename):
        return True
    if a.kind == "union":
        return all(widens(m, b, rename) for m in a.items)
    if b.kind == "union":
        return any(widens(a, m, rename) for m in b.items)
    if b.kind == "any":
        return True
    if (a.kind, b.kind) == ("int", "float"):
        return True
    if a.kind == b.kind == "enum":
        return set(a.values) <= set(b.values)
    if a.kind != b.kind or a.kind not in ("list", "set", "frozenset", "tuple", "dict"):
        return False
    if len(a.items) != len(b.items) or a.variadic != b.variadic:
        return False
    return all(widens(x, y, rename) for x, y in zip(a.items, b.items, strict=True))
