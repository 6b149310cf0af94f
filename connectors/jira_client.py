"""Talking to Jira through the `jira` library: building the client, bounded retries, and errors a user can act on.

The library's ResilientSession retries 429/503 itself but may sleep less than Retry-After asks
(it halves/jitters and caps the delay), so it is built with `max_retries=0` and `JiraCaller.call`
retries instead: it never sleeps less than the server asked, gives up after `retries`, and its
`sleep` is injectable so tests can assert the waits. `str(JIRAError)` contains the request
headers (the Authorization header!), so errors are rebuilt from the status and Jira's own
`errorMessages`, never from the exception text.
"""
from __future__ import annotations

import email.utils
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Optional, TypeVar

import requests
from jira import JIRA, JIRAError
from jira.resilientsession import parse_errors

from connectors.base import Context, RetriableError, SourceError
from connectors.redaction import remember_basic_auth, scrub
from mapping.sources.jira import JiraSource

log = logging.getLogger("okr_sync.jira")
T = TypeVar("T")

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_SECONDS = 1.0  # first wait when the server names none; doubles on every retry


class JiraAuthError(SourceError):
    """401/403: the credentials are wrong, expired or lack permission."""


class JiraQueryError(SourceError):
    """400: Jira rejected the JQL (its own message is included)."""


class JiraSearchGoneError(SourceError):
    """410 Gone from a search endpoint: Jira Cloud removed /rest/api/2/search (CHANGE-2046)."""


class JiraRateLimitError(SourceError):
    """Still rate limited after every retry, or asked to wait longer than allowed."""


class JiraUnavailableError(RetriableError):
    """Jira could not be reached or kept answering 5xx; the whole batch may be retried later."""


class MemoJIRA(JIRA):
    """A JIRA client whose field list is loaded once: the library's name translation and ours share it."""

    _okr_fields: Optional[list[dict[str, Any]]] = None

    def fields(self) -> list[dict[str, Any]]:
        if self._okr_fields is None:
            self._okr_fields = super().fields()
        return self._okr_fields


def build_client(settings: JiraSource, context: Context) -> MemoJIRA:
    """The library client with auth from env vars, a timeout, no library retries and no server-info request yet."""
    if settings.has_credential("pat"):
        auth: dict[str, Any] = {"token_auth": context.credential(settings, "pat", "Jira personal access token")}
    else:
        auth = {"basic_auth": (context.credential(settings, "email", "Jira account email"),
                               context.credential(settings, "token", "Jira API token"))}
        remember_basic_auth(*auth["basic_auth"])
    return MemoJIRA(server=settings.url, options={"check_update": False}, get_server_info=False,
                    max_retries=0, timeout=settings.timeout_seconds, logging=False, **auth)


def retry_after_seconds(response: Optional[requests.Response], now: Optional[datetime] = None) -> Optional[float]:
    """How long the server asked us to wait: Retry-After (seconds or HTTP date), else X-RateLimit-Reset (ISO time)."""
    if response is None:
        return None
    now = now or datetime.now(timezone.utc)
    header = response.headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header.strip()))
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(header)
                return max(0.0, (when - now).total_seconds())
            except (TypeError, ValueError):
                pass
    reset = response.headers.get("X-RateLimit-Reset")
    if reset:
        try:
            when = datetime.fromisoformat(reset.strip().replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            return max(0.0, (when - now).total_seconds())
        except ValueError:
            return None
    return None


def jira_says(exc: JIRAError) -> str:
    """Jira's own error messages (errorMessages / errors), one line, bounded."""
    messages: list[str] = []
    response = exc.response
    if response is not None:
        try:
            if "x-authentication-denied-reason" not in response.headers:
                response.json()  # Jira says what went wrong in JSON; another body is a proxy's page, maybe echoing the request
            messages = [m for m in parse_errors(response) if m]
        except Exception:  # noqa: BLE001 - an unparsable body just means no message from Jira
            messages = ["not Jira's JSON error (a proxy, gateway or single sign-on page may be answering)"] if response.text.strip() else []
    text = "; ".join(" ".join(str(m).split()) for m in messages)
    return scrub(text[:500])


def translate(exc: JIRAError, settings: JiraSource, what: str) -> SourceError:
    """A JIRAError as an error that says what happened and what to do (never the request headers)."""
    status = exc.status_code
    said = jira_says(exc)
    path = ""
    if exc.url:
        path = str(exc.url).split("?")[0].removeprefix(settings.url)
    if status == 400:
        return JiraQueryError(f"Jira rejected {what}: {said or 'Bad Request'}")
    if status == 401:
        return JiraAuthError(f"Jira answered 401 Unauthorized for {path}: {settings.auth_hint()}")
    if status == 403:
        detail = f" ({said})" if said else ""
        return JiraAuthError(f"Jira answered 403 Forbidden for {path}{detail}: the account lacks permission "
                             f"(e.g. Browse projects) or must solve a CAPTCHA after failed logins; {settings.auth_hint()}")
    if status == 404:
        return SourceError(f"Jira answered 404 Not Found for {path}: check url {settings.url} "
                           "(a Data Center instance may need its context path, e.g. https://host/jira)")
    if status == 410:
        return JiraSearchGoneError(
            f"Jira answered 410 Gone for {path}: this is Jira Cloud, which removed the search API "
            "/rest/api/2/search (Atlassian CHANGE-2046) in favour of /search/jql and /search/approximate-count; "
            "remove 'deployment: datacenter' from the source (or set deployment: cloud) so okr-sync uses the new API")
    if status is None:
        return SourceError(f"Jira request for {what} failed: {said or 'no response'}")
    return SourceError(f"Jira answered HTTP {status} for {path}{': ' + said if said else ''}")


class JiraCaller:
    """Runs library calls with bounded retries that honour Retry-After; remembers an auth failure so no more requests are sent."""

    def __init__(self, settings: JiraSource, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)):
        self.settings, self.sleep, self.clock = settings, sleep, clock
        self._fatal: Optional[SourceError] = None
        self._lock = threading.Lock()
        self.waits: list[float] = []  # every sleep, in order (for logs and tests)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """`fn()`, retried on 429/502/503/504 and connection errors; any other failure becomes a SourceError."""
        settings = self.settings
        for attempt in range(settings.retries + 1):
            if self._fatal is not None:
                raise type(self._fatal)(str(self._fatal))
            asked: Optional[float] = None
            try:
                return fn()
            except JIRAError as exc:
                if exc.status_code not in RETRY_STATUSES:
                    error = translate(exc, settings, what)
                    if isinstance(error, JiraAuthError):
                        with self._lock:
                            self._fatal = self._fatal or error
                    raise error from None
                asked = retry_after_seconds(exc.response, self.clock())
                problem = f"HTTP {exc.status_code}" + (f" ({jira_says(exc)})" if jira_says(exc) else "")
            except requests.Timeout:
                problem = f"no answer within {settings.timeout_seconds:g}s"
            except requests.ConnectionError as exc:
                problem = f"cannot connect ({type(exc).__name__})"
            except ValueError:
                raise SourceError(f"Jira's answer to {what} is not JSON; check url {settings.url} "
                                  "(a proxy or single sign-on page may be answering instead of Jira)") from None
            if asked is not None and asked > settings.max_retry_wait_seconds:
                raise JiraRateLimitError(
                    f"Jira answered {problem} and asked to wait {asked:g}s before retrying, more than "
                    f"max_retry_wait_seconds={settings.max_retry_wait_seconds:g}; the KR keeps its last value until the next sync")
            if attempt == settings.retries:
                if problem.startswith("HTTP 429"):
                    raise JiraRateLimitError(f"Jira kept answering {problem} to {what} after {settings.retries} retries; "
                                             "lower the source's concurrency or sync less often") from None
                raise JiraUnavailableError(f"Jira kept failing ({problem}) for {what} after {settings.retries} retries",
                                           retry_after=asked) from None
            wait = asked if asked is not None else BACKOFF_SECONDS * 2 ** attempt
            log.warning("Jira %s for %s; retry %d/%d in %.1fs", scrub(problem), what, attempt + 1, settings.retries, wait)
            with self._lock:
                self.waits.append(wait)
            self.sleep(wait)
        raise AssertionError("unreachable")
