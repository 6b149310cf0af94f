"""The `sql` source: one aggregate SELECT per distinct query, with the period bound as :start/:end."""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from connectors.base import Context, Result, RetriableError, SourceError
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.sql import SqlSource


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


class SqlConnector:
    """Runs each distinct query once, on one pooled engine per source."""

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
            if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
                from pathlib import Path
                if not Path(url.database).exists():
                    raise SourceError(f"source {self.name!r}: database file {url.database} not found; check the path (relative to the config file)")
            try:
                self._engine = sa.create_engine(url, pool_pre_ping=True)
            except (NoSuchModuleError, ModuleNotFoundError) as exc:
                raise SourceError(f"source {self.name!r}: no driver for {url.drivername} ({exc}); pip install the driver, e.g. okr-sync[postgres]") from None
        return self._engine

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        engine = self.engine()
        params = bind_params(period, engine.dialect.name)
        results: dict[Query, Result] = {}
        try:
            connection = engine.connect()
        except DBAPIError as exc:
            safe = engine.url.render_as_string(hide_password=True)
            raise RetriableError(f"source {self.name!r}: cannot connect to {safe}: {first_line(exc)}") from None
        with connection:
            for query in queries:
                results[query] = self._run(connection, query, params, now)
        return results

    def _run(self, connection: sa.Connection, query: Query, params: dict[str, Any], now: datetime) -> Result:
        what = f"source {self.name!r}: query"
        try:
            result = connection.execute(sa.text(query.spec.sql), params)
            if not result.returns_rows:
                return SourceError(f"{what} returned no result set; it must be a SELECT returning one number")
            rows = result.fetchmany(2)
            columns = len(result.keys())
        except SQLAlchemyError as exc:
            connection.rollback()
            return SourceError(f"{what} failed: {first_line(exc)}")
        finally:
            if connection.in_transaction():
                connection.rollback()
        if not rows:
            return SourceError(f"{what} returned no row; aggregate (SUM, AVG, COUNT...) so it returns exactly one")
        if len(rows) > 1:
            return SourceError(f"{what} returned several rows; aggregate so it returns exactly one")
        if columns != 1:
            return SourceError(f"{what} returned {columns} columns; select exactly one number")
        try:
            value = to_number(rows[0][0], what)
        except SourceError as exc:
            return exc
        return Observation(value, now, self.name, query.spec.sql.strip())

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()
