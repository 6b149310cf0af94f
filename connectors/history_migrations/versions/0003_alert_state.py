"""Alert state: the last state announced (or seen) of each watched KR and source, per (workspace, period).

A new table only; every existing row is kept as it is.

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "okr_alert_state",
        sa.Column("workspace", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("subject", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("since", sa.DateTime, nullable=False),
        sa.Column("notified_at", sa.DateTime),
        sa.Column("run_id", sa.String(64), nullable=False),
    )


def downgrade() -> None:
    raise NotImplementedError("okr-sync history is never downgraded: restore the backup taken before upgrading")
