"""Why a class's annotation names a class that will never be declared: it is imported (or
defined) only under ``if TYPE_CHECKING:``. Read from the module's source, for the error
message that tells the user to import it at run time.
"""

from __future__ import annotations

import ast
import functools
import inspect
import sys
from typing import Any


def hidden_name(cls: type, name: str | None) -> str:
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
