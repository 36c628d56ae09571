"""The migration planner: ``plan()``, how each type of a checkpoint becomes the code's (pure).

For every type a checkpoint holds, the plan says how its writer's schema reaches the
reader's (the newest version the code declares, found by name or former name):

- *direct*: same version, same fingerprint;
- *rules*: no upgrade step between the versions, and every difference is one the rules
  resolve without code (docs/schema-evolution.md): a field added with a default, a field
  removed, a field or type renamed with an alias, a safe widening;
- *steps*: upgrade steps run record by record, then the rules finish the job.

The whole plan is computed before any data is read, and every problem is collected, each
with a fix, so that an impossible plan fails early and completely. The planner is a pure
function of the writer's schemas and the registry (the code's types and steps): it reads
no data and no storage.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._registry import Registry, UpgradeStep
from ..errors import SchemaProblem
from ._judge import TypeJudge, enum_classes, same_but_renamed
from ._plan import Hop, Plan, StepRun, TypePlan
from ._problems import mismatch, shared_readers, unknown_type, unsupported_versions
from ._rules import resolve_fields
from ._stages import applies, staged
from ._step_guards import field_guards


def plan(schemas: Sequence[RecordSchema], registry: Registry, oldest: Mapping[str, int] | None = None) -> Plan:
    """Plan reading types written with ``schemas`` into the registry's current types.

    ``oldest`` (from a lock file's policy) gives the oldest version still supported per type.
    """
    readers = {s.name: registry.current(s.name) for s in schemas}
    renamed = {**registry.renamed(), **{w: r.name for w, r in readers.items() if r is not None}}
    versions = {renamed.get(s.name, s.name): s.version for s in schemas}
    if any(applies(c, versions) for c in registry.checkpoint_steps()):
        return staged(schemas, registry, readers, oldest or {})
    problems: list[SchemaProblem] = []
    plans: list[TypePlan] = []
    for schema in schemas:
        result = _plan_type(schema, readers[schema.name], registry, renamed.get)
        if isinstance(result, TypePlan):
            plans.append(result)
        else:
            problems.extend(result)
    problems.extend(shared_readers(schemas, readers))
    problems.extend(unsupported_versions(schemas, readers, oldest or {}))
    return Plan(tuple(plans) if not problems else (), tuple(problems))


def _plan_type(
    w: RecordSchema, reader: RecordType | None, registry: Registry, rename: Callable[[str], str | None]
) -> TypePlan | list[SchemaProblem]:
    if reader is None:
        return [unknown_type(w)]
    if w.version == reader.version:
        if w.fingerprint == reader.schema.fingerprint:
            return TypePlan(w, reader)
        if not same_but_renamed(w, reader, rename):
            return [mismatch(w, reader)]
    if w.version < reader.version:
        steps = tuple(
            (v, step) for v in range(w.version, reader.version) if (step := registry.upgrade_step(reader.name, v))
        )
        if steps:
            return _stepped(w, reader, registry, steps, TypeJudge(rename, enum_classes(registry)))
    between = [registry.lookup(reader.name, v) for v in range(w.version + 1, reader.version)]
    judge = TypeJudge(rename, reader.classes.get)
    fields, problems = resolve_fields(w, [*(rt for rt in between if rt is not None), reader], judge)
    if problems:
        return problems
    conditional = tuple(SchemaProblem(reader.name, c, "", kind="conditional") for c in dict.fromkeys(judge.conditional))
    return TypePlan(w, reader, fields=fields, conditional=conditional, notes=tuple(dict.fromkeys(judge.notes)))


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
        route.append(StepRun(target, step, field_guards(schema, after, judge), after if after is not reader else None))
        schema, version = (after.schema if after is not None else None), target + 1
    if problems:
        return problems
    conditional = tuple(SchemaProblem(reader.name, c, "", kind="conditional") for c in dict.fromkeys(judge.conditional))
    notes = tuple(dict.fromkeys(judge.notes))
    # Enum values handed on unchanged from the writer, through steps whose versions the code
    # does not declare, must still name the same members in the reader.
    ends = field_guards(w, reader, judge)
    return TypePlan(w, reader, steps=steps, route=tuple(route), end_guards=ends, conditional=conditional, notes=notes)
