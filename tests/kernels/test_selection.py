"""Which kernels amber._kernels uses: a broken build must not fall back silently."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

import amber._kernels as kernels

PURE = os.environ.get("AMBER_PURE_PYTHON", "") not in ("", "0")


@pytest.mark.skipif(not (shutil.which("cc") or shutil.which("gcc")), reason="no C compiler: the Python kernels run")
@pytest.mark.skipif(PURE, reason="AMBER_PURE_PYTHON picks the Python kernels")
def test_the_compiled_kernels_are_used_where_a_compiler_is() -> None:
    # pip install builds the extension where a compiler is; optional=True would hide a build
    # that failed, so here it must have been built and imported.
    assert kernels.COMPILED
    assert kernels.distinct.__module__ == "amber._kernels._compiled"


def test_amber_pure_python_picks_the_python_kernels() -> None:
    code = "import amber._kernels as k; print(k.COMPILED, k.distinct.__module__)"
    env = {**os.environ, "AMBER_PURE_PYTHON": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "amber._kernels._python"]


@pytest.mark.parametrize("name", ["IdIndex", "RowIndex"])
def test_the_selected_indexes_follow_the_kernels(name: str) -> None:
    code = f"import amber._kernels as k; print(k.COMPILED, k.{name}.__module__)"
    modules = {"True": "amber._kernels._compiled_identity", "False": "amber._kernels._identity"}
    for pure in ("1", "0"):
        env = {**os.environ, "AMBER_PURE_PYTHON": pure}
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
        compiled, module = out.stdout.split()
        assert module == modules[compiled]
        assert compiled == "False" or pure == "0"
