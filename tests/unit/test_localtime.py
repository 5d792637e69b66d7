"""Times shown to people: the enterprise's zone, always named; the end of a validity as "<day> 24:00"."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ivr400.localtime import format_moment, to_zone, zone, zone_name

UTC = timezone.utc

# (UTC instant, zone, end of a period?, seconds?) -> shown
CASES = [
    # "Valid through 31 December" in Beijing ends at 2028-01-01 00:00 +08:00 = 2027-12-31 16:00 UTC.
    (datetime(2027, 12, 31, 16, 0, tzinfo=UTC), "Asia/Shanghai", True, False, "2027-12-31 24:00 Asia/Shanghai"),
    (datetime(2027, 12, 31, 16, 0, tzinfo=UTC), "Asia/Shanghai", False, False, "2028-01-01 00:00 Asia/Shanghai"),
    (datetime(2027, 12, 31, 16, 0, tzinfo=UTC), "Asia/Shanghai", True, True, "2027-12-31 24:00:00 Asia/Shanghai"),
    (datetime(2027, 12, 31, 16, 0, tzinfo=UTC), "UTC", True, False, "2027-12-31 16:00 UTC"),
    (datetime(2028, 1, 1, 0, 0, tzinfo=UTC), "UTC", True, False, "2027-12-31 24:00 UTC"),
    (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "Asia/Shanghai", False, False, "2026-06-01 10:00 Asia/Shanghai"),
    (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "Asia/Urumqi", False, False, "2026-06-01 08:00 Asia/Urumqi"),
    (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "Asia/Kolkata", False, False, "2026-06-01 07:30 Asia/Kolkata"),
    (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "Europe/Berlin", False, False, "2026-06-01 04:00 Europe/Berlin"),
    (datetime(2026, 6, 1, 2, 0, tzinfo=UTC), "America/Los_Angeles", False, True,
     "2026-05-31 19:00:00 America/Los_Angeles"),
    # Winter time in Los Angeles (-08:00) and the end of a day there.
    (datetime(2027, 1, 1, 8, 0, tzinfo=UTC), "America/Los_Angeles", True, False,
     "2026-12-31 24:00 America/Los_Angeles"),
    # Not a local midnight: an end is shown as it is.
    (datetime(2027, 12, 31, 17, 30, tzinfo=UTC), "Asia/Shanghai", True, False, "2028-01-01 01:30 Asia/Shanghai"),
    (datetime(2027, 12, 31, 16, 0, 0, 1, tzinfo=UTC), "Asia/Shanghai", True, True, "2028-01-01 00:00:00 Asia/Shanghai"),
]


@pytest.mark.parametrize(("moment", "tz", "end", "seconds", "shown"), CASES, ids=[c[-1] for c in CASES])
def test_format_in_the_zone_with_its_name(moment: datetime, tz: str, end: bool, seconds: bool, shown: str) -> None:
    local = to_zone(moment, tz)
    assert local == moment  # the same instant
    assert format_moment(local, end=end, seconds=seconds) == shown


@pytest.mark.parametrize(("tz", "iso"), [
    ("Asia/Shanghai", "2028-01-01T00:00:00+08:00"),
    ("Asia/Kolkata", "2027-12-31T21:30:00+05:30"),
    ("America/Los_Angeles", "2027-12-31T08:00:00-08:00"),
    ("UTC", "2027-12-31T16:00:00+00:00"),
])
def test_json_writes_the_local_time_with_its_offset(tz: str, iso: str) -> None:
    moment = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)
    local = to_zone(moment, tz)
    assert local.isoformat() == iso
    assert datetime.fromisoformat(iso) == moment


def test_zone_names_and_bad_input() -> None:
    assert zone_name(zone("Asia/Shanghai")) == "Asia/Shanghai"
    assert zone_name(zone(None)) == zone_name(zone("utc")) == zone_name(UTC) == "UTC"
    assert zone_name(timezone(timedelta(hours=8))) == "UTC+08:00"
    assert to_zone(None, "Asia/Shanghai") is None
    with pytest.raises(ValueError, match="unknown time zone"):
        zone("Mars/Olympus")
    with pytest.raises(ValueError, match="naive"):
        to_zone(datetime(2026, 1, 1), "Asia/Shanghai")
    with pytest.raises(ValueError, match="naive"):
        format_moment(datetime(2026, 1, 1))


def test_parse_bound_days_times_and_the_range() -> None:
    from zoneinfo import ZoneInfo

    from ivr400.localtime import parse_bound

    sh = ZoneInfo("Asia/Shanghai")
    assert parse_bound("2026-06-01", sh) == datetime(2026, 5, 31, 16, tzinfo=timezone.utc)
    assert parse_bound("2026-06-01", sh, end_of_day=True) == datetime(2026, 6, 1, 16, tzinfo=timezone.utc)
    assert parse_bound("2026-06-01 10:30", sh) == datetime(2026, 6, 1, 2, 30, tzinfo=timezone.utc)
    assert parse_bound("2026-06-01T10:30+00:00", sh, end_of_day=True) == datetime(2026, 6, 1, 10, 30,
                                                                                   tzinfo=timezone.utc)
    assert parse_bound("1970-01-01", sh).year == 1969  # a Shanghai midnight is the evening before in UTC
    assert parse_bound("2999-12-31", ZoneInfo("America/Los_Angeles"), end_of_day=True).year == 3000
    # the extremes datetime can hold: a reason, never OverflowError
    for text, end in (("9999-12-31", True), ("0001-01-01", False), ("9999-12-31 23:00", False),
                      ("0001-01-01T00:00+14:00", False), ("1969-12-31", True), ("3000-01-01", False)):
        with pytest.raises(ValueError, match="out of range"):
            parse_bound(text, sh, end_of_day=end)
    with pytest.raises(ValueError, match="is not a date"):
        parse_bound("2026-13-01", sh)
