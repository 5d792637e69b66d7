"""Which years of the national holiday calendar have been seeded from chinesecalendar.

The CLI seeds every year chinesecalendar knows at `ivr400 db upgrade` and when it creates a database
(ivr400.provisioning.calendar.seed_known_years), once per year: a year listed here is never seeded
automatically again, so days an operator pinned or removed afterwards stay as they are. Years that
already had national days before this revision (from `ivr400 calendar seed` or pinned by hand) are
listed as `existing`: automatic seeding leaves them alone.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "calendar_seed",
        sa.Column("year", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("source", sa.String(16), nullable=False),  # auto | command | existing
        sa.Column("days", sa.Integer, nullable=False),  # national days written (existing: present)
        sa.Column("seeded_at", sa.DateTime, nullable=False),  # UTC
    )
    days = op.get_bind().execute(sa.text("SELECT day FROM calendar_day WHERE enterprise_id IS NULL")).scalars()
    per_year = Counter(int(str(day)[:4]) for day in days)  # a date (PostgreSQL) or 'YYYY-MM-DD' (SQLite)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    if per_year:
        op.bulk_insert(table, [{"year": y, "source": "existing", "days": n, "seeded_at": now}
                               for y, n in sorted(per_year.items())])


def downgrade() -> None:
    op.drop_table("calendar_seed")
