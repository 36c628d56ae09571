"""``amber.testing``: the test kit for services that persist their state with Amber.

``records`` needs the ``testing`` extra (``pip install 'amber-state[testing]'``: hypothesis
and pytest), which also registers the pytest plugin (``amber.testing.plugin``: fixtures).
See docs/testing.md.

- ``records(cls)``: hypothesis strategy for any declared record type; ``assert_roundtrip``;
  ``assert_restores_to``: a store's checkpoint holds a live state (a delta's chain resolved).
- ``freeze_fixture`` / ``check_migrations``: a frozen checkpoint per release, and the
  migration matrix over all of them as one test.
- ``Faults`` / ``faulty_store`` / ``power_loss``: a local store whose disk fails on cue
  (errors, torn writes, ENOSPC, slow I/O, SIGKILL or a simulated power loss at any call);
  ``run_in_child``: run code in a real child process that may be killed.
"""

from __future__ import annotations

from typing import Any

from ..errors import MissingExtraError
from ._crash import ChildOutcome, run_in_child
from ._faults import OPERATIONS, Crash, Faults, FaultyFileSystem, faulty_store, power_loss
from ._fixtures import FixtureResult, check_migrations, freeze_fixture
from ._roundtrip import assert_restores_to, assert_roundtrip


def __getattr__(name: str) -> Any:
    if name == "records":  # needs hypothesis: imported when asked for (the pytest plugin does not)
        try:
            from ._strategies import records
        except ImportError as e:
            raise MissingExtraError("amber.testing.records", "testing", "hypothesis") from e
        return records
    raise AttributeError(f"module 'amber.testing' has no attribute {name!r}")


__all__ = [
    "OPERATIONS",
    "ChildOutcome",
    "Crash",
    "Faults",
    "FaultyFileSystem",
    "FixtureResult",
    "assert_restores_to",
    "assert_roundtrip",
    "check_migrations",
    "faulty_store",
    "freeze_fixture",
    "power_loss",
    "records",
    "run_in_child",
]
