"""The `sql` source: one aggregate SELECT per distinct query, with the period bound as :start/:end.

Safety, in layers: the text must be a single read-only SELECT/WITH (checked before anything is
sent), the session itself is read-only where the database supports it (PostgreSQL
`default_transaction_read_only`, MySQL/MariaDB `SET SESSION TRANSACTION READ ONLY`, SQLite opened
with `mode=ro`), and every statement runs under a timeout. All KRs of one source share one pooled
engine and run on one connection.
"""
from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from connectors.base import Context, Result, RetriableError, SourceError
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.sql import ReadOnlyViolation, SqlSource, check_read_only

MAX_SERIES_ROWS = 5000
_TIMEOUT_MARKERS = ("statement timeout", "max_statement_time", "max_execution_time", "interrupted", "query timeout", "timeout expired")


@dataclass(frozen=True)
class SeriesObservation(Observation):
    """The newest point of a (date, value) series, carrying every point so history can record them all."""

    points: tuple[tuple[date, float], ...] = ()


def first_line(exc: BaseException) -> str:
    """A database error as one readable line (the driver's message, without SQLAlchemy's boilerplate)."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    return text[0] if text else type(orig).__name__


def resolve_url(raw: str, context: Context) -> sa.URL:
    """Parse a SQLAlchemy URL; a relative SQLite path is taken relative to the config file."""
    url = make_url(raw)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        url = url.set(database=str(context.resolve(url.database)))
    return url


def bind_params(period: Period, dialect: str) -> dict[str, Any]:
    """The period as bound parameters; SQLite stores dates as ISO text, so it gets ISO strings."""
    if dialect == "sqlite":
        return {"start": period.start.isoformat(), "end": period.end.isoformat(), "period": period.name}
    return {"start": period.start, "end": period.end, "period": period.name}


def to_number(value: Any, what: str) -> float:
    """One database value as a float; NULL, text and other types are errors that say what to check."""
    if value is None:
        raise SourceError(f"{what} returned NULL (no rows in the period, or a division by zero in SQLite?); make the query return a number, e.g. with COALESCE")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, Decimal)):
        return float(value)
    raise SourceError(f"{what} returned {type(value).__name__} {str(value)[:40]!r}, not a number; cast or aggregate it in SQL")


def to_day(value: Any, what: str) -> date:
    """The first column of a series row as a date (DATE, TIMESTAMP or ISO text)."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    raise SourceError(f"{what} returned {str(value)[:40]!r} as the date of a series row; select a DATE (or ISO text) first, then the value")


def read_only_engine(url: sa.URL, timeout: float, pool_size: int = 2) -> Engine:
    """An engine whose sessions cannot write (where the database can enforce it) and whose statements time out."""
    backend = url.get_backend_name()
    ms = int(timeout * 1000)
    if backend == "sqlite":
        return _sqlite_engine(url, timeout)
    kwargs: dict[str, Any] = {"pool_pre_ping": True, "pool_size": pool_size, "max_overflow": 0}
    if backend == "postgresql":
        if url.get_driver_name() in ("psycopg", "psycopg2", "psycopg2cffi"):
            kwargs["connect_args"] = {"options": f"-c default_transaction_read_only=on -c statement_timeout={ms}"}
        engine = sa.create_engine(url, **kwargs).execution_options(postgresql_readonly=True)
        return engine
    if backend in ("mysql", "mariadb"):
        if url.get_driver_name() == "pymysql":
            kwargs["connect_args"] = {"read_timeout": int(timeout) + 30}
        engine = sa.create_engine(url, **kwargs)

        @sa.event.listens_for(engine, "connect")
        def _mysql_session(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            version = ""
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


def _sqlite_engine(url: sa.URL, timeout: float) -> Engine:
    """SQLite opened read-only (mode=ro); a progress handler interrupts a statement past its deadline."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return sa.create_engine(url)
    uri = f"file:{quote(str(Path(database).resolve()))}?mode=ro"

    def connect() -> sqlite3.Connection:
        return sqlite3.connect(uri, uri=True, check_same_thread=False)

    engine = sa.create_engine("sqlite://", creator=connect, poolclass=sa.pool.StaticPool)
    return engine


class _SqliteDeadline:
    """Interrupts a running SQLite statement once its time is up (SQLite has no statement timeout)."""

    def __init__(self, connection: sa.Connection, timeout: float):
        self.raw = connection.connection.dbapi_connection
        self.deadline = time.monotonic() + timeout

    def __enter__(self) -> "_SqliteDeadline":
        self.raw.set_progress_handler(lambda: int(time.monotonic() > self.deadline), 100_000)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.raw.set_progress_handler(None, 0)


class SqlConnector:
    """Runs each distinct query once, on one pooled, read-only engine per source."""

    def __init__(self, name: str, settings: SqlSource, context: Context, engine: Engine | None = None):
        self.name, self.settings, self.context = name, settings, context
        self._engine = engine

    def _url(self) -> sa.URL:
        raw = self.settings.url or self.context.secret(self.settings.url_env or "", f"URL of source {self.name!r}")
        try:
            return resolve_url(raw, self.context)
        except ArgumentError:
            where = f"env var {self.settings.url_env}" if self.settings.url_env else "url"
            raise SourceError(f"source {self.name!r}: {where} is not a SQLAlchemy URL") from None

    def engine(self) -> Engine:
        if self._engine is None:
            url = self._url()
            if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
                if not Path(url.database).exists():
                    raise SourceError(f"source {self.name!r}: database file {url.database} not found; check the path (relative to the config file)")
            try:
                self._engine = read_only_engine(url, self.settings.timeout_seconds, self.settings.pool_size)
            except (NoSuchModuleError, ModuleNotFoundError) as exc:
                raise SourceError(f"source {self.name!r}: no driver for {url.drivername} ({exc}); pip install the driver, e.g. okr-sync[postgres]") from None
        return self._engine

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        results: dict[Query, Result] = {}
        runnable = []
        for query in queries:  # refuse anything but one SELECT before a connection is even opened
            try:
                check_read_only(query.spec.sql)
                runnable.append(query)
            except ReadOnlyViolation as exc:
                results[query] = SourceError(f"source {self.name!r}: refused to run the query: it {exc}")
        if not runnable:
            return results
        engine = self.engine()
        params = bind_params(period, engine.dialect.name)
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            safe = engine.url.render_as_string(hide_password=True)
            raise RetriableError(f"source {self.name!r}: cannot connect to {safe}: {first_line(exc)}") from None
        with connection:
            for query in runnable:
                results[query] = self._run(connection, query, params, now)
        return results

    def _execute(self, connection: sa.Connection, sql: str, params: dict[str, Any], limit: int) -> tuple[list, int]:
        if connection.dialect.name == "sqlite":
            with _SqliteDeadline(connection, self.settings.timeout_seconds):
                result = connection.execute(sa.text(sql), params)
                return self._rows(result, limit)
        return self._rows(connection.execute(sa.text(sql), params), limit)

    @staticmethod
    def _rows(result: sa.CursorResult, limit: int) -> tuple[list, int]:
        if not result.returns_rows:
            return [], -1
        return list(result.fetchmany(limit)), len(result.keys())

    def _run(self, connection: sa.Connection, query: Query, params: dict[str, Any], now: datetime) -> Result:
        what = f"source {self.name!r}: query"
        series = bool(getattr(query.spec, "series", False))
        try:
            rows, columns = self._execute(connection, query.spec.sql, params, MAX_SERIES_ROWS + 1 if series else 2)
        except SQLAlchemyError as exc:
            message = first_line(exc)
            if any(marker in message.lower() for marker in _TIMEOUT_MARKERS):
                return SourceError(f"{what} was cancelled after {self.settings.timeout_seconds:g} s (timeout_seconds): {message}; "
                                   "aggregate on indexed columns or raise timeout_seconds")
            return SourceError(f"{what} failed: {message}")
        finally:
            if connection.in_transaction():
                connection.rollback()
        if columns == -1:
            return SourceError(f"{what} returned no result set; it must be a SELECT returning one number")
        if series:
            return self._series(rows, columns, what, query, now)
        if not rows:
            return SourceError(f"{what} returned no row; aggregate (SUM, AVG, COUNT...) so it returns exactly one")
        if len(rows) > 1:
            return SourceError(f"{what} returned several rows; aggregate so it returns exactly one (or set series: true for date/value rows)")
        if columns != 1:
            return SourceError(f"{what} returned {columns} columns; select exactly one number")
        try:
            value = to_number(rows[0][0], what)
        except SourceError as exc:
            return exc
        return Observation(value, now, self.name, query.spec.sql.strip())

    def _series(self, rows: list, columns: int, what: str, query: Query, now: datetime) -> Result:
        if columns != 2:
            return SourceError(f"{what} (series) returned {columns} columns; select a date and a number per row")
        if not rows:
            return SourceError(f"{what} (series) returned no rows in the period")
        if len(rows) > MAX_SERIES_ROWS:
            return SourceError(f"{what} (series) returned more than {MAX_SERIES_ROWS} rows; group by day in SQL")
        points: dict[date, float] = {}
        try:
            for row in rows:
                day = to_day(row[0], what)
                if day in points:
                    return SourceError(f"{what} (series) returned two rows for {day}; GROUP BY the day so each day appears once")
                points[day] = to_number(row[1], f"{what} (series, {day})")
        except SourceError as exc:
            return exc
        ordered = tuple(sorted(points.items()))
        return SeriesObservation(ordered[-1][1], now, self.name, query.spec.sql.strip(), points=ordered)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
