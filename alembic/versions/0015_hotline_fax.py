"""Fax per hotline (传真): the hotline's fax mode and menu key.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30

``hotline.fax_mode``: ``off`` (default: no fax), ``detect`` (the call is answered and res_fax listens for a
fax machine's CNG tone or a T.38 re-INVITE while the welcome and menu play; a fax goes to ReceiveFAX) or
``key`` (a key of the top menu, ``hotline.fax_key``, one digit, goes to ReceiveFAX). The values are checked
by ``ivr400.provisioning.fax.set_fax`` and again by the tree reader (a bad row is left at ``off`` with a
warning). Plain ALTER TABLE only, as 0012 (no batch copy of ``hotline``). Downgrade drops both columns:
every hotline stops taking faxes; the faxes already received stay.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("hotline", sa.Column("fax_mode", sa.String(8), nullable=False, server_default="off"))
    op.add_column("hotline", sa.Column("fax_key", sa.String(1)))


def downgrade() -> None:
    # SQLite >= 3.35 drops a plain column in place, keeping the table's triggers (PostgreSQL always does).
    op.execute("ALTER TABLE hotline DROP COLUMN fax_key")
    op.execute("ALTER TABLE hotline DROP COLUMN fax_mode")
