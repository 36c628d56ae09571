"""Whether one field type reads as another: the compatibility judgement (pure).

The judgement is shared by the load, ``amber migrate`` and ``amber schema check``, so that
they cannot disagree. A change is one of:

- *the same* type (records renamed with an alias count as the same): the stored values;
- *resolved* without code: ``int`` to ``float`` (exact values only), ``str`` to ``bytes``
  (UTF-8) and back (valid UTF-8 only), a type to a union holding it or to ``Any``, an enum
  to the same enum (by stable name or alias) with members added, reordered or removed, a
  ``Literal`` to one with more values or to its plain ``str`` or ``int``, containers of the
  above (a deque, Counter, OrderedDict or defaultdict only as the same kind of container).
  Values that cannot be kept exactly (an int beyond 2**53, invalid UTF-8, a removed enum
  member with no default) fail the load naming the row;
- *refused*: anything else, with the reason; it needs an upgrade step.

Enum members are matched by name (Avro's rule). A member whose value changed is refused:
its meaning may have changed with it. Checkpoints written before format 4 hold enum values
only and are matched by value, as they always were.

How a resolved value is converted lives in ``_convert``; this module only judges.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._format._arrays import widens
from .._schema._enums import fallback, known_names
from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._registry import Registry
from .._schema._types import TYPED_ONLY, FieldType, family
from .._schema._wrapped import WRAPPED

Rename = Callable[[str], "str | None"]
EnumClassOf = Callable[[FieldType], "type | None"]

CONTAINERS = ("list", "set", "frozenset", "tuple", "dict")


@dataclass
class TypeJudge:
    """Judges a writer's field type against a reader's. ``rename`` maps a writer's record
    name to the reader's; ``enum_class`` gives the reader's class of a reader enum type.
    ``conditional`` collects what fails only for some values (removed enum members that
    have no default), for ``schema check`` to report."""

    rename: Rename
    enum_class: EnumClassOf
    conditional: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # conversions that fail for some values

    def same(self, a: FieldType, b: FieldType) -> bool:
        """Stored alike and decoded alike: equal types once record renames are applied."""
        if a.kind != b.kind or len(a.items) != len(b.items) or a.variadic != b.variadic:
            return False
        if a.kind in ("enum", "literal", "ndarray"):
            return a == b
        if a.kind == "record" and (self.rename(a.record) or a.record) != b.record:
            return False
        return all(self.same(x, y) for x, y in zip(a.items, b.items, strict=True))

    def equivalent(self, a: FieldType, b: FieldType) -> bool:
        """The same data under other names: records renamed, enums renamed (their new
        declaration lists the old name) with the same members, enums the writer described by
        value only (before format 4) with the same values."""
        if a.kind != b.kind or len(a.items) != len(b.items) or a.variadic != b.variadic:
            return False
        if a.kind == "enum":
            if not a.members:
                return a.values == b.values
            cls = self.enum_class(b)
            names = known_names(cls) if cls is not None else (b.enum,)
            return (a.members, a.values) == (b.members, b.values) and a.enum in names
        if a.kind == "record":
            return (self.rename(a.record) or a.record) == b.record
        return all(self.equivalent(x, y) for x, y in zip(a.items, b.items, strict=True))

    def problem(self, a: FieldType, b: FieldType) -> str | None:
        """Why values of ``a`` cannot be read as ``b`` by the rules, or None when they can."""
        if self.same(a, b):
            return None
        changed = f"changed from {a.render()} to {b.render()}"
        if a.is_tagged():  # stored self-described: passed on unchanged, or not at all
            return None if b.is_tagged() and self._superset(a, b) else changed
        if b.kind == "any" or (b.is_tagged() and self.member_for(a, b) is not None):
            return self._into_any(a, b)
        if a.kind == b.kind == "enum":
            return self._enum(a, b)
        return changed if self._typed(a, b) else None

    def _typed(self, a: FieldType, b: FieldType) -> bool:  # noqa: PLR0911 - one return per rule
        """Whether a typed ``a`` cannot become ``b`` (True: refused)."""
        if a.kind == "union":
            return any(self.problem(m, b) is not None for m in a.items)
        if b.kind == "union":
            return self.member_for(a, b) is None
        if (a.kind, b.kind) in (("int", "float"), ("str", "bytes"), ("bytes", "str")):
            return False
        if a.kind == b.kind == "enum":
            return self._enum(a, b) is not None
        if a.kind == "literal":  # to a Literal holding all its values, or to their plain kind
            return not (set(a.values) <= set(b.values) if b.kind == "literal" else b.kind == family(a))
        if a.kind == b.kind == "ndarray":  # to any dtype, or to one holding every value exactly
            return not (not b.dtype or (a.dtype and widens(a.dtype, b.dtype)))
        if a.kind == b.kind and a.kind in WRAPPED:  # judged through what both are stored as
            return self.problem(WRAPPED[a.kind].stored(a), WRAPPED[b.kind].stored(b)) is not None
        if a.kind != b.kind or a.kind not in CONTAINERS or len(a.items) != len(b.items) or a.variadic != b.variadic:
            return True
        return any(self.problem(x, y) is not None for x, y in zip(a.items, b.items, strict=True))

    def member_for(self, a: FieldType, union: FieldType) -> FieldType | None:
        """The member of a reader's union that values of ``a`` go to: the same type if
        present, else the first member the rules reach (conditional notes of the trials
        that fail are dropped)."""
        exact = next((m for m in union.items if self.same(a, m)), None)
        if exact is not None:
            return exact
        for member in union.items:
            if member.kind == "any":
                continue
            kept = len(self.conditional)
            if self.problem(a, member) is None:
                return member
            del self.conditional[kept:]
        return None

    def _into_any(self, a: FieldType, b: FieldType) -> str | None:
        inside = {t.kind for t in a.walk()}
        if "enum" in inside:
            return f"changed from {a.render()} to {b.render()}: Any cannot hold enum members (step: store .value)"
        if "record" in inside:
            return f"changed from {a.render()} to {b.render()}: records cannot move into Any or a mixed union"
        typed_only = inside & TYPED_ONLY
        if typed_only:
            return (
                f"changed from {a.render()} to {b.render()}: Any cannot hold {', '.join(sorted(typed_only))} values "
                "(they would load as what they are stored as)"
            )
        return None

    def _superset(self, a: FieldType, b: FieldType) -> bool:
        """Whether every self-described value of ``a`` is, unchanged, a value of ``b``."""
        if b.kind == "any" or self.same(a, b):
            return True
        members = a.items if a.kind == "union" else (a,)
        targets = b.items if b.kind == "union" else (b,)
        return all(any(t.kind == "any" or self.same(m, t) for t in targets) for m in members)

    def _enum(self, a: FieldType, b: FieldType) -> str | None:
        cls = self.enum_class(b)
        if not a.members:  # written before format 4: by value, as then
            lost = [v for v in a.values if v not in b.values]
            return f"enum values {lost!r:.60} are not members of {b.render()}" if lost else None
        names = known_names(cls) if cls is not None else (b.enum,)
        if a.enum not in names:
            renamed = f"@amber.enum({b.enum!r}, aliases=[{a.enum!r}])"
            return f"enum {a.enum} became {b.enum}, another enum (if it was renamed: {renamed})"
        theirs = member_names(b, cls)
        changed = [
            f"{n} {v!r}->{theirs[n]!r}" for n, v in zip(a.members, a.values, strict=True) if theirs.get(n, v) != v
        ]
        if changed:
            return f"enum {b.enum} members changed value: {', '.join(changed)} (keep the values, or write a step)"
        gone = [n for n in a.members if n not in theirs]
        if gone and (cls is None or fallback(cls) is None):
            self.conditional.append(
                f"enum {b.enum} lost member(s) {', '.join(gone)}: records holding them fail to load"
                f" (fix: @amber.enum({b.enum!r}, default=...), or an upgrade step)"
            )
        return None


def member_names(t: FieldType, cls: type | None) -> dict[str, Any]:
    """A reader enum's member names with their values, its class's aliases included."""
    if cls is not None and issubclass(cls, enum.Enum):
        return {name: member.value for name, member in cls.__members__.items()}
    return dict(zip(t.members, t.values, strict=True))


def enum_classes(registry: Registry) -> EnumClassOf:
    """The enum class of any enum type the registry's record types use (steps cross types)."""
    classes = {t: c for rt in registry for t, c in rt.classes.items()}
    return classes.get


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
