"""Config of the `rest` source kind: JSON over HTTP(S), a value picked out with JMESPath.

Secrets (tokens, passwords, API keys) are named by env var (`*_env`) and never written in the file.
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, field_validator, model_validator

from mapping.sources.base import Kind, SourceBase, StrictModel, one_of_pair, secret_field

TEMPLATE = re.compile(r"\{(start|end|as_of|period)\}")
_DOTTED = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
AuthKind = Literal["none", "bearer", "basic", "api_key"]


def check_jmespath(value: str) -> str:
    """A JMESPath expression that compiles; the error says where it is wrong."""
    try:
        jmespath.compile(value)
    except JMESPathError as exc:
        raise ValueError(f"is not a valid JMESPath expression: {str(exc).splitlines()[0]}") from None
    return value


class HttpSettings(SourceBase):
    """Timeout and retries shared by every HTTP-based source (rest, metabase, powerbi, superset)."""

    timeout_seconds: float = Field(30.0, gt=0, le=600, description="connect and read timeout of each request")
    retries: int = Field(3, ge=0, le=10, description="retries of a request on connection errors, 429 and 5xx (honouring Retry-After)")
    backoff_seconds: float = Field(1.0, ge=0, le=60, description="backoff factor between retries: 1 s, 2 s, 4 s, ...")


class RestSource(HttpSettings):
    """A JSON HTTP API: a base URL, fixed headers and one way to authenticate, secrets from env vars."""

    kind: Literal["rest"]
    base_url: str = Field(description="https://host/api; each query's path is appended")
    headers: dict[str, str] = Field(default_factory=dict, description="fixed, non-secret headers sent with every request")
    auth: AuthKind = Field("none", description="none, bearer (token_env), basic (username_env + password_env) or api_key (api_key_env sent in api_key_header)")
    token_env: Optional[str] = Field(None, description="env var holding the bearer token")
    username_env: Optional[str] = Field(None, description="env var holding the basic-auth user")
    password_env: Optional[str] = Field(None, description="env var holding the basic-auth password")
    api_key_env: Optional[str] = Field(None, description="env var holding the API key")
    token_secret: Optional[str] = secret_field("the bearer token")
    username_secret: Optional[str] = secret_field("the basic-auth user")
    password_secret: Optional[str] = secret_field("the basic-auth password")
    api_key_secret: Optional[str] = secret_field("the API key")
    api_key_header: str = Field("X-API-Key", description="header that carries the API key")

    @field_validator("base_url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        return value.rstrip("/")

    @field_validator("headers")
    @classmethod
    def _no_secret_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in ("authorization", "x-api-key", "cookie", "proxy-authorization"):
                raise ValueError(f"header {name!r} carries a secret; use auth with token_env / api_key_env instead")
        return value

    @model_validator(mode="after")
    def _auth_needs_its_env(self) -> "RestSource":
        for key in ("token", "username", "password", "api_key"):
            one_of_pair(self, key)
        needed = {"bearer": ["token"], "basic": ["username", "password"], "api_key": ["api_key"]}.get(self.auth, [])
        missing = [f"{key}_env" for key in needed if not self.has_credential(key)]
        if missing:
            raise ValueError(f"auth {self.auth} needs {' and '.join(missing)} (the name of an environment variable; or the *_secret Prefect Secret block)")
        return self


class Pagination(StrictModel):
    """How to walk a paged list: follow a next link/cursor, or count pages or offsets."""

    style: Literal["next", "page", "offset"] = Field(description="next: follow a link or cursor in each page; page: ?page=1,2,...; offset: ?offset=0,100,...")
    items: str = Field(description="dotted path of the list in each page (e.g. data or result.rows); the lists are joined")
    next: Optional[str] = Field(None, description="(style next) JMESPath of the next page's URL or cursor in each page; empty or missing ends")
    cursor_param: Optional[str] = Field(None, description="(style next) send the cursor as this query parameter instead of following it as a URL")
    param: Optional[str] = Field(None, description="(page/offset) the query parameter that counts; default page or offset")
    size_param: Optional[str] = Field(None, description="(page/offset) query parameter for the page size, e.g. per_page or limit")
    size: int = Field(100, ge=1, le=10000, description="(page/offset) page size; a shorter page is the last")
    first: int = Field(1, ge=0, description="(page) number of the first page")
    max_pages: int = Field(100, ge=1, le=10000, description="more pages than this is an error (a runaway API)")

    @field_validator("items")
    @classmethod
    def _dotted(cls, value: str) -> str:
        if not _DOTTED.match(value):
            raise ValueError("must be a dotted key path like data or result.rows")
        return value

    @field_validator("next")
    @classmethod
    def _next_path(cls, value: str | None) -> str | None:
        return check_jmespath(value) if value else value

    @model_validator(mode="after")
    def _complete(self) -> "Pagination":
        if self.style == "next" and not self.next:
            raise ValueError("style next needs next: <JMESPath of the next link or cursor>")
        if self.style != "next" and (self.next or self.cursor_param):
            raise ValueError(f"next/cursor_param apply to style next, not {self.style}")
        return self


class RestQuery(StrictModel):
    """One request (or page walk) and a JMESPath that turns its JSON into one number."""

    source: str
    path: str = Field("", description="appended to base_url; {start}, {end}, {as_of} (ISO dates) and {period} are filled in")
    method: Literal["GET", "POST"] = "GET"
    params: dict[str, Any] = Field(default_factory=dict, description="query parameters; string values are templated")
    body: Optional[Any] = Field(None, description="JSON body (POST); string values are templated")
    extract: str = Field(description="JMESPath giving one number, e.g. sum(rows[?line=='A'].defects)")
    paginate: Optional[Pagination] = None

    @field_validator("extract")
    @classmethod
    def _extract(cls, value: str) -> str:
        return check_jmespath(value)

    @model_validator(mode="after")
    def _body_only_with_post(self) -> "RestQuery":
        if self.body is not None and self.method != "POST":
            raise ValueError("body is sent only with method: POST")
        return self


KINDS = (
    Kind("rest", RestSource, RestQuery),
)
