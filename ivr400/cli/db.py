"""`ivr400 db`: schema migrations (Alembic is the only way the schema changes).

Alembic and SQLAlchemy are imported by the commands that run, not by this module: `ivr400 db --help` loads
neither (tests/cli/test_startup_imports.py).
"""
from __future__ import annotations

import types
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from ivr400.cli.common import CommandError, app

if TYPE_CHECKING:
    from sqlalchemy import Engine


@click.group()
def db() -> None:
    """Database schema: upgrade, downgrade, current revision."""


def _migrations() -> types.ModuleType:
    """ivr400.db.migrate (Alembic's runtime), loaded when a command needs it."""
    from ivr400.db import migrate

    return migrate


def _engine() -> Engine:
    from ivr400.db.engine import make_engine

    try:
        return make_engine(app().database_url)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc


def _migrate(step: Callable[[Engine, str], None], engine: Engine, revision: str) -> None:
    """Run `migrate.upgrade`/`downgrade` to `revision`; a database at a revision these migrations do not know
    (a newer ivr400's), an unknown target and a refused migration are errors, not tracebacks."""
    from alembic.util import CommandError as AlembicError
    from sqlalchemy.exc import DatabaseError

    migrate = _migrations()
    try:
        refused = migrate.newer_schema_error(engine)
        if refused is not None:
            raise CommandError(str(refused))
        step(engine, revision)
    except migrate.MigrationRefused as exc:
        raise CommandError(str(exc)) from exc
    except AlembicError as exc:
        raise CommandError(f"revision: {exc}") from exc
    except DatabaseError as exc:
        raise CommandError(f"database: cannot open ({exc.orig})") from exc


@db.command()
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the newest).

    At the newest revision it also seeds the national holiday calendar, once, for every year chinesecalendar
    knows that this database never seeded (pinned or removed days are left as they are).
    """
    engine, migrate = _engine(), _migrations()
    _migrate(migrate.upgrade, engine, revision)
    current = migrate.current_revision(engine)
    click.echo(f"database at revision {current}")
    if current == migrate.head_revision(engine):
        _seed_calendar(engine)


def _seed_calendar(engine: Engine) -> None:
    from sqlalchemy.orm import Session

    from ivr400.provisioning.calendar import seed_known_years

    with Session(engine) as session, session.begin():
        report = seed_known_years(session, now=app().now())
    years = report.years_with_data
    if years:
        span = f"{years[0]}-{years[-1]}" if len(years) > 1 else str(years[0])
        click.echo(f"calendar: seeded {span} from chinesecalendar ({report.days_written} holiday and "
                   f"make-up working day(s))")
    else:
        click.echo("calendar: every year chinesecalendar knows was seeded before")


@db.command()
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION (`base` drops everything)."""
    engine, migrate = _engine(), _migrations()
    _migrate(migrate.downgrade, engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or 'base'}")


@db.command()
def current() -> None:
    """Print the schema revision and the newest one this ivr400 knows."""
    engine, migrate = _engine(), _migrations()
    click.echo(f"current: {migrate.current_revision(engine) or 'base'}  head: {migrate.head_revision(engine)}")
