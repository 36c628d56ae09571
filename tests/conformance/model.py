"""The conformance suite's data model: one writer/reader pair per case, as plain data.

A case declares the fields of one persisted type (``t.Rec``) as its writer wrote it and as
its reader declares it, the rows the writer saved, and what reading them must give: the
reader's rows (compared with their exact types: ``1`` is not ``1.0``), or a typed error. The
harness (``test_conformance.py``) builds real classes from it, saves with the writer's
registry, loads with the reader's, runs ``amber schema check`` on the same pair, and asserts
that both agree. Each case cites the public reference it comes from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # a field without a default


@dataclass(frozen=True)
class F:
    """One field: ``type`` is a Python annotation as text, evaluated with the side's enums
    (by their class names), ``Any``, ``Optional`` and ``Other`` (a second record type) in scope."""

    name: str
    type: str
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    new: bool = False  # amber.field(new=True): not a renamed or reused field


@dataclass(frozen=True)
class Enum:
    """An enum class of one side: ``cls`` is its Python class name (used in annotations),
    ``name`` its stable persisted name, ``members`` name -> value in declaration order."""

    cls: str
    name: str
    members: Mapping[str, int | str]
    aliases: tuple[str, ...] = ()
    default: str | None = None  # amber.enum(..., default=...): where removed members resolve


@dataclass(frozen=True)
class E:
    """An enum member in a row: resolved against the side's enum class named ``cls``."""

    cls: str
    member: str


@dataclass(frozen=True)
class Refused:
    """The plan refuses the pair before any data is read (IncompatibleSchemaError), and
    ``amber schema check`` fails; ``says`` is a fragment of the problem's text."""

    says: str


@dataclass(frozen=True)
class Fails:
    """The plan is sound but these rows cannot be read exactly: a typed error (MigrationError)
    naming the row; ``says`` is a fragment of its text. ``schema check`` passes or warns."""

    says: str


@dataclass(frozen=True)
class Case:
    id: str
    source: str  # the public reference, precise enough to find (spec section, test file and name, rule id)
    writer: tuple[F, ...]
    reader: tuple[F, ...]
    rows: tuple[dict[str, Any], ...]
    expect: tuple[dict[str, Any], ...] | Refused | Fails
    writer_enums: tuple[Enum, ...] = ()
    reader_enums: tuple[Enum, ...] = ()
    # Versions declared between the writer's and the reader's (oldest first): the reader's
    # code still declares them, so the rules walk through them.
    between: tuple[tuple[F, ...], ...] = ()
    newer: bool = False  # the writer is the newer version (an old release reads a new one's data)
    renamed_to: str = ""  # the reader's type has another name, with the writer's as its alias
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)


def one(  # noqa: PLR0917 - a case reads as: id, source, types, values, outcome
    id: str,
    source: str,
    wtype: str,
    rtype: str,
    values: tuple[Any, ...],
    expect: tuple[Any, ...] | Refused | Fails,
    *,
    name: str = "v",
    rdefault: Any = REQUIRED,
    **options: Any,
) -> Case:
    """A case on one field ``name``: the writer's values, and the reader's (or a refusal or a failure)."""
    rows = tuple({name: v} for v in values)
    if not isinstance(expect, Refused | Fails):
        expect = tuple({name: v} for v in expect)
    return Case(
        id=id,
        source=source,
        writer=(F(name, wtype),),
        reader=(F(name, rtype, default=rdefault),),
        rows=rows,
        expect=expect,
        **options,
    )
