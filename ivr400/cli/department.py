"""`ivr400 department`: IVR menu keys with their own seats and tones (部门按键)."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.views import department_view

# The ORM and the provisioning services are imported by the commands that write; `list` reads through the
# database driver alone (ivr400.db.lite),
# and `--help` loads neither.

COLUMNS = ["id", "hotline", "key", "name", "hunt", "max_attempts", "seats", "ringback_tone"]


@click.group()
def department() -> None:
    """Departments (menu keys): add, list, set."""


@department.command("add")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("key")
@click.argument("name")
@click.option("--parent", "parent_path", default=None, help="Key path of the parent menu entry, for sub-menus.")
@click.option("--hunt", default="sequential", show_default=True,
              help="sequential, simultaneous, round_robin or weighted (按比例分配).")
@click.option("--max-attempts", type=int, default=0, help="Cap on seats tried per call (0: all).")
@click.option("--ringback-tone", default=None, help="Tone heard while this department's seats ring (分机彩铃).")
@click.option("--prompt-tone", default=None, help="Sub-menu prompt, for a department with sub-keys.")
@json_option
@handle_errors
def add(hotline_ref: str, key: str, name: str, parent_path: str | None, hunt: str, max_attempts: int,
        ringback_tone: str | None, prompt_tone: str | None, as_json: bool) -> None:
    """Add menu KEY (0-9) named NAME to HOTLINE."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.seats import add_department
    from ivr400.provisioning.tones import find_tone

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        parent = lookup.department(s, h, parent_path, "parent") if parent_path else None
        dept = add_department(s, h, key, name, parent=parent, hunt=hunt, max_attempts=max_attempts)
        if ringback_tone:
            dept.ringback_tone = find_tone(s, ringback_tone, h.enterprise, "ringback-tone")
        if prompt_tone:
            dept.prompt_tone = find_tone(s, prompt_tone, h.enterprise, "prompt-tone")
        s.flush()
        emit(department_view(dept), as_json)


@department.command("list")
@click.argument("hotline_ref", metavar="HOTLINE")
@json_option
@handle_errors
def list_(hotline_ref: str, as_json: bool) -> None:
    from ivr400.provisioning import listing

    with app().reader() as db:
        rows = listing.departments(db, listing.hotline_id(db, hotline_ref))
        emit(sorted(rows, key=lambda r: r["key"]), as_json, COLUMNS)


@department.command("set")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("path", metavar="KEYPATH")
@click.option("--strategy", default=None,
              help="sequential, simultaneous, round_robin or weighted (按比例分配: first seat by seat weight).")
@click.option("--max-attempts", type=int, default=None, help="Cap on seats tried per call (0: all).")
@json_option
@handle_errors
def set_(hotline_ref: str, path: str, strategy: str | None, max_attempts: int | None, as_json: bool) -> None:
    """Change the hunt strategy or transfer cap of department KEYPATH (e.g. 2 or 2.1) of HOTLINE."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.errors import ProvisioningError
    from ivr400.provisioning.hotlines import apply_hunt

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        dept = lookup.department(s, h, path)
        if strategy is not None:
            apply_hunt(dept, strategy.strip(), "strategy")
        if max_attempts is not None:
            if max_attempts < 0:
                raise ProvisioningError("max-attempts", "must be 0 (no cap) or more")
            dept.max_attempts = max_attempts
        s.flush()
        emit(department_view(dept), as_json)
