"""Schema management through Alembic only: the migrations (with their triggers) are the schema."""
from __future__ import annotations

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError as AlembicError
from sqlalchemy import Engine, inspect

from alembic import command
from ivr400.db.revision import SchemaError
from ivr400.paths import resource_dir

__all__ = ["SchemaError", "alembic_config", "current_revision", "downgrade", "ensure_schema", "head_revision",
           "upgrade"]


class MigrationRefused(RuntimeError):
    """A migration found data it cannot carry over; the message names the rows and how to fix them.
    Raised before that migration writes anything."""


def alembic_config(engine: Engine) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resource_dir("alembic")))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def head_revision(engine: Engine) -> str:
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head() or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def newer_schema_error(engine: Engine) -> SchemaError | None:
    """The error to report when the database is at a revision the shipped migrations do not know (a newer
    ivr400 migrated it: neither upgrade nor downgrade can start from there); None otherwise."""
    current = current_revision(engine)
    if current is None:
        return None
    script = ScriptDirectory.from_config(alembic_config(engine))
    try:
        script.get_revision(current)
    except AlembicError:
        return SchemaError(f"database: schema revision {current} is newer than this ivr400 knows (its newest is "
                           f"{script.get_current_head()}): run the ivr400 that migrated it, or restore the backup "
                           "taken before that upgrade")
    return None


def upgrade(engine: Engine, revision: str = "head") -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def downgrade(engine: Engine, revision: str) -> None:
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)


def ensure_schema(engine: Engine) -> bool:
    """Create the schema in an empty database; refuse to run on an out-of-date one. True if it created it.

    An empty database (first use of the embedded default) is upgraded silently. A database at an
    older revision is never migrated implicitly: the operator runs `ivr400 db upgrade`, ideally after
    a backup.
    """
    current = current_revision(engine)
    head = head_revision(engine)
    if current == head:
        return False
    if current is None:
        tables = set(inspect(engine).get_table_names())
        if tables - {"alembic_version"}:
            raise SchemaError("database: has tables but no ivr400 revision; is this an ivr400 database?")
        upgrade(engine)
        return True
    raise newer_schema_error(engine) or SchemaError(
        f"database: schema revision {current} is not {head}; run `ivr400 db upgrade`")
