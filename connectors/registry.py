"""Which connector class serves which source kind (imported only when a source of that kind is used)."""
from __future__ import annotations

import importlib
import math
from datetime import datetime
from typing import Any, Sequence

from pydantic import BaseModel

from connectors.base import Connector, Context, Result, SourceError, source_message
from connectors.redaction import scrub_error
from mapping.config import Query
from mapping.period import Period

CONNECTORS: dict[str, str] = {
    "sql": "connectors.sql:SqlConnector",
    "file": "connectors.file:FileConnector",
    "jira": "connectors.jira:JiraConnector",
    "sheets": "connectors.sheets_source:SheetsConnector",
    "rest": "connectors.rest:RestConnector",
    "metabase": "connectors.bi_presets:MetabaseConnector",
    "powerbi": "connectors.bi_presets:PowerBIConnector",
    "superset": "connectors.bi_presets:SupersetConnector",
}


def open_connector(name: str, settings: BaseModel, context: Context) -> Connector:
    """Build the connector for one configured source; every error it reports is scrubbed (see connectors.redaction)."""
    module, cls = CONNECTORS[settings.kind].split(":")  # type: ignore[attr-defined]
    try:
        return Scrubbed(getattr(importlib.import_module(module), cls)(name, settings, context))
    except Exception as exc:
        scrub_error(exc)
        raise


class Scrubbed:
    """A connector whose errors (raised, or answered per query) carry no secret and no terminal control codes, and
    whose values are finite numbers (a NaN or an infinity is that query's error, never a score)."""

    def __init__(self, inner: Connector):
        self.inner = inner

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        try:
            answers = self.inner.fetch(queries, period, now)
        except Exception as exc:
            scrub_error(exc)
            raise
        for query, answer in answers.items():
            if isinstance(answer, Exception):
                scrub_error(answer)
            elif not _finite(answer):
                answers[query] = SourceError(source_message(getattr(self.inner, "name", query.source),
                                                            f"the query answered {answer.value}, not a finite number; make it return a real value"))
        return answers

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, name: str) -> Any:  # what a connector offers besides fetch (access_report, ...)
        return getattr(self.inner, name)


def _finite(answer: Any) -> bool:
    points = getattr(answer, "points", None) or ()
    return math.isfinite(answer.value) and all(math.isfinite(value) for _, value in points)
