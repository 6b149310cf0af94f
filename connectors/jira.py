"""The `jira` source: KR values from JQL on Jira Cloud or Jira Data Center, with as few requests as possible.

One fetch:
1. serverInfo (skipped when `deployment` is set, or when no query is left to ask) tells Cloud from Data Center;
2. every JQL is rendered from its template with the period's values (as of a past day, a template
   using relative dates or not bounded by {end}/{as_of} is refused first, and Jira is not asked);
3. the distinct HTTP work is planned: one count per distinct JQL (Cloud approximate-count, Data
   Center total of a one-issue search), one paged listing per distinct JQL that needs issue
   fields (with the union of the fields its measures need); the field list is loaded once;
4. that work runs in a thread pool bounded by `concurrency`;
5. each KR query's value is computed from the shared answers; a failing request fails only
   the queries that needed it.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from connectors.base import Context, Result, RetriableError, SourceError, count_responses, evaluated_day, not_as_of, source_message
from connectors.jira_client import JiraCaller, MemoJIRA, build_client
from connectors.jira_measures import (DATE_TYPES, NUMBER_TYPES, FieldCatalog, JiraField, aggregate, durations,
                                      sum_field)
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.jira import DURATION_MEASURES, JiraQuery, JiraSource, as_of_obstacle, render_jql, template_values

log = logging.getLogger("okr_sync.jira")

Answer = Union[Any, SourceError]


class JiraPagingError(SourceError):
    """Jira handed out a page token it had already given (the listing would never end)."""


class TooManyIssuesError(SourceError):
    """A sum/duration JQL matched more issues than `max_issues`."""


class EmptyDenominatorError(SourceError):
    """A ratio whose denominator JQL matched no issues."""


class NoDurationsError(SourceError):
    """No matching issue has both date fields, so there is no duration to aggregate."""


@dataclass
class Work:
    """The distinct requests of one fetch: counts by JQL and listings by JQL with their fields."""

    counts: set[str] = field(default_factory=set)
    listings: dict[str, set[str]] = field(default_factory=dict)


@dataclass
class Prepared:
    """A KR query after rendering and field resolution (or the error that stopped it)."""

    spec: JiraQuery
    jql: Optional[str] = None
    numerator: Optional[str] = None
    denominator: Optional[str] = None
    field: Optional[JiraField] = None
    start: Optional[JiraField] = None
    end: Optional[JiraField] = None
    error: Optional[SourceError] = None


class JiraConnector:
    """Answers a batch of Jira KR queries; `client_factory` and `sleep` are injectable for tests and benchmarks."""

    def __init__(self, name: str, settings: JiraSource, context: Context,
                 client_factory: Callable[[JiraSource, Context], MemoJIRA] = build_client,
                 sleep: Callable[[float], None] = time.sleep):
        self.name, self.settings, self.context = name, settings, context
        self._client_factory = client_factory
        self.caller = JiraCaller(settings, sleep)
        self._client: Optional[MemoJIRA] = None
        self._catalog: Optional[Union[FieldCatalog, SourceError]] = None
        self._catalog_lock = threading.Lock()
        self.deployment: Optional[str] = None  # "cloud" | "datacenter" once known

    # -- connection -------------------------------------------------------------------------
    def client(self) -> MemoJIRA:
        if self._client is None:
            self._client = self._client_factory(self.settings, self.context)
            count_responses(getattr(self._client, "_session", None), self.name)
        return self._client

    def detect_deployment(self) -> str:
        """cloud or datacenter: from the settings, else from serverInfo's deploymentType."""
        if self.deployment is None:
            client = self.client()
            if self.settings.deployment != "auto":
                self.deployment = self.settings.deployment
            else:
                info = self.caller.call(client.server_info, "serverInfo")
                self.deployment = "cloud" if info.get("deploymentType") == "Cloud" else "datacenter"
            client.deploymentType = "Cloud" if self.deployment == "cloud" else "Server"
        return self.deployment

    def catalog(self) -> FieldCatalog:
        """The instance's field list, fetched at most once per connector (i.e. per sync), even from many threads."""
        with self._catalog_lock:
            if self._catalog is None:
                try:
                    self._catalog = FieldCatalog(self.caller.call(self.client().fields, "the field list"))
                except SourceError as exc:
                    self._catalog = exc
                except RetriableError as exc:
                    self._catalog = SourceError(str(exc))
            if isinstance(self._catalog, SourceError):
                raise self._catalog
            return self._catalog

    # -- the batch --------------------------------------------------------------------------
    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        if not queries:
            return {}
        prepared = {query: self._prepare(query.spec, period, now) for query in queries}
        if all(p.error is not None for p in prepared.values()):  # nothing to ask Jira (e.g. all refused as of a past day)
            return {query: self._for(p, p.error) for query, p in prepared.items()}  # type: ignore[arg-type]
        try:
            self.detect_deployment()
        except RetriableError as exc:
            raise type(exc)(self._prefixed(str(exc)), retry_after=exc.retry_after) from None
        except SourceError as exc:
            raise type(exc)(self._prefixed(str(exc))) from None
        cloud = self.deployment == "cloud"
        needs_fields = any(p.error is None and p.spec.measure not in ("count", "ratio") for p in prepared.values())
        if needs_fields or (not cloud and any(p.error is None for p in prepared.values())):
            try:
                catalog: Optional[FieldCatalog] = self.catalog()
            except SourceError as exc:
                for p in prepared.values():
                    p.error = p.error or exc
                catalog = None
            if catalog is not None:
                for p in prepared.values():
                    if p.error is None:
                        self._resolve_fields(p, catalog)
        work = self._plan(prepared.values())
        answers = self._run(work, cloud)
        until = now if period.as_of is not None else None  # as of a past day: durations must have ended by its end
        return {query: self._answer(p, answers, now, until) for query, p in prepared.items()}

    def _prepare(self, spec: JiraQuery, period: Period, now: datetime) -> Prepared:
        if period.as_of is not None:
            for template in spec.jql_templates():
                reason = as_of_obstacle(template, spec.params)
                if reason:
                    return Prepared(spec, error=not_as_of(
                        self.name, f"JQL {template!r}", reason,
                        "bound it by the period with absolute dates, e.g. created >= {start} AND created <= {end} (or <= {as_of})"))
        values = template_values(period.start, period.end, period.name, spec.params, evaluated_day(period, now))
        try:
            return Prepared(spec, *(render_jql(t, values) if t else None for t in (spec.jql, spec.numerator, spec.denominator)))
        except KeyError as exc:
            return Prepared(spec, error=SourceError(f"JQL uses {{{exc.args[0]}}} but no such template value is defined"))

    def _resolve_fields(self, p: Prepared, catalog: FieldCatalog) -> None:
        spec = p.spec
        try:
            if spec.measure == "sum":
                p.field = catalog.resolve(spec.field or "", NUMBER_TYPES, "measure sum")
            elif spec.measure in DURATION_MEASURES:
                p.start = catalog.resolve(spec.from_field, DATE_TYPES, f"from_field of measure {spec.measure}")
                p.end = catalog.resolve(spec.to_field, DATE_TYPES, f"to_field of measure {spec.measure}")
        except SourceError as exc:
            p.error = exc

    @staticmethod
    def _plan(prepared: Iterable[Prepared]) -> Work:
        """The distinct requests the answerable queries need (same JQL = same request)."""
        work = Work()
        for p in prepared:
            if p.error is not None:
                continue
            measure = p.spec.measure
            if measure == "count":
                work.counts.add(p.jql or "")
            elif measure == "ratio":
                work.counts.update((p.numerator or "", p.denominator or ""))
            elif measure == "sum":
                work.listings.setdefault(p.jql or "", set()).add(p.field.id)  # type: ignore[union-attr]
            else:
                work.listings.setdefault(p.jql or "", set()).update((p.start.id, p.end.id))  # type: ignore[union-attr]
        return work

    def _run(self, work: Work, cloud: bool) -> dict[tuple[str, str], Answer]:
        """Every distinct request, concurrently (bounded); each answer is a value or the SourceError it raised."""
        jobs: list[tuple[tuple[str, str], Callable[[], Any]]] = []
        for jql in sorted(work.counts):
            jobs.append((("count", jql), lambda jql=jql: self._count(jql, cloud)))
        for jql, fields in sorted(work.listings.items()):
            jobs.append((("list", jql), lambda jql=jql, fields=sorted(fields): self._list(jql, fields, cloud)))
        if not jobs:
            return {}

        def guarded(job: Callable[[], Any]) -> Answer:
            try:
                return job()
            except SourceError as exc:
                return exc
            except RetriableError as exc:
                return SourceError(str(exc))
            except Exception as exc:  # noqa: BLE001 - an odd answer fails its queries, not the batch
                log.debug("source %r: unexpected error", self.name, exc_info=True)
                return SourceError(f"unexpected {type(exc).__name__} while reading Jira's answer: {exc}")

        workers = min(self.settings.concurrency, len(jobs))
        if workers == 1:
            return {key: guarded(job) for key, job in jobs}
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"jira-{self.name}") as pool:
            futures = {key: pool.submit(guarded, job) for key, job in jobs}
            return {key: future.result() for key, future in futures.items()}

    # -- requests ---------------------------------------------------------------------------
    def _count(self, jql: str, cloud: bool) -> int:
        """Issues matching the JQL: Cloud approximate-count, Data Center `total` of a one-issue search."""
        client = self.client()
        what = f"JQL {jql!r}"
        if cloud:
            return int(self.caller.call(lambda: client.approximate_issue_count(jql), what))
        page = self.caller.call(lambda: client.search_issues(jql, startAt=0, maxResults=1, fields=["key"],
                                                             json_result=True, use_post=True), what)
        return int(page.get("total", 0))

    def _list(self, jql: str, fields: list[str], cloud: bool) -> list[dict[str, Any]]:
        """Every issue the JQL matches, with only `fields`, in pages of page_size."""
        return self._list_cloud(jql, fields) if cloud else self._list_datacenter(jql, fields)

    def _too_many(self, jql: str, seen: int) -> TooManyIssuesError:
        return TooManyIssuesError(f"JQL {jql!r} matches more than max_issues={self.settings.max_issues} issues "
                                  f"({seen} so far); bound it by the period, e.g. resolved >= {{start}} AND resolved <= {{end}}")

    def _list_cloud(self, jql: str, fields: list[str]) -> list[dict[str, Any]]:
        client, size = self.client(), self.settings.page_size
        issues: list[dict[str, Any]] = []
        tokens: set[str] = set()
        token: Optional[str] = None
        while True:
            page = self.caller.call(
                lambda token=token: client.enhanced_search_issues(jql, nextPageToken=token, maxResults=size, fields=list(fields),
                                                                  json_result=True, use_post=True),
                f"JQL {jql!r}")
            issues.extend(page.get("issues") or [])
            if len(issues) > self.settings.max_issues:
                raise self._too_many(jql, len(issues))
            token = page.get("nextPageToken")
            if page.get("isLast", not token) or not token:
                return issues
            if token in tokens:
                raise JiraPagingError(f"Jira returned the same nextPageToken twice while listing JQL {jql!r}; "
                                      "stopped instead of looping (retry later; report it to Atlassian if it persists)")
            tokens.add(token)

    def _list_datacenter(self, jql: str, fields: list[str]) -> list[dict[str, Any]]:
        client, size = self.client(), self.settings.page_size
        issues: list[dict[str, Any]] = []
        while True:
            page = self.caller.call(
                lambda start=len(issues): client.search_issues(jql, startAt=start, maxResults=size, fields=list(fields),
                                                               json_result=True, use_post=True),
                f"JQL {jql!r}")
            total = int(page.get("total", 0))
            if total > self.settings.max_issues:
                raise self._too_many(jql, total)
            batch = page.get("issues") or []
            issues.extend(batch)
            if not batch or len(issues) >= total:
                return issues

    # -- values -----------------------------------------------------------------------------
    def _answer(self, p: Prepared, answers: dict[tuple[str, str], Answer], now: datetime,
                until: Optional[datetime] = None) -> Result:
        if p.error is not None:
            return self._for(p, p.error)
        spec = p.spec
        try:
            if spec.measure == "count":
                count = self._take(answers, ("count", p.jql or ""))
                return Observation(float(count), now, self.name, f"count: {p.jql}")
            if spec.measure == "ratio":
                return self._ratio(p, answers, now)
            issues = self._take(answers, ("list", p.jql or ""))
            if spec.measure == "sum":
                assert p.field is not None
                total = sum_field(issues, p.field)
                note = f", {total.nulls} without a value counted as 0" if total.nulls else ""
                if total.nulls:
                    log.info("source %r: %d of %d issues have no %s (counted as 0) for JQL %r",
                             self.name, total.nulls, total.issues, p.field.label(), p.jql)
                return Observation(total.value, now, self.name, f"sum of {p.field.label()} over {total.issues} issues{note}: {p.jql}")
            assert p.start is not None and p.end is not None
            found = durations(issues, p.start, p.end, spec.unit, until)
            what = f"{spec.from_field} -> {spec.to_field}"
            later = f" by {until.date()}" if until is not None else ""
            if not found.values:
                raise NoDurationsError(f"none of the {found.issues} issues matching JQL {p.jql!r} has both {what}{later}; "
                                       f"the {spec.measure} is undefined until one does")
            value = aggregate(spec.measure, found.values, spec.percentile)
            label = f"p{spec.percentile:g}" if spec.measure == "percentile" else spec.measure
            note = f", {found.skipped} without both dates skipped" if found.skipped else ""
            if found.later:
                note += f", {found.later} ending after {until.date()} skipped"  # type: ignore[union-attr]
            return Observation(value, now, self.name,
                               f"{label} of {what} in {spec.unit} over {len(found.values)} issues{note}: {p.jql}")
        except SourceError as exc:
            return self._for(p, exc)

    def _ratio(self, p: Prepared, answers: dict[tuple[str, str], Answer], now: datetime) -> Observation:
        numerator = self._take(answers, ("count", p.numerator or ""), "numerator ")
        denominator = self._take(answers, ("count", p.denominator or ""), "denominator ")
        if denominator == 0:
            raise EmptyDenominatorError(f"ratio undefined: the denominator JQL {p.denominator!r} matches no issues "
                                        f"(numerator {numerator}); check the JQL or wait until issues exist in the period")
        value = numerator / denominator * p.spec.scale
        scale = f" x {p.spec.scale:g}" if p.spec.scale != 1 else ""
        return Observation(value, now, self.name, f"ratio {numerator}/{denominator}{scale}: ({p.numerator}) / ({p.denominator})")

    @staticmethod
    def _take(answers: dict[tuple[str, str], Answer], key: tuple[str, str], side: str = "") -> Any:
        answer = answers[key]
        if isinstance(answer, SourceError):
            if side:
                raise type(answer)(f"{side}{answer}")
            raise answer
        return answer

    def _prefixed(self, text: str) -> str:
        return source_message(self.name, text)

    def _for(self, p: Prepared, error: SourceError) -> SourceError:
        """The error as this source's: one line naming the source; the same text for every KR that shares it."""
        return type(error)(self._prefixed(str(error)))

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # noqa: BLE001 - closing must not fail a sync
                log.debug("closing the Jira client failed", exc_info=True)
