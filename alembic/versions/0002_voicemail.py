"""Voicemail messages recorded by the dialplan when every seat fails.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "voicemail",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="SET NULL")),
        sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id", ondelete="SET NULL")),
        sa.Column("uniqueid", sa.String(64), nullable=False, unique=True),
        sa.Column("caller", sa.String(32)),
        sa.Column("file_path", sa.String(255), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("duration_s", sa.Float),
        sa.Column("recorded_at", sa.DateTime, nullable=False),
        sa.Column("heard", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_index("ix_voicemail_hotline", "voicemail", ["hotline_id", "recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_voicemail_hotline", table_name="voicemail")
    op.drop_table("voicemail")
