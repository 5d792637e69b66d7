"""`ivr400 calendar`: statutory holidays and make-up working days (法定节假日 / 调休), national and per
enterprise. Seeded from chinesecalendar; years it does not know are reported as "no data"."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, emit_json, handle_errors, json_option, parse_date
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.views import calendar_view

# The ORM, the provisioning services and chinesecalendar are imported by the commands that write; `list` reads
# through the database driver alone (ivr400.db.lite), and `--help` loads neither.

COLUMNS = ["day", "weekday", "kind", "name", "enterprise"]


@click.group()
def calendar() -> None:
    """Holiday calendar: seed, add, remove, list."""


@calendar.command("seed")
@click.option("--years", default=None, help="Years to seed: 2025, 2024-2026 (default: last, this and next year).")
@json_option
@handle_errors
def seed(years: str | None, as_json: bool) -> None:
    """Load the national holidays and make-up working days from chinesecalendar."""
    from ivr400.provisioning import calendar as cal

    a = app()
    wanted = cal.parse_years(years, a.now().year)
    with a.session() as s:
        report = cal.seed_calendar(s, wanted)
    if as_json:
        emit_json(report.to_dict())
        return
    for year in report.years_with_data:
        click.echo(f"{year}: seeded")
    for year in report.years_without_data:
        click.echo(f"{year}: no data (chinesecalendar does not know this year; days are classified by weekday)")
    click.echo(f"{report.days_written} day(s) written, {report.days_removed} replaced")


def _day(value: str | None) -> object:
    if value is None or not value.strip():
        raise ProvisioningError("date", "required (YYYY-MM-DD)")
    return parse_date(value.strip(), "date")


@calendar.command("add")
@click.argument("day", metavar="DATE")
@click.option("--kind", default=None, metavar="holiday|workday|weekend|makeup_workday")
@click.option("--enterprise", "enterprise_ref", default=None, help="Override for one enterprise (default: national).")
@click.option("--name", default=None, help="Holiday name, e.g. 国庆节 or 公司年会.")
@json_option
@handle_errors
def add(day: str, kind: str | None, enterprise_ref: str | None, name: str | None, as_json: bool) -> None:
    """Pin DATE's kind (replaces an existing entry for that day and owner)."""
    date = _day(day)
    if kind is None:
        raise ProvisioningError("kind", "required: holiday, workday, weekend or makeup_workday")
    from ivr400.provisioning import calendar as cal
    from ivr400.provisioning import lookup

    with app().session() as s:
        ent = lookup.enterprise(s, enterprise_ref) if enterprise_ref is not None else None
        row = cal.add_calendar_day(s, date, kind, enterprise=ent, name=name)  # type: ignore[arg-type]
        view = calendar_view(row, ent.name if ent else None)
    emit(view, as_json)


@calendar.command("remove")
@click.argument("day", metavar="DATE")
@click.option("--enterprise", "enterprise_ref", default=None)
@handle_errors
def remove(day: str, enterprise_ref: str | None) -> None:
    """Remove the entry for DATE (national, or the enterprise's override)."""
    date = _day(day)
    from ivr400.provisioning import calendar as cal
    from ivr400.provisioning import lookup

    with app().session() as s:
        ent = lookup.enterprise(s, enterprise_ref) if enterprise_ref is not None else None
        cal.remove_calendar_day(s, date, enterprise=ent)  # type: ignore[arg-type]
    click.echo(f"{date} removed")


@calendar.command("list")
@click.option("--year", type=int, default=None)
@click.option("--enterprise", "enterprise_ref", default=None, help="Only this enterprise's overrides.")
@json_option
@handle_errors
def list_(year: int | None, enterprise_ref: str | None, as_json: bool) -> None:
    """Days that differ from the Mon-Fri rhythm, national and per enterprise."""
    from ivr400.provisioning import listing

    with app().reader() as db:
        ent = listing.enterprise_id(db, enterprise_ref) if enterprise_ref is not None else None
        rows = listing.calendar_days(db, year=year, enterprise=ent)
    emit(rows, as_json, COLUMNS)
