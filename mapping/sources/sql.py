"""Config of the `sql` source kind: a SQLAlchemy database queried with one aggregate SELECT per metric.

Queries are checked to be a single read-only query, parsed in the source's own SQL dialect, when the
config is loaded (and again right before they run); see mapping.sql_guard.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Mapping, Optional

from pydantic import Field, field_validator, model_validator

from mapping.sources.base import Kind, SourceBase, StrictModel, secret_field
from mapping.sql_guard import DIALECTS, ReadOnlyViolation, guard_sql, guard_sql_any

Dialect = Literal["postgresql", "mysql", "mariadb", "sqlite", "mssql"]

# SQLAlchemy's own URL pattern (sqlalchemy.engine.url), reduced to what validation needs: loading a config
# must not import SQLAlchemy (a third of a second) just to read a URL's database kind and see a password.
_URL = re.compile(r"^(?P<name>[\w+]+)://(?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?(?P<rest>[^?]*)(?:\?.*)?$", re.S)


def url_parts(raw: str) -> tuple[str, bool]:
    """(database kind, holds a password) of a SQLAlchemy URL; ValueError when it is not one."""
    match = _URL.match(raw.strip())
    if match is None:
        raise ValueError(raw)
    return match["name"].split("+")[0].lower(), bool(match["password"])


class SqlSource(SourceBase):
    """A database, addressed by a SQLAlchemy URL read from an env var (`url_env`) or, when it holds no password, inline (`url`)."""

    kind: Literal["sql"]
    url: Optional[str] = Field(None, description="SQLAlchemy URL without a password, e.g. sqlite:///data/mes.db (relative paths are relative to the config file)")
    url_env: Optional[str] = Field(None, description="name of the environment variable holding the SQLAlchemy URL")
    url_secret: Optional[str] = secret_field("the SQLAlchemy URL")
    timeout_seconds: float = Field(60.0, gt=0, le=3600, description="statement timeout: a query running longer is cancelled and its KR marked stale")
    pool_size: int = Field(2, ge=1, le=20, description="connections kept open to this database during a sync (all its KRs share them)")
    dialect: Optional[Dialect] = Field(None, description="the database's SQL dialect, for checking queries when the URL is not at hand "
                                       "(validate in CI without the env var); must match the URL's when both are known")
    allow_write_privileges: bool = Field(False, description="run even though the database role can write or touch server files "
                                         "(a bad idea: use a role that can only SELECT)")

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            _, password = url_parts(value)
        except ValueError:
            raise ValueError("is not a SQLAlchemy URL like postgresql+psycopg://user@host/db or sqlite:///path.db") from None
        if password:
            raise ValueError("holds a password; move the URL into an environment variable and name it in url_env")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> "SqlSource":
        if [bool(self.url), bool(self.url_env), bool(self.url_secret)].count(True) != 1:
            raise ValueError("set exactly one of url (no password), url_env (name of an env var holding the URL) "
                             "or url_secret (name of a Prefect Secret block holding it)")
        if self.dialect and self.url:
            backend = url_parts(self.url)[0]
            if DIALECTS.get(backend) != DIALECTS[self.dialect]:
                raise ValueError(f"dialect {self.dialect} does not match the URL's database {backend}; drop dialect or fix it")
        return self


class SqlQuery(StrictModel):
    """One SELECT returning a single number (or, with `series`, rows of date and number); it may use :start, :end, :as_of and :period."""

    source: str
    sql: str = Field(description="one read-only SELECT returning one row with one numeric column; :start/:end are the period's first and last day, :as_of the day evaluated")
    series: bool = Field(False, description="the SELECT returns (date, value) rows, one per day: the newest is the current value, all are recorded as history")


def source_dialect(source: Mapping[str, Any], env: Mapping[str, str]) -> Optional[str]:
    """The dialect of a raw sql source block: `dialect:`, else the backend of its inline URL or of the URL in its env var."""
    if source.get("dialect") in DIALECTS:
        return str(source["dialect"])
    raw = source.get("url") or (env.get(source["url_env"]) if isinstance(source.get("url_env"), str) else None)
    if not isinstance(raw, str):
        return None
    try:
        return url_parts(raw)[0]
    except Exception:  # a malformed URL is reported elsewhere
        return None


def check_sql_query(query: Mapping[str, Any], source: Mapping[str, Any], env: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Load-time check of a metric's SQL in its source's dialect (every supported dialect when it is unknown)."""
    sql = query.get("sql")
    if not isinstance(sql, str):
        return []
    dialect = source_dialect(source, env)
    try:
        if dialect is None:
            guard_sql_any(sql)
        elif dialect in DIALECTS:
            guard_sql(sql, dialect)
        else:
            return [("sql", f"database {dialect!r} is not one okr-sync can keep read-only",
                     f"use one of {', '.join(sorted(DIALECTS))}")]
    except ReadOnlyViolation as exc:
        return [("sql", f"query {exc}", "")]
    return []


KINDS = (
    Kind("sql", SqlSource, SqlQuery, check_sql_query),
)
