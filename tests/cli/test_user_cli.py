"""`ivr400 user add|list|disable|enable|passwd`: accounts of the back office, bad input refused per field."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.models import WebSession, WebUser
from ivr400.provisioning import users
from tests.conftest import NOW


def _enterprise(cli) -> None:
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")


def test_add_list_disable_enable_passwd(cli) -> None:
    _enterprise(cli)
    added = json.loads(cli("user", "add", "op1", "--enterprise", "北京甲科技有限公司", "--generate-password",
                           "--json").output)
    assert added["role"] == "operator" and added["enterprise"] == "北京甲科技有限公司" and len(added["password"]) >= 16
    typed = cli.runner.invoke(__import__("ivr400.cli", fromlist=["main"]).main,
                              ["--db", cli.db, "user", "add", "root", "--admin"],
                              input="a long admin password\na long admin password\n")
    assert typed.exit_code == 0, typed.output
    listed = json.loads(cli("user", "list", "--json").output)
    assert [(u["username"], u["role"], u["disabled"]) for u in listed] == [("op1", "operator", False),
                                                                            ("root", "admin", False)]
    engine = make_engine(cli.db)
    with Session(engine) as s:
        user = s.scalar(select(WebUser).where(WebUser.username == "op1"))
        assert user is not None and added["password"] not in user.password_hash
        assert user.password_hash.startswith("$argon2id$")
        assert users.authenticate(s, "op1", added["password"], now=NOW).user is not None
        s.add(WebSession(token_hash="x" * 64, user_id=user.id, csrf_token="c", created_at=NOW, last_seen_at=NOW))
        s.commit()
    cli("user", "disable", "op1")
    with Session(engine) as s:
        assert s.scalar(select(WebSession.revoked_at)) is not None
        assert users.authenticate(s, "op1", added["password"], now=NOW).reason == "disabled"
    cli("user", "enable", "op1")
    new = json.loads(cli("user", "passwd", "op1", "--generate-password", "--json").output)["password"]
    with Session(engine) as s:
        assert users.authenticate(s, "op1", added["password"], now=NOW).user is None
        assert users.authenticate(s, "op1", new, now=NOW).user is not None
    engine.dispose()


@pytest.mark.parametrize("args, field", [
    (["user", "add", "x", "--generate-password", "--enterprise", "1"], "username"),
    (["user", "add", "op 1", "--generate-password", "--enterprise", "1"], "username"),
    (["user", "add", "op1", "--generate-password"], "enterprise"),
    (["user", "add", "op1", "--generate-password", "--admin", "--enterprise", "1"], "enterprise"),
    (["user", "add", "op1", "--generate-password", "--enterprise", "9"], "enterprise"),
    (["user", "disable", "nobody"], "username"),
    (["user", "passwd", "nobody", "--generate-password"], "username"),
])
def test_bad_input_names_the_field_and_writes_nothing(cli, args: list[str], field: str) -> None:
    _enterprise(cli)
    before = cli.snapshot()
    result = cli(*args, ok=False)
    assert result.exit_code == 1 and result.stderr.startswith(f"error: {field}: ")
    assert cli.snapshot() == before


def test_short_password_and_duplicate_name_are_refused(cli) -> None:
    _enterprise(cli)
    from ivr400.cli import main
    short = cli.runner.invoke(main, ["--db", cli.db, "user", "add", "op1", "--enterprise", "1"], input="short\nshort\n")
    assert short.exit_code == 1 and "error: password: at least 10 characters" in short.stderr
    cli("user", "add", "op1", "--enterprise", "1", "--generate-password")
    again = cli("user", "add", "op1", "--enterprise", "1", "--generate-password", ok=False)
    assert again.stderr.startswith("error: username: op1 already exists")


def test_demo_prints_the_back_office_and_a_generated_login_once(cli) -> None:
    first = cli("demo").output
    assert "back office: http://127.0.0.1:8400/" in first
    password = first.split("login: demo / ", 1)[1].split()[0]
    second = cli("demo", ok=False)  # the sample exists already: refused, nothing printed twice
    assert password not in second.output
    engine = make_engine(cli.db)
    with Session(engine) as s:
        assert users.authenticate(s, "demo", password, now=NOW).user is not None
    engine.dispose()
    other = cli.tmp / "other.db"
    again = cli.runner.invoke(__import__("ivr400.cli", fromlist=["main"]).main, ["--db", f"sqlite:///{other}", "demo"])
    assert again.exit_code == 0 and password not in again.output  # generated per database, never a default
