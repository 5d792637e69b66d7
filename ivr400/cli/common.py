"""What every command group shares: the database session, the clock, error and JSON output."""
from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ivr400.cli import GlobalOptions
from ivr400.config import ConfigError, Settings
from ivr400.localtime import format_moment
from ivr400.provisioning.errors import ProvisioningError, from_integrity_error

if TYPE_CHECKING:
    # SQLAlchemy is imported when a command opens the database (so `ivr400 GROUP --help` does not load
    # it), and its ORM only by the commands that open a session; the list commands read through the
    # driver alone (ivr400.db.lite).
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session

    from ivr400.db.lite import Reader

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """Printed as `error: FIELD: reason` on stderr; exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:  # noqa: ANN401
        click.echo(f"error: {self.message}", err=True)


@dataclass
class AppContext:
    """What the main group resolved: where the settings come from, and the database engine (lazily)."""

    config_file: str | None = None
    database_flag: str | None = None
    lab: bool = False
    _settings: Settings | None = field(default=None, repr=False)
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        """The settings (file, environment, --db), with the lab's Asterisk and AMI when --lab was given."""
        if self._settings is None:
            try:
                settings = Settings.load(self.config_file, flags={"database.url": self.database_flag})
            except ConfigError as exc:
                raise CommandError(str(exc)) from exc
            if self.lab:
                from ivr400.lab.errors import LabError
                from ivr400.lab.targets import lab_settings  # the lab package only when asked for

                try:
                    settings = lab_settings(settings)
                except LabError as exc:
                    raise CommandError(str(exc)) from exc
            self._settings = settings
        return self._settings

    def settings_with(self, **flags: object) -> Settings:
        """The settings with a command's own flags on top (keys: setting names with `_` for `.`, e.g.
        `ami_host`; None = not given)."""
        try:
            return self.settings.with_values({k.replace("_", ".", 1): v for k, v in flags.items()})
        except ConfigError as exc:
            raise CommandError(str(exc)) from exc

    @property
    def database_url(self) -> str:
        """database.url; the default SQLite file's directory (data.dir) is created first."""
        if self.settings.get("database.url") is None:
            self.data_dir  # noqa: B018 - creates it
        return self.settings.database_url

    @property
    def engine(self) -> Engine:
        """The database, checked to be at this ivr400's schema (created when empty)."""
        if self._engine is None:
            from sqlalchemy.exc import DatabaseError

            from ivr400.db.engine import make_engine
            from ivr400.db.revision import SchemaError, schema_is_current

            try:
                self._engine = make_engine(self.database_url)
                if not schema_is_current(self._engine):
                    # Only an empty, outdated or unusual database pays for loading Alembic.
                    from ivr400.db.migrate import ensure_schema

                    if ensure_schema(self._engine):
                        self._seed_calendar(self._engine)
            except (ValueError, SchemaError) as exc:
                raise CommandError(str(exc)) from exc
            except DatabaseError as exc:  # OperationalError (cannot open), or not a database at all
                raise CommandError(f"database: cannot open ({exc.orig})") from exc
        return self._engine

    def _seed_calendar(self, engine: Engine) -> None:
        """A database just created: the national holidays of every year chinesecalendar knows."""
        from sqlalchemy.exc import IntegrityError
        from sqlalchemy.orm import Session

        from ivr400.provisioning.calendar import seed_known_years

        try:
            with Session(engine) as session, session.begin():
                seed_known_years(session, now=self.now())
        except IntegrityError:  # another process created and seeded it at the same moment
            pass

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A read-only look at the database through its driver alone, for list commands (`ivr400.db.lite`):
        SQLAlchemy is not even imported when the database is already at this ivr400's schema."""
        from ivr400.db.lite import DatabaseUnavailable, open_reader
        from ivr400.db.revision import head_from_files, versions_dir

        try:
            reader = open_reader(self.database_url)
            head = head_from_files(versions_dir())
            if head is None or reader.revisions() != (head,):
                reader.close()
                self.engine  # noqa: B018 - creates, upgrades or refuses the schema as every command does
                reader = open_reader(self.database_url)
        except ValueError as exc:  # a URL of another backend
            raise CommandError(str(exc)) from exc
        except DatabaseUnavailable as exc:
            raise CommandError(f"database: cannot open ({exc})") from exc
        try:
            with reader:
                yield reader
        except DatabaseUnavailable as exc:
            raise CommandError(f"database: cannot read ({exc})") from exc

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction per command: commit on success, roll back everything on any error."""
        from sqlalchemy.orm import Session

        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    @property
    def actor(self) -> str:
        from ivr400.provisioning.audit import current_actor

        return current_actor()

    @property
    def data_dir(self) -> Path:
        """data.dir, created on first use."""
        path = self.settings.data_dir
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"data.dir: cannot create {path} ({exc.strerror or exc})") from exc
        return path

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


_APP_KEY = "ivr400.app"


def app(ctx: click.Context | None = None) -> AppContext:
    """The command's AppContext, made on first use from the main group's options and closed with it."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    found = root.meta.get(_APP_KEY)
    if found is None:
        options = ctx.find_object(GlobalOptions)
        assert options is not None, "ivr400 commands run under the main group"
        found = root.meta[_APP_KEY] = AppContext(config_file=options.config_file,
                                                 database_flag=options.database_url, lab=options.lab)
        root.call_on_close(found.close)
    return found


def handle_errors(func: F) -> F:
    """Turn domain errors into `error: FIELD: reason` with a non-zero exit."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        try:
            return func(*args, **kwargs)
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        except Exception as exc:
            # A number refused by ivr400.numbers, or a change refused by the database (IntegrityError): each
            # can only come from a module already loaded, so this one imports neither (start-up time).
            numbers, sa_exc = sys.modules.get("ivr400.numbers"), sys.modules.get("sqlalchemy.exc")
            if numbers is not None and isinstance(exc, numbers.NumberError):
                raise CommandError(f"number: {exc}") from exc
            if sa_exc is not None and isinstance(exc, sa_exc.IntegrityError):
                raise CommandError(str(from_integrity_error(exc, "input"))) from exc
            raise

    return wrapper  # type: ignore[return-value]


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def _default(value: Any) -> Any:  # noqa: ANN401
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def emit_json(data: Any) -> None:  # noqa: ANN401
    json.dump(data, sys.stdout, ensure_ascii=False, indent=2, default=_default)
    sys.stdout.write("\n")


def emit_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """A plain aligned table; East Asian wide characters count double so columns line up."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[_cell(row.get(col), col) for col in columns] for row in rows]
    widths = [max(_width(c) for c in [col, *(r[i] for r in cells)]) for i, col in enumerate(columns)]
    click.echo("  ".join(_pad(col, w) for col, w in zip(columns, widths, strict=True)).rstrip())
    for r in cells:
        click.echo("  ".join(_pad(c, w) for c, w in zip(r, widths, strict=True)).rstrip())


def emit(rows: list[dict[str, Any]] | dict[str, Any], as_json: bool, columns: list[str] | None = None) -> None:
    if as_json:
        emit_json(rows)
    elif isinstance(rows, dict):
        for key, value in rows.items():
            if not isinstance(value, list | dict):
                click.echo(f"{key}: {_cell(value, key)}")
    else:
        emit_table(rows, columns or (list(rows[0]) if rows else []))


#: Columns holding the exclusive end of a period: a local midnight shows as "<day before> 24:00".
END_COLUMNS = frozenset({"valid_until"})


def _cell(value: Any, column: str = "") -> str:  # noqa: ANN401
    """Datetimes come from the views already in the enterprise's zone; they are shown with it."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return format_moment(value, end=column in END_COLUMNS)
    return str(value)


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


def parse_date(value: str | None, field_name: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"{field_name}: {value!r} is not a date YYYY-MM-DD") from exc
