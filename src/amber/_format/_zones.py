"""Time zones: kept as written where the format can, refused or said out loud elsewhere.

Format 6 keeps a datetime's zone beside its instant: a ``zoneinfo.ZoneInfo`` by its key, a
plain ``datetime.timezone`` by its offset (a *zone token*), in a typed ``datetime`` field
(or ``datetime | None``) and in tagged positions (``Any``, the state's root), which also keep
plain offsets in their ISO text. What no token says (a pytz or dateutil zone, a
``datetime.timezone``'s own name such as "GMT", and any zone of a datetime nested in a typed
container) loads as a plain offset or UTC: equal instants, different values, so daylight-saving
arithmetic changes. The standard says such a change is never silent: each place (a type's
field, or the state's root) that holds such a zone is said, once per process, naming the
zones met (through ``loud``: shown even without logging set up).

A ``time`` whose tzinfo has no fixed offset (a ``ZoneInfo`` needs a date to know one) would
lose its tzinfo altogether: it is refused.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import zoneinfo
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


def changed_in_typed_datetimes(values: Iterable[dt.datetime], tokens: bool = False) -> list[dt.tzinfo]:
    """Typed datetimes are stored as instants and load with ``tzinfo=UTC``: every zone but a
    plain UTC changes, unless the column keeps zone tokens (``tokens``: a top-level field)
    and the zone has one."""
    found = zones_of(values)
    return [
        z
        for z in found
        if not (kept_as_offset(z) and z.utcoffset(None) == _UTC_OFFSET) and not (tokens and token_of(z))
    ]


def token_of(zone: dt.tzinfo | None) -> str | None:
    """How a zone is written beside an instant: a ``ZoneInfo``'s key, or a plain offset as
    ``+HH:MM[:SS[.ffffff]]``; None for UTC (the instant says it) and for zones no token keeps."""
    if zone is None or zone is dt.UTC:
        return None
    if type(zone) is zoneinfo.ZoneInfo:
        return zone.key if _named_truly(zone) else None
    if type(zone) is dt.timezone and _plain(zone):
        offset = zone.utcoffset(None)
        return None if offset == _UTC_OFFSET else _offset_text(offset)
    return None


def _named_truly(zone: zoneinfo.ZoneInfo) -> bool:
    """Whether a zone is the one its key names here: ``ZoneInfo.from_file`` may label any data
    with any key, and ``no_cache`` gives another object; both would load as another zone."""
    key = zone.key
    if not (isinstance(key, str) and key != "localtime" and _ZONE_KEY.fullmatch(key)):
        return False  # "localtime" names whatever the reading machine's zone is
    try:
        return zoneinfo.ZoneInfo(key) is zone
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, RecursionError):
        return False


def kept_by_token(value: dt.datetime) -> bool:
    """Whether the value's instant, given back in its zone, is the value: a wall-clock time
    in a daylight-saving gap (02:30 on the night clocks go forward) is not."""
    zone = value.tzinfo
    if type(zone) is not zoneinfo.ZoneInfo:
        return True
    try:
        back = value.astimezone(dt.UTC).astimezone(zone)
    except OverflowError:
        return False
    # fold compared through its effect: on an unambiguous time it changes nothing, and is not kept
    return back.replace(tzinfo=None) == value.replace(tzinfo=None) and back.utcoffset() == value.utcoffset()


def _offset_text(offset: dt.timedelta) -> str:
    sign = "-" if offset < _UTC_OFFSET else "+"
    rest = abs(offset)
    hours, seconds = divmod(rest.seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}"
    if seconds or rest.microseconds:
        text += f":{seconds:02d}" + (f".{rest.microseconds:06d}" if rest.microseconds else "")
    return text


_OFFSET = re.compile(r"([+-])([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{6}))?)?")
_ZONES: dict[str, dt.tzinfo] = {}  # token -> zone, bounded below


def zone_of(token: str) -> dt.tzinfo:
    """The zone a token names; ``ValueError`` for a token no writer gives (a forged file)."""
    zone = _ZONES.get(token)
    if zone is not None:
        return zone
    match = _OFFSET.fullmatch(token)
    if match:
        sign, hours, minutes, seconds, micros = match.groups()
        offset = dt.timedelta(
            hours=int(hours), minutes=int(minutes), seconds=int(seconds or 0), microseconds=int(micros or 0)
        )
        offset = -offset if sign == "-" else offset
        if int(minutes) >= 60 or int(seconds or 0) >= 60 or not offset or _offset_text(offset) != token:
            raise ValueError(f"a UTC offset as a writer gives it, not {token!r}")
        zone = dt.timezone(offset)
    elif _ZONE_KEY.fullmatch(token):
        try:
            zone = zoneinfo.ZoneInfo(token)  # refuses keys that leave the zone database
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError, RecursionError) as e:
            raise ValueError(f"the zone {token!r}, which this machine does not know ({type(e).__name__})") from None
    else:
        raise ValueError(f"a zone key or a UTC offset, not {token[:40]!r}")
    if len(_ZONES) < 4096:
        _ZONES[token] = zone
    return zone


_ZONE_KEY = re.compile(r"(?=.{1,64}$)[A-Za-z0-9_+-]+(/[A-Za-z0-9_+-]+){0,3}")  # the database's keys are so


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
