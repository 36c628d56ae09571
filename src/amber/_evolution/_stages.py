"""Plans through checkpoint steps: every action in order, types stepped as dicts (pure).

When a checkpoint step (``@amber.checkpoint_upgrade``) still lies ahead of a checkpoint's
data, per-type steps bring each type to the version it requires, then it runs, and so on;
then each type is brought to the running code's version. Every version reached without a
step is reached by the rules (``_rules``), judged as in a rules-only plan.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._registry import CheckpointStep, Registry
from ..errors import SchemaProblem
from ._judge import TypeJudge, enum_classes, same_but_renamed
from ._plan import Hop, Plan, Stage, TypePlan, touching
from ._problems import mismatch, older_code_fix, undeclared_after_steps, unreached_step, unsupported_versions
from ._rules import resolve_fields
from ._step_guards import field_guards


def applies(step: CheckpointStep, versions: Mapping[str, int]) -> bool:
    """Whether a checkpoint step still lies ahead of data at ``versions``. A type it requires
    that the checkpoint does not hold counts as empty (a checkpoint has no table for a type
    it held no records of), provided it holds one of the others."""
    held = [n for n in step.requires if n in versions]
    ahead = bool(held) and all(versions[n] <= step.requires[n] for n in held)
    done = all((versions.get(n) is None) if v is None else versions.get(n, 0) >= v for n, v in step.produces.items())
    return ahead and not done


def staged(
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
    pending = [c for c in registry.checkpoint_steps() if applies(c, versions)]
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
    problems = [unreached_step(c) for c in pending] + undeclared_after_steps(registry, versions) + walk.problems
    problems += unsupported_versions(schemas, readers, oldest) + _unstaged(schemas, readers, registry)
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
                problems.append(mismatch(schema, reader))
        elif schema.version > reader.version:
            problem = (
                f"v{schema.version} is newer than this code's v{reader.version}: checkpoint steps cannot run on it"
            )
            problems.append(SchemaProblem(schema.name, problem, older_code_fix(schema, reader)))
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
        self.judge = TypeJudge(lambda n: registry.renamed().get(n), enum_classes(registry))
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
            guards = field_guards(source, reached, self.judge)
            self.schemas[name] = reached.schema if reached is not None else None
            return Stage(name, version, step, guards=guards)
        if source is None or reached is None:
            return Stage(name, version, None)  # undeclared: the records go on as they are
        fields, problems = resolve_fields(source, [reached], self.judge)
        self.problems += [p for p in problems if p.kind != "required"]  # a later step may fill it
        self.schemas[name] = reached.schema
        return Stage(name, version, None, hop=Hop(source, fields))
