"""One field type read as another: whether the rules can, and the conversion they apply (pure).

The judgement is shared by the load, ``amber migrate`` and ``amber schema check``, so that
they cannot disagree. A change is one of:

- *the same* type (records renamed with an alias count as the same): the stored values;
- *resolved* without code: ``int`` to ``float`` (exact values only), ``str`` to ``bytes``
  (UTF-8) and back (valid UTF-8 only), a type to a union holding it or to ``Any``, an enum
  to the same enum (by stable name or alias) with members added, reordered or removed,
  containers of the above. Values that cannot be kept exactly (an int beyond 2**53, invalid
  UTF-8, a removed enum member with no default) fail the load naming the row;
- *refused*: anything else, with the reason; it needs an upgrade step.

Enum members are matched by name (Avro's rule). A member whose value changed is refused:
its meaning may have changed with it. Checkpoints written before format 4 hold enum values
only and are matched by value, as they always were.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._codec import BadValue
from ._enums import fallback, known_names
from ._types import FieldType

Rename = Callable[[str], "str | None"]
EnumClassOf = Callable[[FieldType], "type | None"]
Convert = Callable[[Any], Any]

EXACT_FLOAT_LIMIT = 2**53  # every int of at most this magnitude has an exact float64 value
_FAMILIES = {
    "none": "nil", "bool": "bool", "int": "int", "record": "int", "float": "float", "str": "str",
    "bytes": "str", "datetime": "str", "date": "str", "time": "str", "timedelta": "str",
    "decimal": "str", "uuid": "str", "list": "array", "tuple": "array", "set": "array",
    "frozenset": "array", "dict": "map",
}  # fmt: skip
_CONTAINERS = ("list", "set", "frozenset", "tuple", "dict")


@dataclass
class TypeJudge:
    """Judges a writer's field type against a reader's. ``rename`` maps a writer's record
    name to the reader's; ``enum_class`` gives the reader's class of a reader enum type.
    ``conditional`` collects what fails only for some values (removed enum members that
    have no default), for ``schema check`` to report."""

    rename: Rename
    enum_class: EnumClassOf
    conditional: list[str] = field(default_factory=list)

    def same(self, a: FieldType, b: FieldType) -> bool:
        """Stored alike and decoded alike: equal types once record renames are applied."""
        if a.kind != b.kind or len(a.items) != len(b.items) or a.variadic != b.variadic:
            return False
        if a.kind == "enum":
            return a == b
        if a.kind == "record" and (self.rename(a.record) or a.record) != b.record:
            return False
        return all(self.same(x, y) for x, y in zip(a.items, b.items, strict=True))

    def problem(self, a: FieldType, b: FieldType) -> str | None:
        """Why values of ``a`` cannot be read as ``b`` by the rules, or None when they can."""
        if self.same(a, b):
            return None
        changed = f"changed from {a.render()} to {b.render()}"
        if a.is_tagged():  # stored self-described: passed on unchanged, or not at all
            return None if b.is_tagged() and self._superset(a, b) else changed
        if b.kind == "any" or (b.is_tagged() and self._member_for(a, b) is not None):
            return self._into_any(a, b) or self._tagged_inside(a, b)
        if a.kind == b.kind == "enum":
            return self._enum(a, b)
        return changed if self._typed(a, b) else None

    def _typed(self, a: FieldType, b: FieldType) -> bool:
        """Whether a typed ``a`` cannot become ``b`` (True: refused)."""
        if a.kind == "union":
            return any(self.problem(m, b) is not None for m in a.items)
        if b.kind == "union":
            return self._member_for(a, b) is None
        if (a.kind, b.kind) in (("int", "float"), ("str", "bytes"), ("bytes", "str")):
            return False
        if a.kind == b.kind == "enum":
            return self._enum(a, b) is not None
        if a.kind != b.kind or a.kind not in _CONTAINERS or len(a.items) != len(b.items) or a.variadic != b.variadic:
            return True
        return any(self.problem(x, y) is not None for x, y in zip(a.items, b.items, strict=True))

    def _member_for(self, a: FieldType, union: FieldType) -> FieldType | None:
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
        return None

    def _tagged_inside(self, a: FieldType, b: FieldType) -> str | None:
        if b.kind == "any":
            return None
        member = self._member_for(a, b)
        return None if member is not None else f"changed from {a.render()} to {b.render()}"

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
        theirs = dict(zip(b.members, b.values, strict=True))
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

    # --- conversions ------------------------------------------------------------------------

    def converter(self, a: FieldType, b: FieldType) -> Convert | None:
        """A function turning one decoded value of ``a`` into what decoding ``b`` expects
        (then ``msgspec.convert`` finishes it), raising ``BadValue`` for a value that cannot
        be kept exactly; None when no value needs more than ``msgspec.convert``."""
        if self.same(a, b) or a.is_tagged() or b.kind == "any":
            return None
        if a.kind == "union":
            return self._union_converter(a, b)
        if b.kind == "union":
            member = self._member_for(a, b)
            return None if member is None else self.converter(a, member)
        if (a.kind, b.kind) in _LEAVES:
            return _LEAVES[a.kind, b.kind]
        if a.kind == b.kind == "enum":
            return self._enum_converter(a, b)
        return self._container_converter(a, b) if a.kind in _CONTAINERS else None

    def _union_converter(self, a: FieldType, b: FieldType) -> Convert | None:
        by_family = {_family(m): self.converter(m, b) for m in a.items}
        if not any(by_family.values()):
            return None

        def convert(value: Any) -> Any:
            step = by_family.get(_value_family(value))
            return value if step is None else step(value)

        return convert

    def _container_converter(self, a: FieldType, b: FieldType) -> Convert | None:
        steps = [self.converter(x, y) for x, y in zip(a.items, b.items, strict=True)]
        if not any(steps):
            return None
        keep: Convert = _same
        if a.kind == "dict":
            k, v = (s or keep for s in steps)
            return lambda value: _no_merged({k(x): v(y) for x, y in value.items()}, value)
        if a.kind == "tuple" and not a.variadic:
            each = [s or keep for s in steps]
            return lambda value: tuple(s(x) for s, x in zip(each, value, strict=True))
        one = steps[0] or keep
        if a.kind in ("set", "frozenset"):
            return lambda value: _no_merged({one(x) for x in value}, value)
        return lambda value: [one(x) for x in value]

    def _enum_converter(self, a: FieldType, b: FieldType) -> Convert | None:
        cls = self.enum_class(b)
        if not a.members or a == b or cls is None:
            return None  # by value: msgspec.convert finds the member
        kept = set(a.members) & set(b.members)
        removed = {v: n for n, v in zip(a.members, a.values, strict=True) if n not in kept}
        if not removed:
            return None
        resolve = fallback(cls)

        def convert(value: Any) -> Any:
            if isinstance(value, enum.Enum) or value not in removed:
                return value
            member = resolve(value) if resolve is not None else None
            if member is None:
                raise BadValue(f"member {removed[value]} ({value!r}) of enum {a.enum}, which {b.enum} no longer has")
            return member.value

        return convert


def check_exact(t: FieldType, values: list[Any]) -> None:
    """Refuse values a step handed back that ``msgspec.convert`` would change rather than
    refuse: an int without an exact float value in a float place (it rounds), a str in a
    bytes place (it decodes it as base64). Raises ``BadValue`` naming the row."""
    if not any(n.kind in ("float", "bytes") for n in t.walk()):
        return
    if t.kind in ("float", "bytes"):  # the usual case, checked in bulk (C loops)
        present = set(map(type, values))
        ints = [v for v in values if type(v) is int] if t.kind == "float" and int in present else []
        if str not in present and (not ints or -EXACT_FLOAT_LIMIT <= min(ints) <= max(ints) <= EXACT_FLOAT_LIMIT):
            return
    for row, value in enumerate(values):
        try:
            _exact(t, value)
        except BadValue as e:
            raise BadValue(f"row {row}: {e}") from None


def _exact(t: FieldType, value: Any) -> None:
    kind = t.kind
    if kind == "union":
        kinds = {m.kind for m in t.items}
        if type(value) is int and "float" in kinds and "int" not in kinds:
            exact_float(value)
        elif type(value) is str and "bytes" in kinds and "str" not in kinds:
            raise BadValue("a str where bytes are expected (encode it)")
        member = next((m for m in t.items if m.kind in _CONTAINERS and _value_family(value) == _family(m)), None)
        if member is not None:
            _exact(member, value)
    elif kind == "float" and type(value) is int:
        exact_float(value)
    elif kind == "bytes" and type(value) is str:
        raise BadValue("a str where bytes are expected (encode it)")
    elif kind == "dict" and isinstance(value, dict):
        for k, v in value.items():
            _exact(t.items[0], k)
            _exact(t.items[1], v)
    elif kind in ("list", "set", "frozenset", "tuple") and isinstance(value, list | tuple | set | frozenset):
        items = t.items * len(value) if kind != "tuple" or t.variadic else t.items
        for item, v in zip(items, value, strict=False):
            _exact(item, v)


def exact_float(value: Any) -> Any:
    """An int read into a float field: only when float64 holds it exactly."""
    if type(value) is not int or -EXACT_FLOAT_LIMIT <= value <= EXACT_FLOAT_LIMIT:
        return value
    try:
        converted = float(value)
    except OverflowError:
        converted = float("inf")
    if converted != value:
        raise BadValue(f"the int {value} has no exact float value")
    return converted


def _utf8(value: Any) -> Any:
    return value.encode() if type(value) is str else value


def _from_utf8(value: Any) -> Any:
    if type(value) is not bytes:
        return value
    try:
        return value.decode()
    except UnicodeDecodeError as e:
        raise BadValue(f"bytes that are not UTF-8 ({e.reason} at byte {e.start}) for a str field") from None


_LEAVES: dict[tuple[str, str], Convert] = {
    ("int", "float"): exact_float,
    ("str", "bytes"): _utf8,
    ("bytes", "str"): _from_utf8,
}


def _same(value: Any) -> Any:
    return value


def _no_merged(converted: Any, original: Any) -> Any:
    if len(converted) != len(original):
        raise BadValue(f"{len(original) - len(converted)} member(s) that would merge with others once converted")
    return converted


def _family(t: FieldType) -> str:
    if t.kind == "enum":
        return "int" if all(isinstance(v, int) for v in t.values) else "str"
    return _FAMILIES.get(t.kind, "any")


def _value_family(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    kind = type(value)
    if value is None:
        return "nil"
    if kind is bool:
        return "bool"
    if kind is int:
        return "int"
    if kind is float:
        return "float"
    if kind in (list, tuple, set, frozenset):
        return "array"
    return "map" if kind is dict else "str"
