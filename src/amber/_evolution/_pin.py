"""Write pins: code at version N writing a type at an older version, through downgrade twins.

During a rolling upgrade, new code keeps writing the version old readers know. Records of
the running class are turned into dicts, run through the ``@amber.downgrade`` steps from the
current version down to the pinned one, and resolved against the pinned version's declared
schema (a field renamed since then is found under its new name; a field that did not exist
then is dropped; a field that exists only then takes its default).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .._schema._enums import known_names
from .._schema._fields import FieldSchema
from .._schema._record_type import MissingField, RecordType, field_values
from .._schema._registry import Registry, UpgradeStep
from .._schema._types import FieldType
from ..errors import SerializationError


@dataclass(frozen=True)
class WritePin:
    """How to write records of ``current`` as version ``written.version``."""

    current: RecordType
    written: RecordType
    steps: tuple[tuple[int, UpgradeStep | None], ...]  # (from version, step or None), newest first
    classes: dict[FieldType, type]  # checks: enums of the written version, records as they live now
    # per written field: the names it went by in each later version (renames with aliases)
    later_names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def columns(self, objs: Sequence[Any]) -> list[tuple[FieldSchema, list[Any]]]:
        """The written version's fields, each with its values for ``objs``."""
        names = self.current.field_names
        columns = [list(map(getter, objs)) for getter in self.current.getters]
        records = (
            [dict(zip(names, row, strict=True)) for row in zip(*columns, strict=True)] if names else [{}] * len(objs)
        )
        for version, step in self.steps:
            if step is not None:
                records = [self._run(step, version, row, fields) for row, fields in enumerate(records)]
        return [(fs, self._values(i, records)) for i, fs in enumerate(self.written.schema.fields)]

    def _run(self, step: UpgradeStep, version: int, row: int, fields: dict[str, Any]) -> dict[str, Any]:
        where = f"{self.current.name} downgrade {version}->{version - 1}, row {row}"
        try:
            result = step(fields)
        except Exception as e:
            raise SerializationError(f"cannot save {where}: the step raised {type(e).__name__}: {e}") from e
        if not isinstance(result, dict):
            raise SerializationError(f"cannot save {where}: the step returned {type(result).__name__}, not a dict")
        return result

    def _values(self, index: int, records: list[dict[str, Any]]) -> list[Any]:
        fs = self.written.schema.fields[index]
        names = [fs.name, *self.written.field_aliases.get(fs.name, ()), *self.later_names.get(fs.name, ())]
        try:
            values = field_values(records, names, self.written.defaults[index])
        except MissingField:
            raise SerializationError(
                f"cannot save {self.current.name} as v{self.written.version}: field {fs.name!r} has no value; "
                f"add @amber.downgrade({self.current.name!r}, {self.written.version + 1}) or give it a default"
            ) from None
        if any(t.kind == "enum" for t in fs.type.walk()):
            values = [as_written(fs.type, v, self.classes) for v in values]
        return values


def as_written(t: FieldType, value: Any, classes: dict[FieldType, type]) -> Any:
    """A live enum member as the written version's enum has it: the member of the same name
    (and value) of its class, when both classes are one enum (a stable name or an alias);
    anything else stays, and is refused with the value it is."""
    if t.kind == "enum" and isinstance(value, enum.Enum):
        cls = classes.get(t)
        if cls is None or type(value) is cls or t.enum not in known_names(type(value)):
            return value
        member = getattr(cls, "__members__", {}).get(value.name)
        return member if member is not None and member.value == value.value else value
    if t.kind == "union":
        member_type = next((m for m in t.items if m.kind == "enum" and isinstance(value, enum.Enum)), None)
        return as_written(member_type, value, classes) if member_type is not None else value
    if t.kind == "dict" and isinstance(value, dict):
        k, v = t.items
        return {as_written(k, x, classes): as_written(v, y, classes) for x, y in value.items()}
    if t.kind in ("list", "set", "frozenset", "tuple") and isinstance(value, list | tuple | set | frozenset):
        items = t.items * len(value) if t.kind != "tuple" or t.variadic else t.items
        return type(value)(as_written(i, x, classes) for i, x in zip(items, value, strict=False))
    return value


def write_pin(current: RecordType, version: int, registry: Registry) -> WritePin:
    """Prepare writing ``current``'s records as ``version``, or say what is missing."""
    name = current.name
    if version > current.version:
        raise SerializationError(f"{name}: cannot write v{version}, newer than the running v{current.version}")
    written = registry.lookup(name, version)
    if written is None:
        raise SerializationError(
            f"{name}: writing v{version} needs its declaration: keep @amber.record({name!r}, version={version}) "
            "on a class of that version"
        )
    steps = tuple((v, registry.downgrade_step(name, v)) for v in range(current.version, version, -1))
    classes = dict(written.classes)
    for t in list(classes):
        if t.kind == "record" and (live := registry.current(t.record)) is not None:
            classes[t] = live.cls  # records are written from the live objects, whatever their version
    return WritePin(current, written, steps, classes, _later_names(registry, written, current))


def _later_names(registry: Registry, written: RecordType, current: RecordType) -> dict[str, tuple[str, ...]]:
    """For each field of the written version, the names it went by in the later versions the
    code declares: a field renamed twice (a, then b, then c) is found under c."""
    found: dict[str, tuple[str, ...]] = {}
    for f in written.schema.fields:
        names = [f.name]
        for version in range(written.version + 1, current.version + 1):
            declared = registry.lookup(current.name, version)
            for g in declared.schema.fields if declared else ():
                if g.name not in names and set(declared.names_for(g.name)) & set(names):  # type: ignore[union-attr]
                    names.append(g.name)
        found[f.name] = tuple(names[1:])
    return found
