"""Enums' persisted identity: a stable name, former names, and where removed members go.

A checkpoint stores each enum field's member names with their values and the enum's stable
name (format 4), so that a reader resolves members by name, as Avro does, and notices an enum
swapped for another one. ``@amber.enum`` gives the name (by default the class's qualified name
without its module, so moving the class is free), former names, and a default member that
values of removed members resolve to. An enum's own ``_missing_`` serves as well.
"""

from __future__ import annotations

import enum as _enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import SchemaError

NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")  # as type names; use with fullmatch

E = TypeVar("E", bound=type[_enum.Enum])


@dataclass(frozen=True)
class EnumDeclaration:
    name: str
    aliases: tuple[str, ...] = ()
    default: str | None = None  # a member name


_declared: dict[type, EnumDeclaration] = {}


def enum(name: str, *, aliases: Sequence[str] = (), default: str | None = None) -> Callable[[E], E]:
    """Give an enum a stable persisted name, its former names, and a default member.

    ``@amber.enum("shop.Status", aliases=["shop.OrderStatus"], default="UNKNOWN")``. Records
    holding a member that a newer release removed read as ``default`` (Avro's enum default);
    without it, the enum's own ``_missing_`` is asked, and failing that the load refuses them.
    Declare it on the enum before the records that use it.
    """
    names = [name, *aliases]
    if not all(isinstance(n, str) and NAME_PATTERN.fullmatch(n) for n in names):
        raise SchemaError(f"enum names are dotted identifiers, e.g. shop.Status, not {names!r}")

    def decorate(cls: E) -> E:
        if not (isinstance(cls, type) and issubclass(cls, _enum.Enum)):
            raise SchemaError(f"@amber.enum({name!r}) goes on an enum.Enum class, not {cls!r}")
        if default is not None and default not in cls.__members__:
            raise SchemaError(f"enum {name}: default {default!r} is not a member of {cls.__qualname__}")
        _declared[cls] = EnumDeclaration(name, tuple(aliases), default)
        return cls

    return decorate


def declared_enum(cls: type) -> EnumDeclaration | None:
    return _declared.get(cls)


def stable_enum_name(cls: type) -> str:
    """The name an enum is stored under: given with ``@amber.enum``, else its class's
    qualified name without the module (``Order.Status``), so that moving it is free."""
    declared = _declared.get(cls)
    if declared is not None:
        return declared.name
    return ".".join(part for part in cls.__qualname__.split(".") if part != "<locals>")


def known_names(cls: type) -> tuple[str, ...]:
    """The stable name an enum class is stored under, then its former names."""
    declared = _declared.get(cls)
    return (stable_enum_name(cls), *(declared.aliases if declared else ()))


def fallback(cls: type[_enum.Enum]) -> Callable[[Any], _enum.Enum | None] | None:
    """What a stored value of a member the class no longer has resolves to: the declared
    default, else the class's own ``_missing_``; None when neither exists."""
    declared = _declared.get(cls)
    if declared is not None and declared.default is not None:
        member = cls[declared.default]
        return lambda value: member
    missing = getattr(cls._missing_, "__func__", None)
    if missing is None or missing is _enum.Enum._missing_.__func__:  # type: ignore[attr-defined]
        return None

    def ask(value: Any) -> _enum.Enum | None:
        try:
            found = cls._missing_(value)
        except Exception:  # the class's own code: a refusal, whatever it raises
            return None
        return found if isinstance(found, cls) else None

    return ask
