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
from operator import is_, itemgetter
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
        found = f"{type(self.cause).__name__}: {_one_line(self.cause)}"
        error = RecordRejectedError(checkpoint, f"{self.where}, row {self.row}", "values its class accepts", found)
        error.__cause__ = self.cause
        return error


def _one_line(cause: Exception) -> str:
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

    @property
    def name(self) -> str:
        return self.schema.name

    @property
    def version(self) -> int:
        return self.schema.version

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.schema.fields)

    def names_for(self, field_name: str) -> tuple[str, ...]:
        """The field's name followed by its former names, in the order they are tried."""
        return (field_name, *self.field_aliases.get(field_name, ()))

    def build(self, columns: list[list[Any]], count: int, *, complete: bool = True) -> list[Any]:
        """Instantiate ``count`` records from one value list per field, in field order;
        ``RecordRejected`` names the row the class's own validation refused, or that its
        code (validators, converters, ``__post_init__``) changed.

        ``complete=False``: some columns hold placeholders, filled in later with
        :meth:`set_field`; a class that validates apart from its constructor is then built
        unvalidated, and :meth:`finish` validates it once the fields are in."""
        try:
            built = self._build(columns, count, complete)
        except Exception as e:  # the class's __post_init__ or validators: anything
            raise RecordRejected(f"{self.name} v{self.version}", self._first_refused(columns, count), e) from e
        if self._reruns_code:
            self._check_kept(built, columns)
        return built

    def finish(self, built: list[Any]) -> None:
        """Validate records built with ``complete=False`` now that their fields are set."""
        validate = self._validator
        if validate is None:
            return
        columns = [list(map(getter, built)) for getter in self.getters]
        names = self.field_names
        for row in range(len(built)):
            try:
                validated = validate(dict(zip(names, (c[row] for c in columns), strict=True)))
            except Exception as e:
                raise RecordRejected(f"{self.name} v{self.version}", row, e) from e
            # The validated copy is only compared: the built record keeps its identity.
            self._check_kept([validated], [[c[row]] for c in columns], first_row=row)

    @functools.cached_property
    def _reruns_code(self) -> bool:
        return self.kind.reruns_code(self.cls)

    @functools.cached_property
    def _validator(self) -> Callable[[dict[str, Any]], Any] | None:
        return self.kind.validator(self.cls)

    def _first_refused(self, columns: list[list[Any]], count: int) -> int:
        for row in range(count):
            try:
                self._build([[c[row]] for c in columns], 1, True)
            except Exception:
                return row
        return 0

    def _build(self, columns: list[list[Any]], count: int, complete: bool) -> list[Any]:
        if not columns:
            return [self.cls() for _ in range(count)]
        if self.positional:
            return list(map(self.cls, *columns))
        validate = self._validator
        if validate is not None and not complete:
            construct = self.cls.model_construct  # type: ignore[attr-defined]
            return [construct(**dict(zip(self.field_names, row, strict=True))) for row in zip(*columns, strict=True)]
        if validate is not None:
            names = self.field_names
            return [validate(dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]
        keywords = self.kind.keywords(self.cls)
        names = tuple(keywords.get(n, n) for n in self.field_names)
        return [self.cls(**dict(zip(names, row, strict=True))) for row in zip(*columns, strict=True)]

    def _check_kept(self, built: list[Any], columns: list[list[Any]], first_row: int = 0) -> None:
        """The class's own code must give back the stored values: a validator, converter or
        ``__post_init__`` that changes a value it already made would change the state on
        every load, unsaid. Records must be the very objects; other values equal and of the
        same type. Fields holding records inside containers are compared by identity of the
        container's items only where the class kept the container; otherwise skipped (their
        items' equality would compare whole record graphs)."""
        for fs, getter, stored in zip(self.schema.fields, self.getters, columns, strict=True):
            got = list(map(getter, built))
            same = is_ if fs.type.kind == "record" or fs.type.is_tagged() else _same
            if same is _same and fs.type.references():
                continue
            kept = all(map(same, got, stored)) if same is is_ else got == stored and all(map(_same, got, stored))
            if not kept:
                row = next(i for i, (a, b) in enumerate(zip(got, stored, strict=True)) if not same(a, b))
                cause = ValueError(
                    f"{fs.name}: stored {stored[row]!r}, but the class's own code made it {got[row]!r} "
                    "(a validator, converter or __post_init__ that changes values it made before)"
                )
                raise RecordRejected(f"{self.name} v{self.version}", first_row + row, cause)

    def set_field(self, obj: Any, name: str, value: Any) -> None:
        """Set a field after construction (to close reference cycles), even on frozen types."""
        self.kind.setter(self.cls)(obj, name, value)


def _same(a: Any, b: Any) -> bool:
    return a is b or (type(a) is type(b) and a == b)


def hashed_by_value(cls: type) -> bool:
    """Frozen records (hashed by their content) cannot be changed in place."""
    config = getattr(cls, "__struct_config__", None)
    if config is not None:
        return bool(config.frozen and config.eq)
    hash_method = getattr(cls, "__hash__", None)
    return hash_method is not None and hash_method is not object.__hash__
