"""Config of the `sql` source kind: a SQLAlchemy database queried with one aggregate SELECT per metric.

Queries are checked to be a single read-only SELECT/WITH statement when the config is loaded (and
again right before they run), so a write never reaches the database.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Literal, Optional

import sqlparse
from pydantic import Field, field_validator, model_validator
from sqlalchemy.engine import make_url
from sqlparse import tokens as T

from mapping.sources.base import SourceBase, StrictModel

# Keywords that make a statement write, lock or leave the database, wherever they appear.
_FORBIDDEN_KEYWORDS = {
    "INTO", "LOCK", "COPY", "GRANT", "REVOKE", "CALL", "EXEC", "EXECUTE", "VACUUM", "ANALYZE", "REINDEX",
    "CLUSTER", "REFRESH", "LISTEN", "NOTIFY", "PREPARE", "DEALLOCATE", "DISCARD", "LOAD", "HANDLER", "DO",
    "ATTACH", "DETACH", "PRAGMA", "OUTFILE", "DUMPFILE", "SHUTDOWN", "KILL", "USE",
}


class ReadOnlyViolation(ValueError):
    """A SQL text that is not exactly one read-only SELECT/WITH statement."""


def _significant(statement: sqlparse.sql.Statement) -> list:
    return [t for t in statement.flatten() if not t.is_whitespace and t.ttype not in T.Comment]


@lru_cache(maxsize=4096)
def check_read_only(sql: str) -> None:
    """Raise ReadOnlyViolation unless `sql` is one SELECT (or WITH ... SELECT) that cannot write or lock.

    The text is tokenised (comments, strings and quoted names are understood, so `'a;delete'` is
    harmless) and refused when it holds several statements, starts with anything but SELECT/WITH, or
    contains a data-changing or locking keyword anywhere: INSERT/UPDATE/DELETE/MERGE (also inside a
    CTE), SELECT ... INTO, FOR UPDATE/SHARE, LOCK, DDL, COPY, CALL. Results are cached per text: many
    KRs share a query, and tokenising is the slow part of loading a large config.
    """
    statements = [s for s in sqlparse.parse(sql) if _significant(s)]
    if not statements:
        raise ReadOnlyViolation("is empty; write one SELECT statement")
    if len(statements) > 1:
        raise ReadOnlyViolation(f"holds {len(statements)} statements; write exactly one SELECT (no ';' between statements)")
    tokens = [t for t in _significant(statements[0]) if not (t.ttype in T.Punctuation and t.value in "();")]
    first = tokens[0]
    if not (first.ttype in T.Keyword and first.normalized in ("SELECT", "WITH")):
        raise ReadOnlyViolation(f"starts with {first.value!r}; only a read-only SELECT or WITH ... SELECT may run")
    previous = ""
    for token in tokens:
        word = token.normalized.upper() if token.ttype in T.Keyword else ""
        if token.ttype in T.Keyword.DML and word != "SELECT":
            raise ReadOnlyViolation(f"contains {word} (the query must only read; quote a column of that name)")
        if token.ttype in T.Keyword.DDL or word in _FORBIDDEN_KEYWORDS:
            raise ReadOnlyViolation(f"contains {word} (the query must only read; quote a column of that name)")
        if previous == "FOR" and word in ("SHARE", "NO", "KEY", "UPDATE"):
            raise ReadOnlyViolation(f"contains FOR {word} (a locking read); remove the locking clause")
        if token.ttype in T.Keyword:
            previous = word
    return None


class SqlSource(SourceBase):
    """A database, addressed by a SQLAlchemy URL read from an env var (`url_env`) or, when it holds no password, inline (`url`)."""

    kind: Literal["sql"]
    url: Optional[str] = Field(None, description="SQLAlchemy URL without a password, e.g. sqlite:///data/mes.db (relative paths are relative to the config file)")
    url_env: Optional[str] = Field(None, description="name of the environment variable holding the SQLAlchemy URL")
    timeout_seconds: float = Field(60.0, gt=0, le=3600, description="statement timeout: a query running longer is cancelled and its KR marked stale")
    pool_size: int = Field(2, ge=1, le=20, description="connections kept open to this database during a sync (all its KRs share them)")

    @field_validator("url")
    @classmethod
    def _no_inline_password(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parsed = make_url(value)
        except Exception:
            raise ValueError("is not a SQLAlchemy URL like postgresql+psycopg://user@host/db or sqlite:///path.db") from None
        if parsed.password:
            raise ValueError("holds a password; move the URL into an environment variable and name it in url_env")
        return value

    @model_validator(mode="after")
    def _one_url(self) -> "SqlSource":
        if bool(self.url) == bool(self.url_env):
            raise ValueError("set exactly one of url (no password) or url_env (name of an env var holding the URL)")
        return self


class SqlQuery(StrictModel):
    """One SELECT returning a single number (or, with `series`, rows of date and number); it may use :start, :end and :period."""

    source: str
    sql: str = Field(description="one read-only SELECT returning one row with one numeric column; :start/:end are the period's first and last day")
    series: bool = Field(False, description="the SELECT returns (date, value) rows, one per day: the newest is the current value, all are recorded as history")

    @field_validator("sql")
    @classmethod
    def _read_only(cls, value: str) -> str:
        try:
            check_read_only(value)
        except ReadOnlyViolation as exc:
            raise ValueError(f"query {exc}") from None
        return value
