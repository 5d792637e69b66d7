"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL, isolated per test."""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade

PG_URL = os.environ.get("IVR400_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def _pg_schema_engine() -> Iterator[Engine]:
    """A private schema in the test database, dropped afterwards (tests may run side by side)."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server
        admin.dispose()
        if in_ci():
            pytest.fail(f"PostgreSQL at {PG_URL} is required in CI: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    sep = "&" if "?" in PG_URL else "?"
    engine = make_engine(f"{PG_URL}{sep}options=-csearch_path%3D{schema}")
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def bare_engine(request: pytest.FixtureRequest, tmp_path) -> Iterator[Engine]:  # noqa: ANN001
    """An empty database of each kind (no schema yet)."""
    if request.param == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'ivr400.db'}")
        yield engine
        engine.dispose()
    else:
        yield from _pg_schema_engine()


@pytest.fixture
def pg_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL schema only, for what SQLite has no counterpart of (TRUNCATE, concurrent writers)."""
    for engine in _pg_schema_engine():
        upgrade(engine)
        yield engine


@pytest.fixture
def engine(bare_engine: Engine) -> Engine:
    upgrade(bare_engine)
    return bare_engine


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as s:
        yield s


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> os.PathLike[str]:  # noqa: ANN001
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("IVR400_DATA_DIR", str(path))
    return path
