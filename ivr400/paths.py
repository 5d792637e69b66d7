"""Where ivr400 keeps its data and finds its shipped resources.

The wheel carries `dialplans/`, `sounds/` and `alembic/` under `ivr400/_data/`; a checkout keeps them
at the repository root. Looking in the package first makes an installed copy self-contained.
"""
from __future__ import annotations

import os
from pathlib import Path

import ivr400


def resource_dir(name: str) -> Path:
    """Directory of a shipped resource (`dialplans`, `sounds`, `alembic`)."""
    packaged = Path(ivr400.__file__).parent / "_data" / name
    if packaged.is_dir():
        return packaged
    return Path(ivr400.__file__).resolve().parents[1] / name


def data_dir() -> Path:
    """The user's data directory (database, evidence files, recordings), created on first use."""
    explicit = os.environ.get("IVR400_DATA_DIR")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        path = Path(base) / "ivr400"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_database_url() -> str:
    """SQLite file in the data directory: the embedded default."""
    return sqlite_url(data_dir() / "ivr400.db")


def sqlite_url(path: Path) -> str:
    """The database URL of the SQLite file at `path` (absolute, or relative to the working directory).

    `sqlite:///PATH` as usual; a path holding "?" (which would start the URL's query, so SQLAlchemy and
    the list commands' reader would open a file named after what precedes it) is written as an SQLite
    URI filename, `sqlite:///file:PATH?uri=true`, with PATH percent-encoded, which both open as the one
    file `path` names.
    """
    if "?" not in str(path):
        return f"sqlite:///{path}"
    from urllib.parse import quote

    return f"sqlite:///file:{quote(str(path), safe='/')}?uri=true"
