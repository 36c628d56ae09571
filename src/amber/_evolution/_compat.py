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

from .._format._codec import BadValue
from .._schema._enums import fallback, known_names
from .._schema._types import SCALAR_TYPES, FieldType

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
    notes: list[str] = field(default_factory=list)  # conversions that fail for some values

    def same(self, a: FieldType, b: FieldType) -> bool:
        """Stored alike and decoded alike: equal types once record renames are applied."""
        if a.kind != b.kind or len(a.items) != len(b.items) or a.variadic != b.variadic:
            return False
        if a.kind == "enum":
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
        if b.kind == "any" or (b.is_tagged() and self._member_for(a, b) is not None):
            return self._into_any(a, b)
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
        theirs = _names(b, cls)
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
            self.notes.append(_LEAF_NOTES[a.kind, b.kind])
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
        kept = set(a.members) & set(_names(b, cls))
        removed = {v: n for n, v in zip(a.members, a.values, strict=True) if n not in kept}
        if not removed:
            return None
        resolve = fallback(cls)
        if resolve is not None:
            self.notes.append(f"{a.enum} members {', '.join(removed.values())} read as {b.enum}'s default")

        def convert(value: Any) -> Any:
            if isinstance(value, enum.Enum) or value not in removed:
                return value
            member = resolve(value) if resolve is not None else None
            if member is None:
                raise BadValue(
                    f"member {removed[value]} ({value!r}) of enum {a.enum}, which {b.enum} here does not have "
                    f"(fix: @amber.enum({b.enum!r}, default=...), or an upgrade step)"
                )
            return member.value

        return convert


def guard(judge: TypeJudge, a: FieldType, b: FieldType) -> Convert | None:
    """For an upgrade step from a version where a field has type ``a`` to one where it has
    ``b``: what to do with a value the step handed back exactly as it received it. Its enum
    values were ``a``'s; read by value as ``b``'s, a member whose name differs would change
    silently, so that raises ``BadValue``; a member ``b`` removed reads as its default (or
    raises), as the rules do. None when no value can change meaning."""
    moved = _moved(a, b, judge)
    trial = TypeJudge(judge.rename, judge.enum_class)  # the step may map what the rules would refuse: no findings
    convert = trial.converter(a, b) if trial.problem(a, b) is None else None
    if moved is None and convert is None:
        return None

    def check(value: Any) -> Any:
        if moved is not None:
            moved(value)
        return convert(value) if convert is not None else value

    return check


def _moved(a: FieldType, b: FieldType, judge: TypeJudge) -> Callable[[Any], None] | None:
    """A check raising ``BadValue`` for a raw enum value of ``a`` that names another member
    (or another enum) in ``b``; None when none can."""
    if a.kind == b.kind == "enum":
        return _moved_enum(a, b, judge)
    if a.kind == b.kind and a.kind in _CONTAINERS and len(a.items) == len(b.items):
        return _moved_inside(a, [_moved(x, y, judge) for x, y in zip(a.items, b.items, strict=True)])
    if "union" in (a.kind, b.kind):
        pairs = [(m, n) for m in _members(a) for n in _members(b) if m.kind == n.kind]
        checks = [c for m, n in pairs if (c := _moved(m, n, judge)) is not None]
        return _all_of(checks) if checks else None
    return None


def _names(t: FieldType, cls: type | None) -> dict[str, Any]:
    """A reader enum's member names with their values, its class's aliases included."""
    if cls is not None and issubclass(cls, enum.Enum):
        return {name: member.value for name, member in cls.__members__.items()}
    return dict(zip(t.members, t.values, strict=True))


def _members(t: FieldType) -> tuple[FieldType, ...]:
    return t.items if t.kind == "union" else (t,)


def _moved_enum(a: FieldType, b: FieldType, judge: TypeJudge) -> Callable[[Any], None] | None:
    if not a.members or not b.members:
        return None  # written by value (before format 4): nothing to compare
    cls = judge.enum_class(b)
    same_enum = a.enum in (known_names(cls) if cls is not None else (b.enum,))
    theirs = dict(zip(b.values, b.members, strict=True))
    named = _names(b, cls)  # aliases too: a member still known by its old name has not moved
    mine = dict(zip(a.values, a.members, strict=True))
    differ = {v: n for v, n in mine.items() if v in theirs and (named.get(n) != v or not same_enum)}
    if not differ:
        return None

    def check(value: Any) -> None:
        if not isinstance(value, enum.Enum) and value in differ:
            raise BadValue(
                f"the step left {value!r} (member {differ[value]} of {a.enum}) as it was, which is member "
                f"{theirs[value]} of {b.enum} in the next version: map it in the step, or return the member"
            )

    return check


def _moved_inside(a: FieldType, inner: list[Callable[[Any], None] | None]) -> Callable[[Any], None] | None:
    if not any(inner):
        return None
    keep: Callable[[Any], None] = lambda value: None  # noqa: E731 - a check that passes

    checks = [c or keep for c in inner]

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                checks[0](key)
                checks[1](item)
        elif isinstance(value, list | tuple | set | frozenset):
            each = checks * len(value) if a.kind != "tuple" or a.variadic else checks
            for check, item in zip(each, value, strict=False):
                check(item)

    return walk


def _all_of(checks: list[Callable[[Any], None]]) -> Callable[[Any], None]:
    def each(value: Any) -> None:
        for check in checks:
            check(value)

    return each


def check_exact(t: FieldType, values: list[Any]) -> None:
    """Refuse values a step handed back that ``msgspec.convert`` would change rather than
    refuse: an int without an exact float value in a float place (it rounds), a str in a
    bytes place (it decodes it as base64), text in a Decimal, UUID or time place (it parses
    it), a list with duplicates in a set place (it merges them), an int beyond 64 bits (the
    next save refuses it). Raises ``BadValue`` naming the row."""
    if not any(n.kind in _STRICT for n in t.walk()) or (t.kind in SCALAR_TYPES and plain(t.kind, values)):
        return
    for row, value in enumerate(values):
        try:
            _exact(t, value)
        except BadValue as e:
            raise BadValue(f"row {row}: {e}") from None


_STRICT = {"float", "bytes", "int", "set", "frozenset", "decimal", "uuid", "datetime", "date", "time", "timedelta"}
_STRICT |= {"any"}  # self-described values: ints beyond 64 bits
_PARSED = {"bytes", "decimal", "uuid", "datetime", "date", "time", "timedelta"}  # what msgspec parses from text
INT64 = (-(2**63), 2**64 - 1)  # what the writer stores: signed 64-bit, or unsigned above it


def plain(kind: str, values: list[Any]) -> bool:
    """Whether a column of one scalar kind holds only that kind's exact values (in bulk, in C:
    the usual case, which needs no value-by-value look)."""
    expected = SCALAR_TYPES[kind]
    present = set(map(type, values))
    if not present <= {expected, type(None)} | ({int} if kind == "float" else set()):
        return False
    if kind not in ("int", "float") or int not in present:
        return True
    ints = values if present == {int} else [v for v in values if type(v) is int]
    low, high = (-EXACT_FLOAT_LIMIT, EXACT_FLOAT_LIMIT) if kind == "float" else INT64
    return low <= min(ints) and max(ints) <= high


def _exact(t: FieldType, value: Any) -> None:
    kind = t.kind
    if kind == "union":
        _exact_member(t, value)
    elif kind == "float" and type(value) is int:
        exact_float(value)
    elif kind == "int" and type(value) is int and not INT64[0] <= value <= INT64[1]:
        raise BadValue(f"the int {value} is beyond 64 bits")
    elif kind in _PARSED and type(value) is not SCALAR_TYPES[kind] and isinstance(value, str | bytes | int | float):
        raise BadValue(f"a {type(value).__name__} where {kind} is expected (convert it in the step)")
    elif kind in ("set", "frozenset") and isinstance(value, list | tuple):
        _no_duplicates(value)
    elif kind == "any":
        _no_big_ints(value, 0)
    if kind == "dict" and isinstance(value, dict):
        for k, v in value.items():
            _exact(t.items[0], k)
            _exact(t.items[1], v)
    elif kind in _CONTAINERS and isinstance(value, list | tuple | set | frozenset):
        items = t.items * len(value) if kind != "tuple" or t.variadic else t.items
        for item, v in zip(items, value, strict=False):
            _exact(item, v)


def _exact_member(t: FieldType, value: Any) -> None:
    kinds = {m.kind: m for m in t.items}
    own = next((m for m in t.items if m.kind in SCALAR_TYPES and type(value) is SCALAR_TYPES[m.kind]), None)
    if own is not None:
        _exact(own, value)
    elif type(value) is int and "float" in kinds:
        exact_float(value)
    elif type(value) is str and kinds.keys() & _PARSED:
        raise BadValue(f"a str where {t.render()} is expected (convert it in the step)")
    else:
        member = next((m for m in t.items if m.kind in _CONTAINERS and _value_family(value) == _family(m)), None)
        if member is not None:
            _exact(member, value)


def _no_big_ints(value: Any, depth: int) -> None:
    """Self-described values hold 64-bit ints at most (the next save would refuse more)."""
    if type(value) is int and not INT64[0] <= value <= INT64[1]:
        raise BadValue(f"the int {value} is beyond 64 bits")
    if depth < 32 and isinstance(value, list | tuple | set | frozenset | dict):
        for item in (*value, *value.values()) if isinstance(value, dict) else value:
            _no_big_ints(item, depth + 1)


def _no_duplicates(value: list[Any] | tuple[Any, ...]) -> None:
    try:
        distinct = len(set(value))
    except TypeError:
        return  # unhashable members: msgspec refuses them
    if distinct != len(value):
        raise BadValue(f"{len(value) - distinct} member(s) equal to others: a set would merge them")


def exact_float(value: Any) -> Any:
    """An int read into a float field: only when float64 holds it exactly."""
    if type(value) is not int or -EXACT_FLOAT_LIMIT <= value <= EXACT_FLOAT_LIMIT:
        return value
    try:
        converted = float(value)
    except OverflowError:
        converted = float("inf")
    if converted != value:
        raise BadValue(f"the int {value} has no exact float value (fix: keep the field an int, or an upgrade step)")
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


_LEAF_NOTES = {
    ("int", "float"): "ints without an exact float value (beyond 2**53) fail to load",
    ("str", "bytes"): "str read as its UTF-8 bytes",
    ("bytes", "str"): "bytes that are not UTF-8 fail to load",
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
