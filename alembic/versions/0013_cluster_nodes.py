"""Cluster nodes (集群节点): the Asterisk media servers Kamailio's dispatcher sends calls to.

Revision ID: 0013
Revises: 0009
Create Date: 2026-11-30

`cluster_node`: one row per Asterisk node behind the SIP proxy: a unique name, the SIP address and port it
binds (a specific address, never the wildcard), its state (`active`: takes new calls; `draining`: finishes
its calls, gets no new ones) and its dispatcher priority. `ivr400 cluster` renders Kamailio's config from it.
Nothing else refers to it, so going down drops it alone.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "cluster_node",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("sip_host", sa.String(64), nullable=False),
        sa.Column("sip_port", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, server_default="active"),
        sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime, nullable=False),
        sa.Column("changed_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("state IN ('active', 'draining')", name="ck_cluster_node_state"),
        sa.CheckConstraint("sip_port BETWEEN 1 AND 65535", name="ck_cluster_node_port"),
        sa.UniqueConstraint("sip_host", "sip_port", name="uq_cluster_node_address"),
    )


def downgrade() -> None:
    op.drop_table("cluster_node")
