"""The connector contract: answer a batch of queries of one source, one result or error per query."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, Union

from connectors.redaction import remember_secret
from mapping.config import Query
from mapping.errors import OkrSyncError
from mapping.period import Period
from mapping.results import Observation


_REQUESTS: dict[str, int] = {}
_REQUESTS_LOCK = threading.Lock()


def count_request(source: str, n: int = 1) -> None:
    """Note `n` requests (HTTP calls, SQL statements, file reads) sent for `source` in this process (for its log line)."""
    with _REQUESTS_LOCK:
        _REQUESTS[source] = _REQUESTS.get(source, 0) + n


def requests_made(source: str) -> int:
    """How many requests were counted for `source` in this process so far."""
    with _REQUESTS_LOCK:
        return _REQUESTS.get(source, 0)


def count_responses(session: Any, source: str) -> None:
    """Count every HTTP response a requests Session receives for `source` (retries included)."""
    hooks = getattr(session, "hooks", None)
    if isinstance(hooks, dict):
        hooks.setdefault("response", []).append(lambda response, *args, **kwargs: count_request(source))


class SourceError(OkrSyncError):
    """A query failed in a way retrying will not fix (bad query, 401/403, missing cell, non-numeric value)."""


class NotAsOfError(SourceError):
    """A query that cannot be evaluated as of a past day (its answer would be today's); the service was not asked."""


AS_OF_PHRASE = "cannot be evaluated as of a past day:"


def not_as_of(source: str, what: str, reason: str, todo: str) -> NotAsOfError:
    """The per-query error of an as-of evaluation the source cannot answer: what, why, and what to do."""
    return NotAsOfError(f"source {source!r}: {what} {AS_OF_PHRASE} {reason}; {todo}")


def source_message(source: str, text: str) -> str:
    """`text` as a line naming its source exactly once: "source 'x': ..." (a prefix already inside is dropped)."""
    prefix = f"source {source!r}: "
    return prefix + text.replace(prefix, "")


def refuse_undated(queries: Sequence[Query], period: Period,
                   refusal: Callable[[Query], SourceError]) -> tuple[list[Query], dict[Query, Result]]:
    """As of a past day, split off the queries without a `date_column` (they only hold today's value):
    (queries to run, refusals). Outside an as-of evaluation every query runs."""
    if period.as_of is None:
        return list(queries), {}
    refused: dict[Query, Result] = {q: refusal(q) for q in queries if not q.spec.date_column}
    return [q for q in queries if q not in refused], refused


def evaluated_day(period: Period, now: datetime) -> date:
    """The day a fetch answers for: `period.as_of` in an as-of evaluation, else the day of `now`."""
    return period.as_of if period.as_of is not None else now.date()


class RetriableError(OkrSyncError):
    """The source could not answer now (unreachable, 429, 5xx, timeout); the batch is retried with backoff.

    `retry_after` is the delay in seconds the source asked for, when it said one.
    """

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


Result = Union[Observation, SourceError]


@dataclass(frozen=True)
class Context:
    """What a connector may need besides its own settings."""

    base_dir: Path = Path(".")
    env: Mapping[str, str] = field(default_factory=lambda: os.environ, repr=False)  # holds secrets: never printed

    def resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def secret(self, name: str, what: str) -> str:
        """The value of an env var named in the config; a clear error if unset."""
        value = self.env.get(name)
        if not value:
            raise SourceError(f"environment variable {name} ({what}) is not set; export it before running")
        remember_secret(value)
        return value

    def credential(self, settings: object, key: str, what: str) -> str:
        """A credential of a source: the Prefect Secret block `<key>_secret` names, else the env var `<key>_env` names."""
        block = getattr(settings, f"{key}_secret", None)
        if block:
            return secret_block(block, what)
        return self.secret(getattr(settings, f"{key}_env", None) or "", what)


def secret_block(name: str, what: str) -> str:
    """The value of a Prefect Secret block (read from the Prefect API at run time); one clear line if it cannot be read."""
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(name).get()
    except Exception as exc:  # noqa: BLE001 - no block, no API, wrong block type: say which and what to do
        raise SourceError(f"cannot read Prefect Secret block {name!r} ({what}): {type(exc).__name__}; create it with "
                          f"`prefect block create secret` (or Secret(value=...).save({name!r})) and check PREFECT_API_URL") from None
    if not isinstance(value, str):
        import json

        value = json.dumps(value)
    if not value:
        raise SourceError(f"Prefect Secret block {name!r} ({what}) is empty")
    remember_secret(value)
    return value


class Connector(Protocol):
    """A source: `fetch` answers every query (an Observation or a SourceError), or raises RetriableError for the whole batch."""

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]: ...

    def close(self) -> None: ...
