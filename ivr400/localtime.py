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

from datetime import datetime, time, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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
