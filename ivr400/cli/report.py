"""Reports: traffic, heatmap, regions, service, seats, departments, repeat, summary, rebuild.

    ivr400 report traffic --by day --since 2026-11-01 --until 2026-11-30 --hotline 4008001234
    ivr400 report heatmap --json
    ivr400 report regions --csv > regions.csv
    ivr400 report rebuild                  # facts and roll-ups again from the call records

Times and periods are in the zone of the hotline's enterprise (or --tz); definitions in docs/reports.md.
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Callable
from typing import Any

import click

from ivr400.cli.cdr import Zones, _hotline, hotline_zones, parse_when
from ivr400.cli.common import CommandError, app, emit, emit_json, handle_errors

SERVICE_COLUMNS = ["period", "offered", "answered", "abandoned", "service_level", "abandon_rate", "asa_s"]
TRAFFIC_COLUMNS = ["period", "offered", "answered", "abandoned", "abandoned_menu", "missed_calls", "service_level",
                   "abandon_rate", "asa_s", "avg_talk_s"]
SEAT_COLUMNS = ["hotline", "seat", "offered", "answered", "missed", "avg_ring_s", "talk_s", "avg_talk_s",
                "satisfaction"]
DEPT_COLUMNS = ["hotline", "department", "offered", "answered", "abandoned", "missed_calls", "service_level",
                "abandon_rate", "asa_s", "avg_talk_s"]
REPEAT_COLUMNS = ["hotline", "caller", "calls", "answered", "first_call", "last_call", "province", "city"]


@click.group()
def report() -> None:
    """Reports: traffic, heatmap, regions, service, seats, departments, repeat, summary, rebuild."""


def _filters(func: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--hotline", "hotline_ref", default=None, help="Only this 400 number."),
        click.option("--department", default=None, help="Only this department (key path, e.g. 2 or 2.1)."),
        click.option("--since", default=None, help="From (YYYY-MM-DD or 'YYYY-MM-DD HH:MM' in --tz)."),
        click.option("--until", default=None, help="Before (a bare date includes that whole day)."),
        click.option("--tz", "tz_name", default=None, help="Zone of the periods (default: the enterprise's)."),
        click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table."),
        click.option("--csv", "as_csv", is_flag=True, help="Print CSV (UTF-8, header row) instead of a table."),
    ]):
        func = option(func)
    return func


def _build(hotline_ref: str | None, department: str | None, since: str | None, until: str | None,
           tz_name: str | None) -> Any:  # noqa: ANN401
    from ivr400.cdr.reports import ReportFilter, known_filter

    hotline = _hotline(hotline_ref)
    if department is not None and not all(part.isdigit() and len(part) == 1 for part in department.split(".")):
        raise CommandError(f"department: {department!r} is not a key path (e.g. 2 or 2.1)")
    with app().session() as s:
        unknown = known_filter(s, hotline, department)
        if unknown:
            raise CommandError(unknown)
        zones = Zones(tz_name, hotline_zones(s), hotline)
    start = parse_when(since, "since", zones.default)
    end = parse_when(until, "until", zones.default, end_of_day=True)
    if start and end and end <= start:
        raise CommandError("until: must be after --since")
    return ReportFilter(hotlines=[hotline] if hotline else None, start=start, end=end, department=department,
                        tz=zones.default)


def _out(rows: list[dict[str, Any]], columns: list[str], as_json: bool, as_csv: bool) -> None:
    if as_json and as_csv:
        raise CommandError("csv: --json and --csv are exclusive")
    if as_csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    elif as_json:
        emit_json(rows)
    else:
        emit(rows, False, columns)


@report.command("traffic")
@click.option("--by", "bucket", type=click.Choice(["hour", "day", "week", "month"]), default="day", show_default=True)
@_filters
@handle_errors
def traffic_(bucket: str, as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Calls per hour, day, week or month (话务曲线) with the service level, abandon rate and missed calls."""
    from ivr400.cdr.reports import traffic

    f = _build(**kw)
    with app().session() as s:
        _out(traffic(s, f, bucket), TRAFFIC_COLUMNS, as_json, as_csv)


@report.command("service")
@click.option("--by", "bucket", type=click.Choice(["hour", "day", "week", "month"]), default="day", show_default=True)
@_filters
@handle_errors
def service_(bucket: str, as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Service level and abandon rate over time (服务水平, 放弃率)."""
    from ivr400.cdr.reports import traffic

    f = _build(**kw)
    with app().session() as s:
        _out(traffic(s, f, bucket), SERVICE_COLUMNS, as_json, as_csv)


@report.command("summary")
@_filters
@handle_errors
def summary_(as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Every measure over the whole range."""
    from ivr400.cdr.reports import summary

    f = _build(**kw)
    with app().session() as s:
        data = summary(s, f)
    if as_csv:
        _out([data], list(data), False, True)
    else:
        emit(data, as_json)


@report.command("heatmap")
@_filters
@handle_errors
def heatmap_(as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Calls per weekday × hour (通话热力图)."""
    from ivr400.cdr.reports import heatmap

    f = _build(**kw)
    with app().session() as s:
        data = heatmap(s, f)
    if as_json:
        emit_json(data)
        return
    rows = [{"weekday": data["weekdays"][d], **{f"{h:02d}": 0 for h in range(24)}} for d in range(7)]
    for d, h, n in data["cells"]:
        rows[d][f"{h:02d}"] = n
    _out(rows, ["weekday", *[f"{h:02d}" for h in range(24)]], False, as_csv)


@report.command("regions")
@click.option("--level", type=click.Choice(["province", "city"]), default="province", show_default=True)
@_filters
@handle_errors
def regions_(level: str, as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Callers by province or city, ranked (来电地区分析)."""
    from ivr400.cdr.reports import regions

    f = _build(**kw)
    with app().session() as s:
        data = regions(s, f)
    rows = data["provinces" if level == "province" else "cities"]
    columns = ["rank", "province", *(["city"] if level == "city" else []), "calls", "answered", "share"]
    _out(rows, columns, as_json, as_csv)


@report.command("seats")
@_filters
@handle_errors
def seats_(as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Per seat: offered, answered, missed, average ring time, talk time, satisfaction (坐席统计)."""
    from ivr400.cdr.reports import seats

    f = _build(**kw)
    with app().session() as s:
        _out(seats(s, f), SEAT_COLUMNS, as_json, as_csv)


@report.command("departments")
@_filters
@handle_errors
def departments_(as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Per department (部门统计)."""
    from ivr400.cdr.reports import departments

    f = _build(**kw)
    with app().session() as s:
        _out(departments(s, f), DEPT_COLUMNS, as_json, as_csv)


@report.command("repeat")
@click.option("--min-calls", type=click.IntRange(2, 1000), default=2, show_default=True)
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@_filters
@handle_errors
def repeat_(min_calls: int, limit: int, as_json: bool, as_csv: bool, **kw: Any) -> None:  # noqa: ANN401
    """Callers who called several times (重复来电), most calls first."""
    from ivr400.cdr.reports import repeat_callers
    from ivr400.localtime import format_moment, to_zone, zone_name

    f = _build(**kw)
    with app().session() as s:
        rows = repeat_callers(s, f, min_calls, limit)
        zones = Zones(kw["tz_name"], hotline_zones(s), None)
    for r in rows:  # as `cdr list`: each hotline's enterprise's zone (or --tz); JSON names it
        tz = zones.of(r["hotline"])
        for k in ("first_call", "last_call"):
            r[k] = to_zone(r[k], tz) if as_json else (format_moment(r[k].astimezone(tz), seconds=True) if r[k]
                                                      else None)
        if as_json:
            r["timezone"] = zone_name(tz)
    _out(rows, REPEAT_COLUMNS, as_json, as_csv)


@report.command("rebuild")
@handle_errors
def rebuild_() -> None:
    """Derive every fact row and hourly roll-up again from the call records (after the upgrade to 0011, or after
    changing a hotline's T, A or tariff for the past)."""
    from ivr400.cdr.fact_store import rebuild

    with app().session() as s:
        n = rebuild(s)
    click.echo(f"rebuilt {n} call fact(s) and their hourly roll-ups")
