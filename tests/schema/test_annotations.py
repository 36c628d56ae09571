"""Annotations checked at the right moment: one imported only for type checkers is refused at
decoration; one declared later in the module, or imported at run time too, is fine."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import amber


def test_an_annotation_imported_only_for_type_checkers_is_refused_at_decoration(tmp_path: Path) -> None:
    (tmp_path / "typed_app.py").write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            from typing import TYPE_CHECKING
            import amber

            if TYPE_CHECKING:
                from decimal import Decimal

            @amber.record("shop.Price", version=1)
            class Price(amber.Record):
                amount: Decimal
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-c", "import typed_app"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert (
        "amber.errors.SchemaError: shop.Price v1: 'Decimal' is imported only under `if TYPE_CHECKING:`" in result.stderr
    )


def test_a_class_declared_later_in_the_module_is_still_fine() -> None:
    registry = amber.Registry()

    @registry.record("t.Parent", version=1)
    class Parent(amber.Record):
        child: Child

    @registry.record("t.Child", version=1)
    class Child(amber.Record):
        n: int

    info = amber.open_store("memory://", registry=registry).save([Parent(Child(1))])
    assert info.counts == {"t.Parent": 1, "t.Child": 1}


def test_a_type_checking_import_also_made_at_run_time_is_fine(tmp_path: Path) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text(
        textwrap.dedent(
            """
            from __future__ import annotations
            from typing import TYPE_CHECKING
            import amber

            if TYPE_CHECKING:
                from cyclic.b import B

            @amber.record("cyc.A", version=1)
            class A(amber.Record):
                b: B

            from cyclic.b import B  # noqa: E402 - the import cycle broken at run time
            """
        )
    )
    (package / "b.py").write_text(
        "import amber\n\n@amber.record('cyc.B', version=1)\nclass B(amber.Record):\n    n: int\n"
    )
    code = "import amber, cyclic.a as a; print(amber.open_store('memory://').save([a.A(a.B(1))]).counts)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60
    )
    assert result.stdout.strip() == "{'cyc.A': 1, 'cyc.B': 1}", result.stderr
