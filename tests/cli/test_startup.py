"""What starting `ivr400` loads: `--help` and the list commands stay clear of Alembic, the phonenumbers
geocoder and Jinja2; command groups are imported only when run (each checked in a fresh interpreter)."""
from __future__ import annotations

import json
import subprocess
import sys

import click
import pytest

from ivr400.cli import COMMAND_GROUPS, main
from ivr400.db import migrate
from ivr400.db.engine import make_engine

HEAVY = ("alembic", "mako", "jinja2", "phonenumbers.geocoder", "panoramisk", "ivr400.render", "ivr400.controller")


def loaded_after(code: str, env: dict[str, str] | None = None) -> list[str]:
    """Module names loaded by running `code` in a new interpreter (the CLI's SystemExit is expected)."""
    probe = (f"import sys, json\ntry:\n    {code}\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
             "print(json.dumps(sorted(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def heavy(modules: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY + extra)]


def test_importing_the_cli_loads_no_command_group_and_no_database_layer() -> None:
    modules = loaded_after("import ivr400.cli")
    assert heavy(modules, ("sqlalchemy", "phonenumbers")) == []
    assert [m for m in modules if m.startswith("ivr400.cli.")] == []


def test_help_lists_every_group_without_importing_any() -> None:
    modules = loaded_after("from ivr400.cli import main; main(['--help'])")
    assert heavy(modules, ("sqlalchemy", "phonenumbers")) == []
    assert [m for m in modules if m.startswith("ivr400.cli.")] == []


def test_db_help_loads_no_migrations() -> None:
    """Migrations load only for the commands that run them: `ivr400 db --help` imports no Alembic."""
    modules = loaded_after("from ivr400.cli import main; main(['db', '--help'])")
    assert heavy(modules, ("sqlalchemy",)) == []


@pytest.mark.parametrize("args", [["hotline", "list"], ["destination", "list", "--json"], ["seat", "list"],
                                  ["department", "list", "4008123456"], ["whitelist", "expiring"],
                                  ["destination", "show", "010-62345678"], ["whitelist", "check", "010 6234 5679"]])
def test_list_and_show_commands_on_a_current_database_load_no_alembic_nor_geocoder(cli, args: list[str]) -> None:
    cli("demo")
    env = {"IVR400_DATA_DIR": str(cli.tmp / "data"), "PATH": "/usr/bin:/bin"}
    modules = loaded_after(f"from ivr400.cli import main; main({['--db', cli.db, *args]!r})", env)
    assert heavy(modules) == []
    assert sorted(m for m in modules if m.startswith("ivr400.cli.") and m != "ivr400.cli.common") == [
        f"ivr400.cli.{args[0]}"]


def test_a_destination_typed_in_another_form_is_parsed_and_found(cli) -> None:  # noqa: ANN001
    cli("demo")
    forms = ("010-62345678", "01062345678", "+86 10 6234 5678", "(010) 6234-5678", "０１０－６２３４５６７８")
    shown = [json.loads(cli("destination", "show", ref, "--json").stdout)["id"] for ref in forms]
    assert len(set(shown)) == 1
    result = cli("destination", "show", "010-6234567", ok=False)
    assert result.stderr.startswith("error: destination: '010-6234567': too short")


def test_an_outdated_database_is_refused_and_an_empty_one_created(cli) -> None:  # noqa: ANN001
    cli("enterprise", "list")  # creates the schema on first use
    engine = make_engine(cli.db)
    head = migrate.head_revision(engine)
    migrate.downgrade(engine, "0002")
    engine.dispose()
    result = cli("enterprise", "list", ok=False)
    assert result.exit_code == 1
    assert result.stderr == f"error: database: schema revision 0002 is not {head}; run `ivr400 db upgrade`\n"
    cli("db", "upgrade")
    assert cli("enterprise", "list").stdout == "(none)\n"


def test_the_listed_help_is_each_groups_own() -> None:
    ctx = click.Context(main)
    for name, (_, _, short) in COMMAND_GROUPS.items():
        group = main.get_command(ctx, name)
        assert group is not None and group.name == name, name
        assert group.get_short_help_str(limit=500) == short, f"COMMAND_GROUPS[{name!r}] differs from its docstring"


def test_an_unknown_group_is_a_usage_error(cli) -> None:  # noqa: ANN001
    result = cli("hotlines", "list", ok=False)
    assert result.exit_code == 2 and "No such command 'hotlines'" in result.stderr
