"""A declared persisted type and its records: the base classes users subclass, and
:class:`RecordType`, which says how to read a record's fields and build records back.

Reading builds records column by column (``RecordType.build``); a class's own validation
that refuses stored values is reported with the row (``RecordRejected``). Records as dicts
(what upgrade steps receive) are read field by field with :func:`field_values`.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import repeat
from operator import attrgetter, itemgetter
from typing import Any

import msgspec

from ..errors import RecordRejectedError
from ._class_kinds import KINDS, ClassKind, DefaultMaker
from ._fields import RecordSchema
from ._types import FieldType

Fields = dict[str, Any]


class RecordRejected(Exception):
    """A class's own validation refused the values read for one of its records (internal)."""

    def __init__(self, where: str, row: int, cause: Exception) -> None:
        super().__init__(where, row)
        self.where, self.row, self.cause = where, row, cause

    def error(self, checkpoint: str) -> RecordRejectedError:
        found = f"{type(self.cause).__name__}: {one_line(self.cause)}"
        error = RecordRejectedError(checkpoint, f"{self.where}, row {self.row}", "values its class accepts", found)
        error.__cause__ = self.cause
        return error


def one_line(cause: Exception) -> str:
    """A class's refusal on one line (the CLI prints one): pydantic's errors as ``field: why``."""
    errors = getattr(cause, "errors", None)
    if callable(errors):
        try:
            return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors())
        except (TypeError, KeyError):
            pass
    return " ".join(str(cause).split())


class MissingField(Exception):
    """A record (as a dict) has no value for a field that has no default (internal)."""

    def __init__(self, row: int) -> None:
        super().__init__(row)
        self.row = row


def field_values(records: list[Fields], names: Sequence[str], default: DefaultMaker | None) -> list[Any]:
    """One field's values from records as dicts: under the first of ``names`` a record has
    (the field's name, then former names), else a fresh default; ``MissingField`` if neither."""
    try:
        return list(map(itemgetter(names[0]), records))  # the usual case, in C
    except KeyError:
        pass
    values = []
    for row, fields in enumerate(records):
        name = next((n for n in names if n in fields), None)
        if name is not None:
            values.append(fields[name])
        elif default is not None:
            values.append(default())
        else:
            raise MissingField(row)
    return values


class Record(msgspec.Struct):
    """Base class for persisted types: a fast, slotted struct (``msgspec.Struct`` underneath).

    Subclass it and declare fields with annotations, then give the class a stable name and a
    version with ``@amber.record``. Plain ``@dataclass`` classes can be declared the same way.
    """


class FrozenRecord(msgspec.Struct, frozen=True):
    """Base class for immutable persisted types, hashable by value (usable in sets and as
    dict keys). Write ``class Key(amber.FrozenRecord, frozen=True)``: type checkers need to
    see ``frozen=True`` on the class itself."""


@dataclass(frozen=True, eq=False)
class RecordType:
    """A declared persisted type: the class, its schema, and how to read and build instances."""

    cls: type
    schema: RecordSchema
    getters: tuple[Callable[[Any], Any], ...]
    positional: bool
    classes: dict[FieldType, type]  # the class behind each record and enum type in the fields
    field_aliases: dict[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    defaults: tuple[DefaultMaker | None, ...] = ()  # per field: makes a fresh default, or None
    deprecated: frozenset[str] = frozenset()  # fields marked amber.field(deprecated=True)
    new_fields: frozenset[str] = frozenset()  # fields marked amber.field(new=True)
    kind: ClassKind = dataclasses.field(default_factory=lambda: KINDS[0])
    form: RecordType | None = None  # an adapter's stored form (``_adapters``): built, then turned into the value

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def version(self) -> int:
        return self.schema.version

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema.fields)

    @functools.cached_property
    def attribute_names(self) -> tuple[str, ...] | None:
        """The attribute each field is read from, when every getter reads one plain attribute
        (the writer then reads all of a record's fields in one pass); None otherwise."""
        names = self.field_names
        plain = all(
            type(g) is attrgetter and g.__reduce__()[1] == (name,) for g, name in zip(self.getters, names, strict=True)
        )
        return names if plain else None

    def names_for(self, field_name: str) -> tuple[str, ...]:
        """The field's name followed by its former names, in the order they are tried."""
        return (field_name, *self.field_aliases.get(field_name, ()))

    def build(self, columns: list[list[Any]], count: int, *, complete: bool = True) -> list[Any]:
        """Instantiate ``count`` records from one value list per field, in field order;
        ``RecordRejected`` names the row the class's own validation refused.

        ``complete=False``: some columns hold placeholders, filled in later with
        :meth:`set_field`. A class whose construction runs its own code (validators,
        converters, ``__post_init__``) is then built bare, without it: that code would see the
        placeholders. Whoever builds it so constructs it for real once the fields are in
        (``_graph._kept``), to check what the code makes of them."""
        try:
            return self._build(columns, count, complete)
        except Exception as e:  # the class's __post_init__ or validators: anything
            raise RecordRejected(f"{self.name} v{self.version}", self._first_refused(columns, count), e) from e

    @functools.cached_property
    def reruns_code(self) -> bool:
        """Whether building a record runs the class's own code on its values (an adapter's
        always does: its value must give back the form it was made from)."""
        return self.form is not None or self.kind.reruns_code(self.cls)

    @functools.cached_property
    def _validator(self) -> Callable[[dict[str, Any]], Any] | None:
        return self.kind.validator(self.cls)

    @property
    def validates(self) -> bool:
        """Whether the class validates apart from its constructor (pydantic): a record built
        before its fields were all in is validated once they are."""
        return self._validator is not None

    def _first_refused(self, columns: list[list[Any]], count: int) -> int:
        for row in range(count):
            try:
                self._build([[c[row]] for c in columns], 1, True)
            except Exception:
                return row
        return 0

    def _build(self, columns: list[list[Any]], count: int, complete: bool) -> list[Any]:
        if self.form is not None:
            values = [form.to_value() for form in self.form.build(columns, count)]
            wrong = next((v for v in values if type(v) is not self.cls), None)
            if wrong is not None:
                raise TypeError(f"to_value() gave a {type(wrong).__qualname__}, not a {self.cls.__qualname__}")
            return values
        if not columns:
            return [self.cls() for _ in range(count)]
        if not complete and (self.validates or (self.reruns_code and self.kind.builds_bare)):
            return self._bare(columns)
        if self.positional:
            return list(map(self.cls, *columns))
        validate = self._validator
        if validate is not None:  # the rows as dicts, then validated: both loops in C
            return list(map(validate, map(dict, map(zip, repeat(self.field_names), zip(*columns, strict=True)))))
        keywords = self.kind.keywords(self.cls)
        names = tuple(keywords.get(n, n) for n in self.field_names)
        return [self.cls(**dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]

    def _bare(self, columns: list[list[Any]]) -> list[Any]:
        """Records with their fields set and none of the class's code run."""
        names = self.field_names
        if self._validator is not None:  # pydantic: its own way to build without validating
            construct = self.cls.model_construct  # type: ignore[attr-defined]
            return [construct(**dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]
        setter = self.kind.setter(self.cls)
        built = []
        for row in zip(*columns, strict=True):
            obj: Any = object.__new__(self.cls)  # no __init__: the class's code runs when checked
            for name, value in zip(names, row, strict=True):
                setter(obj, name, value)
            built.append(obj)
        return built

    def set_field(self, obj: Any, name: str, value: Any) -> None:
        """Set a field after construction (to close reference cycles), even on frozen types."""
        self.kind.setter(self.cls)(obj, name, value)


BY_VALUE: set[type] = set()  # adapted classes: values, built whole and never changed in place by a load


def hashed_by_value(cls: type) -> bool:
    """Frozen records (hashed by their content) cannot be changed in place."""
    if cls in BY_VALUE:
        return True
    config = getattr(cls, "__struct_config__", None)
    if config is not None:
        return bool(config.frozen and config.eq)
    hash_method = getattr(cls, "__hash__", None)
    return hash_method is not None and hash_method is not object.__hash__
