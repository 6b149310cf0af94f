"""The `rest` source and the HTTP plumbing the BI presets share.

One requests Session per source, mounted with urllib3 `Retry` (connection errors, 429 and 5xx are
retried with exponential backoff, honouring Retry-After) and a timeout on every request. Identical
requests within a sync are sent once, however many KRs extract values from the answer.
"""
from __future__ import annotations

import json
import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional, Sequence
from urllib.parse import urljoin

import jmespath
import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from connectors.base import Context, Result, RetriableError, SourceError, count_responses, evaluated_day, not_as_of
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.rest import TEMPLATE, HttpSettings, RestQuery, RestSource
from mapping.values import ValueParseError, parse_number

RETRY_STATUSES = (429, 500, 502, 503, 504)


def make_session(settings: HttpSettings) -> requests.Session:
    """A Session whose adapter retries connection errors, 429 and 5xx, honouring Retry-After."""
    session = requests.Session()
    retry = Retry(total=settings.retries, connect=settings.retries, read=settings.retries, status=settings.retries,
                  backoff_factor=settings.backoff_seconds, status_forcelist=RETRY_STATUSES, allowed_methods=None,
                  respect_retry_after_header=True, raise_on_status=False)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.headers["Accept"] = "application/json"
    session.headers["User-Agent"] = "okr-sync"
    return session


def fill(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace {start}, {end}, {as_of} and {period} in every string of a JSON-like value (other braces are left alone)."""
    if isinstance(value, str):
        return TEMPLATE.sub(lambda m: variables[m.group(1)], value)
    if isinstance(value, list):
        return [fill(item, variables) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, variables) for key, item in value.items()}
    return value


def period_variables(period: Period, as_of: date) -> dict[str, str]:
    """The template values: first and last day of the period (the last clipped in an as-of evaluation), the day evaluated, its name."""
    return {"start": period.start.isoformat(), "end": period.end.isoformat(), "as_of": as_of.isoformat(), "period": period.name}


def templated(value: Any, names: tuple[str, ...] = ("end", "as_of")) -> bool:
    """Does any string of a JSON-like value (as `fill` walks it) hold one of these template names?"""
    if isinstance(value, str):
        return any(match.group(1) in names for match in TEMPLATE.finditer(value))
    if isinstance(value, list):
        return any(templated(item, names) for item in value)
    if isinstance(value, dict):
        return any(templated(item, names) for item in value.values())
    return False


NO_AS_OF = "the request has no {end} or {as_of} parameter"


def as_number(value: Any, what: str) -> float:
    """An extracted JSON value as a float: numbers, or text like '12.5%' / '1,234'; anything else says what it got."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        shown = json.dumps(value)[:60]
        hint = "; aggregate it, e.g. sum(...) or [0]" if isinstance(value, list) else ""
        raise SourceError(f"{what} gave {shown}, not a number{hint}")
    if isinstance(value, (int, float, Decimal)):
        number = float(value)
    else:
        try:
            number = parse_number(value)
        except ValueParseError as exc:
            raise SourceError(f"{what} gave {str(value)[:40]!r}, not a number ({exc})") from None
    if not math.isfinite(number):
        raise SourceError(f"{what} gave {number}, not a finite number")
    return number


def extract(expression: str, document: Any, what: str) -> float:
    """Evaluate a JMESPath on a JSON document and insist on one number."""
    try:
        value = jmespath.search(expression, document)
    except jmespath.exceptions.JMESPathError as exc:
        raise SourceError(f"{what}: extract {expression!r} failed: {str(exc).splitlines()[0]}") from None
    if value is None:
        raise SourceError(f"{what}: extract {expression!r} found nothing; check the path against the API's answer")
    return as_number(value, f"{what}: extract {expression!r}")


class HttpClient:
    """Sends requests for one source and turns HTTP failures into SourceError (fix the config) or RetriableError (try later)."""

    def __init__(self, name: str, settings: HttpSettings, session: Optional[requests.Session] = None,
                 auth_hint: str = "check the credentials in the env vars named in the config"):
        self.name, self.settings = name, settings
        self.session = session or make_session(settings)
        count_responses(self.session, name)
        self.auth_hint = auth_hint

    def json(self, method: str, url: str, *, params: Optional[Mapping[str, Any]] = None, body: Any = None,
             headers: Optional[Mapping[str, str]] = None, accept: Callable[[int], bool] = lambda status: status < 300) -> Any:
        """One request's JSON answer; statuses `accept` allows are returned, others raise."""
        where = f"source {self.name!r}: {method} {url.split('?')[0]}"
        try:
            response = self.session.request(method, url, params=params, json=body, headers=headers,
                                            timeout=self.settings.timeout_seconds)
        except requests.exceptions.RetryError as exc:
            raise RetriableError(f"{where} kept failing after {self.settings.retries} retries: {type(exc).__name__}") from None
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise RetriableError(f"{where} failed: {type(exc).__name__} (after {self.settings.retries} retries, "
                                 f"timeout {self.settings.timeout_seconds:g} s)") from None
        status = response.status_code
        if status in RETRY_STATUSES:
            raise RetriableError(f"{where} answered HTTP {status} after {self.settings.retries} retries",
                                 retry_after=_retry_after(response))
        if status in (401, 403):
            raise SourceError(f"{where} answered HTTP {status} ({'unauthorised' if status == 401 else 'forbidden'}): {self.auth_hint}")
        if not accept(status):
            raise SourceError(f"{where} answered HTTP {status}: {_snippet(response)}")
        try:
            return response.json()
        except ValueError:
            raise SourceError(f"{where} answered HTTP {status} with something that is not JSON: {_snippet(response)}") from None

    def close(self) -> None:
        self.session.close()


def _retry_after(response: requests.Response) -> Optional[float]:
    value = response.headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _snippet(response: requests.Response) -> str:
    text = " ".join(response.text.split())
    return (text[:200] + "...") if len(text) > 200 else (text or "(empty body)")


def _at(document: Any, dotted: str) -> Any:
    for key in dotted.split("."):
        document = document.get(key) if isinstance(document, dict) else None
    return document


def _set_at(document: Any, dotted: str, value: Any) -> Any:
    """A copy of the document with the list at `dotted` replaced (the shape extraction expects)."""
    keys = dotted.split(".")
    root = dict(document) if isinstance(document, dict) else {}
    node = root
    for key in keys[:-1]:
        node[key] = dict(node.get(key) or {}) if isinstance(node.get(key), dict) else {}
        node = node[key]
    node[keys[-1]] = value
    return root


class RestConnector:
    """Answers `rest` queries: each distinct request (with its pages) once, then one JMESPath per query."""

    def __init__(self, name: str, settings: RestSource, context: Context, session: Optional[requests.Session] = None):
        self.name, self.settings, self.context = name, settings, context
        self.client = HttpClient(name, settings, session, auth_hint=self._auth_hint())

    def _auth_hint(self) -> str:
        names = [self.settings.credential_name(key) for key in ("token", "username", "password", "api_key") if self.settings.has_credential(key)]
        return f"check the credentials in {', '.join(names)}" if names else "the API needs credentials: set auth and its *_env"

    def _auth(self) -> tuple[dict[str, str], Optional[tuple[str, str]]]:
        s, secret = self.settings, self.context.credential
        what = f"source {self.name!r}"
        if s.auth == "bearer":
            return {"Authorization": f"Bearer {secret(s, 'token', what + ' token')}"}, None
        if s.auth == "api_key":
            return {s.api_key_header: secret(s, 'api_key', what + ' API key')}, None
        if s.auth == "basic":
            return {}, (secret(s, 'username', what + ' user'), secret(s, 'password', what + ' password'))
        return {}, None

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        results: dict[Query, Result] = {}
        if period.as_of is not None:  # as of a past day: only a request carrying {end} or {as_of} can answer for it
            for query in queries:
                spec = query.spec
                if not templated([spec.path, spec.params, spec.body]):
                    results[query] = not_as_of(self.name, f"request {spec.method} {spec.path or '/'}", NO_AS_OF,
                                               "pass the day to the API, e.g. params: {to: \"{as_of}\"} (or {end}), if it can answer for a past day")
            queries = [query for query in queries if query not in results]
            if not queries:
                return results
        headers, basic = self._auth()
        self.client.session.headers.update(self.settings.headers)
        self.client.session.headers.update(headers)
        self.client.session.auth = basic
        variables = period_variables(period, evaluated_day(period, now))
        documents: dict[str, Any] = {}
        for query in queries:
            spec: RestQuery = query.spec
            request = {"method": spec.method, "path": fill(spec.path, variables), "params": fill(spec.params, variables),
                       "body": fill(spec.body, variables), "paginate": spec.paginate.model_dump() if spec.paginate else None}
            key = json.dumps(request, sort_keys=True, default=str)
            try:
                if key not in documents:
                    documents[key] = self._document(spec, request)
                document = documents[key]
                if isinstance(document, SourceError):
                    raise document
                value = extract(spec.extract, document, f"source {self.name!r}")
            except SourceError as exc:
                documents.setdefault(key, exc)
                results[query] = exc
                continue
            results[query] = Observation(value, now, self.name, f"{spec.method} {request['path']} | {spec.extract}")
        return results

    def _url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            raise SourceError(f"source {self.name!r}: path {path!r} is a full URL; give the part after base_url")
        return self.settings.base_url + ("/" + path.lstrip("/") if path else "")

    def _document(self, spec: RestQuery, request: dict) -> Any:
        url = self._url(request["path"])
        if spec.paginate is None:
            return self.client.json(spec.method, url, params=request["params"], body=request["body"])
        return self._pages(spec, url, request)

    def _pages(self, spec: RestQuery, url: str, request: dict) -> Any:
        """Every page's items joined into the first page's document (at the same path)."""
        pager = spec.paginate
        assert pager is not None
        params = dict(request["params"])
        if pager.size_param:
            params[pager.size_param] = pager.size
        counter = pager.param or ("page" if pager.style == "page" else "offset")
        position = pager.first if pager.style == "page" else 0
        if pager.style != "next":
            params[counter] = position
        first, items, seen = None, [], set()
        next_url: Optional[str] = url
        for page_number in range(1, pager.max_pages + 1):
            page = self.client.json(spec.method, next_url or url, params=params, body=request["body"])
            first = page if first is None else first
            chunk = _at(page, pager.items)
            if chunk is None:
                chunk = []
            if not isinstance(chunk, list):
                raise SourceError(f"source {self.name!r}: paginate.items {pager.items!r} is {type(chunk).__name__}, not a list, on page {page_number}")
            items.extend(chunk)
            if pager.style == "next":
                token = jmespath.search(pager.next, page) if isinstance(page, (dict, list)) else None
                if token in (None, "", []):
                    break
                token = str(token)
                if token in seen:
                    raise SourceError(f"source {self.name!r}: the API returned the next-page token {token[:60]!r} twice; "
                                      "it is paging in a loop, stopped (check paginate.next)")
                seen.add(token)
                if pager.cursor_param:
                    params[pager.cursor_param] = token
                else:
                    next_url, params = urljoin(next_url or url, token), {}  # a next link carries its own query
            else:
                if len(chunk) < pager.size:
                    break
                position += 1 if pager.style == "page" else pager.size
                params[counter] = position
        else:
            raise SourceError(f"source {self.name!r}: more than {pager.max_pages} pages; raise paginate.max_pages or filter in the request")
        return _set_at(first, pager.items, items)

    def close(self) -> None:
        self.client.close()
