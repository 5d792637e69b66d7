"""The `cli` fixture: run `ivr400 --db <fresh SQLite file> ...` in-process, asserting success by default."""
from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from ivr400.cli import main


class CliRun:
    """`cli(*args, ok=True)`; also exposes the database URL/file and the test's tmp dir."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.db_file = tmp / "cli.db"
        self.db = f"sqlite:///{self.db_file}"
        self.runner = CliRunner()

    def snapshot(self) -> bytes:
        """Everything a command could have written: the database (WAL checkpointed) as an SQL dump."""
        conn = sqlite3.connect(self.db_file)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        dump = "\n".join(conn.iterdump()).encode()
        conn.close()
        return dump

    def __call__(self, *args: str, ok: bool = True) -> Result:
        result = self.runner.invoke(main, ["--db", self.db, *args], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output + result.stderr
        return result


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    for name in list(os.environ):  # no settings from the caller's environment (see ivr400.config)
        if name.startswith("IVR400_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("IVR400_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("IVR400_ACTOR", "tester")
    monkeypatch.setenv("IVR400_CDR_STATE", str(tmp_path / "cdr-state.json"))
    monkeypatch.setenv("IVR400_LAB_STATE", str(tmp_path / "no-lab.json"))
    return CliRun(tmp_path)
