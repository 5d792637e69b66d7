"""`ivr400 rule`: smart routing (智能呼转) by time and by caller region, the after-hours action, and the
region override table. Edits reach a running controller within a second (config generation)."""
from __future__ import annotations

from typing import Any

import click

from ivr400.cli.common import app, emit, emit_json, handle_errors, json_option
from ivr400.provisioning.errors import ProvisioningError

# The ORM and the provisioning services are imported by the commands that write; `list` and `override list`
# read through the database driver alone (ivr400.db.lite), and `--help` loads neither.

COLUMNS = ["id", "priority", "when", "action", "name"]
ACTION_HELP = ("menu[:PROMPT] | department[:PATH] (no PATH: switchboard) | voicemail[:PATH] | announcement[:PROMPT]; "
               "PROMPT is a tone name or a sound name such as ivr400-closed.")


def _required(value: Any, field: str) -> Any:  # noqa: ANN401
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ProvisioningError(field, "required")
    return value


@click.group()
def rule() -> None:
    """Routing rules: by time (time add), by caller region (region add), after-hours; list, remove."""


@rule.group("time")
def time_() -> None:
    """Time rules: on matching days, during a segment, take an action (lowest priority first)."""


@time_.command("add")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.option("--days", default=None, help="Day kinds: workday,weekend,holiday,makeup_workday (default: any). "
              "workday includes make-up working days (调休).")
@click.option("--weekdays", default=None, help="ISO weekdays, 1 = Monday: 1-5, 6,7 (default: any).")
@click.option("--segments", default=None, help="Time segments, e.g. 09:00-12:00,13:30-18:00 (default: all day); "
              "22:00-02:00 crosses midnight.")
@click.option("--action", default=None, help=ACTION_HELP)
@click.option("--priority", type=int, default=100, show_default=True, help="Lower is tried first.")
@click.option("--name", default=None, help="A label shown in lists and decision logs.")
@json_option
@handle_errors
def time_add(hotline_ref: str, days: str | None, weekdays: str | None, segments: str | None, action: str | None,
             priority: int, name: str | None, as_json: bool) -> None:
    """Add a time rule to HOTLINE."""
    from ivr400.provisioning import lookup, rules, time_rules, views

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        row = time_rules.add_time_rule(s, h, action=_required(action, "action"), days=days, weekdays=weekdays,
                               segments=segments, priority=priority, name=name)
        view = views.time_rule_view(row, rules.department_paths(s, h))
    emit(view, as_json)


@rule.group("region")
def region() -> None:
    """Region rules: callers from a province (or city) go straight to a department."""


@region.command("add")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.option("--province", default=None, help="Province-level region: 北京, 广东, 广东省 ...")
@click.option("--city", default=None, help="City within the province: 深圳 ...")
@click.option("--department", "department_path", default=None, help="Key path of the department: 2 or 2.1.")
@click.option("--priority", type=int, default=100, show_default=True)
@json_option
@handle_errors
def region_add(hotline_ref: str, province: str | None, city: str | None, department_path: str | None, priority: int,
               as_json: bool) -> None:
    """Add a region rule to HOTLINE (applies when the call would get the menu or the switchboard)."""
    from ivr400.provisioning import lookup, region_rules, rules, views

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        row = region_rules.add_region_rule(s, h, province=_required(province, "province"), city=city,
                                 department=_required(department_path, "department"), priority=priority)
        view = views.region_rule_view(row, rules.department_paths(s, h))
    emit(view, as_json)


@rule.command("list")
@click.argument("hotline_ref", metavar="HOTLINE")
@json_option
@handle_errors
def list_(hotline_ref: str, as_json: bool) -> None:
    """Time rules, region rules and the after-hours action of HOTLINE, in the order they are tried."""
    from ivr400.provisioning import listing

    with app().reader() as db:
        data = listing.rules(db, listing.hotline_id(db, hotline_ref))
    if as_json:
        emit_json(data)
        return
    rows = data["time_rules"] + data["region_rules"]
    emit(rows, False, COLUMNS)
    click.echo(f"after hours (time rules exist, none in force): {data['after_hours']}")
    click.echo(f"times of day and days are in {data['timezone']} (the enterprise's time zone)")


@rule.command("remove")
@click.argument("rule_id", metavar="ID")
@handle_errors
def remove(rule_id: str) -> None:
    """Remove rule ID (time:3, region:5, or a bare number when unambiguous)."""
    from ivr400.provisioning import rules

    with app().session() as s:
        removed = rules.remove_rule(s, rule_id)
    click.echo(f"rule {removed} removed")


@rule.command("after-hours")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.option("--action", default=None, help=ACTION_HELP)
@json_option
@handle_errors
def after_hours(hotline_ref: str, action: str | None, as_json: bool) -> None:
    """What calls get when HOTLINE has time rules and none is in force (default: voicemail)."""
    from ivr400.provisioning import lookup, rules, time_rules, views

    with app().session() as s:
        h = time_rules.set_after_hours(s, lookup.hotline(s, hotline_ref), _required(action, "action"))
        view = {"hotline": h.number, "after_hours": views.after_hours_view(h, rules.department_paths(s, h))}
    emit(view, as_json)


@rule.group("override")
def override() -> None:
    """Region overrides: correct or complete the geocoder for a number prefix (all hotlines)."""


@override.command("add")
@click.argument("prefix")
@click.option("--province", default=None)
@click.option("--city", default=None)
@json_option
@handle_errors
def override_add(prefix: str, province: str | None, city: str | None, as_json: bool) -> None:
    """Callers whose number starts with PREFIX are from --province/--city."""
    from ivr400.provisioning import region_rules

    with app().session() as s:
        row = region_rules.add_region_override(s, prefix, _required(province, "province"), city)
        view = {"id": row.id, "prefix": row.prefix, "province": row.province, "city": row.city}
    emit(view, as_json)


@override.command("list")
@json_option
@handle_errors
def override_list(as_json: bool) -> None:
    """Region overrides by prefix."""
    from ivr400.provisioning import listing

    with app().reader() as db:
        rows = listing.region_overrides(db)
    emit(rows, as_json, ["id", "prefix", "province", "city"])


@override.command("remove")
@click.argument("prefix")
@handle_errors
def override_remove(prefix: str) -> None:
    from ivr400.provisioning import region_rules

    with app().session() as s:
        removed = region_rules.remove_region_override(s, prefix)
    click.echo(f"override {removed} removed")
