"""Successive releases of a small app, for the schema lock and check tests (--app lock_apps:NAME)."""

from __future__ import annotations

from typing import Any

import amber


def release(
    name: str,
    *fields: tuple[str, Any, Any],
    version: int = 1,
    type_name: str = "shop.Item",
    aliases: tuple[str, ...] = (),
    old: tuple[tuple[int, tuple[tuple[str, Any, Any], ...]], ...] = (),
    step: bool = False,
) -> amber.Registry:
    """A registry declaring ``type_name`` at ``version`` with ``fields`` ((name, type, default))."""
    registry = amber.Registry()
    for old_version, old_fields in old:
        registry.register(_struct(f"{name}_v{old_version}", old_fields), type_name, version=old_version)
    registry.register(_struct(name, fields), type_name, version=version, aliases=aliases)
    if step:
        registry.upgrade(type_name, version - 1)(lambda f: {**f, "price_cents": 0})
    return registry


def _struct(name: str, fields: tuple[tuple[str, Any, Any], ...]) -> type:
    import msgspec

    spec = [(n, t) if d is ... else (n, t, d) for n, t, d in fields]
    return msgspec.defstruct(name, spec, bases=(amber.Record,))


BASE = (("sku", str, ...), ("price", float, ...), ("note", str, ""))

v1 = release("Item", *BASE)
v1_changed = release("Item", ("sku", str, ...), ("price", float, ...), ("note", str, ""), ("x", int, 0))
v2_required = release("Item", ("price_cents", int, ...), *BASE, version=2)
v2_default = release("Item", *BASE, ("price_cents", int, 0), version=2)
v2_step = release("Item", ("price_cents", int, ...), *BASE, version=2, step=True)
v2_retyped = release("Item", ("sku", int, ...), ("price", float, ...), version=2)
v2_dropped_note = release("Item", ("sku", str, ...), ("price", float, ...), version=2)
v3_note_reused = release("Item", ("sku", str, ...), ("price", float, ...), ("note", int, 0), version=3)
renamed_no_alias = release("Item", *BASE, type_name="shop.Product")
renamed_alias = release("Item", *BASE, type_name="shop.Product", aliases=("shop.Item",))
