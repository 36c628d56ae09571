"""What an upgrade step hands back, checked before it is stored (pure).

A step is user code over records as dicts, so two things can go wrong silently:

- a value it hands back *as it received it* was the older version's: read as the newer
  version's, an enum value whose member was renamed would change meaning (``guard``,
  ``field_guards``);
- a value it produced is one ``msgspec.convert`` would change rather than refuse: an int
  rounded into a float, a str decoded as base64 bytes, a list merged into a set
  (``check_exact``).

Both raise ``BadValue`` naming what to do; the planner attaches the guards to each step, and
``_apply`` runs them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Any

from .._format._errors import BadValue
from .._schema._enums import known_names
from .._schema._fields import RecordSchema
from .._schema._record_type import RecordType
from .._schema._types import SCALAR_TYPES, FieldType
from ._convert import EXACT_FLOAT_LIMIT, Convert, converter, exact_float, family, value_family
from ._judge import CONTAINERS, TypeJudge, member_names


def field_guards(
    source: RecordSchema | None, reached: RecordType | None, judge: TypeJudge
) -> tuple[tuple[str, Convert], ...]:
    """What to do with each value an upgrade step hands back as it received it, by the dict
    key it is under: a field of ``reached`` fed (by its name or a former one) by a field of
    ``source`` whose enum values would change meaning."""
    if source is None or reached is None:
        return ()
    before = {f.name: f.type for f in source.fields}
    found = []
    for f in reached.schema.fields:
        for key in reached.names_for(f.name):
            if key in before and (check := guard(judge, before[key], f.type)) is not None:
                found.append((key, check))
                if key != f.name:
                    found.append((f.name, check))  # the step may have moved it under the new name
                break
    return tuple(found)


def guard(judge: TypeJudge, a: FieldType, b: FieldType) -> Convert | None:
    """For an upgrade step from a version where a field has type ``a`` to one where it has
    ``b``: what to do with a value the step handed back exactly as it received it. Its enum
    values were ``a``'s; read by value as ``b``'s, a member whose name differs would change
    silently, so that raises ``BadValue``; a member ``b`` removed reads as its default (or
    raises), as the rules do. None when no value can change meaning."""
    moved = _moved(a, b, judge)
    trial = TypeJudge(judge.rename, judge.enum_class)  # the step may map what the rules would refuse: no findings
    convert = converter(trial, a, b) if trial.problem(a, b) is None else None
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
    if a.kind == b.kind and a.kind in CONTAINERS and len(a.items) == len(b.items):
        return _moved_inside(a, [_moved(x, y, judge) for x, y in zip(a.items, b.items, strict=True)])
    if "union" in (a.kind, b.kind):
        pairs = [(m, n) for m in _members(a) for n in _members(b) if m.kind == n.kind]
        checks = [c for m, n in pairs if (c := _moved(m, n, judge)) is not None]
        return _all_of(checks) if checks else None
    return None


def _members(t: FieldType) -> tuple[FieldType, ...]:
    return t.items if t.kind == "union" else (t,)


def _moved_enum(a: FieldType, b: FieldType, judge: TypeJudge) -> Callable[[Any], None] | None:
    if not a.members or not b.members:
        return None  # written by value (before format 4): nothing to compare
    cls = judge.enum_class(b)
    same_enum = a.enum in (known_names(cls) if cls is not None else (b.enum,))
    theirs = dict(zip(b.values, b.members, strict=True))
    named = member_names(b, cls)  # aliases too: a member still known by its old name has not moved
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
    elif kind in CONTAINERS and isinstance(value, list | tuple | set | frozenset):
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
        member = next((m for m in t.items if m.kind in CONTAINERS and value_family(value) == family(m)), None)
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
