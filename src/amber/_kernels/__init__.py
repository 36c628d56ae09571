"""The writer's inner loops: compiled (``_compiled`` and ``_compiled_identity``, built from
``_compiled.c`` and ``_identity.c`` by ``pip install`` where a C compiler is present) or their
pure-Python reference (``_python`` and ``_identity``).

Both give the same results, so checkpoints are byte-identical whichever runs. The compiled
ones are used when both import; ``AMBER_PURE_PYTHON=1`` in the environment picks the Python
ones (to compare, or to rule the extensions out)."""

from __future__ import annotations

import os
from typing import cast

from . import _identity, _python

IdIndex: type[_identity.IdIndex]
RowIndex: type[_identity.RowIndex]

# All compiled or all Python, never a mix: COMPILED then says which path runs, and a build
# that produced only one of the two extensions runs the path the Python tests cover.
if os.environ.get("AMBER_PURE_PYTHON", "") not in ("", "0"):
    _kernels = _python
    IdIndex, RowIndex = _identity.IdIndex, _identity.RowIndex
    COMPILED = False
else:
    try:
        from . import _compiled as _kernels  # type: ignore[no-redef]  # typed by _compiled.pyi
        from ._compiled_identity import IdIndex as _CompiledIdIndex  # typed by _compiled_identity.pyi
        from ._compiled_identity import RowIndex as _CompiledRowIndex
    except ImportError:  # no compiler where it was installed: the reference is as correct
        _kernels = _python
        IdIndex, RowIndex = _identity.IdIndex, _identity.RowIndex
        COMPILED = False
    else:
        # The same interfaces, but not subclasses: typed as the references, which the callers
        # name (tests/kernels/test_identity_index.py and test_row_index.py check they agree).
        IdIndex = cast("type[_identity.IdIndex]", _CompiledIdIndex)
        RowIndex = cast("type[_identity.RowIndex]", _CompiledRowIndex)
        COMPILED = True

distinct = _kernels.distinct
gather = _kernels.gather
exact_items = _kernels.exact_items

__all__ = ["COMPILED", "IdIndex", "RowIndex", "distinct", "exact_items", "gather"]
