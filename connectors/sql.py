"""The `sql` source: one aggregate SELECT per distinct query, with the period bound as :start/:end/:as_of.

Read-only in three independent layers, each of which alone stops a write:
1. the query text is parsed in the source's own dialect and refused unless it is one read-only
   query (mapping.sql_guard); what is sent is the checked tokens without comments;
2. the server refuses a second statement and runs each query in a read-only transaction that is
   rolled back (connectors.sql_session);
3. the role must not be able to write or touch server files (connectors.sql_privileges): a source
   whose role can is refused unless it says `allow_write_privileges: true`.
All KRs of one source share one pooled engine and run on one connection.

As of a past day (`period.as_of` set, `:end` already clipped to it) a query must be bounded by
`:end` or `:as_of`; one that is not is refused without being sent (its answer would be today's).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from connectors.base import Context, Result, RetriableError, SourceError, count_request, evaluated_day, not_as_of
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from connectors.redaction import safe_url
from connectors.sql_privileges import RoleReport, role_powers
from connectors.sql_session import read_only_engine, read_only_transaction, source_url
from mapping.sources.sql import SqlSource
from mapping.sql_guard import DIALECTS, ReadOnlyViolation, guard_sql

MAX_SERIES_ROWS = 5000
_BIND = re.compile(r"(?<![:\w\\]):(\w+)(?![:\w])")  # how sqlalchemy.text() finds :name parameters
_TIMEOUT_MARKERS = ("statement timeout", "max_statement_time", "max_execution_time", "interrupted", "query timeout", "timeout expired")


@dataclass(frozen=True)
class SeriesObservation(Observation):
    """The newest point of a (date, value) series, carrying every point so history can record them all."""

    points: tuple[tuple[date, float], ...] = ()


def first_line(exc: BaseException, limit: int = 300) -> str:
    """A database error as one readable line (the driver's message, without SQLAlchemy's boilerplate), cut at `limit`."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip().splitlines()
    line = text[0] if text else type(orig).__name__
    return line if len(line) <= limit else line[:limit - 3] + "..."


def resolve_url(raw: str, context: Context) -> sa.URL:
    """Parse a SQLAlchemy URL; a relative SQLite path is taken relative to the config file."""
    url = make_url(raw)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:" and not url.database.startswith("file:"):
        url = url.set(database=str(context.resolve(url.database)))
    return url


def bind_params(period: Period, dialect: str, as_of: date) -> dict[str, Any]:
    """The period as bound parameters; SQLite stores dates as ISO text, so it gets ISO strings.

    :as_of is the evaluated day (today in a normal sync); :end is the period's last day, already
    clipped to the evaluated day in an as-of evaluation.
    """
    if dialect == "sqlite":
        return {"start": period.start.isoformat(), "end": period.end.isoformat(), "as_of": as_of.isoformat(), "period": period.name}
    return {"start": period.start, "end": period.end, "as_of": as_of, "period": period.name}


def bound_names(sql: str) -> set[str]:
    """The :name parameters a (comment-free) query text uses."""
    return set(_BIND.findall(sql))


def to_number(value: Any, what: str) -> float:
    """One database value as a float; NULL, text and other types are errors that say what to check."""
    if value is None:
        raise SourceError(f"{what} returned NULL (no rows in the period, or a division by zero in SQLite?); make the query return a number, e.g. with COALESCE")
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
        if not math.isfinite(number):
            raise SourceError(f"{what} returned {number}, not a finite number; make the query return a real value "
                              "(e.g. guard a division with NULLIF(divisor, 0), or filter out infinite rows)")
        return number
    raise SourceError(f"{what} returned {describe_value(value)}, not a number; cast or aggregate it in SQL")


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
    raise SourceError(f"{what} returned {describe_value(value)} as the date of a series row; select a DATE (or ISO text) first, then the value")


def describe_value(value: Any) -> str:
    """A value by its type and size only: text a query returns is never echoed into errors, history or sheets."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        what = "text" if isinstance(value, str) else "binary data"
        unit = "character" if isinstance(value, str) else "byte"
        size = len(value)
        return f"{what} of {size:,} {unit}{'' if size == 1 else 's'}"
    return f"a value of type {type(value).__name__}"


class SqlConnector:
    """Runs each distinct query once, on one pooled, read-only engine per source."""

    def __init__(self, name: str, settings: SqlSource, context: Context, engine: Engine | None = None):
        self.name, self.settings, self.context = name, settings, context
        self._engine = engine
        self._role: RoleReport | None = None

    def _url(self) -> sa.URL:
        raw = self.settings.url or self.context.credential(self.settings, "url", f"URL of source {self.name!r}")
        try:
            url = resolve_url(raw, self.context)
        except ArgumentError:
            where = self.settings.credential_name("url") if not self.settings.url else "url"
            raise SourceError(f"source {self.name!r}: {where} is not a SQLAlchemy URL") from None
        declared, backend = self.settings.dialect, url.get_backend_name()
        if declared and DIALECTS[declared] != DIALECTS.get(backend):
            raise SourceError(f"source {self.name!r}: dialect {declared} does not match the URL's database {backend}; fix dialect: or the URL")
        return source_url(url, self.name)

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

    def connect(self) -> sa.Connection:
        engine = self.engine()
        try:
            return engine.connect()
        except DBAPIError as exc:
            safe = safe_url(engine.url)
            raise RetriableError(f"source {self.name!r}: cannot connect to {safe}: {first_line(exc)}") from None

    def role(self, connection: sa.Connection) -> RoleReport:
        """What the connected role could do besides reading."""
        try:
            with read_only_transaction(connection, self.settings.timeout_seconds):
                return role_powers(connection)
        except SQLAlchemyError as exc:
            raise SourceError(f"source {self.name!r}: cannot check what the database role may do: {first_line(exc)}") from None

    def access_report(self) -> RoleReport:
        """Connect once and report what the role may do besides reading (for validate --connect)."""
        with self.connect() as connection:
            return self.role(connection)

    def check_role(self, connection: sa.Connection) -> RoleReport:
        """The role report; SourceError when the role can write and the source does not allow it."""
        report = self.role(connection)
        if report.powers and not self.settings.allow_write_privileges:
            raise SourceError(f"source {self.name!r}: refused to query: {report.describe()}; connect as a role that can only SELECT "
                              "(README: read-only database role), or set allow_write_privileges: true (not recommended)")
        return report

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        results: dict[Query, Result] = {}
        engine = self.engine()
        checked: dict[Query, str] = {}
        for query in queries:  # refuse anything but one read-only query before a connection is even opened
            try:
                checked[query] = guard_sql(query.spec.sql, engine.dialect.name)
            except ReadOnlyViolation as exc:
                results[query] = SourceError(f"source {self.name!r}: refused to run the query: it {exc}")
        if period.as_of is not None:  # as of a past day: only a query bounded by :end or :as_of answers for that day
            for query, text in list(checked.items()):
                if not bound_names(text) & {"end", "as_of"}:
                    del checked[query]
                    results[query] = not_as_of(self.name, "query", "the query is not bounded by :end or :as_of",
                                               "bound it, e.g. WHERE day <= :as_of (or BETWEEN :start AND :end), so rows after that day are left out")
        if not checked:
            return results
        params = bind_params(period, engine.dialect.name, evaluated_day(period, now))
        with self.connect() as connection:
            if self._role is None:  # once per connector: a backfill reuses it for every day
                self._role = self.check_role(connection)
            for query, text in checked.items():
                results[query] = self._run(connection, query, text, params, now, period.as_of)
        return results

    def _execute(self, connection: sa.Connection, sql: str, params: dict[str, Any], limit: int) -> tuple[list, int]:
        with read_only_transaction(connection, self.settings.timeout_seconds):
            count_request(self.name)
            result = connection.execute(sa.text(sql), params)
            if not result.returns_rows:
                return [], -1
            return list(result.fetchmany(limit)), len(result.keys())

    def _run(self, connection: sa.Connection, query: Query, text: str, params: dict[str, Any], now: datetime,
             as_of: date | None = None) -> Result:
        what = f"source {self.name!r}: query"
        series = bool(getattr(query.spec, "series", False))
        try:
            rows, columns = self._execute(connection, text, params, MAX_SERIES_ROWS + 1 if series else 2)
        except SQLAlchemyError as exc:
            message = first_line(exc)
            if any(marker in message.lower() for marker in _TIMEOUT_MARKERS):
                return SourceError(f"{what} was cancelled after {self.settings.timeout_seconds:g} s (timeout_seconds): {message}; "
                                   "aggregate on indexed columns or raise timeout_seconds")
            return SourceError(f"{what} failed: {message}")
        if columns == -1:
            return SourceError(f"{what} returned no result set; it must be a SELECT returning one number")
        if series:
            return self._series(rows, columns, what, text, now, as_of)
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
        return Observation(value, now, self.name, text)

    def _series(self, rows: list, columns: int, what: str, text: str, now: datetime, as_of: date | None = None) -> Result:
        """The points by day, newest = current value; as of a past day, points after that day are dropped."""
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
        if as_of is not None:
            ordered = tuple(point for point in ordered if point[0] <= as_of)
            if not ordered:
                return SourceError(f"{what} (series) returned no rows up to {as_of}, the day evaluated")
        return SeriesObservation(ordered[-1][1], now, self.name, text, points=ordered)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
