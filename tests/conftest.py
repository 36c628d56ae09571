"""Shared fixtures: a fresh registry per test and stores of every local kind."""

from __future__ import annotations

from pathlib import Path

import pytest

import amber


@pytest.fixture
def registry() -> amber.Registry:
    return amber.Registry()


@pytest.fixture(params=["local", "memory"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return str(tmp_path / "store") if request.param == "local" else "memory://"
