"""Persisted types: stable names, explicit versions, the registry of types and upgrade steps.

A persisted type is known by the name given in ``@amber.record``, never by its import
path, so code can move freely. A registry holds every declared (name, version), former
names (aliases), and the upgrade steps between versions.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import os
import sys
import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter, itemgetter
from typing import Any, TypeVar

import msgspec

from ..errors import RecordRejectedError, SchemaError
from ._enums import NAME_PATTERN
from ._fields import DefaultMaker, RecordSchema, describe_fields, takes_fields_positionally
from ._types import FieldType

T = TypeVar("T", bound=type)
Fields = dict[str, Any]
UpgradeStep = Callable[[Fields], Fields]
F = TypeVar("F", bound=UpgradeStep)
C = TypeVar("C", bound=Callable[[Any], None])


class RecordRejected(Exception):
    """A class's own validation refused the values read for one of its records (internal)."""

    def __init__(self, where: str, row: int, cause: Exception) -> None:
        super().__init__(where, row)
        self.where, self.row, self.cause = where, row, cause

    def error(self, checkpoint: str) -> RecordRejectedError:
        found = f"{type(self.cause).__name__}: {self.cause}"
        error = RecordRejectedError(checkpoint, f"{self.where}, row {self.row}", "values its class accepts", found)
        error.__cause__ = self.cause
        return error


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


@dataclass(frozen=True)
class CheckpointStep:
    """A step over a whole checkpoint (split, merge, move fields between types)."""

    name: str
    run: Callable[[Any], None]  # receives an amber.Tables
    requires: dict[str, int]  # the versions it runs at
    produces: dict[str, int | None]  # the versions it leaves (None: the type is gone)


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

    def build(self, columns: list[list[Any]], count: int) -> list[Any]:
        """Instantiate ``count`` records from one value list per field, in field order;
        ``RecordRejected`` names the row the class's own validation refused."""
        try:
            return self._build(columns, count)
        except Exception as e:  # the class's __post_init__ or validators: anything
            raise RecordRejected(f"{self.name} v{self.version}", self._first_refused(columns, count), e) from e

    def _first_refused(self, columns: list[list[Any]], count: int) -> int:
        for row in range(count):
            try:
                self._build([[c[row]] for c in columns], 1)
            except Exception:
                return row
        return 0

    def _build(self, columns: list[list[Any]], count: int) -> list[Any]:
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

    The module-level ``@amber.record`` and ``@amber.upgrade`` fill a default registry; pass
    ``registry=`` to keep separate ones (tests, plugins). Types whose annotations name
    classes defined later are analysed on first use, so mutually referencing types can be
    declared in any order.
    """

    _every: weakref.WeakSet[Registry] = weakref.WeakSet()  # to say where a class is declared

    def __init__(self) -> None:
        Registry._every.add(self)
        self._by_class: dict[type, RecordType] = {}
        self._by_key: dict[tuple[str, int], RecordType] = {}
        self._pending: dict[type, tuple[str, int]] = {}
        self._renamed: dict[str, str] = {}  # former type name -> current name
        self._upgrades: dict[tuple[str, int], UpgradeStep] = {}
        self._downgrades: dict[tuple[str, int], UpgradeStep] = {}
        self._checkpoint_steps: list[CheckpointStep] = []
        for cls, name in _BUILTIN_TYPES:
            self.register(cls, name, version=1)

    def record(self, name: str, *, version: int, aliases: Sequence[str] = ()) -> Callable[[T], T]:
        """Decorator form of :meth:`register`."""

        def decorate(cls: T) -> T:
            self.register(cls, name, version=version, aliases=aliases)
            return cls

        return decorate

    def register(self, cls: type, name: str, *, version: int, aliases: Sequence[str] = ()) -> None:
        """Declare ``cls`` as version ``version`` of the persisted type ``name``.

        ``aliases`` are former names of the type: checkpoints holding it under one of them
        are read into this type.
        """
        _check_declaration(cls, name, version)
        self._check_aliases(name, aliases)
        key = (name, version)
        if key in self._by_key or key in self._pending.values():
            raise SchemaError(f"{name} version {version} is already declared")
        if cls in self._by_class or cls in self._pending:
            raise SchemaError(f"{cls.__qualname__} is already declared as a persisted type")
        self._pending[cls] = key
        try:
            self._analyse(cls)
        except NameError as e:  # names a class defined later (analysed on first use), or one that never will be
            hidden = _hidden_name(cls, e.name)
            if hidden:
                del self._pending[cls]
                raise SchemaError(f"{name} v{version}: {hidden}") from None
        except SchemaError:
            del self._pending[cls]
            raise
        self._renamed.update(dict.fromkeys(aliases, name))

    def upgrade(self, name: str, from_version: int) -> Callable[[F], F]:
        """Declare the step from ``from_version`` to ``from_version + 1`` of type ``name``.

        The step receives the record's fields as a dict (records it points at appear as
        ``amber.Ref`` markers) and returns the fields of the next version.
        """
        return self._step(self._upgrades, "upgrade", name, from_version, lowest=1)

    def downgrade(self, name: str, from_version: int) -> Callable[[F], F]:
        """Declare the twin step from ``from_version`` down to ``from_version - 1``.

        With it, code at ``from_version`` can keep writing the older version (a write pin)
        while older readers are still deployed. The step receives the fields as a dict
        (records it points at as the live objects) and returns the older version's fields.
        """
        return self._step(self._downgrades, "downgrade", name, from_version, lowest=2)

    def checkpoint_upgrade(self, *, requires: dict[str, int], produces: dict[str, int | None]) -> Callable[[C], C]:
        """Declare a step over the whole checkpoint, run when its types are at ``requires``.

        The step receives an ``amber.Tables`` (every type's records as dicts) and changes it
        in place; afterwards the types are at ``produces`` (a type mapped to None is gone).
        Checkpoint steps run in declaration order, interleaved with the per-type steps.
        """
        if not requires or not all(type(v) is int and v >= 1 for v in requires.values()):
            raise SchemaError(f"a checkpoint step requires type versions >= 1, not {requires!r}")
        if not all(v is None or (type(v) is int and v >= 1) for v in produces.values()):
            raise SchemaError(f"a checkpoint step produces versions >= 1 or None, not {produces!r}")

        def decorate(run: C) -> C:
            name = getattr(run, "__qualname__", repr(run))
            self._checkpoint_steps.append(CheckpointStep(name, run, dict(requires), dict(produces)))
            return run

        return decorate

    def checkpoint_steps(self) -> list[CheckpointStep]:
        return list(self._checkpoint_steps)

    def renamed(self) -> dict[str, str]:
        """Former type names and the names they now go by."""
        return dict(self._renamed)

    def upgrade_step(self, name: str, from_version: int) -> UpgradeStep | None:
        return self._upgrades.get((name, from_version))

    def downgrade_step(self, name: str, from_version: int) -> UpgradeStep | None:
        return self._downgrades.get((name, from_version))

    def _step(
        self, steps: dict[tuple[str, int], UpgradeStep], kind: str, name: str, from_version: int, lowest: int
    ) -> Callable[[F], F]:
        if type(from_version) is not int or from_version < lowest:
            raise SchemaError(f"{name}: a {kind} starts from a version >= {lowest}, not {from_version!r}")

        def decorate(step: F) -> F:
            if (name, from_version) in steps:
                raise SchemaError(f"{name}: the {kind} from version {from_version} is already declared")
            steps[(name, from_version)] = step
            return step

        return decorate

    def elsewhere(self, cls: type) -> str:
        """Where ``cls`` is declared if not here, for messages ("" when nowhere)."""
        for other in list(Registry._every):
            if other is not self and cls in other._by_class:
                rt = other._by_class[cls]
                which = (
                    "amber's default registry (@amber.record)"
                    if other is default_registry
                    else "another amber.Registry"
                )
                return f"{cls.__qualname__} is declared as {rt.name} v{rt.version} in {which}, not in the store's"
        return ""

    def type_of(self, cls: type) -> RecordType | None:
        """The declared type for a class, or None when the class is not persisted."""
        self.resolve()
        return self._by_class.get(cls)

    def lookup(self, name: str, version: int) -> RecordType | None:
        self.resolve()
        return self._by_key.get((name, version))

    def current(self, name: str) -> RecordType | None:
        """The newest declared version of a type, found by its name or a former name."""
        self.resolve()
        name = self._renamed.get(name, name)
        versions = [v for (n, v) in self._by_key if n == name]
        return self._by_key[(name, max(versions))] if versions else None

    def versions(self, name: str) -> list[int]:
        self.resolve()
        return sorted(v for (n, v) in self._by_key if n == name)

    def __iter__(self) -> Iterator[RecordType]:
        self.resolve()
        return iter(list(self._by_class.values()))

    def declared(self) -> list[RecordType]:
        """The application's types: every declared version, without Amber's own (``amber.*``)."""
        return [rt for rt in self if not rt.name.startswith("amber.")]

    def resolve(self) -> None:
        """Analyse types whose annotations could not be evaluated when they were declared."""
        for cls in list(self._pending):
            try:
                self._analyse(cls)
            except NameError as e:
                name, version = self._pending[cls]
                hidden = _hidden_name(cls, e.name) or f"cannot resolve a field's type: {e}"
                raise SchemaError(f"{name} v{version}: {hidden}") from e

    def _check_aliases(self, name: str, aliases: Sequence[str]) -> None:
        for alias in aliases:
            if not isinstance(alias, str) or not NAME_PATTERN.fullmatch(alias) or alias == name:
                raise SchemaError(f"{name}: {alias!r} is not a valid former name")
            if self._renamed.get(alias, name) != name or any(n == alias for n, _ in self._by_key):
                raise SchemaError(f"{name}: the former name {alias} already belongs to another type")

    def _analyse(self, cls: type) -> None:
        name, version = self._pending[cls]
        classes: dict[FieldType, type] = {}
        known = [*self._by_class, *self._pending]
        declared = list(describe_fields(cls, name, self._name_of, classes, known))
        fields = tuple(d.schema for d in declared)
        rt = RecordType(
            cls=cls,
            schema=RecordSchema(name=name, version=version, fields=fields),
            getters=tuple(attrgetter(f.name) for f in fields),
            positional=takes_fields_positionally(cls, fields),
            classes=classes,
            field_aliases={d.schema.name: d.aliases for d in declared if d.aliases},
            defaults=tuple(d.default for d in declared),
            deprecated=frozenset(d.schema.name for d in declared if d.deprecated),
            new_fields=frozenset(d.schema.name for d in declared if d.new),
        )
        del self._pending[cls]
        self._by_class[cls] = rt
        self._by_key[(name, version)] = rt

    def _name_of(self, cls: type) -> str | None:
        if cls in self._by_class:
            return self._by_class[cls].name
        pending = self._pending.get(cls)
        return pending[0] if pending else None


class OpenFile(FrozenRecord, frozen=True):
    """An open file, captured as a descriptor (its path, mode and offset) and reopened on
    restore. Put ``amber.OpenFile.of(f)`` in a snapshot; call ``reopen()`` in ``restore``."""

    path: str
    mode: str
    offset: int

    @classmethod
    def of(cls, file: Any) -> OpenFile:
        """Describe ``file`` (flushed first, so the offset counts everything written)."""
        file.flush()
        return cls(os.path.abspath(file.name), file.mode, file.tell())

    def reopen(self, *, truncate: bool = False, within: str | os.PathLike[str] | None = None) -> Any:
        """Open the file again at the saved offset. ``truncate`` cuts what was written after
        the checkpoint (a log then matches the restored state). ``within`` refuses a path
        outside that folder: the path comes from the checkpoint, so check it like input."""
        path = os.path.realpath(self.path)
        if within is not None and os.path.commonpath([path, os.path.realpath(within)]) != os.path.realpath(within):
            raise ValueError(f"{self.path} lies outside {within}")
        mode = _REOPEN_MODES.get(self.mode)
        if mode is None:
            raise ValueError(f"cannot reopen a file opened with mode {self.mode!r}")
        file = open(path, mode)  # noqa: SIM115 - the caller owns the file
        if truncate and mode not in {"rb", "r"}:
            file.truncate(self.offset)
        file.seek(min(self.offset, os.fstat(file.fileno()).st_size))
        return file


# Modes a saved file is reopened with: never one that empties the file or creates it anew.
_REOPEN_MODES = {
    "r": "r", "rb": "rb", "a": "a", "ab": "ab", "r+": "r+", "rb+": "rb+", "r+b": "rb+",
    "a+": "a+", "ab+": "ab+", "a+b": "ab+", "w": "r+", "wb": "rb+", "w+": "r+", "wb+": "rb+", "w+b": "rb+",
}  # fmt: skip
_BUILTIN_TYPES: list[tuple[type, str]] = [(OpenFile, "amber.OpenFile")]


def record(
    name: str, *, version: int, aliases: Sequence[str] = (), registry: Registry | None = None
) -> Callable[[T], T]:
    """Give a class a stable persisted name and an explicit version.

    ``@amber.record("bank.Account", version=3)`` on a subclass of ``amber.Record`` or on a
    ``@dataclass``. Fails at once when the name/version pair is taken or a field's type
    cannot be persisted. ``aliases`` lists former names of the type.
    """
    return (registry or default_registry).record(name, version=version, aliases=aliases)


def upgrade(name: str, from_version: int, *, registry: Registry | None = None) -> Callable[[F], F]:
    """Declare the upgrade step of type ``name`` from ``from_version`` to the next version.

    ``@amber.upgrade("bank.Account", 2)`` on a function taking the v2 record's fields as a
    dict and returning the v3 fields. Steps chain: v1 data read by v4 code runs 1→2→3→4.
    """
    return (registry or default_registry).upgrade(name, from_version)


def checkpoint_upgrade(
    *, requires: dict[str, int], produces: dict[str, int | None], registry: Registry | None = None
) -> Callable[[C], C]:
    """Declare a step over the whole checkpoint: see :meth:`Registry.checkpoint_upgrade`.

    ``@amber.checkpoint_upgrade(requires={"bank.Customer": 2}, produces={"bank.Customer": 3,
    "bank.Address": 1})`` on a function that splits each customer's address into its own type.
    """
    return (registry or default_registry).checkpoint_upgrade(requires=requires, produces=produces)


def downgrade(name: str, from_version: int, *, registry: Registry | None = None) -> Callable[[F], F]:
    """Declare the downgrade twin of type ``name`` from ``from_version`` to the previous version.

    ``@amber.downgrade("bank.Account", 3)`` on a function taking the v3 fields as a dict and
    returning the v2 fields; it lets this code keep writing v2 (``write_versions``) while v2
    readers are still deployed.
    """
    return (registry or default_registry).downgrade(name, from_version)


def _hidden_name(cls: type, name: str | None) -> str:
    """Why ``name`` in an annotation of ``cls`` will never resolve, if its module imports or
    defines it only under ``if TYPE_CHECKING:`` ("" otherwise: it may be declared later)."""
    if name is None:
        return ""
    module = sys.modules.get(cls.__module__)
    if name not in _type_checking_names(module):
        return ""
    return (
        f"{name!r} is imported only under `if TYPE_CHECKING:` in {cls.__module__}, but Amber needs the class "
        "at run time to store the field: import it at run time (move it out of the TYPE_CHECKING block)"
    )


@functools.cache
def _type_checking_names(module: Any) -> frozenset[str]:
    """Names a module binds only under ``if TYPE_CHECKING:`` (not also at run time, as a
    module breaking an import cycle does with a second import further down)."""
    try:
        tree = ast.parse(inspect.getsource(module))
    except (OSError, TypeError, SyntaxError, ValueError):
        return frozenset()  # no source to read: nothing known
    hidden: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test).split(".")[-1] == "TYPE_CHECKING":
            hidden |= _bound(node.body)
    elsewhere = _bound(s for s in tree.body if not (isinstance(s, ast.If) and "TYPE_CHECKING" in ast.unparse(s.test)))
    return frozenset(hidden - elsewhere)


def _bound(statements: Any) -> set[str]:
    names: set[str] = set()
    for inner in (n for statement in statements for n in ast.walk(statement)):
        if isinstance(inner, ast.Import | ast.ImportFrom):
            names.update((a.asname or a.name).split(".")[0] for a in inner.names)
        elif isinstance(inner, ast.ClassDef):
            names.add(inner.name)
        elif isinstance(inner, ast.Name) and isinstance(inner.ctx, ast.Store):
            names.add(inner.id)
    return names


def _check_declaration(cls: type, name: str, version: int) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SchemaError(f"{name!r} is not a valid type name: use dotted identifiers, e.g. bank.Account")
    if type(version) is not int or version < 1:
        raise SchemaError(f"{name}: version must be an integer >= 1, not {version!r}")
    if not (isinstance(cls, type) and (issubclass(cls, msgspec.Struct) or dataclasses.is_dataclass(cls))):
        raise SchemaError(f"{name}: {cls!r} must subclass amber.Record or be a @dataclass")


default_registry = Registry()  # filled by the module-level decorators
