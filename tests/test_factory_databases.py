"""examples/factory/okrs.postgres.yaml gives the same, right KR values on PostgreSQL, MariaDB (and SQLite) (issue 10).

The factory sample data is loaded into a fresh database on each server with
`flows.example_data.load_mes_into_database`, read through a role that can only SELECT, and every KR
value (and every point of the defect-rate series) is compared with a value computed here in Python
from the sample rows. Unreachable servers skip (or fail with OKR_SYNC_REQUIRE_SERVICES=1).
"""
from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from flows.example_data import ExampleDataExists, load_mes_into_database, make_factory
from flows.pipeline import run_sync
from mapping.loader import load_config
from mapping.period import parse_period
from mapping.sql_guard import guard_sql
from servers import scalar, server_database

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.postgres.yaml"
UNTIL = date(2026, 12, 2)  # the last 7 days cross a month end: MariaDB read the old `MAX(day) - 7` as the number 20261195
NOW = datetime(2026, 12, 2, 18, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")


@pytest.fixture(params=["postgresql", "mariadb", "sqlite"])
def factory_db(request, tmp_path):
    """(reader URL, sample SQLite file): the factory sample data in a fresh database, read by a role that can only SELECT."""
    make_factory(tmp_path, UNTIL)
    if request.param == "sqlite":  # the sample file itself (opened read-only by the sql source)
        yield f"sqlite:///{tmp_path / 'mes.db'}", tmp_path / "mes.db"
        return
    for db in server_database(request.param, "okr_factory"):
        load_mes_into_database(tmp_path / "mes.db", db.admin)
        db.grant_reader()
        yield db.reader, tmp_path / "mes.db"


def expected_values(sqlite_path: Path) -> dict:
    """The example's KRs computed in Python from the sample rows: the last 7 days with production, OEE from
    availability x performance x quality (ideal rate 5 units/min, 480-minute shifts), the defect rate per day
    over a rolling window of 7 days."""
    db = sqlite3.connect(sqlite_path)
    rows = [(date.fromisoformat(d), p, f, e, t) for d, p, f, e, t in
            db.execute("SELECT day, produced, defects, energy_kwh, downtime_min FROM production")]
    db.close()
    rows = [r for r in rows if Q4.start <= r[0] <= Q4.end]
    days = sorted({r[0] for r in rows})
    newest = set(days[-7:])
    assert newest == {days[-1] - timedelta(days=n) for n in range(7)}  # the sample has production every day
    week = [r for r in rows if r[0] in newest]
    produced, defects = sum(r[1] for r in week), sum(r[2] for r in week)
    downtime, shift_minutes = sum(r[4] for r in week), 480 * len(week)
    availability = 1 - downtime / shift_minutes
    performance = produced / (5 * (shift_minutes - downtime))
    quality = 1 - defects / produced
    series = {}
    for i, day in enumerate(days):
        window = [r for r in rows if r[0] in days[max(0, i - 6):i + 1]]
        series[day] = 100 * sum(r[2] for r in window) / sum(r[1] for r in window)
    return {"defect-rate": series[days[-1]], "series": series,
            "energy-per-unit": sum(r[3] for r in week) / produced,
            "oee": availability * performance * quality * 100}


def test_factory_example_matches_values_computed_from_the_sample_rows(factory_db):
    url, sqlite_path = factory_db
    expected = expected_values(sqlite_path)
    env = {"MES_DATABASE_URL": url}
    config = load_config(EXAMPLE, env=env)
    outcome = run_sync(config, NOW, write=False, env=env)
    assert outcome.ok, outcome.failure_message()
    results = outcome.results
    assert results["defect-rate"].value == pytest.approx(expected["defect-rate"], rel=1e-9)
    series = dict(results["defect-rate"].extra["series"])
    assert series.keys() == expected["series"].keys() and len(series) == (UNTIL - Q4.start).days + 1
    for day, value in expected["series"].items():
        assert series[day] == pytest.approx(value, rel=1e-9), day
    assert results["energy-per-unit"].value == pytest.approx(expected["energy-per-unit"], rel=1e-9)
    assert results["oee"].value == pytest.approx(expected["oee"], rel=1e-9)
    assert 0 < results["oee"].value < 100
    assert all(entry.score is not None for entry in outcome.objectives)


def test_example_queries_pass_the_read_only_check_of_every_dialect_without_naming_one():
    config = load_config(EXAMPLE, check_env=False)  # no URL: every query must pass as each dialect okr-sync reads
    assert config.sources["mes"].dialect is None
    queries = [leaf.query.spec.sql for _, kr in config.key_results() for leaf in kr.metric.leaves()]
    assert len(queries) == 5
    for sql in queries:
        for dialect in ("postgresql", "mysql", "mariadb", "sqlite", "mssql"):
            guard_sql(sql, dialect)
        assert " - " not in sql.split("FROM", 1)[-1]  # no date arithmetic: MAX(day) - 7 means another thing on MySQL


@pytest.mark.parametrize("server", ["postgresql", "mariadb"])
def test_loading_the_sample_tables_again_needs_force(server, tmp_path):
    make_factory(tmp_path, date(2026, 10, 10))
    for db in server_database(server, "okr_factory"):
        load_mes_into_database(tmp_path / "mes.db", db.admin)
        before = scalar(db.admin, "SELECT COUNT(*) FROM production")
        make_factory(tmp_path, UNTIL, force=True)
        with pytest.raises(ExampleDataExists) as caught:
            load_mes_into_database(tmp_path / "mes.db", db.admin)
        message = str(caught.value)
        assert "\n" not in message and "--force" in message and "lines, production, deliveries" in message
        assert scalar(db.admin, "SELECT COUNT(*) FROM production") == before  # untouched
        load_mes_into_database(tmp_path / "mes.db", db.admin, force=True)
        assert scalar(db.admin, "SELECT COUNT(*) FROM production") > before


def test_example_postgres_after_the_quick_start_loads_the_existing_files_without_force(tmp_path):
    """The README's order: `example factory` (quick start), then `example factory --postgres URL`."""
    from typer.testing import CliRunner

    from flows.cli import app
    runner = CliRunner()
    first = runner.invoke(app, ["example", "factory", "--dir", str(tmp_path), "--until", "2026-11-15"])
    assert first.exit_code == 0, first.output
    before = (tmp_path / "mes.db").read_bytes()
    for db in server_database("postgresql", "okr_factory"):
        second = runner.invoke(app, ["example", "factory", "--dir", str(tmp_path), "--postgres", db.admin])
        assert second.exit_code == 0, second.output
        assert f"using the existing {tmp_path / 'mes.db'}" in second.output and "loaded lines, production, deliveries" in second.output
        assert (tmp_path / "mes.db").read_bytes() == before
        rows = sqlite3.connect(tmp_path / "mes.db").execute("SELECT COUNT(*) FROM production").fetchone()[0]
        assert scalar(db.admin, "SELECT COUNT(*) FROM production") == rows
