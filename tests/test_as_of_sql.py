"""The sql source "as of" a past day: :end clipped to that day, :as_of bound, unbounded queries refused unsent.

Rows after the evaluated day are in the tables (data that arrived later), so a query that ignored
the day would answer with them; expected values are computed here in Python from the same rows.
"""
from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, time, timedelta, timezone

import pytest
import sqlalchemy as sa

from connectors.base import AS_OF_PHRASE, Context, NotAsOfError, SourceError
from connectors.sql import SeriesObservation, SqlConnector
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.sql import SqlQuery, SqlSource
from servers import server_database

Q4 = parse_period("2026-Q4")
DAY = date(2026, 11, 10)
AS_OF = Q4.until(DAY)
END_OF_DAY = datetime.combine(DAY, time(23, 59, 59), tzinfo=timezone.utc)  # what the pipeline passes as `now`
TODAY = datetime(2026, 12, 20, 9, 0, tzinfo=timezone.utc)


def make_rows(seed: int = 5) -> list[tuple[date, str, int, int]]:
    """(day, line, produced, defects) from late September to mid-January."""
    rng = random.Random(seed)
    rows, day = [], date(2026, 9, 25)
    while day <= date(2027, 1, 12):
        for line in "AB":
            rows.append((day, line, rng.randint(500, 1500), rng.randint(0, 20)))
        day += timedelta(days=1)
    return rows


ROWS = make_rows()


def rows_between(first: date, last: date) -> list[tuple]:
    return [r for r in ROWS if first <= r[0] <= last]


def defect_rate(rows: list[tuple]) -> float:
    return 100.0 * sum(r[3] for r in rows) / sum(r[2] for r in rows)


@pytest.fixture
def mes(tmp_path):
    db = sqlite3.connect(tmp_path / "mes.db")
    db.execute("CREATE TABLE production (day TEXT, line TEXT, produced INTEGER, defects INTEGER)")
    db.executemany("INSERT INTO production VALUES (?, ?, ?, ?)", [(d.isoformat(), line, p, x) for d, line, p, x in ROWS])
    db.commit()
    db.close()
    return tmp_path


def sqlite_connector(tmp_path) -> SqlConnector:
    return SqlConnector("mes", SqlSource(kind="sql", url="sqlite:///mes.db"), Context(tmp_path))


def q(sql: str, series: bool = False) -> Query:
    return Query.of("mes", SqlQuery(source="mes", sql=sql, series=series))


RATE = "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end"


def test_as_of_a_past_day_the_period_ends_that_day(mes):
    conn = sqlite_connector(mes)
    query = q(RATE)
    past = conn.fetch([query], AS_OF, END_OF_DAY)[query]
    assert isinstance(past, Observation)
    assert past.value == pytest.approx(defect_rate(rows_between(Q4.start, DAY)))
    assert past.as_of == END_OF_DAY
    today = conn.fetch([query], Q4, TODAY)[query]  # a normal sync: the whole period, as before
    assert today.value == pytest.approx(defect_rate(rows_between(Q4.start, Q4.end)))
    assert past.value != pytest.approx(today.value)


def test_as_of_is_bound_and_bounds_a_query_on_its_own(mes):
    query = q("SELECT SUM(produced) FROM production WHERE line = 'B' AND day >= :start AND day <= :as_of")
    past = sqlite_connector(mes).fetch([query], AS_OF, END_OF_DAY)[query]
    assert past.value == sum(r[2] for r in rows_between(Q4.start, DAY) if r[1] == "B")
    rolling = q("SELECT SUM(defects) FROM production WHERE day > date(:as_of, '-7 days') AND day <= :as_of")
    assert sqlite_connector(mes).fetch([rolling], AS_OF, END_OF_DAY)[rolling].value == sum(
        r[3] for r in rows_between(DAY - timedelta(days=6), DAY))


def test_the_bound_values_in_a_normal_sync_and_as_of_a_past_day(mes):
    query = q("SELECT CASE WHEN :start = '2026-10-01' AND :end = :expected_end AND :as_of = :expected_as_of THEN 1 ELSE 0 END")
    conn = sqlite_connector(mes)
    cases = [(AS_OF, END_OF_DAY, "2026-11-10", "2026-11-10"),   # as of a past day: :end clipped, :as_of that day
             (Q4, TODAY, "2026-12-31", "2026-12-20")]           # normal sync: :end the period's, :as_of today
    for period, now, end, as_of in cases:
        text = query.spec.sql.replace(":expected_end", f"'{end}'").replace(":expected_as_of", f"'{as_of}'")
        probe = q(text)
        assert conn.fetch([probe], period, now)[probe].value == 1.0, (period, now)


def test_a_series_as_of_a_past_day_ends_with_that_day(mes):
    query = q("SELECT day, 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end "
              "GROUP BY day ORDER BY day", series=True)
    result = sqlite_connector(mes).fetch([query], AS_OF, END_OF_DAY)[query]
    assert isinstance(result, SeriesObservation)
    days = sorted({r[0] for r in rows_between(Q4.start, DAY)})
    assert [d for d, _ in result.points] == days
    assert result.value == pytest.approx(defect_rate(rows_between(DAY, DAY)))


def test_a_series_that_returns_later_days_never_takes_them_as_current(mes):
    # references :as_of (so it is not refused) but does not filter by it: rows up to mid-January come back
    query = q("SELECT day, SUM(defects) FROM production WHERE day >= :start AND :as_of IS NOT NULL GROUP BY day", series=True)
    result = sqlite_connector(mes).fetch([query], AS_OF, END_OF_DAY)[query]
    assert isinstance(result, SeriesObservation)
    assert max(d for d, _ in result.points) == DAY
    assert result.value == sum(r[3] for r in rows_between(DAY, DAY))


@pytest.mark.parametrize("sql", [
    "SELECT nonsense(SUM(produced)) FROM production WHERE day >= :start",         # would fail if it were run
    "SELECT nonsense(COUNT(*)) FROM production",
    "SELECT nonsense(COUNT(*)) FROM production WHERE day >= :start -- AND day <= :end",  # a comment bounds nothing
    "SELECT nonsense(COUNT(*)) FROM production WHERE day >= :start /* :as_of */",
    "SELECT nonsense(COUNT(*)) FROM production WHERE day <= :end_of_year",       # another name, not :end
])
def test_a_query_not_bounded_by_end_or_as_of_is_refused_without_running(mes, sql):
    bounded, unbounded = q(RATE), q(sql)
    results = sqlite_connector(mes).fetch([unbounded, bounded], AS_OF, END_OF_DAY)
    error = results[unbounded]
    assert isinstance(error, NotAsOfError) and isinstance(error, SourceError)
    assert f"{AS_OF_PHRASE} the query is not bounded by :end or :as_of" in str(error)
    assert "source 'mes'" in str(error) and "no such function" not in str(error)
    assert results[bounded].value == pytest.approx(defect_rate(rows_between(Q4.start, DAY)))


def test_unbounded_queries_still_run_in_a_normal_sync(mes):
    query = q("SELECT COUNT(*) FROM production WHERE day >= :start")
    assert sqlite_connector(mes).fetch([query], Q4, TODAY)[query].value == len([r for r in ROWS if r[0] >= Q4.start])


def test_a_refused_query_is_refused_before_the_read_only_check_too(mes):
    refused = q("SELECT COUNT(*) FROM production")
    write = Query.of("mes", SqlQuery.model_construct(source="mes", sql="DELETE FROM production", series=False))
    results = sqlite_connector(mes).fetch([refused, write], AS_OF, END_OF_DAY)
    assert AS_OF_PHRASE in str(results[refused])
    assert "refused to run the query" in str(results[write])  # the safety check still comes first
    assert sqlite3.connect(mes / "mes.db").execute("SELECT COUNT(*) FROM production").fetchone()[0] == len(ROWS)


# --- PostgreSQL, read through the reader role ---------------------------------------------------
@pytest.fixture(scope="module")
def postgres():
    for db in server_database("postgresql", prefix="okr_asof"):
        engine = sa.create_engine(db.admin)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE production (day DATE NOT NULL, line VARCHAR(5) NOT NULL, produced INTEGER NOT NULL, "
                                 "defects INTEGER NOT NULL, PRIMARY KEY (day, line))"))
            conn.execute(sa.text("INSERT INTO production VALUES (:day, :line, :produced, :defects)"),
                         [dict(zip(("day", "line", "produced", "defects"), row)) for row in ROWS])
        engine.dispose()
        db.grant_reader()
        yield db


def test_postgresql_as_of_a_past_day_with_date_parameters(postgres, tmp_path):
    settings = SqlSource(kind="sql", url_env="MES_URL")
    conn = SqlConnector("mes", settings, Context(tmp_path, {"MES_URL": postgres.reader}))
    try:
        rate = q("SELECT 100E0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end")
        week = q("SELECT SUM(produced) FROM production WHERE day > CAST(:as_of AS date) - 7 AND day <= :as_of")
        series = q("SELECT day, SUM(defects) FROM production WHERE day BETWEEN :start AND :end GROUP BY day ORDER BY day", series=True)
        unbounded = q("SELECT COUNT(*) FROM production WHERE day >= :start")
        results = conn.fetch([rate, week, series, unbounded], AS_OF, END_OF_DAY)
        assert results[rate].value == pytest.approx(defect_rate(rows_between(Q4.start, DAY)), rel=1e-12)
        assert results[week].value == sum(r[2] for r in rows_between(DAY - timedelta(days=6), DAY))
        assert results[series].points[-1] == (DAY, float(sum(r[3] for r in rows_between(DAY, DAY))))
        assert len(results[series].points) == (DAY - Q4.start).days + 1
        assert isinstance(results[unbounded], NotAsOfError) and AS_OF_PHRASE in str(results[unbounded])
        today = conn.fetch([rate], Q4, TODAY)[rate]
        assert today.value == pytest.approx(defect_rate(rows_between(Q4.start, Q4.end)), rel=1e-12)
    finally:
        conn.close()
