"""Weekly check-ins: what each week's check-in showed per KR and what its owner wrote back, per (workspace, period).

A new table only; every existing row is kept as it is.

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "okr_checkins",
        sa.Column("workspace", sa.String(100), primary_key=True),
        sa.Column("period", sa.String(64), primary_key=True),
        sa.Column("week", sa.String(10), primary_key=True),
        sa.Column("kr_id", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("progress", sa.Float),
        sa.Column("status", sa.String(20)),
        sa.Column("checked_in_at", sa.DateTime),
        sa.Column("run_id", sa.String(64)),
        sa.Column("note", sa.Text),
        sa.Column("blockers", sa.Text),
        sa.Column("help_needed", sa.Text),
        sa.Column("confidence", sa.Float),
        sa.Column("entered_at", sa.DateTime),
        sa.Column("entries_run_id", sa.String(64)),
    )


def downgrade() -> None:
    raise NotImplementedError("okr-sync history is never downgraded: restore the backup taken before upgrading")
