"""What a migration plan is: the values the planner returns and the appliers follow.

For every type a checkpoint holds, a ``TypePlan`` says how its writer's schema reaches the
reader's (the newest version the code declares, found by name or former name):

- *direct*: same version, same fingerprint;
- *rules*: one ``FieldPlan`` per reader field (same column, converted, re-tagged, or the
  default of the version that added it);
- *steps*: upgrade steps run record by record, with ``Hop``s of rules between them.

A ``Plan`` holds them, or, when checkpoint steps apply, the ``Stage``s in order. The values
are frozen and hold no I/O: ``_planner`` makes them, ``_apply`` follows them, and
``store.plan()``, ``amber migrate`` and ``amber schema check`` describe them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from .._schema._class_kinds import DefaultMaker
from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._registry import UpgradeStep
from ..errors import SchemaProblem
from ._convert import Convert

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
    it (enum values that would change meaning in the next version: see ``_step_guards.guard``)."""

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


def touching(stages: Sequence[Stage], *names: str) -> str:
    """The actions of ``stages`` that touch a type known by any of ``names``, in order."""
    return ", ".join(stage.action() for stage in stages if stage.touches(*names))
