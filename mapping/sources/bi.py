"""Config of the BI presets built on `rest`: metabase, powerbi and superset.

Each preset knows its tool's endpoint, auth and result shape, so a query names only what differs
(a card, a dataset and DAX, a chart) and which column of the result to take.
"""
from __future__ import annotations

from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from mapping.sources.base import Kind, StrictModel, one_of_pair, secret_field
from mapping.sources.rest import HttpSettings, check_jmespath

TableAgg = Literal["single", "first", "last", "sum", "mean", "min", "max", "count"]


class TableQuery(StrictModel):
    """Which value of a result table: one column (combined over the rows by agg), or a JMESPath over `rows`."""

    source: str
    column: Optional[str] = Field(None, description="column name (Power BI: Table[Column] or just Column)")
    agg: TableAgg = Field("single", description="single (the result must have one row), first, last, sum, mean, min, max, count")
    extract: Optional[str] = Field(None, description="instead of column: JMESPath over {rows: [{column: value}]}, e.g. sum(rows[?Line=='A'].Defects)")

    @field_validator("extract")
    @classmethod
    def _extract(cls, value: str | None) -> str | None:
        return check_jmespath(value) if value else value

    @model_validator(mode="after")
    def _column_or_extract(self) -> "TableQuery":
        if self.column and self.extract:
            raise ValueError("set column (with agg) or extract, not both")
        return self


def _https(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// (or http://)")
    return value.rstrip("/")


class MetabaseSource(HttpSettings):
    """A Metabase instance, authenticated with an API key (sent as x-api-key)."""

    kind: Literal["metabase"]
    url: str = Field(description="https://metabase.example.com")
    api_key_env: Optional[str] = Field(None, description="env var holding a Metabase API key")
    api_key_secret: Optional[str] = secret_field("the Metabase API key")

    _url = field_validator("url")(classmethod(lambda cls, v: _https(v)))

    @model_validator(mode="after")
    def _key(self) -> "MetabaseSource":
        one_of_pair(self, "api_key")
        if not self.has_credential("api_key"):
            raise ValueError("set api_key_env (an env var holding a Metabase API key) or api_key_secret (a Prefect Secret block)")
        return self


class MetabaseQuery(TableQuery):
    """A saved question (card) run with parameters."""

    card: int = Field(gt=0, description="the card (question) id, as in /question/42")
    parameters: list[dict[str, Any]] = Field(default_factory=list, description="Metabase parameters [{type, target, value}]; string values are templated ({start}, {end}, {as_of}, {period})")


class PowerBISource(HttpSettings):
    """The Power BI REST API, with an Azure AD bearer token from an env var."""

    kind: Literal["powerbi"]
    token_env: Optional[str] = Field(None, description="env var holding an Azure AD access token for https://analysis.windows.net/powerbi/api")
    token_secret: Optional[str] = secret_field("the Azure AD access token")
    group: Optional[str] = Field(None, description="workspace (group) id; omit for My workspace")
    url: str = Field("https://api.powerbi.com/v1.0/myorg", description="API root (change only for sovereign clouds)")

    _url = field_validator("url")(classmethod(lambda cls, v: _https(v)))

    @model_validator(mode="after")
    def _token(self) -> "PowerBISource":
        one_of_pair(self, "token")
        if not self.has_credential("token"):
            raise ValueError("set token_env (an env var holding an Azure AD access token) or token_secret (a Prefect Secret block)")
        return self


class PowerBIQuery(TableQuery):
    """A DAX query against a dataset (executeQueries)."""

    dataset: str = Field(description="dataset (semantic model) id")
    dax: str = Field(description="a DAX query starting with EVALUATE; {start}, {end}, {as_of} (ISO dates) and {period} are filled in")

    @field_validator("dax")
    @classmethod
    def _evaluate(cls, value: str) -> str:
        if not value.lstrip().upper().startswith(("EVALUATE", "DEFINE")):
            raise ValueError("must be a DAX query starting with EVALUATE (or DEFINE ... EVALUATE)")
        return value


class SupersetSource(HttpSettings):
    """An Apache Superset instance: log in with user/password (database auth) or use a ready access token."""

    kind: Literal["superset"]
    url: str = Field(description="https://superset.example.com")
    username_env: Optional[str] = Field(None, description="env var holding the user (logs in via /api/v1/security/login)")
    password_env: Optional[str] = Field(None, description="env var holding the password")
    token_env: Optional[str] = Field(None, description="instead of user/password: env var holding an access token")
    username_secret: Optional[str] = secret_field("the user")
    password_secret: Optional[str] = secret_field("the password")
    token_secret: Optional[str] = secret_field("the access token")
    provider: Literal["db", "ldap"] = Field("db", description="login provider")

    _url = field_validator("url")(classmethod(lambda cls, v: _https(v)))

    @model_validator(mode="after")
    def _one_auth(self) -> "SupersetSource":
        for key in ("username", "password", "token"):
            one_of_pair(self, key)
        user, password = self.has_credential("username"), self.has_credential("password")
        if (user and password) == self.has_credential("token") or user != password:
            raise ValueError("set username_env and password_env (login), or token_env (an access token)")
        return self


class SupersetQuery(TableQuery):
    """A saved chart's data (its own filters and time range)."""

    chart: int = Field(gt=0, description="chart id, as in /explore/?slice_id=12")
    result: int = Field(0, ge=0, description="which query of the chart (0 = the first)")


KINDS = (
    Kind("metabase", MetabaseSource, MetabaseQuery),
    Kind("powerbi", PowerBISource, PowerBIQuery),
    Kind("superset", SupersetSource, SupersetQuery),
)
