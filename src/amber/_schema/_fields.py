"""Schema descriptions, and reading them off a declared class.

A schema (name, version, fields with their types and defaults) has one canonical JSON
description; the fingerprint is a digest of it. Former names (``amber.field(aliases=...)``)
are reader-side knowledge and are not part of the description.
"""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from ..errors import SchemaError
from ._class_kinds import DefaultMaker, kind_names, kind_of
from ._types import ClassSink, FieldType, RecordLookup, from_annotation, validate_field_type
from ._values import ValueRenderError, to_json_value


class FieldOptions(msgspec.Struct, frozen=True):
    """Per-field options, given as ``Annotated`` metadata: see :func:`field`."""

    aliases: tuple[str, ...] = ()
    deprecated: bool = False
    new: bool = False


def field(*, aliases: Sequence[str] = (), deprecated: bool = False, new: bool = False) -> FieldOptions:
    """Options for one field, used as ``Annotated`` metadata::

        nickname: Annotated[str, amber.field(aliases=["name"])] = ""

    ``aliases`` are the field's former names: data written under them is read into it.
    ``deprecated`` marks a field on its way out: the lock file lists it and ``amber schema
    check`` reminds you of it while supported versions still hold it. ``new`` says the field
    is really new: not a removed field renamed (a field removed while one of the same type
    is added looks like a rename without its alias, and is refused), and not a removed name
    brought back (its old values are not read into it; records written before get the default).
    """
    return FieldOptions(aliases=tuple(aliases), deprecated=deprecated, new=new)


class FieldSchema(msgspec.Struct, frozen=True, omit_defaults=True, forbid_unknown_fields=True):
    """One field of a record schema. ``default`` is absent when the field is required."""

    name: str
    type: FieldType
    default: Any = msgspec.UNSET


class RecordSchema(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The canonical description of one version of one persisted type."""

    name: str
    version: int
    fields: tuple[FieldSchema, ...]

    @property
    def fingerprint(self) -> str:
        """The first 128 bits of SHA-256 over the canonical JSON of this description, in hex."""
        return hashlib.sha256(canonical_json(self)).hexdigest()[:32]


def canonical_json(value: Any) -> bytes:
    """Compact JSON with object keys sorted: the one byte form every writer must produce."""
    return msgspec.json.encode(value, order="sorted")


@dataclass(frozen=True)
class DeclaredField:
    """What analysing one field of a class yields."""

    schema: FieldSchema
    aliases: tuple[str, ...]
    default: DefaultMaker | None  # makes a fresh default value; None when required
    deprecated: bool = False
    new: bool = False


def describe_fields(
    cls: type, type_name: str, name_of: RecordLookup, classes: ClassSink, known: list[type]
) -> Iterator[DeclaredField]:
    """Analyse a class's fields, refusing anything Amber cannot store."""
    kind = kind_of(cls)
    if kind is None:
        raise SchemaError(f"{type_name}: {cls!r} must be {kind_names()}")
    hints = _type_hints(cls, known)
    _refuse_init_only(cls, type_name, hints)
    kind.refuse(cls, type_name)
    for field_name, default in kind.fields(cls, type_name):
        where = f"{type_name}.{field_name}"
        if field_name not in hints:  # a collections.namedtuple: names without types
            raise SchemaError(f"{where} has no type annotation: declare the class with typing.NamedTuple")
        annotation = hints[field_name]
        try:
            field_type = from_annotation(annotation, name_of, classes)
        except SchemaError as e:
            raise SchemaError(f"{where}: {e}") from None
        problem = validate_field_type(field_type)
        if problem:
            raise SchemaError(f"{where}: {field_type.render()} cannot be stored: needs {problem}")
        described = _describe_default(where, default)
        options = _options(annotation)
        yield DeclaredField(
            FieldSchema(field_name, field_type, described),
            _aliases(options, where),
            default,
            any(o.deprecated for o in options),
            any(o.new for o in options),
        )


def _options(annotation: Any) -> list[FieldOptions]:
    if typing.get_origin(annotation) is not typing.Annotated:
        return []
    return [m for m in annotation.__metadata__ if isinstance(m, FieldOptions)]


def _aliases(options: list[FieldOptions], where: str) -> tuple[str, ...]:
    aliases = tuple(a for o in options for a in o.aliases)
    if not all(isinstance(a, str) and a.isidentifier() for a in aliases):
        raise SchemaError(f"{where}: aliases must be field names, not {aliases!r}")
    return aliases


def _type_hints(cls: type, known: list[type]) -> dict[str, Any]:
    """Evaluate annotations; names not found in the class's module may name other declared
    classes (types declared inside a function refer to each other this way)."""
    try:
        return typing.get_type_hints(cls, localns={cls.__name__: cls}, include_extras=True)
    except NameError:
        names: dict[str, type] = {}
        for other in known:
            names[other.__name__] = other if other.__name__ not in names else type(None)
        local = {n: c for n, c in names.items() if c is not type(None)}
        return typing.get_type_hints(cls, localns={**local, cls.__name__: cls}, include_extras=True)


def _refuse_init_only(cls: type, type_name: str, hints: dict[str, Any]) -> None:
    """A dataclass ``InitVar`` is passed to ``__post_init__`` and kept nowhere: a load could
    only pass its default, so whatever ``__post_init__`` does with it would come out
    different. Refused at declaration rather than changed at load."""
    if not dataclasses.is_dataclass(cls):
        return
    for name, hint in hints.items():
        if hint is dataclasses.InitVar or isinstance(hint, dataclasses.InitVar):  # bare, or InitVar[T]
            raise SchemaError(
                f"{type_name}.{name} is a dataclasses.InitVar: its value is not stored, so a load cannot give it "
                "to __post_init__; make it a field"
            )


def _describe_default(where: str, default: DefaultMaker | None) -> Any:
    if default is None:
        return msgspec.UNSET
    value = default()
    try:
        return to_json_value(value)
    except ValueRenderError as e:
        raise SchemaError(f"{where}: default {value!r} cannot be described: {e}") from None


def takes_fields_positionally(cls: type, fields: Sequence[FieldSchema]) -> bool:
    """Whether ``cls(*values)`` works in field order (the fast way to build records)."""
    match_args = getattr(cls, "__match_args__", None)
    return match_args == tuple(f.name for f in fields)
