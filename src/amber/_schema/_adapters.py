"""Adapters: classes the application does not own (a third-party point, a money type)
persisted through a *form* it declares, a record whose fields say how the value is stored.

The form class gives ``from_value(value) -> form`` (a classmethod) and ``to_value() ->
value``. Everything else is the form's: its schema, name, version, evolution rules and
upgrade steps, ``amber schema check``, the inspect commands. Adapted values are values: built
whole after what they point at, never changed in place by a delta; a load checks that the
value gives back exactly the form it was made from (a lossy adapter is refused, not trusted).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from ..errors import SchemaError, SerializationError
from ._class_kinds import ClassKind, kind_of
from ._record_type import BY_VALUE, RecordType
from ._types import CONTAINER_KINDS, SCALAR_TYPES


class _Adapted(ClassKind):
    label = "adapter"
    builds_bare = False

    def matches(self, cls: type) -> bool:
        return False  # never found by looking at a class: an adapter is declared as one


ADAPTED = _Adapted()


def check_adapter(value_class: Any, form: type, name: str) -> None:
    """Refuse what cannot be adapted, at declaration."""
    if not isinstance(value_class, type):
        raise SchemaError(f"{name}: adapt a class, not {value_class!r}")
    if value_class in SCALAR_TYPES.values() or value_class in CONTAINER_KINDS.values() or kind_of(value_class):
        raise SchemaError(f"{name}: {value_class.__qualname__} is stored as it is; declare a record instead")
    if not (callable(getattr(form, "from_value", None)) and callable(getattr(form, "to_value", None))):
        raise SchemaError(
            f"{name}: the form class {form.__qualname__} needs a classmethod from_value(value) and a method to_value()"
        )


def adapted(form: RecordType, value_class: type) -> RecordType:
    """The persisted type of ``value_class``: ``form``'s schema, read and built through it."""
    from_value: Callable[[Any], Any] = form.cls.from_value  # type: ignore[attr-defined]
    getters = tuple(_through(from_value, getter, form) for getter in form.getters)
    BY_VALUE.add(value_class)
    return dataclasses.replace(form, cls=value_class, getters=getters, positional=False, kind=ADAPTED, form=form)


def _through(from_value: Callable[[Any], Any], getter: Callable[[Any], Any], form: RecordType) -> Callable[[Any], Any]:
    def get(value: Any) -> Any:
        try:
            made = from_value(value)
        except Exception as e:
            raise SerializationError(f"cannot save {form.name}: from_value raised {type(e).__name__}: {e}") from e
        if type(made) is not form.cls:
            raise SerializationError(
                f"cannot save {form.name}: from_value gave a {type(made).__qualname__}, not a {form.cls.__qualname__}"
            )
        return getter(made)

    return get
