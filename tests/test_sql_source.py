"""The sql source on SQLite: values, bound period parameters and every way a query can go wrong."""
import sqlite3
from datetime import datetime, timezone

import pytest

from connectors.base import Context, RetriableError, SourceError
from connectors.sql import SqlConnector
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.sql import SqlQuery, SqlSource

NOW = datetime(2026, 11, 15, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
ROWS = [("2026-09-30", 1000, 50), ("2026-10-01", 1000, 10), ("2026-11-10", 2000, 10), ("2026-12-31", 500, 5), ("2027-01-01", 100, 90)]


@pytest.fixture
def mes(tmp_path):
    path = tmp_path / "mes.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE production (day TEXT, produced INTEGER, defects INTEGER, line TEXT)")
    db.executemany("INSERT INTO production VALUES (?, ?, ?, 'A')", ROWS)
    db.commit()
    db.close()
    return path


def connector(tmp_path, url="sqlite:///mes.db"):
    return SqlConnector("mes", SqlSource(kind="sql", url=url), Context(tmp_path))


def q(sql):
    return Query.of("mes", SqlQuery(source="mes", sql=sql))


def test_defect_rate_uses_bound_period_days_inclusive(tmp_path, mes):
    query = q("SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end")
    result = connector(tmp_path).fetch([query], Q4, NOW)[query]
    in_q4 = [r for r in ROWS if "2026-10-01" <= r[0] <= "2026-12-31"]
    expected = 100.0 * sum(r[2] for r in in_q4) / sum(r[1] for r in in_q4)  # 25 / 3500
    assert isinstance(result, Observation)
    assert result.value == pytest.approx(expected)
    assert (result.source, result.as_of) == ("mes", NOW)


def test_period_name_is_bound_too(tmp_path, mes):
    query = q("SELECT CASE WHEN :period = '2026-Q4' THEN 1 ELSE 0 END")
    assert connector(tmp_path).fetch([query], Q4, NOW)[query].value == 1.0


@pytest.mark.parametrize("sql,message", [
    ("SELECT produced FROM production WHERE day = '1999-01-01'", "returned no row"),
    ("SELECT produced FROM production", "returned several rows"),
    ("SELECT SUM(produced), SUM(defects) FROM production", "returned 2 columns"),
    ("SELECT SUM(produced) FROM production WHERE day = '1999-01-01'", "returned NULL"),
    ("SELECT 1.0 * SUM(defects) / 0 FROM production", "returned NULL"),
    ("SELECT MAX(line) FROM production", "returned text of 1 character, not a number"),
    ("SELECT SUM(defect) FROM production", "failed: no such column: defect"),
    ("SELECT nonsense(1)", "failed: no such function: nonsense"),
])
def test_bad_queries_fail_only_themselves_with_a_clear_message(tmp_path, mes, sql, message):
    good, bad = q("SELECT COUNT(*) FROM production"), q(sql)
    results = connector(tmp_path).fetch([bad, good], Q4, NOW)
    assert isinstance(results[bad], SourceError)
    assert message in str(results[bad])
    assert "source 'mes'" in str(results[bad])
    assert results[good].value == len(ROWS)


def test_missing_sqlite_file_is_a_source_error_not_a_new_empty_database(tmp_path):
    with pytest.raises(SourceError, match="database file .*nope.db not found"):
        connector(tmp_path, "sqlite:///nope.db").fetch([q("SELECT 1")], Q4, NOW)
    assert not (tmp_path / "nope.db").exists()


def test_unreachable_server_is_retriable_and_hides_the_password(tmp_path):
    env = {"MES_URL": "postgresql+psycopg://okr:hunter2@127.0.0.1:1/mes?connect_timeout=2"}
    conn = SqlConnector("mes", SqlSource(kind="sql", url_env="MES_URL"), Context(tmp_path, env))
    with pytest.raises(RetriableError) as caught:
        conn.fetch([q("SELECT 1")], Q4, NOW)
    assert "hunter2" not in str(caught.value)
    assert "cannot connect" in str(caught.value)


def test_url_env_not_set_is_a_source_error(tmp_path):
    conn = SqlConnector("mes", SqlSource(kind="sql", url_env="MES_URL"), Context(tmp_path, {}))
    with pytest.raises(SourceError, match="environment variable MES_URL"):
        conn.fetch([q("SELECT 1")], Q4, NOW)
