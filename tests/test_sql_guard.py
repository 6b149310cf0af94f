"""Layer 1 of read-only SQL: the query is parsed with its own database's rules and refused unless it is one read-only query."""
from __future__ import annotations

import pytest

from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.sql_guard import DENIED_FUNCTIONS, ReadOnlyViolation, guard_sql

LEGIT = {
    "postgres": [
        "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end",
        "WITH daily AS (SELECT day, SUM(produced) AS p FROM production GROUP BY day) SELECT AVG(p) FROM daily",
        "SELECT AVG(rate) FROM (SELECT day, AVG(defects::numeric / produced) OVER (ORDER BY day ROWS BETWEEN 6 PRECEDING AND CURRENT ROW) "
        "AS rate FROM production) AS w",
        "SELECT COUNT(*) FILTER (WHERE defects > 0)::float / COUNT(*) FROM production",
        "SELECT SUM(CASE WHEN line = 'A' THEN produced ELSE 0 END) FROM production WHERE day > CAST(:end AS date) - INTERVAL '7 days'",
        'SELECT SUM("update") FROM "Quality Table" WHERE "delete" IS NULL',
        "SELECT COUNT(*) FROM complaints WHERE note = 'please delete; update; insert into' AND code LIKE 'a\\_%'",
        "SELECT 1 UNION ALL SELECT 2",
        "(SELECT MAX(day) - MIN(day) FROM production)",
        "SELECT $$; DELETE FROM t$$ <> 'x'",
        "SELECT a # b FROM t",  # XOR in PostgreSQL, not a comment
    ],
    "mysql": [
        "SELECT 100E0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end",
        "SELECT SUM(`update`) FROM `quality table` WHERE DATE_SUB(:end, INTERVAL 7 DAY) < day",
        "WITH d AS (SELECT day, SUM(produced) p FROM production GROUP BY day) SELECT AVG(p) FROM d",
        "SELECT COUNT(*) FROM complaints WHERE note = 'it\\'s; DELETE FROM t'",
        "SELECT 1 # a comment\n + 1",
    ],
    "sqlite": [
        "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end",
        "SELECT COUNT(*) FROM production WHERE julianday(:end) - julianday(day) < 7",
    ],
    "tsql": ["SELECT TOP 1 [rate] FROM [kpi] ORDER BY [day] DESC"],
}


@pytest.mark.parametrize("dialect,sql", [(d, s) for d, sqls in LEGIT.items() for s in sqls])
def test_legitimate_analytic_sql_passes_in_its_dialect(dialect, sql):
    assert guard_sql(sql, dialect)


ATTACKS = [
    # (dialect, text, the construct the one-line refusal names)
    ("postgres", "DELETE FROM production", "starts with 'DELETE'"),
    ("postgres", "SELECT 1; DELETE FROM production", "2 statements"),
    ("postgres", "SELECT 1; COMMIT; BEGIN READ WRITE; DELETE FROM production", "statements"),
    ("postgres", "COMMIT", "starts with 'COMMIT'"),
    ("postgres", "SET TRANSACTION READ WRITE", "starts with 'SET'"),
    ("postgres", "SELECT 'a\\' ; DELETE FROM production; --'", "2 statements"),  # \ is a plain character in PostgreSQL
    ("postgres", "SELECT 1 # 2; DELETE FROM production", "2 statements"),  # # is an operator, not a comment
    ("postgres", "WITH gone AS (DELETE FROM production RETURNING *) SELECT COUNT(*) FROM gone", "DELETE"),
    ("postgres", "SELECT * FROM (SELECT 1) s WHERE EXISTS (WITH x AS (UPDATE t SET a = 1 RETURNING 1) SELECT 1 FROM x)", "UPDATE"),
    ("postgres", "SELECT * INTO backup FROM production", "INTO"),
    ("postgres", "SELECT * FROM production FOR UPDATE", "UPDATE"),
    ("postgres", "SELECT * FROM production FOR SHARE", "locking clause"),
    ("postgres", "SELECT * FROM production FOR NO KEY UPDATE", "UPDATE"),
    ("postgres", "COPY production TO '/tmp/x'", "starts with 'COPY'"),
    ("postgres", "SELECT lo_export(lo_from_bytea(0, 'x'), '/tmp/x')", "lo_export"),
    ("postgres", "SELECT lo_import('/etc/passwd')", "lo_import"),
    ("postgres", "SELECT pg_read_file('/etc/passwd')", "pg_read_file"),
    ("postgres", "SELECT length(pg_catalog.pg_read_binary_file('/etc/passwd'))", "pg_read_binary_file"),
    ("postgres", 'SELECT "pg_ls_dir"(\'.\')', "pg_ls_dir"),
    ("postgres", "SELECT * FROM pg_ls_dir('/')", "pg_ls_dir"),
    ("postgres", "SELECT dblink_exec('dbname=mes', 'DELETE FROM production')", "dblink_exec"),
    ("postgres", "SELECT set_config('default_transaction_read_only', 'off', false)", "set_config"),
    ("postgres", "SELECT query_to_xml('DELETE FROM production RETURNING 1', true, false, '')", "query_to_xml"),
    ("postgres", "SELECT pg_terminate_backend(1)", "pg_terminate_backend"),
    ("postgres", "EXPLAIN ANALYZE DELETE FROM production", "starts with 'EXPLAIN'"),
    ("postgres", 'SELECT U&"pg\\005fread\\005ffile"(\'/etc/passwd\')', "Unicode-escaped"),  # pg_read_file in disguise
    ("postgres", "DO $$ BEGIN DELETE FROM production; END $$", "starts with 'DO'"),
    ("postgres", "/* only a comment */", "empty"),
    ("postgres", "SELECT 1 /*! ; DELETE FROM production */", "executable"),
    ("mysql", "SELECT 1 /*! ; DELETE FROM production */", "executable"),
    ("mysql", "SELECT 1 /*!50000 INTO OUTFILE '/tmp/x' */", "executable"),
    ("mysql", "SELECT 1 /*M! INTO OUTFILE '/tmp/x' */", "executable"),
    ("mysql", "SELECT 1 --1 INTO OUTFILE '/tmp/x'", "INTO"),  # --1 is minus minus one on MySQL
    ("mysql", "SELECT * FROM production INTO OUTFILE '/tmp/x'", "INTO"),
    ("mysql", "SELECT * FROM production INTO DUMPFILE '/tmp/x'", "INTO"),
    ("mysql", "SELECT 1 INTO @x", "INTO"),
    ("mysql", "SELECT LOAD_FILE('/etc/passwd')", "LOAD_FILE"),
    ("mysql", "SELECT sys_exec('touch /tmp/x')", "sys_exec"),
    ("mysql", "SELECT GET_LOCK('x', 10)", "GET_LOCK"),
    ("mysql", "SELECT * FROM production LOCK IN SHARE MODE", "LOCK"),
    ("mysql", "SELECT 'a' ; DELETE FROM production", "2 statements"),
    ("mysql", "REPLACE INTO production VALUES (1)", "starts with 'REPLACE'"),
    ("mysql", "LOAD DATA INFILE '/etc/passwd' INTO TABLE t", "starts with 'LOAD'"),
    ("mysql", "HANDLER production OPEN", "starts with 'HANDLER'"),
    ("sqlite", "ATTACH DATABASE '/tmp/x.db' AS x", "starts with 'ATTACH'"),
    ("sqlite", "PRAGMA writable_schema = 1", "starts with 'PRAGMA'"),
    ("sqlite", "SELECT load_extension('/tmp/evil')", "load_extension"),
    ("sqlite", "SELECT writefile('/tmp/x', 'y')", "writefile"),
    ("tsql", "SELECT * FROM OPENROWSET(BULK 'c:/x', SINGLE_CLOB) AS x", "OPENROWSET"),
    ("tsql", "SELECT 1; EXEC xp_cmdshell 'dir'", "statements"),
    ("postgres", "SELECT 1 FROM t WHERE x = 'unterminated", "cannot be read as PostgreSQL SQL"),
    ("postgres", "SELECT FROM WHERE", "cannot be parsed as PostgreSQL SQL"),
    ("postgres", "SELECT 1\x00; DELETE FROM production", "NUL"),
]


@pytest.mark.parametrize("dialect,sql,construct", ATTACKS)
def test_attacks_are_refused_in_one_line_naming_the_construct(dialect, sql, construct):
    with pytest.raises(ReadOnlyViolation) as refused:
        guard_sql(sql, dialect)
    message = str(refused.value)
    assert construct.lower() in message.lower()
    assert "\n" not in message and len(message) < 400


def test_the_same_text_is_one_string_on_mysql_and_two_statements_on_postgres():
    text = "SELECT COUNT(*) FROM t WHERE note = 'it\\' ; DELETE FROM t; -- '"
    assert guard_sql(text, "mysql") == text  # MySQL: \' escapes the quote, all of it is one string
    with pytest.raises(ReadOnlyViolation, match="2 statements"):
        guard_sql(text, "postgres")  # PostgreSQL: the string ends at \', and a DELETE follows


def test_what_is_sent_is_the_checked_tokens_without_comments():
    sql = "-- the defect rate\nSELECT SUM(defects) /* per line */ FROM production # all lines\nWHERE day <= :end;"
    assert guard_sql(sql, "mysql") == "SELECT SUM(defects) FROM production WHERE day <= :end"
    assert guard_sql("SELECT 1 /* a /* nested */ b */ + 1", "postgres") == "SELECT 1 + 1"


def test_every_dialect_has_a_function_deny_list_covering_file_access():
    assert {"pg_read_file", "pg_stat_file", "set_config"} <= DENIED_FUNCTIONS["postgres"]
    assert "load_file" in DENIED_FUNCTIONS["mysql"] and "writefile" in DENIED_FUNCTIONS["sqlite"]
    assert "openrowset" in DENIED_FUNCTIONS["tsql"]


def test_checks_are_cached_per_text_and_dialect():
    guard_sql.cache_clear()
    for _ in range(3):
        guard_sql("SELECT 42", "postgres")
    guard_sql("SELECT 42", "mysql")
    info = guard_sql.cache_info()
    assert (info.hits, info.misses) == (2, 2)


CONFIG = """
period: 2026-Q4
sources:
  mes: {source}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: rate
        title: Rate
        type: at_most
        target: 0.5
        metric:
          source: mes
          sql: "{sql}"
"""


@pytest.mark.parametrize("source,env,ok", [
    ("{kind: sql, url: 'mysql+pymysql://reader@db/mes'}", {}, True),
    ("{kind: sql, url_env: MES_URL}", {"MES_URL": "mysql+pymysql://reader:pw@db/mes"}, True),
    ("{kind: sql, url_env: MES_URL, dialect: mariadb}", {}, True),
    ("{kind: sql, url_env: MES_URL, dialect: postgresql}", {}, False),
    ("{kind: sql, url_env: MES_URL}", {}, False),
])
def test_load_time_check_uses_the_sources_dialect(write_config, source, env, ok):
    path = write_config(CONFIG.format(source=source, sql="SELECT SUM(`update`) FROM t"))
    if ok:
        load_config(path, env=env, check_env=False)
        return
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env, check_env=False)
    message = str(info.value)
    assert f"{path}:14: objectives[0].key_results[0].metric.sql: query " in message  # backticks are not PostgreSQL
    if "dialect" not in source:
        assert "set dialect: on the source" in message


def test_mysql_executable_comment_fails_validate_with_file_and_line(write_config):
    path = write_config(CONFIG.format(source="{kind: sql, url: 'mysql+pymysql://reader@db/mes'}",
                                      sql="SELECT 1 /*! ; DELETE FROM production */"))
    with pytest.raises(ConfigError, match=r"okrs.yaml:14: .*metric.sql: query contains an executable or hint comment"):
        load_config(path, check_env=False)


def test_dialect_that_contradicts_an_inline_url_is_a_config_error(write_config):
    path = write_config(CONFIG.format(source="{kind: sql, url: 'sqlite:///mes.db', dialect: postgresql}", sql="SELECT 1"))
    with pytest.raises(ConfigError, match="dialect postgresql does not match the URL's database sqlite"):
        load_config(path, check_env=False)


def test_a_database_okr_sync_cannot_keep_read_only_is_refused_at_load(write_config):
    path = write_config(CONFIG.format(source="{kind: sql, url: 'oracle://reader@db/mes'}", sql="SELECT 1 FROM dual"))
    with pytest.raises(ConfigError, match="database 'oracle' is not one okr-sync can keep read-only"):
        load_config(path, check_env=False)


@pytest.mark.parametrize("url", ["postgresql+psycopg://okr_reader:s3cr%40t@mes-db:5432/mes", "mysql+pymysql://okr@db/mes?charset=utf8mb4",
                                 "sqlite:///data/mes.db", "sqlite://", "mssql+pyodbc://u:p@h:1433/mes?driver=ODBC+Driver+18", "oracle://u@h/x",
                                 "postgresql://[::1]:5432/mes", "mariadb+pymysql://u:@h/db"])
def test_config_url_reading_agrees_with_sqlalchemy(url):
    from sqlalchemy.engine import make_url

    from mapping.sources.sql import url_parts
    parsed = make_url(url)
    assert url_parts(url) == (parsed.get_backend_name(), bool(parsed.password))
