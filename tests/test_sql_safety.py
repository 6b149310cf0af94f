"""Only one read-only SELECT ever runs: the text check, SQLite's read-only opening and its statement timeout."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timezone

import pytest

from connectors.base import Context, SourceError
from connectors.sql import SqlConnector
from mapping.config import Query
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.period import parse_period
from mapping.sources.sql import ReadOnlyViolation, SqlQuery, SqlSource, check_read_only

NOW = datetime(2026, 11, 15, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")


@pytest.mark.parametrize("sql", [
    "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end",
    "select 1;",
    "  -- a comment; DELETE FROM x\nSELECT 1 /* ; DROP TABLE production */",
    "WITH daily AS (SELECT day, SUM(produced) AS p FROM production GROUP BY day) SELECT AVG(p) FROM daily",
    "SELECT COUNT(*) FROM complaints WHERE note = 'please delete; update; insert into'",
    'SELECT "delete", "update" FROM t',
    "SELECT replace(name, 'a', 'b'), substring(code FROM 1 FOR 2) FROM t",
    "SELECT COUNT(*) FILTER (WHERE defects > 0) FROM production",
    "SELECT $$; DELETE FROM t$$",
    "(SELECT 1)",
])
def test_read_only_selects_pass(sql):
    check_read_only(sql)


@pytest.mark.parametrize("sql,reason", [
    ("DELETE FROM production", "starts with 'DELETE'"),
    ("SELECT 1; DELETE FROM production", "2 statements"),
    ("SELECT 1; SELECT 2", "2 statements"),
    ("WITH gone AS (DELETE FROM production RETURNING *) SELECT COUNT(*) FROM gone", "contains DELETE"),
    ("WITH x AS (UPDATE production SET defects = 0 RETURNING 1) SELECT 1", "contains UPDATE"),
    ("WITH x AS (INSERT INTO t VALUES (1) RETURNING 1) SELECT 1", "contains INSERT"),
    ("SELECT * INTO backup FROM production", "contains INTO"),
    ("SELECT * FROM production INTO OUTFILE '/tmp/x'", "contains INTO"),
    ("SELECT * FROM production FOR UPDATE", "contains UPDATE"),
    ("SELECT * FROM production FOR SHARE", "FOR SHARE"),
    ("SELECT * FROM production FOR NO KEY UPDATE", "FOR NO"),
    ("SELECT * FROM production LOCK IN SHARE MODE", "contains LOCK"),
    ("EXPLAIN ANALYZE DELETE FROM production", "starts with 'EXPLAIN'"),
    ("CREATE TABLE x AS SELECT 1", "starts with 'CREATE'"),
    ("DROP TABLE production", "starts with 'DROP'"),
    ("TRUNCATE production", "starts with 'TRUNCATE'"),
    ("MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", "starts with 'MERGE'"),
    ("COPY production TO '/tmp/x'", "starts with 'COPY'"),
    ("SET ROLE admin", "starts with 'SET'"),
    ("PRAGMA writable_schema = 1", "starts with 'PRAGMA'"),
    ("/* only a comment */", "empty"),
])
def test_anything_that_can_write_or_lock_is_refused(sql, reason):
    with pytest.raises(ReadOnlyViolation, match=reason):
        check_read_only(sql)


def test_config_with_a_write_query_fails_to_load_with_file_line_and_kr(write_config):
    path = write_config("""
        period: 2026-Q4
        sources:
          mes: {kind: sql, url: "sqlite:///mes.db"}
        objectives:
          - id: quality
            title: Quality
            key_results:
              - id: defect-rate
                title: Defect rate
                type: at_most
                target: 0.5
                metric:
                  source: mes
                  sql: "SELECT 1; DELETE FROM production"
    """)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert f"{path}:14: objectives[0].key_results[0].metric.sql: query holds 2 statements" in message


@pytest.fixture
def mes(tmp_path):
    path = tmp_path / "mes.db"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE production (day TEXT, produced INTEGER, defects INTEGER)")
    db.executemany("INSERT INTO production VALUES (?, ?, ?)", [("2026-10-01", 1000, 7), ("2026-11-01", 1000, 3)])
    db.commit()
    db.close()
    return path


def connector(tmp_path, timeout: float = 30) -> SqlConnector:
    return SqlConnector("mes", SqlSource(kind="sql", url="sqlite:///mes.db", timeout_seconds=timeout), Context(tmp_path))


def rows(path) -> list:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT * FROM production ORDER BY day").fetchall()
    finally:
        db.close()


def test_write_query_that_skipped_validation_is_refused_and_the_table_is_unchanged(tmp_path, mes):
    before = rows(mes)
    bad = Query.of("mes", SqlQuery.model_construct(source="mes", sql="DELETE FROM production", series=False))
    good = Query.of("mes", SqlQuery(source="mes", sql="SELECT SUM(defects) FROM production"))
    results = connector(tmp_path).fetch([bad, good], Q4, NOW)
    assert isinstance(results[bad], SourceError)
    assert "refused to run the query: it starts with 'DELETE'" in str(results[bad])
    assert results[good].value == 10
    assert rows(mes) == before


def test_sqlite_is_opened_read_only_so_even_a_raw_write_fails(tmp_path, mes):
    engine = connector(tmp_path).engine()
    with engine.connect() as conn:
        with pytest.raises(Exception, match="readonly database"):
            conn.exec_driver_sql("UPDATE production SET defects = 0")
    engine.dispose()
    assert [r[2] for r in rows(mes)] == [7, 3]


def test_sqlite_statement_past_its_timeout_is_interrupted(tmp_path, mes):
    runaway = Query.of("mes", SqlQuery(source="mes", sql=(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000000) SELECT COUNT(*) FROM n")))
    result = connector(tmp_path, timeout=0.2).fetch([runaway], Q4, NOW)[runaway]
    assert isinstance(result, SourceError)
    assert "cancelled after 0.2 s (timeout_seconds)" in str(result)


def test_series_rows_with_a_repeated_day_are_an_error(tmp_path, mes):
    query = Query.of("mes", SqlQuery(source="mes", series=True, sql="SELECT '2026-10-01', 1 UNION ALL SELECT '2026-10-01', 2"))
    result = connector(tmp_path).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert "two rows for 2026-10-01" in str(result)
