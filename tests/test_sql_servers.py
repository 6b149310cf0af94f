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
from flows.pipeline import history_scope, run_sync
from mapping.config import Query
from mapping.loader import load_config
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.sql import SqlQuery, SqlSource
from servers import ServerDb, scalar, server_database

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
SERVERS = ("postgresql", "mariadb")


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


def load_production(db: ServerDb) -> None:
    """The production table (ROWS), an audit table and a function that writes into it, owned by the admin."""
    engine = sa.create_engine(db.admin)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE production (day DATE NOT NULL, line VARCHAR(5) NOT NULL, produced INTEGER NOT NULL, "
                             "defects INTEGER NOT NULL, energy_kwh NUMERIC(12, 1) NOT NULL, PRIMARY KEY (day, line))"))
        conn.execute(sa.text("CREATE TABLE audit (note VARCHAR(50))"))
        q_ = '"' if db.server == "postgresql" else "`"
        conn.execute(sa.text(f"CREATE TABLE {q_}Quality Checks{q_} ({q_}update{q_} INTEGER, {q_}order{q_} INTEGER)"))
        conn.execute(sa.text(f"INSERT INTO {q_}Quality Checks{q_} VALUES (5, 1), (7, 2), (11, 3)"))
        conn.execute(sa.text("INSERT INTO production VALUES (:day, :line, :produced, :defects, :energy)"),
                     [dict(zip(("day", "line", "produced", "defects", "energy"), row)) for row in ROWS])
        if db.server == "postgresql":
            conn.execute(sa.text("CREATE FUNCTION sneaky() RETURNS integer AS $$ BEGIN INSERT INTO audit VALUES ('written'); "
                                 "RETURN 1; END $$ LANGUAGE plpgsql"))
        else:
            conn.execute(sa.text("CREATE FUNCTION sneaky() RETURNS INTEGER MODIFIES SQL DATA "
                                 "BEGIN INSERT INTO audit VALUES ('written'); RETURN 1; END"))
    engine.dispose()
    db.grant_reader()


@pytest.fixture(scope="module", params=SERVERS)
def server_db(request):
    """A fresh database on one server with the production table loaded and a reader role; dropped afterwards."""
    for db in server_database(request.param):
        load_production(db)
        yield db


def count(url: str, table: str) -> int:
    return int(scalar(url, f"SELECT COUNT(*) FROM {table}"))  # type: ignore[arg-type]


OPEN: list[SqlConnector] = []


@pytest.fixture(autouse=True)
def _close_connectors():
    yield
    while OPEN:
        OPEN.pop().close()


def connector(url: str, tmp_path, timeout: float = 30, allow_write: bool = False) -> SqlConnector:
    settings = SqlSource(kind="sql", url_env="MES_URL", timeout_seconds=timeout, allow_write_privileges=allow_write)
    conn = SqlConnector("mes", settings, Context(tmp_path, {"MES_URL": url}))
    OPEN.append(conn)
    return conn


def q(sql: str, series: bool = False) -> Query:
    return Query.of("mes", SqlQuery(source="mes", sql=sql, series=series))


def test_defect_rate_in_the_period_matches_rows_computed_in_python(server_db, tmp_path):
    url = server_db.reader
    query = q("SELECT 100E0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end")
    result = connector(url, tmp_path).fetch([query], Q4, NOW)[query]
    expected = 100.0 * sum(r[3] for r in IN_Q4) / sum(r[2] for r in IN_Q4)
    assert isinstance(result, Observation)
    assert result.value == pytest.approx(expected, rel=1e-9)


def test_decimal_and_filtered_aggregates_come_back_as_numbers(server_db, tmp_path):
    url = server_db.reader
    energy = q("SELECT SUM(energy_kwh) * 1E0 / SUM(produced) FROM production WHERE line = 'B' AND day BETWEEN :start AND :end")
    days = q("SELECT COUNT(DISTINCT day) FROM production WHERE day BETWEEN :start AND :end")
    results = connector(url, tmp_path).fetch([energy, days], Q4, NOW)
    line_b = [r for r in IN_Q4 if r[1] == "B"]
    assert results[energy].value == pytest.approx(sum(r[4] for r in line_b) / sum(r[2] for r in line_b), rel=1e-6)
    assert results[days].value == 92


def test_series_query_returns_daily_points_and_the_newest_is_current(server_db, tmp_path):
    url = server_db.reader
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


def _rolling_max(window: int) -> int:
    best = 0
    for line in "ABC":
        values = [r[3] for r in sorted(IN_Q4) if r[1] == line]
        best = max(best, max(sum(values[max(0, i - window + 1):i + 1]) for i in range(len(values))))
    return best


ANALYTIC = {
    # name: (PostgreSQL text, MariaDB text, value computed here from ROWS)
    "window": ("SELECT MAX(r) FROM (SELECT SUM(defects) OVER (PARTITION BY line ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS r "
               "FROM production WHERE day BETWEEN :start AND :end) AS w",
               "SELECT MAX(r) FROM (SELECT SUM(defects) OVER (PARTITION BY line ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) AS r "
               "FROM production WHERE day BETWEEN :start AND :end) AS w", _rolling_max(7)),
    "cte_case": ("WITH q AS (SELECT CASE WHEN line = 'A' THEN produced ELSE 0 END AS a FROM production WHERE day BETWEEN :start AND :end) "
                 "SELECT SUM(a) FROM q",
                 "WITH q AS (SELECT CASE WHEN line = 'A' THEN produced ELSE 0 END AS a FROM production WHERE day BETWEEN :start AND :end) "
                 "SELECT SUM(a) FROM q", sum(r[2] for r in IN_Q4 if r[1] == "A")),
    "cast_filter": ("SELECT COUNT(*) FILTER (WHERE defects > 10)::numeric / COUNT(*) FROM production WHERE day BETWEEN :start AND :end",
                    "SELECT SUM(CASE WHEN defects > 10 THEN 1 ELSE 0 END) * 1E0 / COUNT(*) FROM production WHERE day BETWEEN :start AND :end",
                    sum(1 for r in IN_Q4 if r[3] > 10) / len(IN_Q4)),
    "date_arithmetic": ("SELECT SUM(produced) FROM production WHERE day > CAST(:end AS date) - 7 AND day <= :end",
                        "SELECT SUM(produced) FROM production WHERE day > DATE_SUB(:end, INTERVAL 7 DAY) AND day <= :end",
                        sum(r[2] for r in IN_Q4 if r[0] > Q4.end - timedelta(days=7))),
    "interval": ("SELECT COUNT(DISTINCT day) FROM production WHERE day >= CAST(:start AS date) + INTERVAL '1 month' AND day <= :end",
                 "SELECT COUNT(DISTINCT day) FROM production WHERE day >= :start + INTERVAL 1 MONTH AND day <= :end",
                 len({r[0] for r in IN_Q4 if r[0] >= date(2026, 11, 1)})),
    "keyword_columns": ('SELECT SUM("update") FROM "Quality Checks" WHERE "order" > 1',
                        "SELECT SUM(`update`) FROM `Quality Checks` WHERE `order` > 1", 18),
    "union": ("SELECT SUM(n) FROM (SELECT COUNT(*) AS n FROM production WHERE line = 'A' UNION ALL SELECT COUNT(*) FROM audit) AS u",
              "SELECT SUM(n) FROM (SELECT COUNT(*) AS n FROM production WHERE line = 'A' UNION ALL SELECT COUNT(*) FROM audit) AS u",
              sum(1 for r in ROWS if r[1] == "A")),
}


@pytest.mark.parametrize("name", list(ANALYTIC))
def test_legitimate_analytic_sql_keeps_working_through_all_three_layers(server_db, tmp_path, name):
    postgres_text, mariadb_text, expected = ANALYTIC[name]
    query = q(postgres_text if server_db.server == "postgresql" else mariadb_text)
    result = connector(server_db.reader, tmp_path).fetch([query], Q4, NOW)[query]
    assert isinstance(result, Observation), result
    assert result.value == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("server_db", ["mariadb"], indirect=True)
def test_double_quotes_are_a_string_on_mariadb_as_the_readme_warns(server_db, tmp_path):
    query = q('SELECT COUNT(*) FROM `Quality Checks` WHERE "update" = \'update\'')
    assert connector(server_db.reader, tmp_path).fetch([query], Q4, NOW)[query].value == 3  # compares two strings


def test_write_statement_is_refused_before_execution_and_table_is_unchanged(server_db, tmp_path):
    url = server_db.reader
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
    """Layer 2 alone: as the admin (allowed to write), `SELECT sneaky()` passes the text check but its INSERT hits the read-only transaction."""
    query = q("SELECT sneaky()")
    result = connector(server_db.admin, tmp_path, allow_write=True).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "read-only" in str(result).lower() or "read only" in str(result).lower()
    assert count(server_db.admin, "audit") == 0


def test_the_reader_role_cannot_run_the_writing_function_either(server_db, tmp_path):
    """Layer 3: the README's reader role has no right to the audit table (PostgreSQL) or to execute functions (MariaDB)."""
    query = q("SELECT sneaky()")
    result = connector(server_db.reader, tmp_path).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert count(server_db.admin, "audit") == 0


def test_statement_timeout_cancels_a_slow_query_and_says_how_to_fix_it(server_db, tmp_path):
    server, url = server_db.server, server_db.reader
    slow = "SELECT pg_sleep(3)" if server == "postgresql" else "SELECT SLEEP(3)"
    query = q(slow)
    result = connector(url, tmp_path, timeout=0.5).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "timeout_seconds" in str(result)


def test_all_queries_of_a_source_share_one_connection(server_db, tmp_path):
    url = server_db.reader
    conn = connector(url, tmp_path)
    opened = []
    sa.event.listen(conn.engine(), "connect", lambda *args: opened.append(1))
    queries = [q(f"SELECT SUM(produced) FROM production WHERE line = '{line}' AND day BETWEEN :start AND :end") for line in "ABC"]
    results = conn.fetch(queries, Q4, NOW)
    conn.close()
    assert len(opened) == 1
    assert sum(results[query].value for query in queries) == sum(r[2] for r in IN_Q4)


def test_sync_end_to_end_records_the_series_as_history_points(server_db, tmp_path, write_config):
    url = server_db.reader
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
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", scope=history_scope(config))
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


@pytest.mark.parametrize("server_db", ["postgresql"], indirect=True)  # set_config() is PostgreSQL's
def test_postgres_session_stays_read_only_even_after_a_query_turns_the_default_off(server_db, tmp_path):
    """Layer 2 alone (the text check is bypassed, the role may write): set_config() turning the session default off is
    undone by the rollback, and the next query's transaction is begun READ ONLY again."""
    conn = connector(server_db.admin, tmp_path, allow_write=True)
    with conn.connect() as connection:
        flipped = conn._execute(connection, "SELECT set_config('default_transaction_read_only', 'off', false)", {}, 2)
        assert flipped[0][0][0] == "off"
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            conn._execute(connection, "SELECT sneaky() + 0", {}, 2)
    assert count(server_db.admin, "audit") == 0


def test_example_command_loads_the_factory_tables_into_postgres(tmp_path):
    import sqlite3

    from typer.testing import CliRunner

    from flows.cli import app
    for db in server_database("postgresql", "okr_cli"):
        url = db.admin
        result = CliRunner().invoke(app, ["example", "factory", "--dir", str(tmp_path), "--until", "2026-11-15", "--postgres", url])
        assert result.exit_code == 0, result.output
        assert f"loaded lines, production, deliveries into {url}" in result.output
        sqlite_db = sqlite3.connect(tmp_path / "mes.db")
        expected = {t: sqlite_db.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in ("lines", "production", "deliveries")}
        produced = sqlite_db.execute("SELECT SUM(produced) FROM production WHERE day BETWEEN '2026-11-01' AND '2026-11-15'").fetchone()[0]
        sqlite_db.close()
        assert all(count(url, table) == n for table, n in expected.items())
        typed = scalar(url, "SELECT SUM(produced) FROM production WHERE day BETWEEN DATE '2026-11-01' AND DATE '2026-11-15'")
        assert typed == produced  # day is a real DATE column
