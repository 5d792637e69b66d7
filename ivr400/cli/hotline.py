"""`ivr400 hotline`: 400 numbers, their carrier, tones and hunting (400电话)."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.views import hotline_view, seat_view

# The ORM and the provisioning services are imported by the commands that write; `list` reads through the
# database driver alone (ivr400.db.lite),
# and `--help` loads neither.

COLUMNS = ["id", "number", "carrier", "enterprise", "hunt", "max_bound", "bound", "routable", "active"]


@click.group()
def hotline() -> None:
    """400 hotlines: add, list, show, set."""


@hotline.command("add")
@click.argument("number")
@click.option("--enterprise", "enterprise_ref", required=True, help="Enterprise id or registered name.")
@click.option("--name", default=None)
@click.option("--max-bound", type=int, default=20, show_default=True, help="Most destinations it may bind.")
@click.option("--hunt", default="sequential", show_default=True, help="sequential, simultaneous or round_robin.")
@click.option("--max-attempts", type=int, default=0, help="Cap on seats tried per call (0: all).")
@json_option
@handle_errors
def add(number: str, enterprise_ref: str, name: str | None, max_bound: int, hunt: str, max_attempts: int,
        as_json: bool) -> None:
    """Add a 400 number; its carrier follows from the prefix."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.hotlines import add_hotline

    a = app()
    with a.session() as s:
        row = add_hotline(s, number, lookup.enterprise(s, enterprise_ref), name=name, max_bound=max_bound, hunt=hunt,
                          max_attempts=max_attempts, now=a.now())
        emit(hotline_view(row, a.now()), as_json)


@hotline.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    from ivr400.provisioning import listing

    a = app()
    with a.reader() as db:
        emit(listing.hotlines(db, a.now()), as_json, COLUMNS)


@hotline.command("show")
@click.argument("number")
@json_option
@handle_errors
def show(number: str, as_json: bool) -> None:
    """Show a hotline with its seats (suspended ones marked)."""
    from ivr400.provisioning import lookup

    a = app()
    with a.session() as s:
        h = lookup.hotline(s, number)
        view = hotline_view(h, a.now())
        view["seats"] = [seat_view(seat, a.now()) for seat in h.seats]
        if as_json:
            emit(view, True)
            return
        emit(view, False)
        click.echo("seats:")
        emit(view["seats"], False, ["id", "department", "position", "destination", "ring_timeout_s", "state"])


@hotline.command("set")
@click.argument("number")
@click.option("--hunt", default=None, help="sequential, simultaneous, round_robin or weighted (按比例分配).")
@click.option("--max-bound", type=int, default=None)
@click.option("--max-attempts", type=int, default=None)
@click.option("--welcome-tone", default=None, help="Tone name played first (总机欢迎词); `none` clears it.")
@click.option("--ringback-tone", default=None, help="Tone name heard while seats ring (彩铃); `none` clears it.")
@click.option("--active/--inactive", default=None)
@click.option("--menu-timeout", type=int, default=None, help="Seconds to wait for a key.")
@click.option("--menu-retries", type=int, default=None, help="Invalid/no key attempts before the final destination.")
@click.option("--voicemail/--no-voicemail", default=None)
@click.option("--record/--no-record", "record_calls", default=None, help="Record answered calls (MixMonitor).")
@click.option("--survey/--no-survey", default=None,
              help="满意度评价: ask the caller for a 1-5 score when the seat hangs up first.")
@click.option("--survey-prompt", default=None, help="Sound name of the survey question (`` = the shipped one).")
@click.option("--caller-cap", type=int, default=None,
              help="呼叫限制: at most N calls per caller per month, then the refuse action (0: no cap).")
@click.option("--fax", default=None,
              help="传真: off, detect (answer and listen for a fax machine's CNG tone / T.38) or key:<digit> "
                   "(a top-menu key that takes faxes).")
@json_option
@handle_errors
def set_(number: str, hunt: str | None, max_bound: int | None, max_attempts: int | None, welcome_tone: str | None,
         ringback_tone: str | None, active: bool | None, menu_timeout: int | None, menu_retries: int | None,
         voicemail: bool | None, record_calls: bool | None, survey: bool | None, survey_prompt: str | None,
         caller_cap: int | None, fax: str | None, as_json: bool) -> None:
    """Change a hotline's settings."""
    from ivr400.provisioning import lookup
    from ivr400.provisioning.fax import set_fax
    from ivr400.provisioning.hotlines import MAX_BOUND_LIMIT, apply_hunt, set_caller_cap
    from ivr400.provisioning.survey import set_survey
    from ivr400.provisioning.tones import find_tone

    a = app()
    with a.session() as s:
        h = lookup.hotline(s, number)
        if hunt is not None:
            apply_hunt(h, hunt)
        if max_bound is not None:
            if not 1 <= max_bound <= MAX_BOUND_LIMIT:
                raise ProvisioningError("max-bound", f"must be between 1 and {MAX_BOUND_LIMIT}")
            h.max_bound = max_bound
        if max_attempts is not None:
            if max_attempts < 0:
                raise ProvisioningError("max-attempts", "must be 0 (no cap) or more")
            h.max_attempts = max_attempts
        if menu_timeout is not None:
            if not 1 <= menu_timeout <= 60:
                raise ProvisioningError("menu-timeout", "must be between 1 and 60 seconds")
            h.menu_timeout_s = menu_timeout
        if menu_retries is not None:
            if not 0 <= menu_retries <= 9:
                raise ProvisioningError("menu-retries", "must be between 0 and 9")
            h.menu_retries = menu_retries
        for attr, value, field in (("welcome_tone", welcome_tone, "welcome-tone"),
                                   ("ringback_tone", ringback_tone, "ringback-tone")):
            if value is not None:
                setattr(h, attr, None if value == "none" else find_tone(s, value, h.enterprise, field))
        if active is not None:
            h.active = active
        if voicemail is not None:
            h.voicemail = voicemail
        if record_calls is not None:
            h.record_calls = record_calls
        if survey is not None or survey_prompt is not None:
            set_survey(s, h, survey, survey_prompt)
        if caller_cap is not None:
            set_caller_cap(s, h, caller_cap)
        if fax is not None:
            set_fax(s, h, fax)
        s.flush()
        emit(hotline_view(h, a.now()), as_json)
