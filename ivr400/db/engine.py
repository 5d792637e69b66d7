"""Engines for the two supported databases: embedded SQLite (default) and PostgreSQL."""
from __future__ import annotations

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.pool import ConnectionPoolEntry

from ivr400.paths import default_database_url


def make_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Engine with the settings the whitelist needs.

    SQLite enforces foreign keys only when asked per connection, and its triggers are what keep a
    non-whitelisted destination from being bound, so the pragma is not optional. PostgreSQL gets a
    connect timeout so a dead server fails fast instead of hanging a call or a command.
    """
    from ivr400.db.lite import SUPPORTED_DRIVERS

    url = url or default_database_url()
    parsed = make_url(url)
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name() if "+" in parsed.drivername else ""
    if backend in SUPPORTED_DRIVERS and driver not in SUPPORTED_DRIVERS[backend]:
        raise ValueError(f"database url: driver {driver!r} is not supported for {backend} "
                         f"(use {backend}:// or {backend}+{SUPPORTED_DRIVERS[backend][1]}://)")
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(url, echo=echo, connect_args={"timeout": 15})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA foreign_keys = ON")
            cursor.execute("PRAGMA busy_timeout = 15000")
            if parsed.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
            cursor.close()

        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        return create_engine(parsed, echo=echo, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    raise ValueError(f"database url: unsupported backend {parsed.get_backend_name()!r} (use sqlite or postgresql)")
