"""`ivr400 db`: schema migrations (Alembic is the only way the schema changes)."""
from __future__ import annotations

import click
from sqlalchemy import Engine

from ivr400.cli.common import CommandError, app
from ivr400.db import migrate
from ivr400.db.engine import make_engine


@click.group()
def db() -> None:
    """Database schema: upgrade, downgrade, current revision."""


def _engine() -> Engine:
    try:
        return make_engine(app().database_url)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest)."""
    engine = _engine()
    migrate.upgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine)}")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (`base` drops everything)."""
    engine = _engine()
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db.command()
def current() -> None:
    """Print the schema revision and the newest one this ivr400 knows."""
    engine = _engine()
    click.echo(f"current: {migrate.current_revision(engine) or 'base'}  head: {migrate.head_revision(engine)}")
