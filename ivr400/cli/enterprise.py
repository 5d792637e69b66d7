"""`ivr400 enterprise`: the companies that hold 400 numbers (企业)."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.views import enterprise_view

# The ORM and the provisioning services are imported by the commands that write; `list` reads through the
# database driver alone (ivr400.db.lite),
# and `--help` loads neither.

COLUMNS = ["id", "name", "area_code", "province", "city", "timezone", "hotlines", "destinations"]


@click.group()
def enterprise() -> None:
    """Enterprises: add, list, show."""


@enterprise.command("add")
@click.argument("name")
@click.option("--area-code", required=True, help="Home area code with its 0, e.g. 010 (所在地区号).")
@click.option("--timezone", default="Asia/Shanghai", show_default=True)
@json_option
@handle_errors
def add(name: str, area_code: str, timezone: str, as_json: bool) -> None:
    """Register an enterprise by its registered name (as on its business licence)."""
    from ivr400.provisioning.enterprises import add_enterprise

    a = app()
    with a.session() as s:
        row = add_enterprise(s, name, area_code, timezone=timezone, now=a.now())
        emit(enterprise_view(row), as_json)


@enterprise.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    from ivr400.provisioning import listing

    with app().reader() as db:
        emit(listing.enterprises(db), as_json, COLUMNS)


@enterprise.command("show")
@click.argument("ref")
@json_option
@handle_errors
def show(ref: str, as_json: bool) -> None:
    """Show one enterprise (by id or name) with its hotlines."""
    from ivr400.provisioning import lookup

    a = app()
    with a.session() as s:
        e = lookup.enterprise(s, ref)
        view = enterprise_view(e)
        view["hotline_numbers"] = [h.number for h in e.hotlines]
        emit(view, as_json)
        if not as_json:
            click.echo("hotline numbers: " + (", ".join(view["hotline_numbers"]) or "-"))
