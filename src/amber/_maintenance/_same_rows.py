"""Which records two full checkpoints hold alike, row by row, found column by column.

Two full checkpoints of one service are mostly the same records in the same rows: the writer
numbers records in the order it meets them, and a state changes little between two
checkpoints. Where a row of a type holds, in both, equal plain values and references to
rows that are themselves alike (or to the same table entry), the two records have the same
content (``_contents``), and the diff need not fingerprint them. Equality is asked of whole
columns at once (``map(operator.eq, ...)``: C loops), so comparing a million accounts costs a
few passes over lists, not a fingerprint per record. Rows that differ, or types this cannot
judge (a set, a dict, ``Any``, a union of record types, datetimes inside containers: values
whose equality is not their content's), go to the fingerprints as before: this says "the
same" only where the fingerprints would.
"""

from __future__ import annotations

import itertools
import operator
from typing import Any

import msgspec

from .._schema._types import FieldType
from .._schema._values import Ref, to_json_value
from ._contents import Contents, is_reference

# Kinds whose Python equality is exactly msgpack's (no 1 == 1.0, -0.0 == 0.0 or Decimal("1.0")
# == Decimal("1.00") where the stored bytes differ): compared as values, else as their bytes.
_EQUAL_AS_VALUES = {"int", "str", "bool", "bytes", "none", "list", "tuple", "enum", "literal"}
_AS_BYTES = {"float", "date", "timedelta", "decimal", "uuid"} | _EQUAL_AS_VALUES
_DATED = {"datetime", "time"}  # compared as rendered: their offset and zone are part of the value


class SameRows:
    """Row by row, which records of two single full checkpoints have the same content."""

    def __init__(self, old: Contents, new: Contents) -> None:
        self._old, self._new = old, new
        self.usable = len(old.state.chain.manifests) == 1 and len(new.state.chain.manifests) == 1
        self._same: dict[str, list[bool] | None] = {}
        self._encode = msgspec.msgpack.Encoder().encode

    def alike(self, before: list[Any], after: list[Any]) -> list[bool] | None:
        """For two lists of values (the values at the same keys), which are records of one
        type in the same row with the same content; None when this cannot tell."""
        if not self.usable or set(map(type, before)) != {Ref} or set(map(type, after)) != {Ref}:
            return None
        names = {r.name for r in itertools.chain(before, after)}
        same = self.rows(names.pop()) if len(names) == 1 else None
        if same is None:
            return None
        count = len(same)
        return [a.row == b.row and a.row < count and same[a.row] for a, b in zip(before, after, strict=True)]

    def rows(self, name: str) -> list[bool] | None:
        """Per row of a type (those both checkpoints have), whether its record's content is
        the same in both; None when a field's values cannot be judged by equality."""
        if name in self._same:
            return self._same[name]
        self._same[name] = None  # a cycle between types: not judged
        a, b = self._old.state.chain.types[0].get(name), self._new.state.chain.types[0].get(name)
        if a is None or b is None or a.entry.fingerprint != b.entry.fingerprint:
            return None
        count = min(a.entry.count, b.entry.count)
        same: list[bool] = [True] * count
        for f, old, new in zip(a.entry.schema.fields, a.columns, b.columns, strict=True):
            equal = self._equal(f.type, old[:count], new[:count])
            if equal is None:
                return None
            same = list(map(operator.and_, same, equal))
        self._same[name] = same
        return same

    def _equal(self, t: FieldType, old: list[Any], new: list[Any]) -> list[bool] | None:  # noqa: PLR0911 - one return per kind
        kinds = {n.kind for n in t.walk()}
        if kinds <= _EQUAL_AS_VALUES or (kinds <= _EQUAL_AS_VALUES | {"float"} and not _zero(old) and not _zero(new)):
            return list(map(operator.eq, old, new))  # floats too, where no -0.0 can equal a 0.0
        if kinds <= _AS_BYTES:
            return list(map(operator.eq, map(self._encode, old), map(self._encode, new)))
        if kinds & _DATED and kinds <= _DATED | {"none", "union"}:
            return list(map(operator.eq, map(to_json_value, old), map(to_json_value, new)))
        targets = {n.record for n in t.walk() if n.kind == "record"}
        if is_reference(t) and len(targets) == 1:  # a union of record types: rows of which type?
            target = targets.pop()
            alike = self._pointed_at(target)
            if alike is None:
                return None
            count = len(alike)
            if count == len(self._columns_of(target)) and all(alike):  # every target alike: the rows decide
                return list(map(operator.eq, old, new))
            return [a == b and (a is None or (a.row < count and alike[a.row])) for a, b in zip(old, new, strict=True)]
        return None

    def _pointed_at(self, name: str) -> list[bool] | None:
        """Per row of a type, whether a reference to it counts the same in both: the same
        table entry (its table and key), else a record of the same content."""
        owned_old, owned_new = self._owned(self._old, name), self._owned(self._new, name)
        a, b = self._old.state.chain.types[0].get(name), self._new.state.chain.types[0].get(name)
        if a is None or b is None:
            return None
        count = min(a.entry.count, b.entry.count)
        if not owned_old and not owned_new:
            return self.rows(name)
        content = self.rows(name) if len(owned_old) < count or len(owned_new) < count else None
        found = []
        for row in range(count):
            if row in owned_old or row in owned_new:
                found.append(owned_old.get(row) == owned_new.get(row))
            else:
                found.append(content is not None and row < len(content) and content[row])
        return found

    def _columns_of(self, name: str) -> list[Any]:
        """A type's rows in the old checkpoint (its first column, or none)."""
        t = self._old.state.chain.types[0][name]
        return t.columns[0] if t.columns else [None] * t.entry.count

    @staticmethod
    def _owned(contents: Contents, name: str) -> dict[int, tuple[int, Any]]:
        """The rows of a type that are table entries, with their (token, key)."""
        return {p.value.row: owner for p, owner in contents.owners.items() if p.at == 0 and p.value.name == name}


def _zero(column: list[Any]) -> bool:
    """Whether a column of floats (or lists of them) may hold a zero, whose sign equality
    ignores (a list's ``in`` compares its items with ``==``, in C)."""
    return 0.0 in column or any(isinstance(v, list | tuple) for v in column[:1])
