"""The sql source against real PostgreSQL and MariaDB servers on 127.0.0.1.

Each test module run creates its own database (unique name), loads generated production rows, and
compares KR values with answers computed here in Python from the same rows. Unreachable servers
skip the tests with the reason (or fail them when OKR_SYNC_REQUIRE_SERVICES=1).
"""
from __future__ import annotations

import random
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from connectors.base import Context, SourceError
from connectors.history import HistoryStore
from connectors.sql import SeriesObservation, SqlConnector
from flows.pipeline import run_sync
from mapping.config import Query
from mapping.loader import load_config
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.sql import SqlQuery, SqlSource
from conftest import require_server

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
SERVERS = {
    "postgresql": ("PostgreSQL", "postgresql+psycopg://postgres@127.0.0.1:5432/{db}", "postgres"),
    "mariadb": ("MariaDB", "mysql+pymysql://root@127.0.0.1:3306/{db}", ""),
}


def make_rows(seed: int = 11) -> list[tuple]:
    """(day, line, produced, defects, energy_kwh) from mid-September to January: some rows lie outside Q4."""
    rng = random.Random(seed)
    rows, day = [], date(2026, 9, 20)
    while day <= date(2027, 1, 10):
        for line in "ABC":
            produced = rng.randint(800, 1200)
            rows.append((day, line, produced, rng.randint(0, 15), round(produced * rng.uniform(1.6, 2.1), 1)))
        day += timedelta(days=1)
    return rows


ROWS = make_rows()
IN_Q4 = [r for r in ROWS if Q4.start <= r[0] <= Q4.end]


def admin_url(server: str, db: str) -> str:
    return SERVERS[server][1].format(db=db)


@pytest.fixture(scope="module", params=list(SERVERS))
def server_db(request):
    """A fresh database on one server with the production table loaded; dropped afterwards."""
    server = request.param
    label, _, maintenance = SERVERS[server]
    root = sa.create_engine(admin_url(server, maintenance), isolation_level="AUTOCOMMIT")

    def probe() -> None:
        with root.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    require_server(label, probe)
    name = f"okr_test_{uuid.uuid4().hex[:10]}"
    with root.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    engine = sa.create_engine(admin_url(server, name))
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE production (day DATE NOT NULL, line VARCHAR(5) NOT NULL, produced INTEGER NOT NULL, "
                             "defects INTEGER NOT NULL, energy_kwh NUMERIC(12, 1) NOT NULL, PRIMARY KEY (day, line))"))
        conn.execute(sa.text("CREATE TABLE audit (note VARCHAR(50))"))
        conn.execute(sa.text("INSERT INTO production VALUES (:day, :line, :produced, :defects, :energy)"),
                     [dict(zip(("day", "line", "produced", "defects", "energy"), row)) for row in ROWS])
        if server == "postgresql":
            conn.execute(sa.text("CREATE FUNCTION sneaky() RETURNS integer AS $$ BEGIN INSERT INTO audit VALUES ('written'); "
                                 "RETURN 1; END $$ LANGUAGE plpgsql"))
        else:
            conn.execute(sa.text("CREATE FUNCTION sneaky() RETURNS INTEGER MODIFIES SQL DATA "
                                 "BEGIN INSERT INTO audit VALUES ('written'); RETURN 1; END"))
    engine.dispose()
    yield server, admin_url(server, name)
    with root.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name}" + (" WITH (FORCE)" if server == "postgresql" else "")))
    root.dispose()


def count(url: str, table: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    finally:
        engine.dispose()


OPEN: list[SqlConnector] = []


@pytest.fixture(autouse=True)
def _close_connectors():
    yield
    while OPEN:
        OPEN.pop().close()


def connector(url: str, tmp_path, timeout: float = 30) -> SqlConnector:
    conn = SqlConnector("mes", SqlSource(kind="sql", url_env="MES_URL", timeout_seconds=timeout), Context(tmp_path, {"MES_URL": url}))
    OPEN.append(conn)
    return conn


def q(sql: str, series: bool = False) -> Query:
    return Query.of("mes", SqlQuery(source="mes", sql=sql, series=series))


def test_defect_rate_in_the_period_matches_rows_computed_in_python(server_db, tmp_path):
    _, url = server_db
    query = q("SELECT 100E0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end")
    result = connector(url, tmp_path).fetch([query], Q4, NOW)[query]
    expected = 100.0 * sum(r[3] for r in IN_Q4) / sum(r[2] for r in IN_Q4)
    assert isinstance(result, Observation)
    assert result.value == pytest.approx(expected, rel=1e-9)


def test_decimal_and_filtered_aggregates_come_back_as_numbers(server_db, tmp_path):
    _, url = server_db
    energy = q("SELECT SUM(energy_kwh) * 1E0 / SUM(produced) FROM production WHERE line = 'B' AND day BETWEEN :start AND :end")
    days = q("SELECT COUNT(DISTINCT day) FROM production WHERE day BETWEEN :start AND :end")
    results = connector(url, tmp_path).fetch([energy, days], Q4, NOW)
    line_b = [r for r in IN_Q4 if r[1] == "B"]
    assert results[energy].value == pytest.approx(sum(r[4] for r in line_b) / sum(r[2] for r in line_b), rel=1e-6)
    assert results[days].value == 92


def test_series_query_returns_daily_points_and_the_newest_is_current(server_db, tmp_path):
    _, url = server_db
    query = q("SELECT day, 100E0 * SUM(defects) / SUM(produced) FROM production "
              "WHERE day BETWEEN :start AND :end GROUP BY day ORDER BY day", series=True)
    result = connector(url, tmp_path).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SeriesObservation)
    by_day: dict[date, list[tuple]] = {}
    for row in IN_Q4:
        by_day.setdefault(row[0], []).append(row)
    expected = {d: 100.0 * sum(r[3] for r in rs) / sum(r[2] for r in rs) for d, rs in by_day.items()}
    assert [d for d, _ in result.points] == sorted(expected)
    assert all(v == pytest.approx(expected[d]) for d, v in result.points)
    assert result.value == pytest.approx(expected[Q4.end])


def test_write_statement_is_refused_before_execution_and_table_is_unchanged(server_db, tmp_path):
    _, url = server_db
    before = count(url, "production")
    writes = [
        "DELETE FROM production",
        "SELECT 1; DELETE FROM production",
        "UPDATE production SET defects = 0",
        "SELECT * FROM production FOR UPDATE",
    ]
    queries = [Query.of("mes", SqlQuery.model_construct(source="mes", sql=sql, series=False)) for sql in writes]
    results = connector(url, tmp_path).fetch(queries, Q4, NOW)
    for query in queries:
        assert isinstance(results[query], SourceError)
        assert "refused to run the query" in str(results[query])
    assert count(url, "production") == before


def test_session_is_read_only_so_a_writing_function_fails_and_writes_nothing(server_db, tmp_path):
    """`SELECT sneaky()` passes the text check, but the function's INSERT hits the read-only session."""
    _, url = server_db
    query = q("SELECT sneaky()")
    result = connector(url, tmp_path).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "read-only" in str(result).lower() or "read only" in str(result).lower()
    assert count(url, "audit") == 0


def test_statement_timeout_cancels_a_slow_query_and_says_how_to_fix_it(server_db, tmp_path):
    server, url = server_db
    slow = "SELECT pg_sleep(3)" if server == "postgresql" else "SELECT SLEEP(3)"
    query = q(slow)
    result = connector(url, tmp_path, timeout=0.5).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "timeout_seconds" in str(result)


def test_all_queries_of_a_source_share_one_connection(server_db, tmp_path):
    _, url = server_db
    conn = connector(url, tmp_path)
    opened = []
    sa.event.listen(conn.engine(), "connect", lambda *args: opened.append(1))
    queries = [q(f"SELECT SUM(produced) FROM production WHERE line = '{line}' AND day BETWEEN :start AND :end") for line in "ABC"]
    results = conn.fetch(queries, Q4, NOW)
    conn.close()
    assert len(opened) == 1
    assert sum(results[query].value for query in queries) == sum(r[2] for r in IN_Q4)


def test_sync_end_to_end_records_the_series_as_history_points(server_db, tmp_path, write_config):
    _, url = server_db
    path = write_config("""
        period: 2026-Q4
        history: sqlite:///history.db
        sources:
          mes: {kind: sql, url_env: MES_URL, timeout_seconds: 20}
        objectives:
          - id: quality
            title: Quality
            key_results:
              - id: defect-rate
                title: Defect rate at most 0.8%
                type: at_most
                target: 0.8
                metric:
                  source: mes
                  series: true
                  sql: |
                    SELECT day, 100E0 * SUM(defects) / SUM(produced) FROM production
                    WHERE day BETWEEN :start AND :end AND day <= :end GROUP BY day ORDER BY day
              - id: produced
                title: Units produced
                target: 300000
                baseline: 0
                metric: {source: mes, sql: "SELECT SUM(produced) FROM production WHERE day BETWEEN :start AND :end"}
    """)
    env = {"MES_URL": url}
    config = load_config(path, env=env)
    outcome = run_sync(config, NOW, env=env)
    assert outcome.ok, outcome.failure_message()
    assert outcome.results["produced"].value == sum(r[2] for r in IN_Q4)
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}")
    points = dict(store.series("defect-rate", limit=200))
    store.close()
    by_day: dict[date, list[tuple]] = {}
    for row in IN_Q4:
        by_day.setdefault(row[0], []).append(row)
    # every day before today comes from the series; today holds the KR's current value (the newest point)
    assert len(points) == len([d for d in by_day if d < NOW.date()]) + 1
    oct_2 = by_day[date(2026, 10, 2)]
    assert points[date(2026, 10, 2)] == pytest.approx(100.0 * sum(r[3] for r in oct_2) / sum(r[2] for r in oct_2))
    newest = by_day[Q4.end]
    assert points[NOW.date()] == pytest.approx(100.0 * sum(r[3] for r in newest) / sum(r[2] for r in newest))


@pytest.fixture
def factory_pg(tmp_path):
    """The factory sample data (until 2026-11-15) loaded into a fresh PostgreSQL database."""
    from flows.example_data import load_mes_into_database, make_factory
    root = sa.create_engine(admin_url("postgresql", "postgres"), isolation_level="AUTOCOMMIT")

    def probe() -> None:
        with root.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    require_server("PostgreSQL", probe)
    name = f"okr_example_{uuid.uuid4().hex[:10]}"
    with root.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    make_factory(tmp_path, date(2026, 11, 15))
    url = admin_url("postgresql", name)
    load_mes_into_database(tmp_path / "mes.db", url)
    yield url, tmp_path / "mes.db"
    with root.connect() as conn:
        conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
    root.dispose()


def test_factory_postgres_example_matches_values_computed_from_the_sample_rows(factory_pg):
    import sqlite3
    from pathlib import Path
    url, sqlite_path = factory_pg
    db = sqlite3.connect(sqlite_path)
    rows = [(date.fromisoformat(d), p, f, e, t) for d, p, f, e, t in
            db.execute("SELECT day, produced, defects, energy_kwh, downtime_min FROM production")]
    db.close()
    last = max(r[0] for r in rows)
    week = [r for r in rows if r[0] > last - timedelta(days=7)]
    defect_rate = 100 * sum(r[2] for r in week) / sum(r[1] for r in week)  # the 7 days ending on the newest day
    energy = sum(r[3] for r in week) / sum(r[1] for r in week)
    shift_minutes = 480 * len(week)
    downtime = sum(r[4] for r in week)
    availability = 1 - downtime / shift_minutes
    performance = sum(r[1] for r in week) / (5 * (shift_minutes - downtime))
    quality = 1 - sum(r[2] for r in week) / sum(r[1] for r in week)

    example = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.postgres.yaml"
    env = {"MES_DATABASE_URL": url}
    config = load_config(example, env=env)
    outcome = run_sync(config, datetime(2026, 11, 15, 18, tzinfo=timezone.utc), write=False, env=env)
    assert outcome.ok, outcome.failure_message()
    results = outcome.results
    assert results["defect-rate"].value == pytest.approx(defect_rate, rel=1e-9)
    assert len(results["defect-rate"].extra["series"]) == (last - Q4.start).days + 1
    assert results["energy-per-unit"].value == pytest.approx(energy, rel=1e-9)
    assert results["oee"].value == pytest.approx(availability * performance * quality * 100, rel=1e-9)
    assert 0 < results["oee"].value < 100


@pytest.mark.parametrize("server_db", ["postgresql"], indirect=True)  # set_config() is PostgreSQL's
def test_postgres_session_stays_read_only_even_after_a_query_turns_the_default_off(server_db, tmp_path):
    """set_config() passes the text check, but each query's transaction is rolled back (undoing it) and begun READ ONLY."""
    _, url = server_db
    flip = q("SELECT CASE WHEN set_config('default_transaction_read_only', 'off', false) = 'off' THEN 1 ELSE 0 END")
    write = q("SELECT sneaky() + 0")
    results = connector(url, tmp_path).fetch([flip, write], Q4, NOW)
    assert results[flip].value == 1
    assert isinstance(results[write], SourceError) and "read-only transaction" in str(results[write])
    assert count(url, "audit") == 0


def test_example_command_loads_the_factory_tables_into_postgres(tmp_path):
    import sqlite3

    from typer.testing import CliRunner

    from flows.cli import app
    root = sa.create_engine(admin_url("postgresql", "postgres"), isolation_level="AUTOCOMMIT")

    def probe() -> None:
        with root.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    require_server("PostgreSQL", probe)
    name = f"okr_cli_{uuid.uuid4().hex[:10]}"
    with root.connect() as conn:
        conn.execute(sa.text(f"CREATE DATABASE {name}"))
    try:
        url = admin_url("postgresql", name)
        result = CliRunner().invoke(app, ["example", "factory", "--dir", str(tmp_path), "--until", "2026-11-15", "--postgres", url])
        assert result.exit_code == 0, result.output
        assert f"loaded lines, production, deliveries into {url}" in result.output
        db = sqlite3.connect(tmp_path / "mes.db")
        expected = {t: db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("lines", "production", "deliveries")}
        produced = db.execute("SELECT SUM(produced) FROM production WHERE day BETWEEN '2026-11-01' AND '2026-11-15'").fetchone()[0]
        db.close()
        assert all(count(url, table) == n for table, n in expected.items())
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            typed = conn.execute(sa.text("SELECT SUM(produced) FROM production WHERE day BETWEEN DATE '2026-11-01' AND DATE '2026-11-15'")).scalar()
        engine.dispose()
        assert typed == produced  # day is a real DATE column
    finally:
        with root.connect() as conn:
            conn.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        root.dispose()
