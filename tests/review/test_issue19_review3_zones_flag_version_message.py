"""Issue 19 hostile review 3 (zones).

A format-5 manifest with a zones flag is refused, but the message says "expected no
tables or parent" (needed_version's table lacks 6): the wrong reason for the operator."""

import datetime as dt
import zoneinfo
from typing import Any

import pytest

import amber
from tests.support.helpers import forge

reg = amber.Registry()


@reg.record("rv.V", version=1)
class V(amber.Record):
    at: dt.datetime


def test_the_reason_names_the_zones(tmp_path: Any) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([V(dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")))])
    forge(tmp_path, store.manifest().id, edit=lambda m: {**m, "format_version": 5})
    with pytest.raises(amber.CorruptCheckpointError) as e:
        store.load()
    assert "no tables or parent" not in str(e.value), str(e.value)
