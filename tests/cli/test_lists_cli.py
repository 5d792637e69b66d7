"""What a fresh user typed wrong into the list and lookup commands: each refused with `error: FIELD: reason`,
exit status 1 and no traceback, on SQLite and on PostgreSQL."""
from __future__ import annotations

import importlib
from pathlib import Path

import click
import pytest
from click.testing import Result
from sqlalchemy import Engine, text

from ivr400.cli import COMMAND_GROUPS
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from tests.cli.conftest import CliRun


@pytest.fixture
def any_cli(cli: CliRun, bare_engine: Engine) -> CliRun:
    """The `cli` fixture on a fresh database of each kind, provisioned by `ivr400 demo`."""
    cli.db = bare_engine.url.render_as_string(hide_password=False)
    cli("demo")
    return cli


def refused(result: Result, field: str) -> str:
    assert result.exit_code == 1, result.output + result.stderr
    assert result.stderr.startswith(f"error: {field}: "), result.stderr
    assert "Traceback" not in result.output + result.stderr
    return result.stderr


@pytest.mark.parametrize("big", [2**31, 2**63, 10**30])
def test_an_id_larger_than_a_key_names_nothing(any_cli: CliRun, big: int) -> None:
    """PostgreSQL's keys are 32-bit INTEGERs and it refuses to compare one with a larger number."""
    for args, field in ((["enterprise", "show", str(big)], "enterprise"),
                        (["destination", "show", f"#{big}"], "destination"),
                        (["evidence", "list", f"#{big}"], "destination"),
                        (["seat", "move", str(big), "--position", "1"], "seat"),
                        (["seat", "set", str(big), "--weight", "1"], "seat"),
                        (["seat", "remove", str(big)], "seat"),
                        (["rule", "remove", str(big)], "id"),
                        (["rule", "remove", f"time:{big}"], "id"),
                        (["callback", "set", str(big), "called_back"], "entry"),
                        (["destination", "list", "--enterprise", str(big)], "enterprise"),
                        (["user", "list", "--enterprise", str(big)], "enterprise"),
                        (["whitelist", "expiring", "--enterprise", str(big)], "enterprise")):
        refused(any_cli(*args, ok=False), field)


def test_an_empty_enterprise_is_refused_not_taken_for_every_enterprise(any_cli: CliRun) -> None:
    before = any_cli("destination", "list", "--json").output
    for args in (["destination", "list"], ["whitelist", "expiring"], ["user", "list"], ["calendar", "list"],
                 ["calendar", "add", "2026-06-02", "--kind", "holiday"], ["calendar", "remove", "2026-10-01"],
                 ["tone", "approve", "welcome"], ["destination", "show", "01062345678"],
                 ["hotline", "add", "4008999999"], ["export", "destinations", str(any_cli.tmp / "out.csv")]):
        for empty in ("", "  "):
            assert "empty; give an enterprise id or registered name" in refused(
                any_cli(*args, "--enterprise", empty, ok=False), "enterprise"), args
    assert any_cli("destination", "list", "--json").output == before
    assert "2026-10-01" in any_cli("calendar", "list", "--year", "2026").output  # not removed as "national"


def test_an_empty_hotline_is_refused_not_taken_for_every_hotline(any_cli: CliRun) -> None:
    for args in (["seat", "list", ""], ["block", "list", ""], ["voicemail", "list", "--hotline", ""],
                 ["export", "seats", "-", "--hotline", ""], ["fax", "list", "--hotline", ""],
                 ["fax", "list", "--hotline", "4008999999"]):
        refused(any_cli(*args, ok=False), "hotline")
    # a hotline typed as it is displayed is the same hotline (fax list used to match the text as typed)
    engine = make_engine(any_cli.db)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO fax (hotline_id, uniqueid, status, pages, file_path, received_at) "
                          "SELECT id, '1.1', 'received', 1, '/fax/1.tif', '2026-06-01 00:00:00' FROM hotline "
                          "WHERE number = '4008123456'"))
    engine.dispose()
    shown = any_cli("fax", "list", "--hotline", "400-812-3456", "--json").output
    assert '"file": "/fax/1.tif"' in shown
    assert shown == any_cli("fax", "list", "--hotline", "4008123456", "--json").output


def _commands(group: click.Command, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], click.Command]]:
    if isinstance(group, click.Group):
        return [c for name, sub in group.commands.items() for c in _commands(sub, (*path, name))]
    return [(path, group)]


def test_the_usage_line_brackets_every_optional_argument() -> None:
    """`seat list --help` showed HOTLINE as required: an argument with a metavar of its own must say it."""
    seen = 0
    for name, (module, attr, _) in COMMAND_GROUPS.items():
        for path, command in _commands(getattr(importlib.import_module(module), attr), (name,)):
            with click.Context(command, info_name=" ".join(path)) as ctx:
                usage = command.collect_usage_pieces(ctx)
            for param in command.params:
                if isinstance(param, click.Argument):
                    shown = param.make_metavar(ctx)
                    assert shown in usage, (path, shown, usage)
                    optional = not param.required
                    assert shown.startswith("[") == optional, f"ivr400 {' '.join(path)}: {shown}"
                    seen += optional
    assert seen >= 3  # seat list, block list, db upgrade


def test_db_upgrade_refuses_a_database_migrated_by_a_newer_ivr400(tmp_path: Path, cli: CliRun) -> None:
    engine = make_engine(cli.db)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    for args in (["db", "upgrade"], ["db", "downgrade", "0001"], ["hotline", "list"], ["hotline", "add", "4008000001",
                                                                                      "--enterprise", "1"]):
        message = refused(cli(*args, ok=False), "database")
        assert "schema revision 9999 is newer than this ivr400 knows (its newest is " in message, message
    assert "current: 9999" in cli("db", "current").output


def test_db_upgrade_names_an_unknown_target_revision(cli: CliRun) -> None:
    assert "Can't locate revision identified by 'nonsense'" in refused(cli("db", "upgrade", "nonsense", ok=False),
                                                                         "revision")


def test_a_limit_past_what_a_database_integer_holds_is_a_usage_error(any_cli: CliRun) -> None:
    """SQLite raised OverflowError (a traceback) and PostgreSQL blamed the database: the limit is named."""
    for args in (["call", "attempts", "4008123456"], ["voicemail", "list"]):
        result = any_cli(*args, "--limit", str(2**63), ok=False)
        assert result.exit_code == 2 and "'--limit'" in result.stderr and "Traceback" not in result.output, result


@pytest.mark.parametrize("status", ["bogus", "Expired", " expired", ""])
def test_an_unknown_destination_status_is_named_not_matched_by_nothing(any_cli: CliRun, status: str) -> None:
    result = any_cli("destination", "list", "--status", status, ok=False)
    assert result.exit_code == 2 and "'--status'" in result.stderr and "not_yet_valid" in result.stderr, result
    assert "approved" in any_cli("destination", "list", "--status", "approved", "--json").output
