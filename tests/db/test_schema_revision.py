"""The quick schema check every command makes (ivr400.db.revision) agrees with Alembic, or defers to it."""
from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from ivr400.db import migrate
from ivr400.db.revision import database_revisions, head_from_files, schema_is_current, versions_dir


def test_the_head_read_from_the_files_is_alembics_head(bare_engine: Engine) -> None:
    assert head_from_files(versions_dir()) == migrate.head_revision(bare_engine)


def test_current_only_at_exactly_the_head(bare_engine: Engine) -> None:
    assert database_revisions(bare_engine) is None and not schema_is_current(bare_engine)
    migrate.upgrade(bare_engine)
    assert database_revisions(bare_engine) == (migrate.head_revision(bare_engine),)
    assert schema_is_current(bare_engine)
    migrate.downgrade(bare_engine, "0001")
    assert database_revisions(bare_engine) == ("0001",) and not schema_is_current(bare_engine)
    migrate.downgrade(bare_engine, "base")
    assert database_revisions(bare_engine) == () and not schema_is_current(bare_engine)


def _versions(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "versions"
    folder.mkdir()
    for name, source in files.items():
        (folder / name).write_text(source)
    return folder


CHAIN = {"0001_a.py": 'revision = "0001"\ndown_revision = None\n',
         "0002_b.py": "revision: str = '0002'  # comment\ndown_revision: str | None = '0001'\n",
         "__init__.py": "", ".#0003_lock.py": "garbage"}


@pytest.mark.parametrize(("extra", "head"), [
    ({}, "0002"),
    ({"0003_c.py": '"""Revises: 0002"""\nrevision = "0003"\ndown_revision = "0002"\n'}, "0003"),
    # Two heads, a merge of them, a parent that is not there, forms this reader does not parse: not plain.
    ({"0003_c.py": 'revision = "0003"\ndown_revision = "0001"\n'}, None),
    ({"0003_c.py": 'revision = "0003"\ndown_revision = "0001"\n',
      "0004_merge.py": 'revision = "0004"\ndown_revision = ("0002", "0003")\n'}, "0004"),
    ({"0003_c.py": 'revision = "0003"\ndown_revision = "0009"\n'}, None),
    ({"0003_c.py": 'revision = "0003"\ndown_revision = (\n    "0002",\n)\n'}, None),
    ({"0003_c.py": 'revision = REV\ndown_revision = "0002"\n'}, None),
    ({"0003_c.py": 'down_revision = "0002"\n'}, None),
    ({"0003_c.py": 'revision = "0003"\nrevision = "0004"\ndown_revision = "0002"\n'}, None),
])
def test_head_from_files_answers_only_for_a_plain_chain(tmp_path: Path, extra: dict[str, str],
                                                         head: str | None) -> None:
    assert head_from_files(_versions(tmp_path, CHAIN | extra)) == head


def test_no_migration_files_means_unknown(tmp_path: Path) -> None:
    assert head_from_files(_versions(tmp_path, {})) is None
