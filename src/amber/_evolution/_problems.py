"""The problems a plan can find, each with its fix: the planner's report (pure).

Every builder here returns a ``SchemaProblem`` whose text says what is wrong and whose fix
says what to do, so that ``store.plan()``, the load's ``IncompatibleSchemaError``,
``amber migrate`` and ``amber schema check`` all give the same advice. The planner
(``_planner``, ``_rules``, ``_stages``) decides; these say it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._registry import CheckpointStep, Registry
from ..errors import SchemaProblem


def unknown_type(w: RecordSchema) -> SchemaProblem:
    return SchemaProblem(
        w.name,
        f"v{w.version} is not declared by the running code",
        f"declare it with @amber.record({w.name!r}, version=...), or list {w.name!r} in the aliases of its new name",
        kind="unknown",
    )


def mismatch(w: RecordSchema, reader: RecordType) -> SchemaProblem:
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


def unsupported_versions(
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


def shared_readers(schemas: Sequence[RecordSchema], readers: dict[str, RecordType | None]) -> list[SchemaProblem]:
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


def new_required(reader: RecordType, name: str, written: int, where: str, newer: bool) -> SchemaProblem:
    if newer:  # a default would blank what the newer release wrote under another name
        fix = (
            "read it with a release that declares the newer version, or have that one pin this version (write_versions)"
        )
        return SchemaProblem(
            reader.name, f"{where}: field {name!r} is required here and the newer writer lacks it", fix
        )
    fix = f"give it a default, or {step_fix(reader)}"
    return SchemaProblem(reader.name, f"{where}: new required field {name!r}", fix, kind="required")


def looks_renamed(version: RecordType, added: str, removed: str, where: str, newer: bool) -> SchemaProblem:
    problem = (
        f"{where}: field {added!r} looks renamed from {removed!r} (v{version.version} drops {removed!r} "
        f"and adds {added!r} of the same type, without an alias): its values would be lost"
    )
    if newer:
        fix = "read it with a release that declares the newer version, or pin the newer release (write_versions)"
    else:
        fix = f"amber.field(aliases=[{removed!r}]) on {added!r}, or amber.field(new=True) if it is not a rename"
    return SchemaProblem(version.name, problem, fix)


def reused_name(version: RecordType, name: str, dropped: int, where: str) -> SchemaProblem:
    problem = f"{where}: field {name!r} was removed in v{dropped} and comes back in v{version.version}"
    fix = (
        f"another name, or amber.field(new=True) on {name!r} (records written before v{dropped} then read its default)"
    )
    return SchemaProblem(version.name, problem, fix)


def new_across_gap(version: RecordType, name: str, since: int, where: str) -> SchemaProblem:
    problem = (
        f"{where}: field {name!r} is marked new in v{version.version}, and v{since} data holds an {name!r}: "
        f"whether it is the same field depends on the versions between, which the code does not declare"
    )
    fix = f"keep declaring the versions between v{since} and v{version.version} (their classes), or another name"
    return SchemaProblem(version.name, problem, fix)


def step_fix(reader: RecordType) -> str:
    """The step that fixes a change for every older version: the one into the reader's."""
    return f"add @amber.upgrade({reader.name!r}, {reader.version - 1})"


def older_code_fix(w: RecordSchema, reader: RecordType) -> str:
    return (
        f"this code (v{reader.version}) is older than the checkpoint (v{w.version}): read it with a release "
        f"that declares v{w.version}, or have that release write v{reader.version} (write_versions)"
    )


def unreached_step(step: CheckpointStep) -> SchemaProblem:
    needs = ", ".join(f"{n} v{v}" for n, v in step.requires.items())
    return SchemaProblem(
        "*",
        f"checkpoint step {step.name} needs {needs}, which this checkpoint never reaches",
        "add the per-type steps that lead there",
    )


def undeclared_after_steps(registry: Registry, versions: Mapping[str, int]) -> list[SchemaProblem]:
    fix = "declare it, or have a checkpoint step remove it (produces={name: None})"
    return [
        SchemaProblem(n, f"v{v} is left after the checkpoint steps but not declared", fix, kind="unknown")
        for n, v in versions.items()
        if registry.current(n) is None
    ]
