"""History as a keyed time series: every row belongs to (workspace, period, KR, day); a run ledger.

Existing rows are kept: they are assigned to the workspace of the config that opens the store
first (config.attributes["workspace"]) and to the period their day falls in
(config.attributes["period_of"], a function day -> period name); open errors to the config's
current period (config.attributes["period"]).

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None



def key() -> list[sa.Column]:
    return [sa.Column("workspace", sa.String(100), primary_key=True), sa.Column("period", sa.String(64), primary_key=True)]


def upgrade() -> None:
    attributes = context.config.attributes
    workspace = attributes.get("workspace", "default")
    period_of = attributes.get("period_of", lambda day: "")
    current = attributes.get("period", "")
    bind = op.get_bind()

    op.create_table(
        "okr_observations_v2", *key(),
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
    columns = "kr_id, day, value, progress, score, status, source, query, provenance, run_id, observed_at"
    bind.execute(sa.text(f"INSERT INTO okr_observations_v2 (workspace, period, {columns}) "
                         f"SELECT :workspace, '', {columns} FROM okr_observations"), {"workspace": workspace})
    days = bind.execute(sa.text("SELECT DISTINCT day FROM okr_observations_v2")).scalars().all()
    for day in days:
        if isinstance(day, str):
            from datetime import date
            day_value = date.fromisoformat(day[:10])
        else:
            day_value = day
        bind.execute(sa.text("UPDATE okr_observations_v2 SET period = :period WHERE day = :day"),
                     {"period": period_of(day_value), "day": day})
    op.drop_table("okr_observations")
    op.rename_table("okr_observations_v2", "okr_observations")

    op.create_table(
        "okr_errors_v2", *key(),
        sa.Column("kr_id", sa.String(200), primary_key=True),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("first_failed_at", sa.DateTime, nullable=False),
        sa.Column("last_failed_at", sa.DateTime, nullable=False),
        sa.Column("run_id", sa.String(64), nullable=False),
    )
    bind.execute(sa.text("INSERT INTO okr_errors_v2 (workspace, period, kr_id, error, first_failed_at, last_failed_at, run_id) "
                         "SELECT :workspace, :period, kr_id, error, first_failed_at, last_failed_at, run_id FROM okr_errors"),
                 {"workspace": workspace, "period": current})
    op.drop_table("okr_errors")
    op.rename_table("okr_errors_v2", "okr_errors")

    with op.batch_alter_table("okr_runs") as runs:
        runs.add_column(sa.Column("workspace", sa.String(100), nullable=False, server_default=""))
        runs.add_column(sa.Column("kind", sa.String(20), nullable=False, server_default="sync"))
        runs.add_column(sa.Column("as_of", sa.Date))
        runs.add_column(sa.Column("host", sa.String(200)))
        runs.add_column(sa.Column("pid", sa.Integer))
        runs.add_column(sa.Column("error", sa.Text))
    bind.execute(sa.text("UPDATE okr_runs SET workspace = :workspace"), {"workspace": workspace})
    op.create_index("okr_runs_workspace_started", "okr_runs", ["workspace", "started_at"])

    op.create_table(
        "okr_run_sources",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(200), primary_key=True),
        sa.Column("queries", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float),
        sa.Column("error", sa.Text),
    )
    op.create_table(
        "okr_run_krs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("kr_id", sa.String(200), primary_key=True),
        sa.Column("value", sa.Float),
        sa.Column("raw_value", sa.Float),
        sa.Column("source", sa.String(200)),
        sa.Column("query", sa.Text),
        sa.Column("params", sa.Text),
        sa.Column("gate", sa.Text),
        sa.Column("error", sa.Text),
    )


def downgrade() -> None:
    raise NotImplementedError("okr-sync history is never downgraded: restore the backup taken before upgrading")
