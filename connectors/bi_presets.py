"""Metabase, Power BI and Superset: the `rest` plumbing with each tool's endpoint, auth and result shape.

Each tool's answer is turned into rows (a list of {column: value}); the query picks a column
(combined over the rows) or runs a JMESPath over {"rows": [...]}. Identical requests are sent once.
"""
from __future__ import annotations

import json
import statistics
from datetime import datetime
from typing import Any, Optional, Sequence

import requests

from connectors.base import Context, Result, SourceError, evaluated_day, not_as_of
from connectors.rest import NO_AS_OF, HttpClient, as_number, extract, fill, period_variables, templated
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.bi import (MetabaseQuery, MetabaseSource, PowerBIQuery, PowerBISource, SupersetQuery,
                                SupersetSource, TableQuery)

METABASE_ROW_CAP = 2000


class ResultRows(list):
    """Result rows keyed by one name per column, plus other names a column answers to.

    Metabase names each column twice (`name` and `display_name`): the rows are keyed by the display
    name and `aliases` maps the other name to it, so one column stays one value (`column:` and
    `extract` still accept either name).
    """

    def __init__(self, rows: list[dict[str, Any]], aliases: Optional[dict[str, str]] = None):
        super().__init__(rows)
        self.aliases = dict(aliases or {})


def _aliases(rows: list[dict[str, Any]]) -> dict[str, str]:
    return getattr(rows, "aliases", {})


def _describe_columns(rows: list[dict[str, Any]]) -> str:
    others: dict[str, list[str]] = {}
    for alias, key in _aliases(rows).items():
        others.setdefault(key, []).append(alias)
    return ", ".join(f"{key} ({', '.join(others[key])})" if key in others else key for key in rows[0])


def column_value(rows: list[dict[str, Any]], column: str) -> list[Any]:
    """The values of a column; Power BI's 'Table[Column]' keys also match 'Column' and '[Column]'."""
    if not rows:
        return []
    keys = list(rows[0])
    if column not in keys:
        column = _aliases(rows).get(column, column)
    if column not in keys:
        matches = [k for k in keys if k.endswith(f"[{column.strip('[]')}]")]
        if len(matches) != 1:
            raise SourceError(f"column {column!r} is not in the result; it has {_describe_columns(rows)}")
        column = matches[0]
    return [row.get(column) for row in rows]


def extract_document(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """{"rows": [...]} for a JMESPath `extract`: each column under every name it answers to."""
    aliases = _aliases(rows)
    if not aliases:
        return {"rows": list(rows)}
    return {"rows": [{**row, **{alias: row[key] for alias, key in aliases.items() if key in row and alias not in row}}
                     for row in rows]}


def pick(rows: list[dict[str, Any]], query: TableQuery, what: str) -> float:
    """One number from a result table, as the query's column/agg or extract says."""
    if query.extract:
        return extract(query.extract, extract_document(rows), what)
    if query.agg == "count":
        return float(len(rows))
    if not rows:
        raise SourceError(f"{what} returned no rows")
    if query.column:
        try:
            values = column_value(rows, query.column)
        except SourceError as exc:
            raise SourceError(f"{what}: {exc}") from None
    else:
        columns = list(rows[0])
        if len(columns) != 1:
            raise SourceError(f"{what} returned {len(columns)} columns ({_describe_columns(rows)}); name one with column")
        values = [row[columns[0]] for row in rows]
    if query.agg == "single":
        if len(values) != 1:
            raise SourceError(f"{what} returned {len(values)} rows; set agg (first, last, sum, mean, min, max) or filter to one row")
        return as_number(values[0], what)
    if query.agg in ("first", "last"):
        return as_number(values[0] if query.agg == "first" else values[-1], what)
    numbers = [as_number(v, what) for v in values if v is not None]
    if not numbers:
        raise SourceError(f"{what}: column {query.column!r} is empty")
    return float({"sum": sum, "mean": statistics.fmean, "min": min, "max": max}[query.agg](numbers))


class _TableConnector:
    """Shared fetch loop: build each query's request, send each distinct one once, pick the value."""

    settings: Any

    def __init__(self, name: str, settings: Any, context: Context, session: Optional[requests.Session] = None):
        self.name, self.settings, self.context = name, settings, context
        self.client = HttpClient(name, settings, session, auth_hint=self.auth_hint())

    def auth_hint(self) -> str:
        return "check the credentials in the env vars named in the config"

    def prepare(self) -> None:
        """Set auth headers on the session (once per sync)."""

    def request(self, query: Any, variables: dict[str, str]) -> tuple[str, str, Any]:
        raise NotImplementedError

    def rows(self, document: Any, query: Any, what: str) -> list[dict[str, Any]]:
        raise NotImplementedError

    def describe(self, query: Any) -> str:
        raise NotImplementedError

    def template(self, query: Any) -> Any:
        """The templated parts of a query's request ({start}, {end}, {as_of}, {period} are filled in there)."""
        return None

    def as_of_refusal(self, query: Any) -> Optional[SourceError]:
        """The error for a query that cannot be evaluated as of a past day, or None when it can."""
        if templated(self.template(query)):
            return None
        return not_as_of(self.name, self.describe(query), NO_AS_OF, self.as_of_todo())

    def as_of_todo(self) -> str:
        return "pass the day to the query as a parameter, e.g. {as_of} (or {end}), if it can answer for a past day"

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        results: dict[Query, Result] = {}
        if period.as_of is not None:  # as of a past day: only a request carrying {end} or {as_of} can answer for it
            for query in queries:
                refusal = self.as_of_refusal(query.spec)
                if refusal is not None:
                    results[query] = refusal
            queries = [query for query in queries if query not in results]
            if not queries:
                return results
        self.prepare()
        variables = period_variables(period, evaluated_day(period, now))
        documents: dict[str, Any] = {}
        for query in queries:
            spec = query.spec
            method, url, body = self.request(spec, variables)
            key = json.dumps([method, url, body], sort_keys=True, default=str)
            what = f"source {self.name!r}: {self.describe(spec)}"
            try:
                if key not in documents:
                    try:
                        documents[key] = self.client.json(method, url, body=body, accept=self.accepts)
                    except SourceError as exc:
                        documents[key] = exc
                document = documents[key]
                if isinstance(document, SourceError):
                    raise document
                value = pick(self.rows(document, spec, what), spec, what)
            except SourceError as exc:
                results[query] = exc
                continue
            results[query] = Observation(value, now, self.name, self.describe(spec))
        return results

    @staticmethod
    def accepts(status: int) -> bool:
        return status < 300

    def close(self) -> None:
        self.client.close()


class MetabaseConnector(_TableConnector):
    """POST /api/card/{id}/query with the x-api-key header; a failed query (HTTP 202, status failed) is an error."""

    settings: MetabaseSource

    def auth_hint(self) -> str:
        return f"check the API key in {self.settings.credential_name('api_key')} and that its group may see the card"

    def prepare(self) -> None:
        self.client.session.headers["x-api-key"] = self.context.credential(self.settings, "api_key", f"source {self.name!r} API key")

    def request(self, query: MetabaseQuery, variables: dict[str, str]) -> tuple[str, str, Any]:
        return "POST", f"{self.settings.url}/api/card/{query.card}/query", {"parameters": fill(query.parameters, variables)}

    def describe(self, query: MetabaseQuery) -> str:
        return f"card {query.card}"

    def template(self, query: MetabaseQuery) -> Any:
        return query.parameters

    def as_of_todo(self) -> str:
        return ("give the question a date parameter and set it, e.g. {type: date/single, target: [variable, [template-tag, to]], "
                "value: \"{as_of}\"} (or {end})")

    def rows(self, document: Any, query: MetabaseQuery, what: str) -> list[dict[str, Any]]:
        if not isinstance(document, dict):
            raise SourceError(f"{what}: unexpected answer from Metabase")
        if document.get("status") == "failed" or document.get("error"):
            raise SourceError(f"{what} failed in Metabase: {str(document.get('error') or 'status failed')[:200]}")
        data = document.get("data") or {}
        cols, raw = data.get("cols") or [], data.get("rows") or []
        if query.extract or query.agg not in ("single", "first"):  # the value combines rows: all of them must be there
            if len(raw) >= METABASE_ROW_CAP or data.get("rows_truncated"):
                raise SourceError(f"{what} hit Metabase's {METABASE_ROW_CAP}-row cap, so the result is cut off; "
                                  "aggregate in the question (summarize) instead of combining rows here")
        # one key per column: its display name (its name when the display name is missing or taken);
        # the column's other name is an alias, so a one-column card is one value
        keys: list[str] = []
        for i, col in enumerate(cols):
            display, name = col.get("display_name"), col.get("name")
            key = next((k for k in (display, name) if k and k not in keys), None) or f"column {i + 1}"
            keys.append(key)
        aliases: dict[str, str] = {}
        ambiguous: set[str] = set()
        for key, col in zip(keys, cols):
            for other in {col.get("name"), col.get("display_name")} - {None, "", key}:
                if other in keys:
                    continue
                if other in aliases and aliases[other] != key:
                    ambiguous.add(other)
                aliases[other] = key
        return ResultRows([dict(zip(keys, row)) for row in raw], {a: k for a, k in aliases.items() if a not in ambiguous})


class PowerBIConnector(_TableConnector):
    """POST datasets/{id}/executeQueries with a bearer token; an `error` in a 200 answer is an error."""

    settings: PowerBISource

    def auth_hint(self) -> str:
        return f"the token in {self.settings.credential_name('token')} is missing, expired or lacks Dataset.Read.All / build permission"

    def prepare(self) -> None:
        token = self.context.credential(self.settings, "token", f"source {self.name!r} access token")
        self.client.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, query: PowerBIQuery, variables: dict[str, str]) -> tuple[str, str, Any]:
        group = f"/groups/{self.settings.group}" if self.settings.group else ""
        body = {"queries": [{"query": fill(query.dax, variables)}], "serializerSettings": {"includeNulls": True}}
        return "POST", f"{self.settings.url}{group}/datasets/{query.dataset}/executeQueries", body

    @staticmethod
    def accepts(status: int) -> bool:
        return status < 300 or status == 400  # a bad DAX query is a 400 whose body says what is wrong

    def describe(self, query: PowerBIQuery) -> str:
        return f"dataset {query.dataset} DAX {' '.join(query.dax.split())[:120]}"

    def template(self, query: PowerBIQuery) -> Any:
        return query.dax

    def as_of_todo(self) -> str:
        return "filter the DAX by the day, e.g. DATESBETWEEN('Date'[Date], DATEVALUE(\"{start}\"), DATEVALUE(\"{as_of}\")) (or {end})"

    def rows(self, document: Any, query: PowerBIQuery, what: str) -> list[dict[str, Any]]:
        if not isinstance(document, dict):
            raise SourceError(f"{what}: unexpected answer from Power BI")
        error = document.get("error")
        results = document.get("results") or []
        if not error and results and isinstance(results[0], dict):
            error = results[0].get("error")
            tables = results[0].get("tables") or []
            if not error and tables and isinstance(tables[0], dict):
                error = tables[0].get("error")
        if error:
            raise SourceError(f"{what} failed in Power BI: {_pbi_error(error)}")
        try:
            return list(results[0]["tables"][0]["rows"])
        except (IndexError, KeyError, TypeError):
            raise SourceError(f"{what}: Power BI answered without results[0].tables[0].rows") from None


def _pbi_error(error: Any) -> str:
    """Power BI's error object as one line: its code or message and the first detail (e.g. the DAX syntax error)."""
    if not isinstance(error, dict):
        return str(error)[:300]
    pbi = error.get("pbi.error") if isinstance(error.get("pbi.error"), dict) else {}
    text = error.get("message") or error.get("code") or pbi.get("code") or "error"
    details = [(d.get("detail") or {}).get("value") for d in pbi.get("details", []) if isinstance(d, dict)]
    detail = next((d for d in details if d), "")
    return f"{text}{': ' + detail if detail else ''}"[:300]


class SupersetConnector(_TableConnector):
    """GET /api/v1/chart/{id}/data/ with a bearer token from /api/v1/security/login (or a token env var)."""

    settings: SupersetSource

    def auth_hint(self) -> str:
        s = self.settings
        if s.has_credential("token"):
            used = s.credential_name("token")
        elif s.username_env and s.password_env:
            used = f"env vars {s.username_env}/{s.password_env}"
        else:
            used = f"{s.credential_name('username')} and {s.credential_name('password')}"
        return f"check the credentials in {used} and that the user may read the chart"

    def prepare(self) -> None:
        s = self.settings
        if s.has_credential("token"):
            token = self.context.credential(s, "token", f"source {self.name!r} access token")
        else:
            login = {"username": self.context.credential(s, "username", f"source {self.name!r} user"),
                     "password": self.context.credential(s, "password", f"source {self.name!r} password"),
                     "provider": s.provider, "refresh": False}
            answer = self.client.json("POST", f"{s.url}/api/v1/security/login", body=login)
            token = answer.get("access_token") if isinstance(answer, dict) else None
            if not token:
                raise SourceError(f"source {self.name!r}: Superset login answered without an access_token")
        self.client.session.headers["Authorization"] = f"Bearer {token}"

    def request(self, query: SupersetQuery, variables: dict[str, str]) -> tuple[str, str, Any]:
        return "GET", f"{self.settings.url}/api/v1/chart/{query.chart}/data/?format=json&type=full", None

    def describe(self, query: SupersetQuery) -> str:
        return f"chart {query.chart}"

    def as_of_refusal(self, query: SupersetQuery) -> Optional[SourceError]:
        """A chart's data uses the chart's own time range; the request cannot carry a day."""
        return not_as_of(self.name, self.describe(query), "the chart uses its own time range, and the request has no {end} or {as_of} parameter",
                         "read the same numbers through a source that takes the day (sql, rest), or leave this KR out of as-of runs")

    def rows(self, document: Any, query: SupersetQuery, what: str) -> list[dict[str, Any]]:
        results = document.get("result") if isinstance(document, dict) else None
        if not isinstance(results, list) or len(results) <= query.result:
            raise SourceError(f"{what}: Superset answered without result[{query.result}]")
        entry = results[query.result]
        if entry.get("error") or entry.get("status") in ("failed", "error", "timed_out"):
            raise SourceError(f"{what} failed in Superset: {str(entry.get('error') or entry.get('status'))[:200]}")
        data = entry.get("data")
        if not isinstance(data, list):
            raise SourceError(f"{what}: Superset result has no data rows")
        return data
