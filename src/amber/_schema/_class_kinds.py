"""The kinds of class a persisted type may be, and what differs between them.

``amber.Record`` (a msgspec Struct), ``@dataclass``, ``typing.NamedTuple``, attrs classes and
pydantic models all hold named, typed fields; they differ in how they list those fields and
their defaults, what they refuse (state a load could not give back), how an instance is built
from stored values and how a field is set afterwards (to close reference cycles). Everything
else, schemas, references, evolution and the columns, is the same for all of them.

attrs and pydantic are optional: a class is only recognised as theirs when the package is
already imported (it must be, for the class to exist).
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import sys
from collections.abc import Callable, Iterator
from typing import Any

import msgspec

from ..errors import SchemaError

DefaultMaker = Callable[[], Any]
Setter = Callable[[Any, str, Any], None]


def copier(value: Any) -> DefaultMaker:
    """Immutable defaults are shared; mutable ones are copied for every record."""
    if isinstance(value, list | dict | set | bytearray | collections.deque):
        return lambda: copy.copy(value)
    return lambda: value


class ClassKind:
    """One kind of class. Subclasses override what differs from a plain keyword constructor."""

    label = ""
    builds_bare = True  # an instance can be made without running the class's code (object.__new__)

    def matches(self, cls: type) -> bool:
        raise NotImplementedError

    def fields(self, cls: type, type_name: str) -> Iterator[tuple[str, DefaultMaker | None]]:
        """Each field's name and what makes its default (None when required), in order;
        refuses fields a load could not restore."""
        raise NotImplementedError

    def refuse(self, cls: type, type_name: str) -> None:
        """Refuse state of the class that is kept outside its fields."""

    def keywords(self, cls: type) -> dict[str, str]:
        """Constructor keyword per field, where it is not the field's name."""
        return {}

    def reruns_code(self, cls: type) -> bool:
        """Whether building an instance runs the class's own code on the values (validators,
        converters, ``__post_init__``): a load then checks that it kept them."""
        return callable(getattr(cls, "__post_init__", None))

    def validator(self, cls: type) -> Callable[[dict[str, Any]], Any] | None:
        """Builds one validated instance from field values by name, where the class
        validates apart from its constructor (pydantic); None otherwise."""
        return None

    def setter(self, cls: type) -> Setter:
        return object.__setattr__  # bypasses frozen classes' guards: used only while loading


class _Struct(ClassKind):
    label = "amber.Record"
    builds_bare = False  # msgspec refuses object.__new__ on a Struct

    def matches(self, cls: type) -> bool:
        return issubclass(cls, msgspec.Struct)

    def fields(self, cls: type, type_name: str) -> Iterator[tuple[str, DefaultMaker | None]]:
        names: tuple[str, ...] = cls.__struct_fields__  # type: ignore[attr-defined]
        given: tuple[Any, ...] = cls.__struct_defaults__  # type: ignore[attr-defined]
        defaults = (msgspec.NODEFAULT,) * (len(names) - len(given)) + given
        for field_name, default in zip(names, defaults, strict=True):
            factory = getattr(default, "factory", None)
            if default is msgspec.NODEFAULT:  # also a required kw_only field after a defaulted one
                yield field_name, None
            else:
                yield field_name, factory if factory is not None else copier(default)

    def setter(self, cls: type) -> Setter:
        return msgspec.structs.force_setattr


class _NamedTuple(ClassKind):
    label = "typing.NamedTuple"

    def matches(self, cls: type) -> bool:
        return issubclass(cls, tuple) and isinstance(getattr(cls, "_fields", None), tuple)

    def fields(self, cls: type, type_name: str) -> Iterator[tuple[str, DefaultMaker | None]]:
        field_defaults: dict[str, Any] = getattr(cls, "_field_defaults", {})
        for field_name in cls._fields:  # type: ignore[attr-defined]
            yield field_name, copier(field_defaults[field_name]) if field_name in field_defaults else None

    def refuse(self, cls: type, type_name: str) -> None:
        """A load builds a named tuple with ``cls(*fields)``: a ``__new__`` of its own would
        run again on values it already made (changing them) or not take them at all."""
        generated = next(c for c in cls.__mro__ if "_make" in vars(c))  # the class namedtuple() made
        if cls.__new__ is not generated.__new__:
            raise SchemaError(
                f"{type_name}: {cls.__name__} overrides __new__, which a load would call again on the stored "
                "fields; validate in a classmethod constructor instead"
            )

    def reruns_code(self, cls: type) -> bool:
        return False


class _Dataclass(ClassKind):
    label = "@dataclass"

    def matches(self, cls: type) -> bool:
        return dataclasses.is_dataclass(cls)

    def fields(self, cls: type, type_name: str) -> Iterator[tuple[str, DefaultMaker | None]]:
        for f in dataclasses.fields(cls):
            if not f.init:
                raise SchemaError(f"{type_name}.{f.name}: fields with init=False cannot be restored")
            if f.default_factory is not dataclasses.MISSING:
                yield f.name, f.default_factory
            else:
                yield f.name, None if f.default is dataclasses.MISSING else copier(f.default)


class _Attrs(ClassKind):
    label = "attrs class"

    def matches(self, cls: type) -> bool:
        attrs = sys.modules.get("attrs")
        return attrs is not None and bool(attrs.has(cls))

    def fields(self, cls: type, type_name: str) -> Iterator[tuple[str, DefaultMaker | None]]:
        import attrs

        for a in attrs.fields(cls):
            where = f"{type_name}.{a.name}"
            if not a.init:
                raise SchemaError(f"{where}: fields with init=False cannot be restored")
            default = a.default
            if default is attrs.NOTHING:
                yield a.name, None
            elif isinstance(default, attrs.Factory):  # type: ignore[arg-type]
                if default.takes_self:
                    raise SchemaError(f"{where}: a default computed from the instance cannot be described")
                yield a.name, default.factory
            else:
                yield a.name, copier(default)

    def keywords(self, cls: type) -> dict[str, str]:
        import attrs

        return {a.name: a.alias for a in attrs.fields(cls) if a.alias and a.alias != a.name}

    def reruns_code(self, cls: type) -> bool:
        import attrs

        hooks = ("__attrs_post_init__", "__attrs_pre_init__")
        fields = attrs.fields(cls)
        return any(hasattr(cls, h) for h in hooks) or any(a.converter or a.validator for a in fields)


class _Pydantic(ClassKind):
    label = "pydantic model"

    def matches(self, cls: type) -> bool:
        pydantic = sys.modules.get("pydantic")
        return pydantic is not None and issubclass(cls, pydantic.BaseModel)

    def fields(self, cls: type, type_name: str) -> Iterator[tuple[str, DefaultMaker | None]]:
        from pydantic_core import PydanticUndefined

        for name, info in cls.model_fields.items():  # type: ignore[attr-defined]
            if info.default_factory is not None:
                if info.default_factory_takes_data:
                    raise SchemaError(f"{type_name}.{name}: a default computed from other fields cannot be described")
                yield name, info.default_factory
            else:
                yield name, None if info.default is PydanticUndefined else copier(info.default)

    def refuse(self, cls: type, type_name: str) -> None:
        config = cls.model_config  # type: ignore[attr-defined]
        private = sorted(cls.__private_attributes__)  # type: ignore[attr-defined]
        if private:
            raise SchemaError(
                f"{type_name}: private attributes ({', '.join(private)}) are not fields and would not be stored; "
                "make them fields, or keep them outside the model"
            )
        if config.get("extra") == "allow":
            raise SchemaError(
                f"{type_name}: extra='allow' keeps undeclared values outside the schema, where they would be lost; "
                "declare them as fields"
            )
        if config.get("revalidate_instances", "never") != "never":
            raise SchemaError(
                f"{type_name}: revalidate_instances copies the records a model points at, so a load could not "
                "keep shared records shared; leave it 'never'"
            )

    def reruns_code(self, cls: type) -> bool:
        """Validation that may change a value: a function anywhere in the model's core schema
        (validators, decorated or in an ``Annotated``, at any depth: ``list[Annotated[str,
        AfterValidator(...)]]``), ``model_post_init``, or a config that transforms values.
        Plain type checks give exact values back and need no checking."""
        config = cls.model_config  # type: ignore[attr-defined]
        if "model_post_init" in vars(cls) or any(config.get(option) for option in _CHANGING_OPTIONS):
            return True
        return _runs_functions(cls.__pydantic_core_schema__)  # type: ignore[attr-defined]

    def validator(self, cls: type) -> Callable[[dict[str, Any]], Any] | None:
        validate = cls.__pydantic_validator__.validate_python  # type: ignore[attr-defined]

        def validated(values: dict[str, Any]) -> Any:
            return validate(values, by_name=True)

        return validated


_CHANGING_OPTIONS = ("str_strip_whitespace", "str_to_lower", "str_to_upper", "coerce_numbers_to_str", "use_enum_values")


def _runs_functions(schema: Any, depth: int = 0) -> bool:
    """Whether a pydantic-core schema calls Python functions on values (``function-*``)."""
    if depth > 64:
        return True  # too deep to tell: check it
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, str) and kind.startswith("function-"):
            return True
        return any(_runs_functions(v, depth + 1) for v in schema.values() if isinstance(v, dict | list | tuple))
    if isinstance(schema, list | tuple):
        return any(_runs_functions(v, depth + 1) for v in schema)
    return False


# Most specific first: an attrs or pydantic class may also look like a dataclass.
KINDS: tuple[ClassKind, ...] = (_Struct(), _Pydantic(), _Attrs(), _NamedTuple(), _Dataclass())


def kind_of(cls: Any) -> ClassKind | None:
    """The kind of a class that can be declared a persisted type, or None."""
    if not isinstance(cls, type):
        return None
    return next((k for k in KINDS if k.matches(cls)), None)


def kind_names() -> str:
    """What a persisted type may be, for error messages."""
    return "a subclass of amber.Record, a @dataclass, a typing.NamedTuple, an attrs class or a pydantic model"
