"""Every migration step goes down and up again on a populated database without losing a row."""
from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr400.db import migrate
from ivr400.provisioning.sample import provision_sample
from tests.conftest import NOW


def _counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t != "alembic_version"]
        return {t: conn.execute(text(f'SELECT COUNT(*) FROM "{t}"')).scalar_one() for t in tables}


def _revisions(engine: Engine) -> list[str]:
    script = ScriptDirectory.from_config(migrate.alembic_config(engine))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_each_step_down_and_up_keeps_every_row(bare_engine: Engine, tmp_path) -> None:  # noqa: ANN001
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        provision_sample(s, store_root=tmp_path / "evidence", now=NOW, actor="test")
        s.commit()
    before = _counts(bare_engine)
    assert before["seat"] == 6 and before["destination"] == 5

    revisions = _revisions(bare_engine)
    for lower in reversed(revisions[:-1]):
        migrate.downgrade(bare_engine, lower)
        assert migrate.current_revision(bare_engine) == lower
        after_down = _counts(bare_engine)
        for table, count in after_down.items():
            assert count == before[table], f"{table} lost rows going down to {lower}"
        migrate.upgrade(bare_engine)
        assert _counts(bare_engine) == before

    # The guards are back after the round trips: a pending destination still cannot be bound.
    with bare_engine.connect() as conn:
        pending_id = conn.execute(text("SELECT id FROM destination WHERE status = 'pending'")).scalar_one()
        hotline_id = conn.execute(text("SELECT id FROM hotline")).scalar_one()
        with pytest.raises(DBAPIError):
            conn.execute(text("INSERT INTO seat (hotline_id, destination_id, position, ring_timeout_s, created_at) "
                              "VALUES (:h, :d, 9, 15, :t)"), {"h": hotline_id, "d": pending_id,
                                                              "t": NOW.replace(tzinfo=None)})


def test_full_downgrade_to_base_and_back(bare_engine: Engine) -> None:
    migrate.upgrade(bare_engine)
    migrate.downgrade(bare_engine, "base")
    assert set(inspect(bare_engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(bare_engine)
    assert migrate.current_revision(bare_engine) == migrate.head_revision(bare_engine)
    with bare_engine.connect() as conn:
        carriers = conn.execute(text("SELECT carrier FROM carrier_policy ORDER BY carrier")).scalars().all()
    assert carriers == ["mobile", "telecom", "unicom"]


def test_ensure_schema_creates_an_empty_database_and_refuses_an_old_one(bare_engine: Engine) -> None:
    migrate.ensure_schema(bare_engine)
    assert migrate.current_revision(bare_engine) == migrate.head_revision(bare_engine)
    migrate.downgrade(bare_engine, "0001")
    with pytest.raises(migrate.SchemaError, match="ivr400 db upgrade"):
        migrate.ensure_schema(bare_engine)
