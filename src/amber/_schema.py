"""Persisted types: stable names, explicit versions, canonical schemas and the registry.

A persisted type is known by the name given in ``@amber.record``, never by its import
path, so code can move freely. Its schema (name, version, fields with types and defaults)
has one canonical JSON description, and the fingerprint is a digest of that description.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

import msgspec

from ._types import FieldType, from_annotation, validate_field_type
from ._values import ValueRenderError, to_json_value
from .errors import SchemaError

T = TypeVar("T", bound=type)

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")  # use with fullmatch


class Record(msgspec.Struct):
    """Base class for persisted types: a fast, slotted struct (``msgspec.Struct`` underneath).

    Subclass it and declare fields with annotations, then give the class a stable name and a
    version with ``@amber.record``. Plain ``@dataclass`` classes can be declared the same way.
    """


class FrozenRecord(msgspec.Struct, frozen=True):
    """Base class for immutable persisted types, hashable by value (usable in sets and as
    dict keys). Write ``class Key(amber.FrozenRecord, frozen=True)``: type checkers need to
    see ``frozen=True`` on the class itself."""


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


@dataclass(frozen=True, eq=False)
class RecordType:
    """A declared persisted type: the class, its schema, and how to read and build instances."""

    cls: type
    schema: RecordSchema
    getters: tuple[Callable[[Any], Any], ...]
    positional: bool
    classes: dict[FieldType, type]  # the class behind each record and enum type in the fields

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def version(self) -> int:
        return self.schema.version

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema.fields)

    def build(self, columns: list[list[Any]], count: int) -> list[Any]:
        """Instantiate ``count`` records from one value list per field, in field order."""
        if not columns:
            return [self.cls() for _ in range(count)]
        if self.positional:
            return list(map(self.cls, *columns))
        names = self.field_names
        return [self.cls(**dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]

    def set_field(self, obj: Any, name: str, value: Any) -> None:
        """Set a field after construction (to close reference cycles), even on frozen types."""
        if isinstance(obj, msgspec.Struct):
            msgspec.structs.force_setattr(obj, name, value)
        else:
            object.__setattr__(obj, name, value)


class Registry:
    """Every persisted type a program declares, by class and by (name, version).

    The module-level ``@amber.record`` fills a default registry; pass ``registry=`` to keep
    separate ones (tests, plugins). Types whose annotations name classes defined later are
    analysed on first use, so mutually referencing types can be declared in any order.
    """

    def __init__(self) -> None:
        self._by_class: dict[type, RecordType] = {}
        self._by_key: dict[tuple[str, int], RecordType] = {}
        self._pending: dict[type, tuple[str, int]] = {}

    def record(self, name: str, *, version: int) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def decorate(cls: T) -> T:
            self.register(cls, name, version=version)
            return cls

        return decorate

    def register(self, cls: type, name: str, *, version: int) -> None:
        """Declare ``cls`` as version ``version`` of the persisted type ``name``."""
        _check_declaration(cls, name, version)
        key = (name, version)
        if key in self._by_key or key in self._pending.values():
            raise SchemaError(f"{name} version {version} is already declared")
        if cls in self._by_class or cls in self._pending:
            raise SchemaError(f"{cls.__qualname__} is already declared as a persisted type")
        self._pending[cls] = key
        try:
            self._analyse(cls)
        except NameError:
            pass  # names a class defined later: analysed on first use
        except SchemaError:
            del self._pending[cls]
            raise

    def type_of(self, cls: type) -> RecordType | None:
        """The declared type for a class, or None when the class is not persisted."""
        self.resolve()
        return self._by_class.get(cls)

    def lookup(self, name: str, version: int) -> RecordType | None:
        self.resolve()
        return self._by_key.get((name, version))

    def versions(self, name: str) -> list[int]:
        self.resolve()
        return sorted(v for (n, v) in self._by_key if n == name)

    def __iter__(self) -> Iterator[RecordType]:
        self.resolve()
        return iter(list(self._by_class.values()))

    def resolve(self) -> None:
        """Analyse types whose annotations could not be evaluated when they were declared."""
        for cls in list(self._pending):
            try:
                self._analyse(cls)
            except NameError as e:
                name, version = self._pending[cls]
                raise SchemaError(f"{name} v{version}: cannot resolve a field's type: {e}") from e

    def _analyse(self, cls: type) -> None:
        name, version = self._pending[cls]
        classes: dict[FieldType, type] = {}
        known = [*self._by_class, *self._pending]
        fields = tuple(_describe_fields(cls, self._name_of, name, classes, known))
        schema = RecordSchema(name=name, version=version, fields=fields)
        getters = tuple(attrgetter(f.name) for f in fields)
        rt = RecordType(cls, schema, getters, _takes_fields_positionally(cls, fields), classes)
        del self._pending[cls]
        self._by_class[cls] = rt
        self._by_key[(name, version)] = rt

    def _name_of(self, cls: type) -> str | None:
        if cls in self._by_class:
            return self._by_class[cls].name
        pending = self._pending.get(cls)
        return pending[0] if pending else None


default_registry = Registry()


def record(name: str, *, version: int, registry: Registry | None = None) -> Callable[[T], T]:
    """Give a class a stable persisted name and an explicit version.

    ``@amber.record("bank.Account", version=3)`` on a subclass of ``amber.Record`` or on a
    ``@dataclass``. Fails at once when the name/version pair is taken or a field's type
    cannot be persisted.
    """
    return (registry or default_registry).record(name, version=version)


def _check_declaration(cls: type, name: str, version: int) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SchemaError(f"{name!r} is not a valid type name: use dotted identifiers, e.g. bank.Account")
    if type(version) is not int or version < 1:
        raise SchemaError(f"{name}: version must be an integer >= 1, not {version!r}")
    if not (isinstance(cls, type) and (issubclass(cls, msgspec.Struct) or dataclasses.is_dataclass(cls))):
        raise SchemaError(f"{name}: {cls!r} must subclass amber.Record or be a @dataclass")


def _describe_fields(
    cls: type,
    name_of: Callable[[type], str | None],
    type_name: str,
    classes: dict[FieldType, type],
    known: list[type],
) -> Iterator[FieldSchema]:
    hints = _type_hints(cls, known)
    for field_name, default in _fields_and_defaults(cls):
        try:
            field_type = from_annotation(hints[field_name], name_of, classes)
        except SchemaError as e:
            raise SchemaError(f"{type_name}.{field_name}: {e}") from None
        problem = validate_field_type(field_type)
        if problem:
            raise SchemaError(f"{type_name}.{field_name}: {field_type.render()} cannot be stored: needs {problem}")
        yield FieldSchema(field_name, field_type, _describe_default(type_name, field_name, default))


def _type_hints(cls: type, known: list[type]) -> dict[str, Any]:
    """Evaluate annotations; names not found in the class's module may name other declared
    classes (types declared inside a function refer to each other this way)."""
    try:
        return typing.get_type_hints(cls, localns={cls.__name__: cls})
    except NameError:
        names: dict[str, type] = {}
        for other in known:
            names[other.__name__] = other if other.__name__ not in names else type(None)
        local = {n: c for n, c in names.items() if c is not type(None)}
        return typing.get_type_hints(cls, localns={**local, cls.__name__: cls})


def _fields_and_defaults(cls: type) -> Iterator[tuple[str, Any]]:
    if issubclass(cls, msgspec.Struct):
        names: tuple[str, ...] = cls.__struct_fields__
        defaults = (msgspec.UNSET,) * (len(names) - len(cls.__struct_defaults__)) + cls.__struct_defaults__
        for field_name, default in zip(names, defaults, strict=True):
            factory = getattr(default, "factory", None)
            if default is msgspec.NODEFAULT:  # a required kw_only field after a defaulted one
                yield field_name, msgspec.UNSET
            else:
                yield field_name, factory() if factory is not None else default
        return
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            raise SchemaError(f"{cls.__qualname__}.{f.name}: fields with init=False cannot be restored")
        if f.default_factory is not dataclasses.MISSING:
            yield f.name, f.default_factory()
        else:
            yield f.name, msgspec.UNSET if f.default is dataclasses.MISSING else f.default


def _describe_default(type_name: str, field_name: str, default: Any) -> Any:
    if default is msgspec.UNSET:
        return msgspec.UNSET
    try:
        return to_json_value(default)
    except ValueRenderError as e:
        raise SchemaError(f"{type_name}.{field_name}: default {default!r} cannot be described: {e}") from None


def _takes_fields_positionally(cls: type, fields: tuple[FieldSchema, ...]) -> bool:
    """Whether ``cls(*values)`` works in field order (the fast way to build records)."""
    match_args = getattr(cls, "__match_args__", None)
    return match_args == tuple(f.name for f in fields)
