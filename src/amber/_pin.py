"""Write pins: code at version N writing a type at an older version, through downgrade twins.

During a rolling upgrade, new code keeps writing the version old readers know. Records of
the running class are turned into dicts, run through the ``@amber.downgrade`` steps from the
current version down to the pinned one, and resolved against the pinned version's declared
schema (a field renamed since then is found under its new name; a field that did not exist
then is dropped; a field that exists only then takes its default).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ._fields import FieldSchema
from ._schema import MissingField, RecordType, Registry, UpgradeStep, field_values
from ._types import FieldType
from .errors import SerializationError


@dataclass(frozen=True)
class WritePin:
    """How to write records of ``current`` as version ``written.version``."""

    current: RecordType
    written: RecordType
    steps: tuple[tuple[int, UpgradeStep | None], ...]  # (from version, step or None), newest first
    classes: dict[FieldType, type]  # checks: enums of the written version, records as they live now

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
        names = [fs.name, *self.written.field_aliases.get(fs.name, ())]
        names += [n for n in self.current.field_names if fs.name in self.current.field_aliases.get(n, ())]
        try:
            return field_values(records, names, self.written.defaults[index])
        except MissingField:
            raise SerializationError(
                f"cannot save {self.current.name} as v{self.written.version}: field {fs.name!r} has no value; "
                f"add @amber.downgrade({self.current.name!r}, {self.written.version + 1}) or give it a default"
            ) from None


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
    return WritePin(current, written, steps, classes)
