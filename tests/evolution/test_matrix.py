"""The migration matrix: every frozen release's checkpoint loads and migrates into the current code."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import amber
from amber import commands
from tests.support.helpers import tree_digest
from tests.support.matrix_app import RELEASES, invariants, v3

GOLDEN = Path(__file__).parents[1] / "golden" / "matrix"


def test_every_release_has_a_golden_checkpoint() -> None:
    assert sorted(p.name for p in GOLDEN.iterdir()) == [f"app-v{r}" for r in RELEASES]


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_each_release_loads_into_the_current_code_and_keeps_its_invariants(release: int) -> None:
    store_dir = GOLDEN / f"app-v{release}"
    before = tree_digest(store_dir)
    invariants(amber.open_store(store_dir, registry=v3, create=False).load())
    assert tree_digest(store_dir) == before


@pytest.mark.parametrize("release", sorted(RELEASES))
def test_each_release_migrates_offline_and_rolls_back(release: int, tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    shutil.copytree(GOLDEN / f"app-v{release}", store_dir)
    result = commands.migrate(amber.open_store(store_dir, registry=v3))
    assert result["target"] == "000000000002"
    migrated = amber.open_store(store_dir, registry=v3)
    assert all(t.direct for t in migrated.plan().types), "the migrated checkpoint is at the current versions"
    invariants(migrated.load())
    commands.rollback(str(store_dir))
    assert amber.open_store(store_dir, registry=RELEASES[release]).load(3)["accounts"][7].id == 7
