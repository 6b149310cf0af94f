"""Connections to a sql source that the database server itself keeps read-only: the second layer.

Whatever the query check (mapping.sql_guard) might miss, the server refuses:
- **a second statement**: PostgreSQL queries always go through the extended protocol (psycopg with
  `prepare_threshold=0`: every statement is prepared server-side, and a prepared statement holds
  one command); MySQL/MariaDB connections never enable multi-statements (PyMySQL, client flag
  cleared); Python's sqlite3 runs one statement per call.
- **writes and session changes**: every query runs in its own transaction that is opened read-only
  and rolled back afterwards (PostgreSQL `SET TRANSACTION READ ONLY` + `SET LOCAL statement_timeout`,
  so a `SET`, `SET SESSION CHARACTERISTICS` or `BEGIN READ WRITE` in the text is refused or undone;
  MySQL/MariaDB `START TRANSACTION READ ONLY` after re-asserting the session's SQL mode); SQLite is
  opened `mode=ro` with an authorizer that allows nothing but reading (no ATTACH, PRAGMA, writes,
  extension loading or file functions).
- **lexing surprises**: the server is told to lex like the checker: PostgreSQL
  `standard_conforming_strings=on`; MySQL/MariaDB without `NO_BACKSLASH_ESCAPES` and `ANSI_QUOTES`.
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from connectors.base import SourceError

# Drivers that let the server refuse a second statement; a URL without a driver gets the first.
DRIVERS = {"postgresql": ("psycopg",), "mysql": ("pymysql",), "mariadb": ("pymysql",), "sqlite": ("pysqlite",), "mssql": ("pyodbc",)}
_DRIVER_HINT = {"postgresql": "postgresql+psycopg://", "mysql": "mysql+pymysql://", "mariadb": "mariadb+pymysql://",
                "sqlite": "sqlite:///", "mssql": "mssql+pyodbc://"}
_MULTI_STATEMENTS = 1 << 16  # MySQL CLIENT_MULTI_STATEMENTS
_LEXING_MODES = ("NO_BACKSLASH_ESCAPES", "ANSI_QUOTES")

# SQLite authorizer: the actions a read-only query needs; the functions it may not call.
_SQLITE_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, getattr(sqlite3, "SQLITE_RECURSIVE", 33)}
_SQLITE_DENIED_FUNCTIONS = {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer", "zipfile", "fsdir"}


def source_url(url: sa.URL, source: str) -> sa.URL:
    """The URL with a driver whose server refuses stacked statements; another driver is a clear error."""
    backend = url.get_backend_name()
    if backend not in DRIVERS:
        return url
    if "+" not in url.drivername:
        return url.set(drivername=f"{backend}+{DRIVERS[backend][0]}")
    if url.get_driver_name() not in DRIVERS[backend]:
        raise SourceError(f"source {source!r}: driver {url.get_driver_name()} is not allowed for {backend}: it can send several "
                          f"statements in one call; use {_DRIVER_HINT[backend]}...")
    return url


def read_only_engine(url: sa.URL, timeout: float, pool_size: int = 2) -> Engine:
    """An engine whose connections the server keeps read-only (see the module doc) and whose statements time out."""
    backend = url.get_backend_name()
    ms = int(timeout * 1000)
    if backend == "sqlite":
        return _sqlite_engine(url)
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_size": pool_size, "max_overflow": 0}
    if backend == "postgresql":
        kwargs["connect_args"] = {"prepare_threshold": 0,
                                  "options": f"-c default_transaction_read_only=on -c statement_timeout={ms} "
                                             "-c standard_conforming_strings=on"}
        return sa.create_engine(url, **kwargs).execution_options(postgresql_readonly=True)
    if backend in ("mysql", "mariadb"):
        kwargs["connect_args"] = {"read_timeout": int(timeout) + 30, "local_infile": False}
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "do_connect")
        def _no_multi_statements(_dialect: Any, _record: Any, _args: Any, params: dict) -> None:
            params["client_flag"] = int(params.get("client_flag", 0)) & ~_MULTI_STATEMENTS
            params["local_infile"] = False
            params.pop("init_command", None)

        @sa.event.listens_for(engine, "connect")
        def _mysql_session(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            try:
                cursor.execute("SELECT VERSION()")
                version = str(cursor.fetchone()[0])
                cursor.execute("SET SESSION TRANSACTION READ ONLY")
                if "mariadb" in version.lower():
                    cursor.execute(f"SET SESSION max_statement_time = {timeout:.3f}")
                else:
                    cursor.execute(f"SET SESSION max_execution_time = {ms}")
            finally:
                cursor.close()
        return engine
    if backend == "mssql":
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _mssql_session(dbapi_conn: Any, _record: Any) -> None:
            if hasattr(dbapi_conn, "timeout"):
                dbapi_conn.timeout = max(1, int(timeout))  # pyodbc: query timeout in seconds
        return engine
    return sa.create_engine(url, **kwargs)


def _sqlite_engine(url: sa.URL) -> Engine:
    """SQLite opened read-only (mode=ro) on one connection."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return sa.create_engine(url)
    uri = f"file:{quote(str(Path(database).resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    return sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.StaticPool)


@contextmanager
def read_only_transaction(connection: sa.Connection, timeout: float) -> Iterator[None]:
    """Run the block in a transaction the server keeps read-only; always rolled back, so session changes are undone."""
    backend = connection.dialect.name
    try:
        if backend == "postgresql":
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(timeout * 1000)}")
            yield
        elif backend in ("mysql", "mariadb"):
            _reset_mysql_lexing(connection)
            connection.exec_driver_sql("START TRANSACTION READ ONLY")
            yield
        elif backend == "sqlite":
            with _sqlite_guard(connection, timeout):
                yield
        else:
            yield
    finally:
        if connection.in_transaction():
            connection.rollback()


def _reset_mysql_lexing(connection: sa.Connection) -> None:
    """Keep the session's SQL mode free of modes that change how strings and quotes are read."""
    modes = str(connection.exec_driver_sql("SELECT @@SESSION.sql_mode").scalar() or "")
    kept = ",".join(m for m in modes.split(",") if m.isidentifier() and m.upper() not in _LEXING_MODES)
    if kept != modes:
        connection.exec_driver_sql(f"SET SESSION sql_mode = '{kept}'")  # built from the server's own mode names


def _sqlite_authorizer(action: int, arg1: Any, arg2: Any, _db: Any, _trigger: Any) -> int:
    if action not in _SQLITE_ALLOWED:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_FUNCTION and str(arg2 or arg1 or "").lower() in _SQLITE_DENIED_FUNCTIONS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@contextmanager
def _sqlite_guard(connection: sa.Connection, timeout: float) -> Iterator[None]:
    """Only reading is authorised, and a progress handler interrupts the statement past its deadline."""
    raw = connection.connection.dbapi_connection
    deadline = time.monotonic() + timeout
    raw.set_authorizer(_sqlite_authorizer)
    raw.set_progress_handler(lambda: int(time.monotonic() > deadline), 100_000)
    try:
        yield
    finally:
        raw.set_progress_handler(None, 0)
        raw.set_authorizer(None)
