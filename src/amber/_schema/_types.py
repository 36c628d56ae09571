"""Field types: what a persisted field may hold, described as data.

A ``FieldType`` is the canonical, language-neutral description of a field's type as it
appears in every checkpoint's schema section. It is built from a Python annotation when a
type is declared, and read back from checkpoints without any application code.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import enum
import fractions
import pathlib
import sys
import types
import typing
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from ..errors import SchemaError
from ._enums import NAME_PATTERN, stable_enum_name

SCALAR_TYPES: dict[str, type] = {
    "none": type(None),
    "bool": bool,
    "int": int,
    "float": float,
    "str": str,
    "bytes": bytes,
    "bytearray": bytearray,
    "datetime": dt.datetime,
    "date": dt.date,
    "time": dt.time,
    "timedelta": dt.timedelta,
    "decimal": decimal.Decimal,
    "uuid": uuid.UUID,
}
SCALAR_KINDS: dict[type, str] = {t: k for k, t in SCALAR_TYPES.items()}
CONTAINER_KINDS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset, "dict": dict}
# Standard-library classes stored as another field type (``_wrapped``): kind, item count.
WRAPPED_KINDS = {"deque": 1, "ordereddict": 2, "counter": 1, "defaultdict": 2, "path": 0, "pureposixpath": 0}
WRAPPED_KINDS["fraction"] = 0
_WRAPPED_CLASSES: dict[Any, str] = {
    collections.deque: "deque",
    collections.OrderedDict: "ordereddict",
    collections.Counter: "counter",
    collections.defaultdict: "defaultdict",
    pathlib.Path: "path",
    pathlib.PurePosixPath: "pureposixpath",
    fractions.Fraction: "fraction",
}
# What a defaultdict's value type must be: a kind whose class makes its own empty value.
FACTORY_KINDS = frozenset(["bool", "int", "float", "str", "bytes", "bytearray", "list", "set", "frozenset", "dict"])
FACTORY_KINDS |= {"deque", "ordereddict", "counter"}
KINDS = frozenset([*SCALAR_TYPES, *CONTAINER_KINDS, *WRAPPED_KINDS, "enum", "literal", "union", "record", "any"])
KINDS |= {"ndarray"}
# Kinds stored only in typed columns: the self-described form (Any) has no tag for them.
TYPED_ONLY = frozenset(["bytearray", "ndarray", *WRAPPED_KINDS])
# numpy's little-endian type strings an ndarray field may declare (docs/format.md §14).
ARRAY_DTYPES = ("|b1", "|i1", "<i2", "<i4", "<i8", "|u1", "<u2", "<u4", "<u8", "<f2", "<f4", "<f8", "<c8", "<c16")

# The msgpack family each kind is stored as. A union is stored typed only when its members
# fall in distinct families, so a reader can tell them apart by the msgpack type alone.
_FAMILY = {
    "none": "nil",
    "bool": "bool",
    "int": "int",
    "record": "int",
    "float": "float",
    "str": "str",
    "datetime": "str",
    "date": "str",
    "time": "str",
    "timedelta": "str",
    "decimal": "str",
    "bytes": "str",
    "bytearray": "str",
    "uuid": "str",
    "list": "array",
    "tuple": "array",
    "set": "array",
    "frozenset": "array",
    "dict": "map",
    "deque": "array",
    "ordereddict": "map",
    "counter": "map",
    "defaultdict": "map",
    "path": "str",
    "pureposixpath": "str",
    "fraction": "str",
    "ndarray": "array",
}


class FieldType(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One field type, as stored in a checkpoint's schema section.

    ``items`` holds element types (list, set, frozenset, deque, counter: one; tuple: one per
    position, or one with ``variadic``; dict, ordereddict, defaultdict: key then value; union:
    the members). ``record`` names the referenced record type; ``values`` lists an enum's
    member values in declaration order (or a ``Literal``'s values), ``members`` their names
    and ``enum`` the enum's stable name (format 4: checkpoints written before it hold values
    only, and are read by value). Kinds added in format 6: bytearray, literal, and the
    standard-library classes stored as another type (``_wrapped``).
    """

    kind: str
    items: tuple[FieldType, ...] = ()
    variadic: bool = False
    record: str = ""
    values: tuple[int | str, ...] = ()
    enum: str = ""
    members: tuple[str, ...] = ()
    dtype: str = ""  # ndarray: the declared dtype (numpy's type string), or "" for any

    def render(self) -> str:  # noqa: PLR0911 - one return per kind
        """A short human-readable spelling, e.g. ``dict[str, list[@bank.Customer]]``."""
        if self.kind == "record":
            return f"@{self.record}"
        if self.kind == "enum" and self.members:
            return (
                f"{self.enum}(" + ", ".join(f"{n}={v!r}" for n, v in zip(self.members, self.values, strict=True)) + ")"
            )
        if self.kind == "enum":
            return "enum(" + ", ".join(repr(v) for v in self.values) + ")"
        if self.kind == "literal":
            return "Literal[" + ", ".join(repr(v) for v in self.values) + "]"
        if self.kind == "ndarray":
            return f"ndarray[{self.dtype}]" if self.dtype else "ndarray"
        if self.kind == "union":
            return " | ".join(t.render() for t in self.items)
        if not self.items:
            return self.kind
        inner = ", ".join(t.render() for t in self.items)
        return f"{self.kind}[{inner}{', ...' if self.variadic else ''}]"

    def walk(self) -> typing.Iterator[FieldType]:
        """This type and every type nested in it."""
        yield self
        for item in self.items:
            yield from item.walk()

    def is_tagged(self) -> bool:
        """Whether values of this type are stored in the self-describing tagged encoding.

        Typed storage needs every part of the type to be decidable from the schema alone:
        no ``any``, no union whose members share a msgpack family.
        """
        return any(t.kind == "any" or (t.kind == "union" and not _union_is_typed(t)) for t in self.walk())

    def references(self) -> set[str]:
        """Names of the record types this field can point at."""
        return {t.record for t in self.walk() if t.kind == "record"}

    def by_value(self) -> FieldType:
        """This type with its enums described by their values only, as before format 4."""
        if self.kind == "enum":
            return FieldType("enum", values=self.values)
        if not self.items:
            return self
        return msgspec.structs.replace(self, items=tuple(i.by_value() for i in self.items))

    def enums_by_value(self) -> bool:
        """Whether an enum in this type was written before format 4 (values, no names)."""
        return any(t.kind == "enum" and not t.members for t in self.walk())


def _union_is_typed(union: FieldType) -> bool:
    families = [family(member) for member in union.items]
    if any(m.kind == "record" for m in union.items) and not all(m.kind in ("record", "none") for m in union.items):
        return False  # stored rows would compare equal to False, 1.0 or Decimal(0) in sets and keys
    return None not in families and len(set(families)) == len(families)


def family(t: FieldType) -> str | None:
    """The msgpack family values of this kind are stored as (None: several)."""
    if t.kind in ("enum", "literal"):
        return "int" if all(isinstance(v, int) for v in t.values) else "str"
    return _FAMILY.get(t.kind)


MAX_TYPE_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)
_UNHASHABLE = {"list", "set", "dict", "bytearray", "deque", "ordereddict", "counter", "defaultdict", "ndarray"}
_ARITY = {"list": 1, "set": 1, "frozenset": 1, "dict": 2, **{k: n for k, n in WRAPPED_KINDS.items() if n}}


def validate_field_type(t: FieldType) -> str | None:
    """Return what is wrong with a field type (read from a checkpoint or declared), or None."""
    if _depth(t) > MAX_TYPE_DEPTH:
        return f"types nested at most {MAX_TYPE_DEPTH} deep"
    if t.is_tagged() and any(n.kind == "enum" for n in t.walk()):
        return "no enum inside Any or an ambiguous union (use a union of distinct kinds, e.g. Color | None)"
    if t.is_tagged() and any(n.kind in TYPED_ONLY for n in t.walk()):
        kinds = sorted({n.kind for n in t.walk()} & TYPED_ONLY)
        return f"no {', '.join(kinds)} inside Any or an ambiguous union (a union of distinct kinds, e.g. X | None)"
    for node in t.walk():
        problem = _node_problem(node) or _hashable_problem(node)
        if problem:
            return problem
    return None


def _depth(t: FieldType) -> int:
    deepest, stack = 0, [(t, 1)]
    while stack and deepest <= MAX_TYPE_DEPTH:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((item, depth + 1) for item in node.items)
    return deepest


def _node_problem(t: FieldType) -> str | None:  # noqa: PLR0911 - one return per rule, read top to bottom
    kind = t.kind
    if kind not in KINDS:
        return f"a known kind, not {kind!r}"
    if kind in _ARITY and len(t.items) != _ARITY[kind]:
        return f"{kind} with {_ARITY[kind]} item type(s)"
    if kind not in _ARITY and kind not in ("tuple", "union") and t.items:
        return f"no item types in a {kind}"
    if (t.variadic and (kind != "tuple" or len(t.items) != 1)) or (kind == "tuple" and not t.items):
        return "a tuple with item types (exactly one when variadic)"
    if (kind == "record") != bool(t.record):
        return "a record type name exactly on record types"
    if (kind in ("enum", "literal")) != bool(t.values) or (kind != "enum" and (t.enum or t.members)):
        return "enum values exactly on enum types"
    if kind == "literal":
        return _literal_problem(t)
    if (t.dtype and kind != "ndarray") or (kind == "ndarray" and t.dtype and t.dtype not in ARRAY_DTYPES):
        return f"an ndarray dtype among {', '.join(ARRAY_DTYPES)}, and a dtype on ndarray types only"
    if kind == "defaultdict" and t.items[1].kind not in FACTORY_KINDS:
        return (
            f"a defaultdict value type that makes its own empty value (list, set, dict, int, str, ...), not "
            f"{t.items[1].render()}: its default factory is not stored, so it must follow from the type"
        )
    if kind == "union" and (len(t.items) < 2 or any(m.kind == "union" for m in t.items)):
        return "a union of at least two non-union types"
    return _enum_problem(t) if kind == "enum" else None


def _enum_problem(t: FieldType) -> str | None:
    kinds = {type(v) for v in t.values}
    if kinds not in ({int}, {str}) or len(set(t.values)) != len(t.values):
        return "distinct enum values, all int or all str"
    if bool(t.members) != bool(t.enum) or (t.enum and not NAME_PATTERN.fullmatch(t.enum)):
        return "an enum's stable name (dotted identifiers) together with its member names"
    if t.members and (len(t.members) != len(t.values) or len(set(t.members)) != len(t.members)):
        return "one distinct member name per enum value"
    if not all(m.isidentifier() for m in t.members):
        return "enum member names that are identifiers"
    if kinds == {int} and not all(_INT64[0] <= v <= _INT64[1] for v in t.values):  # type: ignore[operator]
        return "integer enum values within the signed 64-bit range"
    return None


def _literal_problem(t: FieldType) -> str | None:
    kinds = {type(v) for v in t.values}
    if kinds not in ({int}, {str}) or len(set(t.values)) != len(t.values):
        return "distinct Literal values, all int or all str"
    if kinds == {int} and not all(_INT64[0] <= v <= _INT64[1] for v in t.values):  # type: ignore[operator]
        return "integer Literal values within the signed 64-bit range"
    return None


def _hashable_problem(t: FieldType) -> str | None:
    """Set members and dict keys must be of hashable kinds (item 0 of set, frozenset, dict)."""
    if t.kind not in ("set", "frozenset", "dict", "ordereddict", "counter", "defaultdict"):
        return None
    unhashable = next((n.kind for n in t.items[0].walk() if n.kind in _UNHASHABLE), None)
    return f"hashable {t.kind} keys or members, not {unhashable}" if unhashable else None


RecordLookup = Callable[[type], "str | None"]
ClassSink = dict[FieldType, type]


def from_annotation(annotation: Any, record_name_of: RecordLookup, classes: ClassSink) -> FieldType:  # noqa: PLR0911 - one return per kind
    """Describe a Python annotation as a FieldType, or raise SchemaError naming the problem.

    ``classes`` receives the Python class behind every record and enum type met, so the
    writer can check values and the reader can rebuild them as those classes.
    """
    if annotation is Any:
        return FieldType("any")
    if annotation is None or annotation is type(None):
        return FieldType("none")
    origin = typing.get_origin(annotation)
    if origin is None:
        return _from_class(annotation, record_name_of, classes)
    if origin is typing.Union or origin is types.UnionType:
        return _union([from_annotation(a, record_name_of, classes) for a in typing.get_args(annotation)])
    if origin is typing.Annotated:
        return from_annotation(typing.get_args(annotation)[0], record_name_of, classes)
    if origin is typing.Literal:
        return _literal(typing.get_args(annotation))
    return _from_generic(annotation, origin, record_name_of, classes)


def _from_class(cls: Any, record_name_of: RecordLookup, classes: ClassSink) -> FieldType:
    if cls in SCALAR_KINDS:
        return FieldType(SCALAR_KINDS[cls])
    if _is_ndarray(cls):
        return FieldType("ndarray")
    if cls in _WRAPPED_CLASSES and WRAPPED_KINDS[_WRAPPED_CLASSES[cls]] == 0:
        return FieldType(_WRAPPED_CLASSES[cls])
    if cls in CONTAINER_KINDS.values() or cls in _WRAPPED_CLASSES:
        raise SchemaError(f"{cls.__name__} needs its element types, e.g. {cls.__name__}[int]")
    if isinstance(cls, type) and issubclass(cls, enum.Enum):
        return _remember(_enum(cls), cls, classes)
    if isinstance(cls, type):
        name = record_name_of(cls)
        if name is not None:
            return _remember(FieldType("record", record=name), cls, classes)
        raise SchemaError(f"{cls.__qualname__} is not a persisted type: declare it with @amber.record(...)")
    raise SchemaError(f"{cls!r} is not a type Amber can persist")


def _remember(t: FieldType, cls: type, classes: ClassSink) -> FieldType:
    if classes.setdefault(t, cls) is not cls:
        raise SchemaError(f"{cls.__qualname__} and {classes[t].__qualname__} would be stored alike")
    return t


def _enum(cls: type[enum.Enum]) -> FieldType:
    members = list(cls)
    values = tuple(member.value for member in members)
    t = FieldType("enum", values=values, enum=stable_enum_name(cls), members=tuple(m.name for m in members))
    problem = _enum_problem(t)
    if problem:
        raise SchemaError(f"enum {cls.__qualname__} needs {problem}")
    return t


def _is_ndarray(cls: Any) -> bool:
    numpy = sys.modules.get("numpy")
    return numpy is not None and cls is numpy.ndarray


def _ndarray(annotation: Any) -> FieldType:
    """``numpy.typing.NDArray[numpy.float64]`` (or ``ndarray[shape, dtype[...]]``): the dtype declared."""
    import numpy

    args = typing.get_args(annotation)
    scalar = typing.get_args(args[1])[0] if len(args) == 2 and typing.get_args(args[1]) else Any
    if scalar is Any:
        return FieldType("ndarray")
    code = numpy.dtype(scalar).newbyteorder("<").str
    if code not in ARRAY_DTYPES:
        raise SchemaError(f"an ndarray of numbers or booleans, not of {numpy.dtype(scalar)}")
    return FieldType("ndarray", dtype=code)


def _from_generic(annotation: Any, origin: Any, record_name_of: RecordLookup, classes: ClassSink) -> FieldType:
    if _is_ndarray(origin):
        return _ndarray(annotation)
    args = typing.get_args(annotation)
    kind = next((k for k, c in CONTAINER_KINDS.items() if c is origin), _WRAPPED_CLASSES.get(origin))
    if kind is None or not _ARITY.get(kind, kind == "tuple"):
        raise SchemaError(f"{annotation!r} is not a type Amber can persist")
    items = tuple(from_annotation(a, record_name_of, classes) for a in args if a is not Ellipsis)
    if kind == "tuple":
        variadic = len(args) == 2 and args[1] is Ellipsis
        if not items:
            raise SchemaError("tuple needs its element types, e.g. tuple[int, str] or tuple[int, ...]")
        return FieldType("tuple", items=items, variadic=variadic)
    expected = _ARITY[kind]
    if len(items) != expected:
        raise SchemaError(f"{annotation!r} needs {expected} type argument(s)")
    return FieldType(kind, items=items)


def _literal(values: tuple[Any, ...]) -> FieldType:
    """``Literal[...]``: one literal type per kind of value (str, int), None a member of its own."""
    if any(type(v) not in (str, int, type(None)) for v in values):
        bad = next(v for v in values if type(v) not in (str, int, type(None)))
        raise SchemaError(f"Literal values must be str or int (or None), not {bad!r}")
    members = [FieldType("literal", values=tuple(v for v in values if type(v) is k)) for k in (str, int)]
    present = [m for m in members if m.values]
    if None in values:
        present.append(FieldType("none"))
    return _union(present)


def _union(members: list[FieldType]) -> FieldType:
    flat: dict[bytes, FieldType] = {}
    for member in members:
        for m in member.items if member.kind == "union" else (member,):
            flat[msgspec.json.encode(m, order="sorted")] = m
    if len(flat) == 1:
        return next(iter(flat.values()))
    # Canonical member order (by canonical JSON), so int | str and str | int are one type.
    return FieldType("union", items=tuple(flat[k] for k in sorted(flat)))
