"""Both kernels write the same checkpoint, byte for byte (issue 22: the format does not
change with the compiled kernels). States are generated; each is saved once through the
compiled kernels and once through the pure-Python ones, in one process, and the stores'
files compared. ``make test`` also runs the whole suite once per path."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import amber
from amber import _kernels
from amber._kernels import _identity, _python
from tests.support.sample import Account, Branch, Customer, everything, kinds_state, registry

compiled = pytest.importorskip("amber._kernels._compiled", reason="the compiled kernels are not built here")

# Every module that took a kernel by name at import, and the names it took.
USERS = {
    "amber._graph._writer": ["exact_items", "gather"],
    "amber._graph._record_table": ["RowIndex", "distinct"],
    "amber._format._columns": ["distinct"],
}
PURE = {name: getattr(_python, name, None) for names in USERS.values() for name in names}
PURE["RowIndex"] = _identity.RowIndex


@contextlib.contextmanager
def pure_kernels() -> Iterator[None]:
    import importlib

    saved: list[tuple[Any, str, Any]] = []
    try:
        for module_name, names in USERS.items():
            module = importlib.import_module(module_name)
            for name in names:
                assert hasattr(module, name), f"{module_name} no longer takes {name}: update USERS"
                saved.append((module, name, getattr(module, name)))
                setattr(module, name, PURE[name])
        saved.append((_kernels, "IdIndex", _kernels.IdIndex))
        _kernels.IdIndex = _identity.IdIndex
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def saved_twice(tmp: Path, states: list[Any]) -> tuple[list[bytes], list[bytes]]:
    """The data files of the same states (a full checkpoint, then deltas) saved through
    each path (manifests differ by their time of creation)."""
    found = []
    for name, patch in (("compiled", contextlib.nullcontext()), ("pure", pure_kernels())):
        root, data = tmp / name, []
        with patch:
            store = amber.open_store(str(root), registry=registry)
            parent = None
            for state in states:
                info = store.save(state, parent=parent)
                parent = info.id
                data.append((root / store.manifest(info.id).data).read_bytes())
        found.append(data)
    return found[0], found[1]


names = st.text(max_size=8)
int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
customers = st.lists(st.builds(Customer, int64, names), min_size=1, max_size=12)


@st.composite
def bank_states(draw: st.DrawFn) -> dict[str, Any]:
    people = draw(customers)
    people = people + draw(st.lists(st.sampled_from(people), max_size=4))  # the same customer twice
    accounts = draw(
        st.lists(
            st.builds(
                Account,
                int64,
                st.sampled_from(people),
                int64,
                st.lists(names, max_size=3),
                st.floats(allow_nan=False) | st.integers(min_value=-(2**53), max_value=2**53),
            ),
            max_size=40,
        )
    )
    branch = Branch("root", manager=draw(st.sampled_from(people)))
    branch.children = [Branch(f"b{i}", parent=branch) for i in range(draw(st.integers(0, 3)))]
    return {"accounts": amber.Table(dict(enumerate(accounts))), "customers": people, "branch": branch}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=bank_states(), data=st.data())
def test_generated_states_and_their_deltas_give_the_same_bytes(tmp_path_factory: Any, state: Any, data: Any) -> None:
    tmp = tmp_path_factory.mktemp("same")
    accounts = state["accounts"]
    later = dict(state)
    for key in data.draw(st.lists(st.sampled_from(sorted(accounts) or [0]), max_size=5)):
        if key in accounts:
            old = accounts[key]
            accounts[key] = Account(old.id, old.owner, old.balance + 1, list(old.tags), old.opened)
    compiled_files, pure_files = saved_twice(tmp, [state, later])
    assert compiled_files == pure_files


def test_every_field_kind_gives_the_same_bytes(tmp_path: Path) -> None:
    state = {"everything": everything(), "kinds": kinds_state()}
    compiled_files, pure_files = saved_twice(tmp_path, [state])
    assert compiled_files == pure_files
