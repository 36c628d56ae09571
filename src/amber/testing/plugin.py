"""The pytest plugin of ``amber.testing`` (registered by the ``testing`` extra): fixtures
for a service's tests. ``amber_store``: a fresh local store in the test's temporary folder
(no fsync: fast); ``amber_faults`` and ``amber_faulty_store``: a store whose disk fails as
the test tells ``amber_faults``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .._store._checkpoint import CheckpointStore
from .._store._open import open_store
from ._faults import Faults, faulty_store


@pytest.fixture
def amber_store(tmp_path: Path) -> CheckpointStore:
    return open_store(tmp_path / "amber-store", fsync=False)


@pytest.fixture
def amber_faults() -> Faults:
    return Faults()


@pytest.fixture
def amber_faulty_store(tmp_path: Path, amber_faults: Faults) -> CheckpointStore:
    return faulty_store(tmp_path / "amber-faulty-store", amber_faults)
