"""Read-only SQL on the database driver alone, for the commands a shell script runs once per line.

`ivr400 hotline list` and its kind run as a new process each time. Importing SQLAlchemy costs about
0.25 s on this project's reference machine (see `bench/bench_cli.py`, which measures it beside the
commands), more than everything else such a command does, and a list only reads rows. So the list
commands read through the DB-API driver (`sqlite3` from the standard library, `psycopg` for PostgreSQL)
with plain SELECTs from this module, and everything that writes keeps going through SQLAlchemy. Nothing
here writes, migrates or checks the whitelist: those stay in the ORM and the database's own constraints.

A `LiteTable` names the columns a reader may select with their result kind (`INT`, `FLOAT`, `STR`,
`BOOL`, `UTC`, `DATE`, `JSON`); `tests/unit/test_listing.py` holds each against the models' table, so a
renamed or retyped column fails a test instead of a command. The kind turns what each driver returns into what the ORM
returns: SQLite's 0/1 into `bool`, naive UTC text or datetimes into aware UTC datetimes (the models'
`UTCDateTime`), ISO text into dates, JSON text into lists and dicts.

SQL is written with `:name` placeholders (sqlite3's named style) and rewritten to psycopg's
`%(name)s`; it must not contain `%` or `::`.

Errors: `DatabaseUnavailable` when the database cannot be opened or read (the driver's message kept),
`ValueError` for a URL of another backend.
"""
from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from types import SimpleNamespace
from typing import Any, Protocol

#: Result kinds: how a driver's value becomes the ORM's value (None stays None).
Kind = Callable[[Any], Any]


def INT(value: Any) -> int:  # noqa: ANN401, N802 - a kind, named like the column types it stands for
    return int(value)


def STR(value: Any) -> str:  # noqa: ANN401, N802
    return str(value)


def FLOAT(value: Any) -> float:  # noqa: ANN401, N802
    return float(value)


def BOOL(value: Any) -> bool:  # noqa: ANN401, N802
    return bool(value)


def DATE(value: Any) -> date:  # noqa: ANN401, N802
    """A date as stored (SQLite: ISO text; PostgreSQL: a date)."""
    return date.fromisoformat(value) if isinstance(value, str) else value


def JSON(value: Any) -> Any:  # noqa: ANN401, N802
    """A JSON array or object as stored (SQLite: its text; PostgreSQL: already decoded by psycopg)."""
    return json.loads(value) if isinstance(value, str) else value


def UTC(value: Any) -> datetime:  # noqa: ANN401, N802
    """Naive UTC as stored (SQLite: ISO text; PostgreSQL: a naive datetime) -> aware UTC."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class LiteTable:
    """A table's name and the columns readers select from it: {column: kind}, in declaration order."""

    name: str
    columns: Mapping[str, Kind]

    def select(self, *names: str, where: str = "", order_by: str = "") -> tuple[str, dict[str, Kind]]:
        """(SQL, kinds) selecting `names` (all declared columns when none); `where`/`order_by` are SQL text.

        Raises KeyError for a column the table does not declare.
        """
        chosen = names or tuple(self.columns)
        kinds = {n: self.columns[n] for n in chosen}
        sql = f"SELECT {', '.join(chosen)} FROM {self.name}"
        if where:
            sql += f" WHERE {where}"
        if order_by:
            sql += f" ORDER BY {order_by}"
        return sql, kinds


class DatabaseUnavailable(RuntimeError):
    """The database cannot be opened or read; the message is the driver's."""


class _Connection(Protocol):
    def cursor(self) -> Any: ...  # noqa: ANN401
    def close(self) -> None: ...


_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def in_list(prefix: str, values: Iterable[Any]) -> tuple[str, dict[str, Any]]:  # noqa: ANN401
    """`(:prefix0, :prefix1, …)` and its parameters, for `column IN (…)`; `(NULL)` for no values."""
    params = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return "(" + (", ".join(f":{k}" for k in params) or "NULL") + ")", params


class Reader:
    """A read-only look at the database through its DB-API connection.

    `backend` is "sqlite" or "postgresql" (it decides the placeholder style). The reader does not own a
    connection it was given (`Reader(conn, backend)`, as tests share a session's); `open_reader` gives one
    it closes.
    """

    def __init__(self, connection: _Connection, backend: str, *, owned: bool = False) -> None:
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"database url: unsupported backend {backend!r} (use sqlite or postgresql)")
        self.connection, self.backend, self._owned = connection, backend, owned
        self._errors: tuple[type[BaseException], ...] = _driver_errors(backend)

    def _sql(self, sql: str) -> str:
        return sql if self.backend == "sqlite" else _PLACEHOLDER.sub(r"%(\1)s", sql)

    def _execute(self, sql: str, params: Mapping[str, Any]) -> tuple[list[str], list[Sequence[Any]]]:
        cursor = self.connection.cursor()
        try:
            cursor.execute(self._sql(sql), dict(params))
            names = [d[0] for d in cursor.description]
            return names, list(cursor.fetchall())
        except self._errors as exc:
            raise DatabaseUnavailable(str(exc).strip()) from exc
        finally:
            cursor.close()

    def rows(self, query: tuple[str, Mapping[str, Kind]], params: Mapping[str, Any] | None = None,
             ) -> list[SimpleNamespace]:
        """The rows of `query` (from `LiteTable.select`) as namespaces, each value of its column's kind."""
        sql, kinds = query
        names, found = self._execute(sql, params or {})
        convert = [kinds.get(n, _same) for n in names]
        return [SimpleNamespace(**{n: (None if v is None else k(v)) for n, k, v in zip(names, convert, row,
                                                                                        strict=True)})
                for row in found]

    def scalar(self, query: tuple[str, Mapping[str, Kind]], params: Mapping[str, Any] | None = None,
               ) -> Any:  # noqa: ANN401
        """The first column of the first row, of its kind; None when there is no row."""
        found = self.rows(query, params)
        return next(iter(vars(found[0]).values())) if found else None

    def moment(self, value: datetime) -> Any:  # noqa: ANN401
        """An aware datetime as a parameter compared with a `UTC` column: naive UTC, as the models store it
        (SQLite: SQLAlchemy's text form, which compares in time order; PostgreSQL: a naive datetime)."""
        naive = value.astimezone(timezone.utc).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.backend == "sqlite" else naive

    def day(self, value: date) -> Any:  # noqa: ANN401
        """A date as a parameter compared with a `DATE` column (SQLite: ISO text, as SQLAlchemy stores it)."""
        return value.isoformat() if self.backend == "sqlite" else value

    def revisions(self) -> tuple[str, ...] | None:
        """The ids in `alembic_version`, sorted; None when there is no such table (an empty database)."""
        try:
            _, found = self._execute("SELECT version_num FROM alembic_version", {})
        except DatabaseUnavailable:
            self._reset()
            return None
        return tuple(sorted(str(r[0]) for r in found))

    def _reset(self) -> None:
        """After a failed statement PostgreSQL refuses the rest of the transaction: start a new one."""
        rollback = getattr(self.connection, "rollback", None)
        if rollback is not None:
            rollback()

    def close(self) -> None:
        if self._owned:
            self.connection.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _same(value: Any) -> Any:  # noqa: ANN401
    return value


def _driver_errors(backend: str) -> tuple[type[BaseException], ...]:
    if backend == "sqlite":
        import sqlite3

        return (sqlite3.Error,)
    import psycopg

    return (psycopg.Error,)


#: Query options SQLAlchemy's pysqlite dialect keeps for itself instead of passing them in an SQLite URI.
_PYSQLITE_OPTIONS = frozenset({"uri", "timeout", "isolation_level", "detect_types", "check_same_thread",
                               "cached_statements"})

#: The drivers ivr400 runs on, by backend ("" = the backend's default, which ivr400.db.engine maps to them).
SUPPORTED_DRIVERS = {"sqlite": ("", "pysqlite"), "postgresql": ("", "psycopg")}


def open_reader(url: str) -> Reader:
    """A reader on the database `url` (SQLAlchemy's URL forms for SQLite and PostgreSQL).

    `sqlite:///relative/path`, `sqlite:////absolute/path`, `sqlite://` (memory);
    `postgresql[+psycopg]://user:password@host:port/db?options=…` (passed to libpq as a URI, with a 5 s
    connect timeout as `ivr400.db.engine` sets). Raises DatabaseUnavailable, ValueError (other backends or
    drivers).
    """
    scheme, _, rest = url.partition("://")
    backend, _, driver = scheme.partition("+")
    if backend in SUPPORTED_DRIVERS and driver not in SUPPORTED_DRIVERS[backend]:
        raise ValueError(f"database url: driver {driver!r} is not supported for {backend} "
                         f"(use {backend}:// or {backend}+{SUPPORTED_DRIVERS[backend][1]}://)")
    if backend == "sqlite":
        import sqlite3

        # The database is what SQLAlchemy's make_url takes: everything up to the first "?", as written
        # (no %-decoding, no "#" fragment), so the list commands open the file every other command opens;
        # with `uri=true` in the query it is an SQLite URI filename (`file:…`, %-encoded: see
        # ivr400.paths.sqlite_url), with the query's other options, as SQLAlchemy's pysqlite dialect passes it.
        path, _, query = rest[1:].partition("?") if rest.startswith("/") else ("", "", "")
        options = [p for p in query.split("&") if p]
        uri = "uri=true" in options
        if uri:
            extra = [p for p in options if p.partition("=")[0] not in _PYSQLITE_OPTIONS]
            path += "?" + "&".join(extra) if extra else ""
        try:
            conn = sqlite3.connect(path or ":memory:", timeout=15, uri=uri)
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(str(exc)) from exc
        return Reader(conn, "sqlite", owned=True)
    if backend == "postgresql":
        import psycopg

        try:
            pg = psycopg.connect(f"postgresql://{rest}", connect_timeout=5)
        except psycopg.Error as exc:
            raise DatabaseUnavailable(str(exc).strip()) from exc
        pg.read_only = True
        return Reader(pg, "postgresql", owned=True)
    raise ValueError(f"database url: unsupported backend {backend!r} (use sqlite or postgresql)")
