"""Time zones: kept as written (format 6), said out loud, or refused; never changed silently.

Format 6 keeps a datetime's ZoneInfo key or plain offset beside its instant, in a typed
``datetime`` (or ``datetime | None``) field and in tagged values. What no zone token says (a
pytz or dateutil zone, a timezone's own name, a zone of a datetime nested in a typed
container) loads as a plain offset or UTC, and is said; a time with a zone that needs a date
to give an offset would lose its tzinfo altogether, and is refused. Each case was silent
once. Cases marked "review" came from a hostile review of the first version of these
warnings (a crash, wrong warnings, floods).
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import amber
from amber._format import _zones
from tests.support.helpers import forge

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


class Fixed(dt.tzinfo):
    """A fixed zone with a name, as dateutil's tzoffset and pytz's are; unhashable like
    dateutil's tzutc (``__eq__`` without ``__hash__``)."""

    def __init__(self, name: str, hours: int) -> None:
        self.name, self.offset = name, dt.timedelta(hours=hours)

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        return self.offset

    def tzname(self, when: dt.datetime | None) -> str:
        return self.name

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Fixed) and (self.name, self.offset) == (other.name, other.offset)

    __hash__ = None  # type: ignore[assignment]


KOLKATA = dt.timezone(dt.timedelta(hours=5, minutes=30))
reg = amber.Registry()


@reg.record("tz.Meeting", version=1)
class Meeting(amber.Record):
    when: dt.datetime
    history: list[dt.datetime] = []
    at: dt.time | None = None
    note: Any = None
    either: dt.datetime | str | None = None  # a union stored tagged: its offsets are kept
    maybe: dt.datetime | None = None
    pairs: tuple[dt.datetime, int] | tuple[dt.datetime] | None = None


@pytest.fixture(autouse=True)
def fresh_warnings() -> Iterator[None]:
    """Each place is said once per process: each test starts unsaid."""
    _zones._said.clear()
    yield
    _zones._said.clear()


def saved_and_loaded(state: Any) -> Any:
    store = amber.open_store("memory://", registry=reg)
    store.save(state)
    return store.load()


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "amber.schema"]


UTC_NOON = dt.datetime(2024, 1, 1, 12, tzinfo=dt.UTC)


def test_a_typed_datetime_keeps_its_offset_and_its_zone(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 19: a +05:30 time in a typed field loaded as UTC, and a ZoneInfo became a fixed
    offset, so arithmetic across a daylight-saving change was an hour off."""
    written = dt.datetime(2024, 3, 30, 12, tzinfo=KOLKATA)
    before_dst = dt.datetime(2024, 3, 30, 12, tzinfo=PARIS)  # Paris moves to summer time on the 31st
    (loaded,) = saved_and_loaded([Meeting(written, maybe=before_dst)])
    assert (
        loaded.when == written and loaded.when.tzinfo == KOLKATA and loaded.when.utcoffset() == KOLKATA.utcoffset(None)
    )
    assert loaded.maybe.tzinfo is PARIS, "the same zone object, found by its key"
    day_after = loaded.maybe + dt.timedelta(days=1)
    assert (day_after.hour, day_after.utcoffset()) == (12, dt.timedelta(hours=2)), "wall-clock arithmetic as written"
    assert said(caplog) == []


def test_a_zone_inside_a_typed_list_is_said_with_its_field(caplog: pytest.LogCaptureFixture) -> None:
    paris = dt.datetime(2024, 1, 1, tzinfo=PARIS)
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, history=[paris], maybe=paris)])
    assert loaded.maybe.tzinfo is PARIS and loaded.history[0].tzinfo is dt.UTC
    assert [m.split(":")[0] for m in said(caplog)] == ["tz.Meeting.history"]
    assert "'Europe/Paris'" in said(caplog)[0]


def test_utc_and_naive_datetimes_load_as_written_and_say_nothing(caplog: pytest.LogCaptureFixture) -> None:
    naive = dt.datetime(2024, 1, 1)
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, history=[naive], note=[UTC_NOON, naive], maybe=None)])
    assert loaded.when.tzinfo is dt.UTC and loaded.history[0].tzinfo is None and loaded.note == [UTC_NOON, naive]
    assert said(caplog) == []


def test_a_tagged_datetime_keeps_its_offset_and_its_zone_but_a_foreign_zone_is_said(
    caplog: pytest.LogCaptureFixture,
) -> None:
    fixed = dt.datetime(2024, 3, 30, 12, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(fixed, note=fixed, either=fixed)])
    assert loaded.note.tzinfo == KOLKATA and loaded.either.tzinfo == KOLKATA
    zoned = dt.datetime(2024, 3, 30, 12, tzinfo=PARIS)
    loaded = saved_and_loaded({"at": zoned})
    assert loaded["at"] == zoned and loaded["at"].tzinfo is PARIS
    assert said(caplog) == []
    foreign = dt.datetime(2024, 3, 30, 12, tzinfo=Fixed("EST", -5))  # as pytz's and dateutil's zones are
    assert saved_and_loaded({"at": foreign})["at"].tzinfo == dt.timezone(dt.timedelta(hours=-5))
    assert said(caplog) == [
        "the state's root: times or datetimes with time zone tests.format.test_time_zones.Fixed load with a plain "
        "UTC offset, the zone's name lost (equal instants, different values; said once per process)"
    ]


def test_an_any_field_is_named_in_what_is_said(caplog: pytest.LogCaptureFixture) -> None:
    saved_and_loaded([Meeting(UTC_NOON, note=dt.datetime(2024, 1, 1, tzinfo=Fixed("X", 3)))])
    assert [m.split(":")[0] for m in said(caplog)] == ["tz.Meeting.note"]


def test_a_timezones_own_name_is_a_zone_that_changes(caplog: pytest.LogCaptureFixture) -> None:
    """review: timezone(0, "GMT") loaded as timezone.utc, and "CET" as "UTC+01:00", unsaid."""
    gmt = dt.timezone(dt.timedelta(0), "GMT")
    cet = dt.timezone(dt.timedelta(hours=1), "CET")
    (loaded,) = saved_and_loaded([Meeting(dt.datetime(2024, 1, 1, tzinfo=gmt), note=dt.time(9, tzinfo=cet))])
    assert loaded.note.tzname() == "UTC+01:00"
    assert sorted(m.split(":")[0] for m in said(caplog)) == ["tz.Meeting.note", "tz.Meeting.when"]
    assert "'GMT'" in " ".join(said(caplog)) and "'CET'" in " ".join(said(caplog))


def test_a_named_zone_after_an_equal_plain_one_in_a_column_is_still_said(caplog: pytest.LogCaptureFixture) -> None:
    """Timezones compare by offset alone: UTC == timezone(0, "GMT"). The column's one-zone
    shortcut must go by identity, or the GMT values lose their name unsaid."""
    gmt = dt.timezone(dt.timedelta(0), "GMT")
    saved_and_loaded([Meeting(UTC_NOON), Meeting(dt.datetime(2024, 1, 1, tzinfo=gmt))])
    assert len(said(caplog)) == 1 and "'GMT'" in said(caplog)[0]


def test_a_typed_time_with_a_zone_that_is_more_than_an_offset_is_said(caplog: pytest.LogCaptureFixture) -> None:
    """review: a dateutil tzoffset("EST", ...) lost its name in a typed time, unsaid."""
    est = Fixed("EST", -5)
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, at=dt.time(9, tzinfo=est))])
    assert loaded.at.utcoffset() == dt.timedelta(hours=-5)
    assert [m.split(":")[0] for m in said(caplog)] == ["tz.Meeting.at"]
    assert "test_time_zones.Fixed" in said(caplog)[0]


def test_an_unhashable_zone_is_said_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    """review: dateutil's tzutc cannot be hashed; the first version died with a TypeError."""
    written = dt.datetime(2024, 1, 1, tzinfo=Fixed("Z", 0))
    (loaded,) = saved_and_loaded([Meeting(written, maybe=written, note=written)])
    assert loaded.when == written
    assert len(said(caplog)) == 3


def test_a_union_of_tuples_saves_as_before() -> None:
    """review: the first version crashed (IndexError) on a one-item tuple of a union of tuples."""
    (loaded,) = saved_and_loaded([Meeting(UTC_NOON, pairs=(dt.datetime(2024, 1, 1),))])
    assert loaded.pairs == (dt.datetime(2024, 1, 1),)


def test_each_place_is_said_once_naming_a_few_zones_whatever_the_number(caplog: pytest.LogCaptureFixture) -> None:
    """review: a fresh zone per value gave a warning per value, and the set of them grew."""
    offsets = [dt.timezone(dt.timedelta(minutes=m), f"Z{m}") for m in range(1, 600)]  # named: no token keeps them
    for _ in range(2):
        saved_and_loaded([Meeting(dt.datetime(2024, 1, 1, tzinfo=z)) for z in offsets])
    (one,) = said(caplog)
    assert "and 596 more" in one
    assert _zones._said == {"tz.Meeting.when"}


@pytest.mark.parametrize("where", ["typed", "tagged"])
def test_a_time_whose_zone_needs_a_date_is_refused_not_stripped(where: str) -> None:
    """Before: stored as "09:00:00", loaded naive: the zone gone without a word."""
    paris_nine = dt.time(9, tzinfo=PARIS)
    state = [Meeting(dt.datetime(2024, 1, 1), at=paris_nine)] if where == "typed" else {"at": paris_nine}
    with pytest.raises(amber.SerializationError, match="no fixed UTC offset"):
        saved_and_loaded(state)


def test_a_time_with_a_fixed_offset_keeps_it_and_says_nothing(caplog: pytest.LogCaptureFixture) -> None:
    nine = dt.time(9, tzinfo=KOLKATA)
    (loaded,) = saved_and_loaded([Meeting(dt.datetime(2024, 1, 1), at=nine, note=nine)])
    assert loaded.at == nine and loaded.at.utcoffset() == KOLKATA.utcoffset(None) and loaded.note == nine
    assert said(caplog) == []


@reg.record("tz.Stamp", version=1)
class Stamp(amber.Record):
    at: dt.datetime
    n: int = 0


def _forged(tmp_path: Path, table: list[Any]) -> amber.CheckpointStore:
    """A checkpoint whose table segment is ``table`` (columns, then zone tokens), flagged so."""
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Stamp(dt.datetime(2024, 1, 1, tzinfo=PARIS))])
    manifest = store.manifest()
    index = next(i for i, s in enumerate(manifest.segments) if s.kind == "table")
    assert manifest.segments[index].zones and manifest.format_version == 6
    forge(tmp_path, manifest.id, table=(index, msgspec.msgpack.encode(table)))
    return store


UTC_INSTANT = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("table", "said"),
    [
        ([[UTC_INSTANT], [0], {0: ["../../etc/passwd"]}], "a zone key or a UTC offset"),
        ([[UTC_INSTANT], [0], {0: ["Nowhere/City"]}], "which this machine does not know"),
        ([[UTC_INSTANT], [0], {0: ["+99:00"]}], "a zone token"),
        ([[UTC_INSTANT], [0], {1: ["+01:00"]}], "zone tokens for a datetime field's 1 rows"),  # an int field
        ([[UTC_INSTANT], [0], {0: ["+01:00", None]}], "zone tokens for a datetime field's 1 rows"),
        ([[dt.datetime(2024, 1, 1).isoformat()], [0], {0: ["+01:00"]}], "a zone token beside an aware datetime"),
    ],
)
def test_a_forged_zone_token_is_a_typed_error(tmp_path: Path, table: list[Any], said: str) -> None:
    store = _forged(tmp_path, table)
    with pytest.raises(amber.CorruptCheckpointError, match=said):
        store.load()


def test_a_forged_zone_key_in_a_tagged_datetime_is_a_typed_error(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save({"at": dt.datetime(2024, 1, 1, tzinfo=PARIS)})
    manifest = store.manifest()
    forge(
        tmp_path,
        manifest.id,
        root=msgspec.msgpack.encode([7, [1, ["at"]], [0, [[9, "2024-01-01T00:00:00+01:00", "../x"]]]]),
    )
    with pytest.raises(amber.CorruptCheckpointError):
        store.load()


def test_zones_make_a_checkpoint_format_6_and_utc_leaves_it_as_it_was(tmp_path: Path) -> None:
    store = amber.open_store(tmp_path, registry=reg)
    store.save([Stamp(UTC_INSTANT)])
    assert store.manifest().format_version == 1
    store.save([Stamp(dt.datetime(2024, 1, 1, tzinfo=KOLKATA))])
    assert store.manifest().format_version == 6


@settings(max_examples=80)
@given(st.datetimes(timezones=st.timezones() | st.just(dt.UTC) | st.none()))
@example(
    dt.datetime(1999, 3, 28, 2, 0, tzinfo=zoneinfo.ZoneInfo("Asia/Srednekolymsk"))
)  # in a gap: found by hypothesis
def test_any_datetime_in_any_zone_loads_as_written_typed_or_not(written: dt.datetime) -> None:
    (loaded,) = saved_and_loaded([Meeting(written, note=written, maybe=written)])
    wall = written.replace(tzinfo=None)
    in_a_gap = (
        written.tzinfo is not None
        and written.astimezone(dt.UTC).astimezone(written.tzinfo).replace(tzinfo=None) != wall
    )
    for value in (loaded.when, loaded.note, loaded.maybe):
        # A wall time that does not exist in its zone (a daylight-saving gap) keeps its offset
        # and wall time, in a fixed-offset zone (said at save: docs/types.md).
        assert (value.tzinfo == written.tzinfo and value == written) or in_a_gap  # PEP 495: gaps never compare equal
        assert value.utcoffset() == written.utcoffset()
        assert (value.date(), value.time()) == (written.date(), written.time()), "the same wall-clock time"


def test_a_datetime_moved_to_another_zone_in_place_survives_a_delta(tmp_path: Path) -> None:
    """The same instant in another zone encodes to the same msgpack timestamp: a delta's
    adoption took the column for unchanged and kept the earlier zone."""
    table: amber.Table[int, Stamp] = amber.Table({1: Stamp(dt.datetime(2024, 1, 1, tzinfo=dt.UTC))})
    store = amber.open_store(tmp_path, registry=reg)
    first = store.save({"t": table})
    table[1].at = table[1].at.astimezone(PARIS)  # changed in place: the same instant
    table.touch(1)
    store.save({"t": table}, parent=first.id)
    assert store.load()["t"][1].at.tzinfo is PARIS
