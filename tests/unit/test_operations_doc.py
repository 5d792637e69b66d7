"""docs/operations.md says what the code does: its settings table is ivr400.config's, its example
configuration loads, its Asterisk snippets carry the include lines and AMI classes ivr400 checks, and
its commands are commands of the CLI. (tests/e2e/test_operator_install.py runs them on a real Asterisk.)"""
from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from ivr400.cli import main
from ivr400.config import SETTINGS, Settings
from ivr400.deploy.check import PERMISSIONS, find_include, section_values, user_permissions
from ivr400.pbx.asterisk.config_files import INCLUDES
from tests.operations_doc import blocks, ivr400_args, ivr400_commands, lines, settings_table


def test_the_settings_table_is_the_code_s() -> None:
    assert settings_table() == [(s.name, s.env, s.default) for s in SETTINGS]


def test_the_example_configuration_loads(tmp_path: Path) -> None:
    example = blocks()["/etc/ivr400/ivr400.toml"]
    path = tmp_path / "ivr400.toml"
    path.write_text(example.text)
    s = Settings.load(path, environ={})
    assert s.database_url.startswith("postgresql+psycopg://") and s.data_dir == Path("/var/lib/ivr400")
    assert s.require_ami().secret == "CHANGE-ME-AMI-SECRET" and s.controller_agi_url == "agi://127.0.0.1:4573"


def test_the_asterisk_snippets_include_every_file_where_deploy_check_looks(tmp_path: Path) -> None:
    docs = blocks()
    for name in ("extensions.conf", "pjsip.conf", "musiconhold.conf", "cdr.conf", "cdr_custom.conf",
                 "cdr_manager.conf"):
        (tmp_path / name).write_text(docs[f"/etc/asterisk/{name}"].text)
    for inc in INCLUDES.values():
        found, where = find_include(tmp_path, inc.parent, inc.name, inc.section)
        assert found, f"docs: {inc.parent} lacks {inc.name} ({where})"
    assert section_values((tmp_path / "cdr.conf").read_text(), "general")["unanswered"] == "yes"
    assert section_values((tmp_path / "cdr_manager.conf").read_text(), "general")["enabled"] == "yes"
    user = section_values(docs["/etc/asterisk/manager.conf"].text, "ivr400")
    perms = user_permissions(f"read perm: {user['read']}\nwrite perm: {user['write']}")
    assert {(d, c) for d, c, _ in PERMISSIONS} == {(d, c) for d in perms for c in perms[d]}


def test_every_documented_ivr400_command_exists(tmp_path: Path) -> None:
    """Each `ivr400 ...` line of the page parses as a command of this CLI (its --help runs)."""
    seen = 0
    for block in blocks().values():
        if block.lang != "sh":
            continue
        for argv in lines(block):
            args = ivr400_args(argv)
            if args is None:
                continue
            words = [a for a in args if not a.startswith("-")]
            group = CliRunner().invoke(main, [*words[:2], "--help"])
            if group.exit_code != 0:
                group = CliRunner().invoke(main, [*words[:1], "--help"])
            assert group.exit_code == 0, (block.title, argv, group.output)
            for option in (a.split("=")[0] for a in args if a.startswith("--")):
                assert option in group.output, (block.title, argv, option)
            seen += 1
    assert seen >= 15
    assert [c[:2] for c in ivr400_commands(blocks()["first deploy"])] == [["db", "upgrade"], ["deploy", "--no-reload"]]
