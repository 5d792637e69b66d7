"""`ivr400 user`: back-office accounts (后台账号) — add, list, disable/enable, passwd."""
from __future__ import annotations

import secrets

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.views import user_view

COLUMNS = ["id", "username", "role", "enterprise", "disabled", "locked", "created_at"]


def _password(generate: bool) -> tuple[str, bool]:
    """(password, generated): typed twice at a prompt (or read from stdin), or generated and printed once."""
    if generate:
        return secrets.token_urlsafe(12), True
    return click.prompt("password", hide_input=True, confirmation_prompt=True), False


@click.group()
def user() -> None:
    """Back-office accounts: add, list, disable, enable, passwd."""


@user.command("add")
@click.argument("username")
@click.option("--enterprise", "enterprise_ref", default=None, help="The operator's enterprise (id or name).")
@click.option("--admin", is_flag=True, help="A platform admin (sees every enterprise, reviews evidence).")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it once.")
@json_option
@handle_errors
def add(username: str, enterprise_ref: str | None, admin: bool, generate_password: bool, as_json: bool) -> None:
    """Create an account: an operator of --enterprise, or --admin."""
    from ivr400.provisioning import lookup, users

    a = app()
    password, generated = _password(generate_password)
    with a.session() as s:
        ent = lookup.enterprise(s, enterprise_ref) if enterprise_ref is not None else None
        row = users.add_user(s, username, password, role="admin" if admin else "operator", enterprise=ent,
                             now=a.now(), actor=a.actor)
        view = user_view(row, a.now())
    if generated:
        view["password"] = password
    emit(view, as_json)


@user.command("list")
@click.option("--enterprise", "enterprise_ref", default=None)
@json_option
@handle_errors
def list_(enterprise_ref: str | None, as_json: bool) -> None:
    """List accounts (of one enterprise with --enterprise)."""
    from ivr400.provisioning import listing

    a = app()
    with a.reader() as db:
        owner = listing.enterprise_id(db, enterprise_ref) if enterprise_ref is not None else None
        rows = listing.users(db, a.now(), enterprise=owner)
    emit(rows, as_json, COLUMNS)


@user.command("disable")
@click.argument("username")
@json_option
@handle_errors
def disable(username: str, as_json: bool) -> None:
    """Disable an account and end its open sessions at once."""
    from ivr400.provisioning import users

    a = app()
    with a.session() as s:
        row = users.set_disabled(s, users.find_user(s, username), True, now=a.now(), actor=a.actor)
        emit(user_view(row, a.now()), as_json)


@user.command("enable")
@click.argument("username")
@json_option
@handle_errors
def enable(username: str, as_json: bool) -> None:
    """Enable a disabled account (also clears a lockout)."""
    from ivr400.provisioning import users

    a = app()
    with a.session() as s:
        row = users.set_disabled(s, users.find_user(s, username), False, now=a.now(), actor=a.actor)
        emit(user_view(row, a.now()), as_json)


@user.command("passwd")
@click.argument("username")
@click.option("--generate-password", is_flag=True, help="Generate a password and print it once.")
@json_option
@handle_errors
def passwd(username: str, generate_password: bool, as_json: bool) -> None:
    """Set a new password (clears a lockout, ends the account's open sessions)."""
    from ivr400.provisioning import users

    a = app()
    password, generated = _password(generate_password)
    with a.session() as s:
        row = users.set_password(s, users.find_user(s, username), password, now=a.now(), actor=a.actor)
        view = user_view(row, a.now())
    if generated:
        view["password"] = password
    emit(view, as_json)
