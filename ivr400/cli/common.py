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
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import SchemaError, ensure_schema
from ivr400.numbers import NumberError
from ivr400.paths import data_dir
from ivr400.provisioning.audit import current_actor
from ivr400.provisioning.errors import ProvisioningError, from_integrity_error

F = TypeVar("F", bound=Callable[..., Any])


class CommandError(click.ClickException):
    """Printed as `error: FIELD: reason` on stderr; exit status 1."""

    exit_code = 1

    def show(self, file: Any = None) -> None:  # noqa: ANN401
        click.echo(f"error: {self.message}", err=True)


@dataclass
class AppContext:
    database_url: str | None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            try:
                self._engine = make_engine(self.database_url)
                ensure_schema(self._engine)
            except (ValueError, SchemaError) as exc:
                raise CommandError(str(exc)) from exc
            except OperationalError as exc:
                raise CommandError(f"database: cannot open ({exc.orig})") from exc
        return self._engine

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction per command: commit on success, roll back everything on any error."""
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
        return current_actor()

    @property
    def data_dir(self) -> Path:
        return data_dir()

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()


def app(ctx: click.Context | None = None) -> AppContext:
    ctx = ctx or click.get_current_context()
    obj = ctx.find_object(AppContext)
    assert obj is not None, "ivr400 commands run under the main group"
    return obj


def handle_errors(func: F) -> F:
    """Turn domain errors into `error: FIELD: reason` with a non-zero exit."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:  # noqa: ANN401
        try:
            return func(*args, **kwargs)
        except ProvisioningError as exc:
            raise CommandError(str(exc)) from exc
        except NumberError as exc:
            raise CommandError(f"number: {exc}") from exc
        except IntegrityError as exc:
            raise CommandError(str(from_integrity_error(exc, "input"))) from exc

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
    cells = [[_cell(row.get(col)) for col in columns] for row in rows]
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
                click.echo(f"{key}: {_cell(value)}")
    else:
        emit_table(rows, columns or (list(rows[0]) if rows else []))


def _cell(value: Any) -> str:  # noqa: ANN401
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M UTC")
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
