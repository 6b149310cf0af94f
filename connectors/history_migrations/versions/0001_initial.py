"""The history schema of okr-sync 0.1 (one row per KR per day, not yet keyed by workspace and period).

A history.db written by 0.1 has exactly these tables and no alembic_version: it is stamped at this
revision and then upgraded.

Revision ID: 0001
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "okr_observations",
        sa.Column("kr_id", sa.String(200), primary_key=True),
        sa.Column("day", sa.Date, primary_key=True),
        sa.Column("value", sa.Float, nullable=False),
        sa.Column("progress", sa.Float),
        sa.Column("score", sa.Float),
        sa.Column("status", sa.String(20)),
        sa.Column("source", sa.String(200)),
        sa.Column("query", sa.Text),
        sa.Column("provenance", sa.String(20), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
        sa.Column("observed_at", sa.DateTime, nullable=False),
    )
    op.create_table(
        "okr_errors",
        sa.Column("kr_id", sa.String(200), primary_key=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("first_failed_at", sa.DateTime, nullable=False),
        sa.Column("last_failed_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
    )
    op.create_table(
        "okr_runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("config", sa.Text),
        sa.Column("period", sa.String(64)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("finished_at", sa.DateTime),
        sa.Column("status", sa.String(20)),
        sa.Column("krs", sa.Integer),
        sa.Column("failed_sources", sa.Text),
    )


def downgrade() -> None:
    for table in ("okr_runs", "okr_errors", "okr_observations"):
        op.drop_table(table)
