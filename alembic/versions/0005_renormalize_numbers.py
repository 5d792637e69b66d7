"""Re-read stored block entries and region overrides with the one number normalizer (issue 8).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

Earlier versions read typed entries like caller IDs, so a prefix typed ``+86 10 8888`` was stored as
``108888`` and ``+86 10`` as ``10`` (matching the service numbers 10xxx and no Beijing caller), ``0138``
stayed ``0138`` (matching nobody) and ``1062345678`` stayed as typed. Upgrade:

* a stored prefix ``10`` or ``10`` + [2-9]… becomes ``010``…: the old version produced it from a Beijing
  prefix typed after ``+86``/``0086`` (or from ``10…`` typed without the 0), and it matched no Beijing
  caller; the normalizer itself refuses such a prefix as ambiguous when it is typed now;
* every other value becomes ``ivr400.numbers.normalize_number(value, prefix=row.prefix)`` (canonical
  values are unchanged);
* rows that become equal are merged: the row already in canonical form stays, else the oldest;
* every change (and every merged row, whole) is written to ``number_renormalization``, which the
  downgrade replays backwards to restore the old values and rows exactly, then drops.

A stored value the normalizer refuses stops the upgrade before anything is written, naming the row,
the reason and the SQL to fix it. This migration reads numbers with the application's normalizer on
purpose: there must be one reading of a number (docs/numbers.md), and that is what the controller
applies to the rows when it loads them.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from alembic import op

from ivr400.db.migrate import MigrationRefused
from ivr400.numbers import NumberError, normalize_number

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

LOG = "number_renormalization"
_OLD_BEIJING_PREFIX = re.compile(r"10(?:[2-9][0-9]*)?")

#: table -> (value column, prefix flag column or None for "always a prefix", columns of the unique key
#: besides the value, every column of a row)
_TABLES = {
    "block_entry": ("number", "prefix", ("hotline_id", "prefix"), ("id", "hotline_id", "number", "prefix", "note")),
    "region_override": ("prefix", None, (), ("id", "prefix", "province", "city")),
}


def canonical(value: str, prefix: bool) -> str:
    """The value a row stored by an earlier version has now. Raises NumberError if it cannot be read."""
    if prefix and _OLD_BEIJING_PREFIX.fullmatch(value):
        return "0" + value
    return normalize_number(value, prefix=prefix).value


def _log_table() -> sa.Table:
    return sa.table(LOG, sa.column("id", sa.Integer), sa.column("table_name", sa.String),
                    sa.column("row_id", sa.Integer), sa.column("old_value", sa.String),
                    sa.column("new_value", sa.String), sa.column("merged_into", sa.Integer),
                    sa.column("removed_row", sa.JSON))


def _plan(conn: sa.Connection) -> tuple[list[dict[str, Any]], list[str]]:
    """What to change, as log rows in the order they are applied; and the rows that cannot be read."""
    changes: list[dict[str, Any]] = []
    problems: list[str] = []
    for table, (column, flag, key_columns, columns) in _TABLES.items():
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY id"))]
        groups: dict[tuple[Any, ...], list[tuple[dict[str, Any], str]]] = defaultdict(list)
        for row in rows:
            if flag:
                row[flag] = bool(row[flag])  # SQLite hands booleans back as 0/1
            try:
                new = canonical(row[column], row[flag] if flag else True)
            except NumberError as exc:
                problems.append(f"{table} {row['id']}: {exc}; fix it with UPDATE {table} SET {column} = '…' "
                                f"WHERE id = {row['id']} (or DELETE it), then run `ivr400 db upgrade` again")
                continue
            groups[(new, *(row[k] for k in key_columns))].append((row, new))
        for members in groups.values():
            keeper = next(((r, n) for r, n in members if r[column] == n), members[0])
            for row, new in members:
                if row is keeper[0]:
                    if row[column] != new:
                        changes.append({"table_name": table, "row_id": row["id"], "old_value": row[column],
                                        "new_value": new, "merged_into": None, "removed_row": None})
                else:
                    changes.append({"table_name": table, "row_id": row["id"], "old_value": row[column],
                                    "new_value": new, "merged_into": keeper[0]["id"], "removed_row": row})
    return changes, problems


def upgrade() -> None:
    conn = op.get_bind()
    changes, problems = _plan(conn)
    if problems:
        raise MigrationRefused("numbers: stored values the number normalizer cannot read (docs/numbers.md); "
                               "nothing was changed:\n  " + "\n  ".join(problems))
    op.create_table(
        LOG,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("table_name", sa.String(32), nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("old_value", sa.String(64), nullable=False),
        sa.Column("new_value", sa.String(64), nullable=False),
        sa.Column("merged_into", sa.Integer),
        sa.Column("removed_row", sa.JSON),
    )
    for change in changes:  # merged rows go first, so the survivors can take the value they held
        if change["merged_into"] is not None:
            conn.execute(sa.text(f"DELETE FROM {change['table_name']} WHERE id = :id"), {"id": change["row_id"]})
    _set_values(conn, [(c["table_name"], c["row_id"], c["new_value"]) for c in changes if c["merged_into"] is None])
    if changes:
        op.bulk_insert(_log_table(), changes)


def _set_values(conn: sa.Connection, updates: list[tuple[str, int, str]]) -> None:
    """Set (table, id, value) in two passes through a placeholder, so no unique key is ever held twice."""
    for final in (False, True):
        for table, row_id, value in updates:
            conn.execute(sa.text(f"UPDATE {table} SET {_TABLES[table][0]} = :v WHERE id = :id"),
                         {"v": value if final else f"~{row_id}", "id": row_id})


def downgrade() -> None:
    conn = op.get_bind()
    log = _log_table()
    changes = [dict(r._mapping) for r in conn.execute(sa.select(log).order_by(log.c.id.desc()))]
    # Survivors first take their old values back (freeing the canonical ones), then merged rows return.
    _set_values(conn, [(c["table_name"], c["row_id"], c["old_value"]) for c in changes if c["merged_into"] is None])
    for change in changes:
        if change["merged_into"] is not None:
            row = dict(change["removed_row"])
            conn.execute(sa.text(f"INSERT INTO {change['table_name']} ({', '.join(row)}) "
                                 f"VALUES ({', '.join(':' + n for n in row)})"), row)
    op.drop_table(LOG)
