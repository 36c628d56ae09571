"""The registry: every persisted type a program declares, by class and by (name, version),
with former names (aliases) and the upgrade and downgrade steps between versions.

A persisted type is known by the name given in ``@amber.record``, never by its import
path, so code can move freely. The module-level decorators fill ``default_registry``.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any, TypeVar

from ..errors import SchemaError
from ._adapters import adapted, check_adapter
from ._class_kinds import kind_names, kind_of
from ._enums import NAME_PATTERN
from ._fields import RecordSchema, describe_fields, takes_fields_positionally
from ._hidden_names import hidden_name
from ._open_file import OpenFile
from ._record_type import Fields, RecordType
from ._types import FieldType

T = TypeVar("T", bound=type)
UpgradeStep = Callable[[Fields], Fields]
F = TypeVar("F", bound=UpgradeStep)
C = TypeVar("C", bound=Callable[[Any], None])


@dataclass(frozen=True)
class CheckpointStep:
    """A step over a whole checkpoint (split, merge, move fields between types)."""

    name: str
    run: Callable[[Any], None]  # receives an amber.Tables
    requires: dict[str, int]  # the versions it runs at
    produces: dict[str, int | None]  # the versions it leaves (None: the type is gone)


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
        self._adapted: dict[type, type] = {}  # form class -> the class it adapts
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
            hidden = hidden_name(cls, e.name)
            if hidden:
                del self._pending[cls]
                raise SchemaError(f"{name} v{version}: {hidden}") from None
        except SchemaError:
            del self._pending[cls]
            raise
        self._renamed.update(dict.fromkeys(aliases, name))

    def adapter(self, value_class: type, name: str, *, version: int, aliases: Sequence[str] = ()) -> Callable[[T], T]:
        """Declare, on a form class, how values of ``value_class`` (a class you do not own)
        are persisted: as version ``version`` of the type ``name``, with the form's fields.
        The form gives ``from_value(value)`` (a classmethod) and ``to_value()``."""

        def decorate(form: T) -> T:
            check_adapter(value_class, form, name)
            if value_class in self._by_class or value_class in self._adapted.values():
                raise SchemaError(f"{value_class.__qualname__} is already declared as a persisted type")
            self._adapted[form] = value_class
            try:
                self.register(form, name, version=version, aliases=aliases)
            except SchemaError:
                del self._adapted[form]
                raise
            return form

        return decorate

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
                hidden = hidden_name(cls, e.name) or f"cannot resolve a field's type: {e}"
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
        kind = kind_of(cls)
        assert kind is not None  # checked when declared
        fields = tuple(d.schema for d in declared)
        rt = RecordType(
            cls=cls,
            schema=RecordSchema(name=name, version=version, fields=fields),
            getters=tuple(attrgetter(f.name) for f in fields),
            positional=takes_fields_positionally(cls, fields),
            kind=kind,
            classes=classes,
            field_aliases={d.schema.name: d.aliases for d in declared if d.aliases},
            defaults=tuple(d.default for d in declared),
            deprecated=frozenset(d.schema.name for d in declared if d.deprecated),
            new_fields=frozenset(d.schema.name for d in declared if d.new),
        )
        del self._pending[cls]
        if cls in self._adapted:  # the form's schema, for values of the class it adapts
            value_class = self._adapted[cls]
            rt = adapted(rt, value_class)
            cls = value_class
        self._by_class[cls] = rt
        self._by_key[(name, version)] = rt

    def _name_of(self, cls: type) -> str | None:
        if cls in self._by_class:
            return self._by_class[cls].name
        pending = self._pending.get(cls)
        return pending[0] if pending else None


_BUILTIN_TYPES: list[tuple[type, str]] = [(OpenFile, "amber.OpenFile")]


def record(
    name: str, *, version: int, aliases: Sequence[str] = (), registry: Registry | None = None
) -> Callable[[T], T]:
    """Give a class a stable persisted name and an explicit version.

    ``@amber.record("bank.Account", version=3)`` on a subclass of ``amber.Record``, a
    ``@dataclass``, a ``typing.NamedTuple``, an attrs class or a pydantic model. Fails at
    once when the name/version pair is taken or a field's type cannot be persisted.
    ``aliases`` lists former names of the type.
    """
    return (registry or default_registry).record(name, version=version, aliases=aliases)


def adapter(
    value_class: type, name: str, *, version: int, aliases: Sequence[str] = (), registry: Registry | None = None
) -> Callable[[T], T]:
    """Persist a class you do not own through a form class you declare.

    ``@amber.adapter(Money, "shop.Money", version=1)`` on a record (or dataclass, ...) whose
    fields are what is stored, with a classmethod ``from_value(money)`` and a method
    ``to_value()``. The form's versions evolve like any record's; see docs/types.md.
    """
    return (registry or default_registry).adapter(value_class, name, version=version, aliases=aliases)


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


def _check_declaration(cls: type, name: str, version: int) -> None:
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        raise SchemaError(f"{name!r} is not a valid type name: use dotted identifiers, e.g. bank.Account")
    if type(version) is not int or version < 1:
        raise SchemaError(f"{name}: version must be an integer >= 1, not {version!r}")
    if kind_of(cls) is None:
        raise SchemaError(f"{name}: {cls!r} must be {kind_names()}")


default_registry = Registry()  # filled by the module-level decorators
