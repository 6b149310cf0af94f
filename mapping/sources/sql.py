"""Config of the `sql` source kind: a SQLAlchemy database queried with one aggregate SELECT per metric."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import Field, field_validator, model_validator
from sqlalchemy.engine import make_url

from mapping.sources.base import SourceBase, StrictModel


class SqlSource(SourceBase):
    """A database, addressed by a SQLAlchemy URL read from an env var (`url_env`) or, when it holds no password, inline (`url`)."""

    kind: Literal["sql"]
    url: Optional[str] = Field(None, description="SQLAlchemy URL without a password, e.g. sqlite:///data/mes.db (relative paths are relative to the config file)")
    url_env: Optional[str] = Field(None, description="name of the environment variable holding the SQLAlchemy URL")

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
    """One SELECT returning a single number; it may use the bound parameters :start, :end and :period."""

    source: str
    sql: str = Field(description="a SELECT returning one row with one numeric column; :start/:end are the period's first and last day")
