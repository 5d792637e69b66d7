"""Times shown to people (显示时间): in the enterprise's time zone, always naming the zone.

The database keeps aware UTC (`ivr400.db.types.UTCDateTime`); every time an operator reads is first
converted to the zone of the enterprise it belongs to (`enterprise.timezone`, default Asia/Shanghai)
with `to_zone`, then written by `format_moment`:

- tables and `key: value` lines: ``2026-06-01 10:00 Asia/Shanghai`` (the IANA name: "CST" would be
  ambiguous). The end of a validity window is an exclusive instant; when it falls on a local midnight
  it is written as the end of the previous day, ``2027-12-31 24:00 Asia/Shanghai`` — what "valid through
  31 December" means — rather than ``2028-01-01 00:00`` (and never ``2027-12-31 16:00 UTC``).
- JSON: ISO 8601 with the zone's UTC offset (``2028-01-01T00:00:00+08:00``): the same instant as UTC
  for any ISO parser, and the local time for a person; each object also carries a ``timezone`` key.

Times with no enterprise to belong to (a voicemail whose hotline is gone) stay in UTC, labelled ``UTC``.
Pure functions; no clock is read here.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

#: The zone of an enterprise created without one (the schema's default).
DEFAULT_ZONE = "Asia/Shanghai"


def zone(name: str | None) -> tzinfo:
    """The tzinfo for an IANA zone name; None or "UTC" → UTC. Raises ValueError for an unknown name."""
    if name is None or name.upper() == "UTC":
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


#: Files in the zone database that are not places: the host's own zone (a symlink that differs per
#: machine), the "-00" placeholder zone, and the POSIX-rules template. Some systems list them.
_NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@lru_cache(maxsize=1)
def _iana_names() -> frozenset[str]:
    return frozenset(available_timezones()) - _NOT_PLACES


def iana_zone(name: str) -> ZoneInfo:
    """The ZoneInfo for an IANA zone name an operator typed (`Asia/Shanghai`, `UTC`).

    Only names in `zoneinfo.available_timezones()` are accepted, less `localtime`, `Factory` and
    `posixrules` (which ZoneInfo would load but name no place). Raises ValueError("unknown time zone …").
    """
    if not isinstance(name, str) or name not in _iana_names():
        raise ValueError(f"unknown time zone {name!r}: give an IANA name such as Asia/Shanghai")
    return ZoneInfo(name)


def zone_name(tz: tzinfo | None) -> str:
    """`Asia/Shanghai` for a ZoneInfo, `UTC` for UTC, else what the tzinfo calls itself."""
    if tz is None or tz is timezone.utc:
        return "UTC"
    key = getattr(tz, "key", None)
    return key if key else (tz.tzname(None) or "UTC")


def to_zone(moment: datetime | None, tz: tzinfo | str | None) -> datetime | None:
    """An aware `moment` (any zone) as the same instant in `tz` (a tzinfo or an IANA name). Naive → ValueError."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: times are kept aware")
    return moment.astimezone(tz if isinstance(tz, tzinfo) else zone(tz))


def format_moment(moment: datetime, *, end: bool = False, seconds: bool = False) -> str:
    """`moment` (aware, already in the zone to show) as ``YYYY-MM-DD HH:MM[:SS] Zone``.

    `end=True` marks the exclusive end of a period: a local midnight is written ``<previous day> 24:00``.
    """
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: times are kept aware")
    label = zone_name(moment.tzinfo)
    if end and moment.time() == time(0) and moment.microsecond == 0:
        day = moment.date() - timedelta(days=1)
        return f"{day.isoformat()} 24:00{':00' if seconds else ''} {label}"
    return f"{moment.strftime('%Y-%m-%d %H:%M:%S' if seconds else '%Y-%m-%d %H:%M')} {label}"


#: The local times a date filter may name: call records start after 1970 (Asterisk's uniqueids count Unix
#: seconds), and the far bound keeps every zone's end of day inside what `datetime` and the databases represent.
EARLIEST = datetime(1970, 1, 1)
LATEST = datetime(3000, 1, 1)


def parse_bound(text: str, tz: tzinfo, *, end_of_day: bool = False) -> datetime:
    """A date filter an operator typed → aware UTC.

    `text`: ``YYYY-MM-DD`` or ``YYYY-MM-DD HH:MM[:SS]`` (in `tz`), or ISO 8601 with an offset. A bare date as
    an upper bound (`end_of_day=True`) means the end of that day, the next local midnight (``--until 2026-06-01``
    includes the 1st). Raises ValueError with the reason — not a date, or a local time outside
    1970-01-01 00:00 … 2999-12-31 24:00 — for input no filter can use (never OverflowError).
    """
    value = text.strip()
    try:
        if len(value) == 10:
            moment = datetime.fromisoformat(date.fromisoformat(value).isoformat())
        else:
            moment = datetime.fromisoformat(value.replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DD HH:MM)") from None
    if not EARLIEST <= moment.replace(tzinfo=None) < LATEST:
        raise ValueError(f"{text[:40]!r} is out of range: give a day from 1970-01-01 to 2999-12-31")
    if len(value) == 10 and end_of_day:
        moment += timedelta(days=1)
    return (moment if moment.tzinfo else moment.replace(tzinfo=tz)).astimezone(timezone.utc)
