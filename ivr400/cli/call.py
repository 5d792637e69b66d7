"""WEB呼叫 click-to-call: configure a hotline's public form, call a visitor back, list the attempts."""
from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ivr400.cli.common import CommandError, app, emit, handle_errors, json_option
from ivr400.config import ConfigError

if TYPE_CHECKING:  # the ORM, the controller's loader and AMI for `setup` and `visitor`; `attempts` reads through
    # the database driver alone (ivr400.db.lite), and `--help` loads none of them
    from ivr400.pbx.asterisk.ami import Ami, AmiSettings

COLUMNS = ["id", "at", "hotline", "target", "source", "client_ip", "outcome", "reason"]


@click.group()
def call() -> None:
    """WEB呼叫 click-to-call: configure a hotline's public form, call a visitor back, list the attempts."""


@call.command("setup")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.option("--enable/--disable", "enabled", default=None, help="Accept requests from the public form.")
@click.option("--caller-id", default=None, help="The enterprise's outbound number shown to the visitor.")
@click.option("--origins", default=None, help="Space-separated page origins allowed to post (\"\" = any).")
@click.option("--max-concurrent", type=int, default=None, help="Callbacks of this hotline in progress at once.")
@click.option("--new-token", is_flag=True, help="Replace the public token (the old form stops working).")
@json_option
@handle_errors
def setup(hotline_ref: str, enabled: bool | None, caller_id: str | None, origins: str | None,
          max_concurrent: int | None, new_token: bool, as_json: bool) -> None:
    """Create or change HOTLINE's click-to-call settings; prints the public token."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.clicktocall import configure

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        row = configure(s, h, enabled=enabled, origins=origins, caller_id=caller_id, max_concurrent=max_concurrent,
                        new_token=new_token)
        emit({"hotline": h.number, "enabled": row.enabled, "token": row.token, "caller_id": row.caller_id,
              "origins": row.origins, "max_concurrent": row.max_concurrent}, as_json)


@call.command("visitor")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("number")
@json_option
@handle_errors
def visitor(hotline_ref: str, number: str, as_json: bool) -> None:
    """Call NUMBER back for HOTLINE (an operator's callback): the same checks as the public form except the
    per-IP limit; the visitor hears the consent prompt and reaches the hotline's seats after pressing 1."""
    from ivr400.controller.loader import load_config
    from ivr400.provisioning import lookup
    from ivr400.provisioning.clicktocall import place_callback
    from ivr400.routing.model import BlockPolicy

    a = app()
    now = a.now()
    with a.session() as s:
        h = lookup.hotline(s, hotline_ref)
        entry = load_config(s, now).get(h.number)
        if entry is None:
            raise CommandError(f"hotline: {h.number} is not active")
        ami = _LazyAmi(a.settings.require_ami)
        try:
            result = place_callback(s, ami, hotline=h, target=number, now=now,
                                    block=entry.routing.block if entry.rules_ok else BlockPolicy(),
                                    time_rules=entry.routing.time_rules, calendar=entry.calendar,
                                    zone=entry.routing.zone, source="operator", actor=a.actor)
        finally:
            ami.close()
        s.commit()
    emit({"accepted": result.accepted, "outcome": result.outcome, "reason": result.reason,
          "attempt": result.attempt_id, "channel_id": result.channel_id}, as_json)
    if not result.accepted:
        raise SystemExit(1)


class _LazyAmi:
    """Connects to AMI only when a callback is actually placed (a refused number needs no PBX)."""

    def __init__(self, settings: Callable[[], AmiSettings]) -> None:
        self.settings = settings
        self.conn: Ami | None = None

    def action(self, name: str, timeout: float | None = None, **fields: str) -> Any:  # noqa: ANN401
        from ivr400.pbx.asterisk.ami import Ami, AmiError

        if self.conn is None:
            try:
                self.conn = Ami.connect(self.settings())
            except ConfigError as exc:
                raise AmiError("ami", str(exc)) from exc
        return self.conn.action(name, timeout, **fields)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


@call.command("attempts")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
@handle_errors
def attempts(hotline_ref: str, limit: int, as_json: bool) -> None:
    """The latest click-to-call attempts of HOTLINE with their outcome, newest first."""
    from ivr400.provisioning import listing  # the driver alone (ivr400.db.lite), not the ORM

    with app().reader() as db:
        rows = listing.clicktocall_attempts(db, listing.hotline_id(db, hotline_ref), limit=limit)
    emit(rows, as_json, COLUMNS)
