"""Issue 19 hostile review 3 (zones).

docs/format.md §14: a token is ±HH:MM[:SS[.ffffff]], never +00:00. The reader takes
"+05:99" (loads as +06:39), "+00:60" and "+00:00": forged tokens no writer gives are
accepted instead of being a typed error."""

import datetime as dt
import zoneinfo
from typing import Any

import msgspec
import pytest

import amber
from tests.support.helpers import forge

reg = amber.Registry()


@reg.record("rv.Tok", version=1)
class Tok(amber.Record):
    at: dt.datetime


@pytest.mark.parametrize("token", ["+05:99", "+00:60", "+00:00", "-00:00", "+01:00:99"])
def test_a_non_canonical_offset_token_is_refused(tmp_path: Any, token: Any) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Tok(dt.datetime(2024, 1, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris")))])
    m = store.manifest()
    index = next(i for i, s in enumerate(m.segments) if s.kind == "table")
    forge(
        tmp_path, m.id, table=(index, msgspec.msgpack.encode([[dt.datetime(2024, 1, 1, tzinfo=dt.UTC)], {0: [token]}]))
    )
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()
