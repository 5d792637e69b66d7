"""Alembic environment: runs on a connection handed over by ivr400, or on the configured URL."""
from __future__ import annotations

from sqlalchemy import create_engine

from alembic import context

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _migrate(conn)


def _migrate(connection) -> None:  # noqa: ANN001
    # SQLite cannot ALTER most things in place: batch mode rebuilds tables for us.
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


run()
