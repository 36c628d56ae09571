"""Time zones the format cannot keep as written, refused or said out loud.

Format 5 keeps a ``datetime``'s UTC offset only in tagged positions (an ``Any`` field, the
state's root): a typed field stores the instant in UTC. A zone's identity is kept nowhere
but as a plain offset: a ``zoneinfo.ZoneInfo`` key, a pytz or dateutil zone, a
``datetime.timezone``'s own name ("GMT", "CET") all load as ``datetime.timezone(offset)``,
so names change and daylight-saving arithmetic on the value changes. Equal instants,
different values: the standard says such a change is never silent. So each place (a
type's field, or the state's root) that holds a zone a save cannot keep is said, once per
process, naming the zones met (through ``loud``: shown even without logging set up).

A ``time`` whose tzinfo has no fixed offset (a ``ZoneInfo`` needs a date to know one) would
lose its tzinfo altogether: it is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterable
from itertools import repeat
from operator import attrgetter, is_

from ..events._loud import loud
from ._errors import BadValue

log = logging.getLogger("amber.schema")
_said: set[str] = set()  # places already said: one per field or root, so bounded by the schema
_said_lock = threading.Lock()
_UTC_OFFSET = dt.timedelta(0)
_SHOWN = 3  # zones named in one warning; the rest are counted
_DERIVED: dict[dt.timedelta, str] = {}  # offset -> the name datetime.timezone(offset) has


def _plain(zone: dt.timezone) -> bool:
    # The derived name is cached by offset, not the answer by zone: timezones compare (and
    # hash) by offset alone, so "GMT" would pass for UTC. A tagged column asks per value.
    if zone is dt.UTC:
        return True
    offset = zone.utcoffset(None)
    derived = _DERIVED.get(offset)
    if derived is None:
        derived = dt.timezone(offset).tzname(None)
        if len(_DERIVED) < 4096:  # bounded: offsets may be any number of microseconds
            _DERIVED[offset] = derived
    return zone.tzname(None) == derived


def kept_as_offset(zone: dt.tzinfo) -> bool:
    """Whether ISO 8601 keeps ``zone`` as written: a ``datetime.timezone`` without a name of
    its own (its name is then derived from the offset, as it will be on load)."""
    return type(zone) is dt.timezone and _plain(zone)


def zones_of(values: Iterable[dt.datetime | dt.time]) -> list[dt.tzinfo]:
    """The distinct tzinfo objects of ``values`` (by identity: some zones cannot be hashed),
    found in C, so a column costs one pass whatever its size."""
    tzinfos = list(map(attrgetter("tzinfo"), values))
    if not tzinfos:
        return []
    first = tzinfos[0]
    if all(map(is_, tzinfos, repeat(first))):  # the usual column: one zone object. By identity, not
        return [] if first is None else [first]  # ==: timezones equal by offset alone (UTC == "GMT")
    by_id = dict(zip(map(id, tzinfos), tzinfos, strict=True))
    return [zone for zone in by_id.values() if zone is not None]


def changed_in_typed_datetimes(values: Iterable[dt.datetime]) -> list[dt.tzinfo]:
    """Typed datetimes are stored as instants and load with ``tzinfo=UTC``: every zone but
    a plain UTC changes."""
    return [z for z in zones_of(values) if not (kept_as_offset(z) and z.utcoffset(None) == _UTC_OFFSET)]


def changed_in_typed_times(values: Iterable[dt.time]) -> list[dt.tzinfo]:
    """Typed times keep their offset: only a zone that is more than an offset changes."""
    return [z for z in zones_of(values) if not kept_as_offset(z)]


def refuse_floating_time(value: dt.time) -> None:
    """A time whose tzinfo gives no UTC offset would be written without one: refused."""
    if value.tzinfo is not None and value.utcoffset() is None:
        raise BadValue(f"a time with tzinfo {value.tzinfo!r}, which has no fixed UTC offset (a zone needs a date)")


def say_typed_datetimes(where: str, zones: list[dt.tzinfo]) -> None:
    _say(where, zones, "datetimes with time zone %s are stored as their instants in UTC and load with tzinfo=UTC")


def say_changed_offsets(where: str, zones: list[dt.tzinfo]) -> None:
    _say(where, zones, "times or datetimes with time zone %s load with a plain UTC offset, the zone's name lost")


def _say(where: str, zones: list[dt.tzinfo], what: str) -> None:
    if not zones or where in _said:  # read without the lock: a set's membership test is atomic
        return
    with _said_lock:
        if where in _said:
            return
        _said.add(where)
    labels = sorted({_label(z) for z in zones})
    named = ", ".join(labels[:_SHOWN]) + (f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else "")
    loud(log, logging.WARNING, f"%s: {what} (equal instants, different values; said once per process)", where, named)


def _label(zone: dt.tzinfo) -> str:
    key = getattr(zone, "key", None)  # zoneinfo.ZoneInfo
    if isinstance(key, str):
        return repr(key)
    if type(zone) is dt.timezone:
        return repr(zone.tzname(None))
    return f"{type(zone).__module__}.{type(zone).__qualname__}"  # not repr: it may hold an address
