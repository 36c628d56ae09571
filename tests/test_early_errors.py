"""Errors at the right moment, pointing the right way: an annotation visible only to type
checkers is refused at decoration; a container held in two places is refused at save with
where it is, instead of coming back as two; a record of another registry is named as such."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

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


def test_a_list_shared_by_two_records_is_refused_naming_the_rows() -> None:
    registry = amber.Registry()

    @registry.record("t.Post", version=1)
    class Post(amber.Record):
        tags: list[str]

    tags = ["news"]
    with pytest.raises(
        amber.SerializationError, match=r"t.Post.tags \(rows 0 and 2\): one list object is held by both"
    ):
        amber.open_store("memory://", registry=registry).save([Post(tags), Post(["a"]), Post(tags)])
    assert amber.open_store("memory://", registry=registry).save([Post(tags), Post(list(tags))]).counts == {"t.Post": 2}


def test_a_container_shared_in_the_state_is_refused_with_its_path() -> None:
    shared = {"limit": 3}
    with pytest.raises(amber.SerializationError, match=r"state\['b'\]\[0\]: one dict object is held in two places"):
        amber.open_store("memory://").save({"a": shared, "b": [shared]})


def test_a_record_of_another_registry_is_named_as_such() -> None:
    @amber.record("t.Declared", version=1)
    class Declared(amber.Record):
        n: int

    with pytest.raises(amber.SerializationError, match="declared as t.Declared v1 in amber's default registry"):
        amber.open_store("memory://", registry=amber.Registry()).save([Declared(1)])


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


def test_a_container_shared_by_two_keys_of_a_table_is_refused_in_a_delta_too() -> None:
    table = amber.Table({1: ["a"], 2: ["b"]})
    store = amber.open_store("memory://")
    first = store.save({"t": table})
    table[3] = table[1]  # only key 3 changed: the delta alone would not meet the list twice
    with pytest.raises(amber.SerializationError, match=r"one list object is held by both.*keys 1, 3"):
        store.save({"t": table}, parent=first.id)
