"""The writer's inner loops: compiled (``_compiled``, built from ``_compiled.c`` by ``pip
install`` where a C compiler is present) or their pure-Python reference (``_python``).

Both give the same results, so checkpoints are byte-identical whichever runs. The compiled
one is used when it imports; ``AMBER_PURE_PYTHON=1`` in the environment picks the Python one
(to compare, or to rule the extension out)."""

from __future__ import annotations

import os

from . import _identity, _python

if os.environ.get("AMBER_PURE_PYTHON", "") not in ("", "0"):
    _kernels = _python
    COMPILED = False
else:
    try:
        from . import _compiled as _kernels  # type: ignore[no-redef]  # typed by _compiled.pyi

        COMPILED = True
    except ImportError:  # no compiler where it was installed: the reference is as correct
        _kernels = _python
        COMPILED = False

distinct = _kernels.distinct
rows_of = _kernels.rows_of
add_rows = _kernels.add_rows
gather = _kernels.gather
IdIndex: type[_identity.IdIndex] = getattr(_kernels, "IdIndex", _identity.IdIndex)

__all__ = ["COMPILED", "IdIndex", "add_rows", "distinct", "gather", "rows_of"]
