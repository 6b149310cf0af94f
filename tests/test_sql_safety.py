"""SQLite sources: the query check at load and before execution, the read-only opening, the authorizer and the statement timeout."""
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
from mapping.sources.sql import SqlQuery, SqlSource

NOW = datetime(2026, 11, 15, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")


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


@pytest.mark.parametrize("sql,construct", [
    ("ATTACH DATABASE '{dir}/new.db' AS x", "ATTACH"),
    ("ATTACH 'file:{dir}/new.db?mode=rwc' AS x", "ATTACH"),
    ("PRAGMA writable_schema = 1", "PRAGMA"),
    ("SELECT writefile('{dir}/new.db', 'x')", "writefile"),
    ("SELECT load_extension('{dir}/evil')", "load_extension"),
    ("DELETE FROM production", "DELETE"),
    ("INSERT INTO production VALUES ('2026-12-01', 1, 1)", "INSERT"),
    ("CREATE TABLE x (a)", "CREATE"),
    ("SELECT 1; DELETE FROM production", "statements"),
])
def test_sqlite_attacks_are_refused_by_the_check_and_by_the_connection_alone(tmp_path, mes, sql, construct):
    """Layer 1 refuses the text; with the check bypassed, the read-only connection and its authorizer refuse it too."""
    from mapping.sql_guard import ReadOnlyViolation, guard_sql
    sql = sql.format(dir=tmp_path)
    before = rows(mes)
    with pytest.raises(ReadOnlyViolation) as refused:
        guard_sql(sql, "sqlite")
    assert construct.lower() in str(refused.value).lower() and "\n" not in str(refused.value)
    conn = connector(tmp_path)
    with conn.connect() as connection:
        with pytest.raises(Exception):
            conn._execute(connection, sql, {}, 2)
    conn.close()
    assert rows(mes) == before
    assert not (tmp_path / "new.db").exists()


def test_sqlite_authorizer_is_what_refuses_attach_when_the_check_is_bypassed(tmp_path, mes):
    """Control: the same ATTACH on a plain read-only connection (no authorizer) does create the file, so the test can fail."""
    target = tmp_path / "control.db"
    plain = sqlite3.connect(f"file:{mes}?mode=ro", uri=True)
    plain.execute(f"ATTACH 'file:{target}?mode=rwc' AS x")
    plain.close()
    assert target.exists()
    target.unlink()
    conn = connector(tmp_path)
    with conn.connect() as connection:
        with pytest.raises(Exception, match="not authorized"):
            conn._execute(connection, f"ATTACH 'file:{target}?mode=rwc' AS x", {}, 2)
    conn.close()
    assert not target.exists()


def test_a_text_value_is_reported_by_type_and_length_never_echoed(tmp_path, mes):
    secret = "root:x:0:0:root:/root:/bin/bash " * 50
    query = Query.of("mes", SqlQuery(source="mes", sql=f"SELECT '{secret}'"))
    result = connector(tmp_path).fetch([query], Q4, NOW)[query]
    assert isinstance(result, SourceError)
    assert f"returned text of {len(secret):,} characters, not a number" in str(result)
    assert "root:x" not in str(result)
