"""The cluster node a call record came from (集群节点).

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30

`call_record.node`: the name of the cluster node whose call-record listener (`ivr400 cdr listen --node`)
stored the call; NULL on a single PBX and for every row older than this revision. Nothing refers to it, so
going down drops the column alone and keeps every call record.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("call_record") as batch:
        batch.add_column(sa.Column("node", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("call_record") as batch:
        batch.drop_column("node")
