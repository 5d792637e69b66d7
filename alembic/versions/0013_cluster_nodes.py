"""Cluster nodes (集群节点), the Asterisk media servers Kamailio's dispatcher sends calls to; received faxes (传真).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30

`cluster_node`: one row per Asterisk node behind the SIP proxy: a unique name, the SIP address and port it
binds (a specific address, never the wildcard), its state (`active`: takes new calls; `draining`: finishes
its calls, gets no new ones) and its dispatcher priority. `ivr400 cluster` renders Kamailio's config from it.
`fax`: one row per fax a hotline received (ReceiveFAX into the spool): the call's uniqueid (unique), the caller,
res_fax's status, pages, error and remote station id, the TIFF's path. Nothing refers to either table, so going
down drops them alone.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
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


    op.create_table(
        "fax",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="SET NULL")),
        sa.Column("uniqueid", sa.String(64), nullable=False, unique=True),
        sa.Column("caller", sa.String(32)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("pages", sa.Integer, nullable=False, server_default="0"),
        sa.Column("error", sa.String(120)),
        sa.Column("remote_station", sa.String(40)),
        sa.Column("file_path", sa.String(255), nullable=False),
        sa.Column("received_at", sa.DateTime, nullable=False),
        sa.CheckConstraint("pages >= 0", name="ck_fax_pages"),
    )
    op.create_index("ix_fax_hotline_received", "fax", ["hotline_id", "received_at"])


def downgrade() -> None:
    op.drop_index("ix_fax_hotline_received", table_name="fax")
    op.drop_table("fax")
    op.drop_table("cluster_node")
