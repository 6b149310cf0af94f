"""One sync as plain functions: plan -> fetch (one batch per source) -> score -> record -> publish.

The Prefect flow and the local CLI run call these same functions; only how the per-source fetches
are run (Prefect tasks or a thread pool) differs.
"""
from __future__ import annotations

import logging
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time as day_time
from pathlib import Path
from contextlib import nullcontext
from typing import Any, Callable, ContextManager, Mapping, Optional
from zoneinfo import ZoneInfo

from connectors.atomic import OutputError
from connectors.base import Context, Result, RetriableError, SourceError, source_message
from connectors.redaction import scrub
from connectors.history import HistoryError, HistoryStore, Scope, SourceOutcome
from connectors.registry import open_connector
from connectors.xlsx import write_xlsx
from mapping.config import Config, KeyResult, Query
from mapping.errors import ConfigError, OkrSyncError, Problem
from mapping.formula import combine, parse_formula
from mapping.period import Period
from mapping.quality import HeldBack, gate
from mapping.dashboard import Dashboard, build_dashboard
from mapping.report import Table, build_report
from mapping.results import KRResult, Observation
from mapping.rollup import ObjectiveResult, rollup
from mapping.scoring import compliance_count, score_kr

log = logging.getLogger("okr_sync")
MAX_SERIES_DAYS = 400  # recorded days a compliance KR reads (a period is at most a year)
HISTORY_POINTS = 12  # days shown in the History table when no sheets output sets history_points


@dataclass
class Plan:
    """Every distinct query, grouped by source, and which KRs wait on each."""

    by_source: dict[str, list[Query]] = field(default_factory=dict)
    krs_by_query: dict[Query, list[str]] = field(default_factory=dict)

    @property
    def query_count(self) -> int:
        return len(self.krs_by_query)


def kr_queries(kr: KeyResult) -> list[Query]:
    """The source queries a KR's value needs: its metric's, or each formula input's (none for a KR measured by hand)."""
    return [] if kr.metric is None else [metric.query for metric in kr.metric.leaves()]


def kr_answer(kr: KeyResult, answers: Mapping[Query, Result]) -> Optional[Result]:
    """A KR's measured value from the answers to its queries: an Observation, an error, or None (not measured).

    A formula KR combines its inputs' answers; a failed input, a missing one or a division by zero
    is an error naming the input and its source.
    """
    if kr.metric is None:
        return None
    if kr.metric.formula is not None:
        return combine(parse_formula(kr.metric.formula), kr.metric.inputs, answers)  # type: ignore[return-value]
    return answers.get(kr.metric.query)


def make_plan(config: Config) -> Plan:
    """Group the KRs' metric queries by source; identical queries are asked once."""
    plan = Plan()
    for _, kr in config.key_results():
        for query in kr_queries(kr):
            if query not in plan.krs_by_query:
                plan.by_source.setdefault(query.source, []).append(query)
                plan.krs_by_query[query] = []
            plan.krs_by_query[query].append(kr.id)
    return plan


def context_of(config: Config, env: Mapping[str, str] | None = None) -> Context:
    return Context(config.base_dir) if env is None else Context(config.base_dir, env)


def fetch_source(config: Config, name: str, queries: list[Query], period: Period, now: datetime,
                 context: Context) -> dict[Query, Result]:
    """Answer one source's batch; RetriableError propagates so the caller can retry the batch."""
    connector = open_connector(name, config.sources[name], context)
    try:
        return connector.fetch(queries, period, now)
    finally:
        connector.close()


def retry_delays(retries: int, first_delay: float) -> list[float]:
    """Exponential backoff: first_delay, 2x, 4x, ... (the same shape as Prefect's exponential_backoff)."""
    return [first_delay * 2 ** attempt for attempt in range(retries)]


SourceEvents = Callable[[str, str, str, float], None]
"""(source, state, detail, seconds): state is fetching / retry (seconds = the wait) / done (seconds taken) / failed."""


def _no_events(source: str, state: str, detail: str = "", seconds: float = 0.0) -> None:
    return None


def fetch_with_retries(config: Config, name: str, queries: list[Query], period: Period, now: datetime,
                       context: Context, sleep: Callable[[float], None] = time.sleep,
                       events: SourceEvents = _no_events,
                       fetch: Optional[Callable[[], dict[Query, Result]]] = None) -> dict[Query, Result]:
    """One source's batch (`fetch`, by default a fresh connector's), retried on RetriableError with backoff (never
    sooner than a Retry-After); other errors fail the batch. A backfill passes `fetch` to reuse one connector."""
    fetch = fetch or (lambda: fetch_source(config, name, queries, period, now, context))
    delays = retry_delays(config.fetch.retries, config.fetch.retry_delay_seconds)
    for attempt in range(len(delays) + 1):
        try:
            events(name, "fetching", f"{len(queries)} quer{'y' if len(queries) == 1 else 'ies'}" + (f", attempt {attempt + 1}" if attempt else ""), 0.0)
            return fetch()
        except RetriableError as exc:
            if attempt == len(delays):
                raise
            wait = max(delays[attempt], exc.retry_after or 0.0)
            message = source_message(name, str(exc))
            if events is _no_events:  # else whoever listens shows the retry (a progress line, a flow run's log)
                log.warning("%s; retry %d/%d in %.1fs", message, attempt + 1, len(delays), wait)
            events(name, "retry", f"retry {attempt + 1}/{len(delays)}: {message.split(': ', 1)[-1]}", wait)
            sleep(wait)
    raise AssertionError("unreachable")


def settle(name: str, queries: list[Query], run: Callable[[], dict[Query, Result]],
           outcomes: Optional[list[SourceOutcome]] = None) -> dict[Query, Result]:
    """Run a source's fetch; any failure of the whole batch becomes that error on each of its queries.

    With `outcomes`, what the batch did (queries, failures, seconds, first error) is appended for the run ledger.
    """
    started = time.perf_counter()
    answers = _settle(name, queries, run)
    if outcomes is not None:
        errors = [str(a) for a in answers.values() if isinstance(a, SourceError)]
        outcomes.append(SourceOutcome(name, len(queries), len(errors), time.perf_counter() - started, errors[0] if errors else ""))
    return answers


def _settle(name: str, queries: list[Query], run: Callable[[], dict[Query, Result]]) -> dict[Query, Result]:
    try:
        answers = run()
    except (SourceError, RetriableError) as exc:
        error = SourceError(source_message(name, str(exc)))
        return {q: error for q in queries}
    except Exception as exc:  # a bug or an unexpected library error must not stop the other sources
        log.debug("source %r failed", name, exc_info=True)
        error = SourceError(source_message(name, scrub(f"unexpected {type(exc).__name__}: {exc}")))
        return {q: error for q in queries}
    missing = SourceError(f"source {name!r} gave no answer for this query")
    return {q: answers.get(q, missing) for q in queries}


def fetch_all_local(config: Config, plan: Plan, period: Period, now: datetime, context: Context,
                    max_workers: int = 4, outcomes: Optional[list[SourceOutcome]] = None,
                    events: SourceEvents = _no_events) -> dict[Query, Result]:
    """Every source's batch, concurrently in threads, each with its own retries; `events` hears how each goes."""
    answers: dict[Query, Result] = {}
    if not plan.by_source:
        return answers

    def one(name: str, queries: list[Query]) -> dict[Query, Result]:
        started = time.perf_counter()
        result = settle(name, queries, lambda: fetch_with_retries(config, name, queries, period, now, context, events=events), outcomes)
        failed = [a for a in result.values() if isinstance(a, SourceError)]
        events(name, "failed" if failed else "done", str(failed[0]) if failed else "", time.perf_counter() - started)
        return result

    with ThreadPoolExecutor(max_workers=min(max_workers, len(plan.by_source))) as pool:
        futures = {name: pool.submit(one, name, queries) for name, queries in plan.by_source.items()}
        for future in futures.values():
            answers.update(future.result())
    return answers


@dataclass
class SyncOutcome:
    """Everything a sync computed and did."""

    run_id: str
    now: datetime
    period: Period
    results: dict[str, KRResult]
    objectives: list[ObjectiveResult]
    tables: list[Table]
    plan: Plan
    written: list[Path] = field(default_factory=list)
    dashboard: Optional[Dashboard] = None

    @property
    def failed_sources(self) -> list[str]:
        return sorted({r.source for r in self.results.values() if r.stale and r.source})

    @property
    def stale_krs(self) -> list[KRResult]:
        return [r for r in self.results.values() if r.stale]

    @property
    def ok(self) -> bool:
        return not self.stale_krs

    def failure_message(self) -> str:
        """One line: the stale KRs grouped by their error, each error said once."""
        stale = self.stale_krs
        by_error: dict[str, list[str]] = {}
        for r in stale:  # a formula KR fails with its input's source error: the same cause, said once
            by_error.setdefault(re.sub(r"^formula input '[^']*': ", "", r.error), []).append(r.kr_id)
        groups = [f"{error} (KR{'s' if len(ids) > 1 else ''} {', '.join(ids)})" for error, ids in by_error.items()]
        return f"{len(stale)} KR(s) stale because their source failed: " + "; ".join(groups)


def now_in(config: Config) -> datetime:
    return datetime.now(ZoneInfo(config.timezone))


def score_all(config: Config, plan: Plan, answers: dict[Query, Result], now: datetime,
              history: Optional[HistoryStore], overrides: Optional[Mapping[str, Observation]] = None) -> dict[str, KRResult]:
    """Score every KR; a KR whose query failed keeps its last good value from history and is marked stale.

    `overrides` (KR id -> Observation, e.g. a register's manual value) replace what the source said.
    """
    period = config.period_obj()
    elapsed = period.elapsed(now)
    ids = [kr.id for _, kr in config.key_results()]
    last_good = history.last_good(ids, up_to=now.date()) if history else {}
    errors = history.current_errors(ids) if history else {}
    previous = history.previous_values(ids, now.date()) if history else {}
    results: dict[str, KRResult] = {}
    for objective, kr in config.key_results():
        answer = kr_answer(kr, answers)
        decision = None
        if isinstance(answer, Observation) and kr.metric is not None:
            answer = gate(answer, kr.metric.valid_range, kr.metric.max_change, previous.get(kr.id))  # type: ignore[assignment]
            if kr.metric.valid_range is not None or kr.metric.max_change is not None:
                decision = str(answer) if isinstance(answer, HeldBack) else (
                    f"passed (valid_range {list(kr.metric.valid_range) if kr.metric.valid_range else '-'}, "
                    f"max_change {kr.metric.max_change if kr.metric.max_change is not None else '-'}, "
                    f"previous value {previous.get(kr.id, '-')})")
        if overrides and kr.id in overrides:
            answer = overrides[kr.id]
        value = as_of = None
        source = query = provenance = error = ""
        stale_since = None
        if isinstance(answer, Observation):
            value, as_of, source, query, provenance = answer.value, answer.as_of, answer.source, answer.query, answer.provenance
        elif isinstance(answer, Exception):
            error = str(answer)
            source = getattr(answer, "source", "") or (kr.metric.source if kr.metric else "") or ""
            stale_since = errors[kr.id][1] if kr.id in errors else now
            if kr.id in last_good:
                good = last_good[kr.id]
                value, as_of, query, provenance = good.value, good.observed_at, good.query, good.provenance
        points = kr_series(kr, answer, history, now) if kr.type == "compliance" else ()
        scored = score_kr(kr, value, elapsed, config.status, period=period, now=now, series=points)
        results[kr.id] = KRResult(objective.id, kr.id, value, scored.progress, scored.score, scored.expected,
                                  scored.status, as_of, source, query, provenance, stale_since, error,
                                  previous.get(kr.id))
        if isinstance(answer, HeldBack):
            results[kr.id].extra["raw_value"] = answer.raw_value
        if decision is not None:
            results[kr.id].extra["gate"] = decision
        if getattr(answer, "points", None):
            results[kr.id].extra["series"] = answer.points  # type: ignore[union-attr]
        _kind_extras(kr, results[kr.id], period, now, points)
    return results


def kr_series(kr: KeyResult, answer: object, history: Optional[HistoryStore], now: datetime) -> list[tuple[date, float]]:
    """The (day, value) points a compliance KR's windows are read from: the source's series when it returns one
    (SQL `series: true`), else the values recorded in history (the current value is laid over today by scoring)."""
    points = getattr(answer, "points", None)
    if points:
        return list(points)
    if history is None:
        return []
    return [(day, value) for day, value in history.series(kr.id, limit=MAX_SERIES_DAYS) if day < now.date()]


def _kind_extras(kr: KeyResult, result: KRResult, period: Period, now: datetime, points: object) -> None:
    """What a reader needs next to the status: the owner's confidence, a compliance KR's window count."""
    if kr.confidence is not None:
        result.extra["confidence"] = float(kr.confidence)
    if kr.type == "compliance":
        count = compliance_count(kr, result.value, period, now, points)  # type: ignore[arg-type]
        if count is not None:
            result.extra["compliance"] = count.describe()


def history_scope(config: Config) -> Scope:
    """The series this config reads and writes: its workspace in its period."""
    return Scope(config.workspace_id, config.period_obj().name, config.period_name_of)


def open_history(config: Config, context: Context, read_only: bool = False) -> Optional[HistoryStore]:
    """The configured history store; in read-only mode None when it does not exist yet (nothing is created)."""
    from_credential = config.history_env or config.history_secret
    url = context.credential(config, "history", "history URL") if from_credential else config.history
    return HistoryStore.open(url, context, read_only=read_only, scope=history_scope(config))


@dataclass(frozen=True)
class Evaluation:
    """The moment a sync computes: `now` for scoring, the day it is recorded under, the period its sources are asked for."""

    now: datetime
    day: date
    query_period: Period
    past: bool  # an as-of evaluation of a day before today


def evaluation(config: Config, now: Optional[datetime] = None, as_of: Optional[date] = None) -> Evaluation:
    """Today (or `now`), or the end of day `as_of` in the config's time zone with sources asked as of that day."""
    today = now or now_in(config)
    period = config.period_obj()
    if as_of is None or as_of >= today.date():
        return Evaluation(today, today.date(), period, False)
    if as_of < period.start:
        raise ConfigError([Problem(str(config.file), None, "period", f"--as-of {as_of} is before period {period.name} starts ({period.start})",
                                   "pick a day in the period, or evaluate the earlier period with its own config")])
    moment = datetime.combine(as_of, day_time(23, 59, 59), tzinfo=ZoneInfo(config.timezone))
    return Evaluation(moment, as_of, period.until(as_of), True)


def _params(config: Config, ev: Evaluation) -> dict[str, str]:
    """The parameters every query of this evaluation was bound to (recorded with each KR in the run ledger)."""
    return {"start": ev.query_period.start.isoformat(), "end": ev.query_period.end.isoformat(),
            "as_of": ev.day.isoformat(), "period": ev.query_period.name}


def publish(config: Config, tables: list[Table], context: Optional[Context] = None,
            dashboard: Optional[Dashboard] = None,
            guard: Callable[[str], ContextManager[Any]] = lambda kind: nullcontext()) -> list[Path | str]:
    """Write every configured output from the same tables (and the same dashboard).

    `guard(kind)` wraps each write to a service (under Prefect: a slot of that kind's global concurrency limit)."""
    written: list[Path | str] = []
    failed: list[str] = []
    for output in config.outputs:
        try:
            if output.kind == "xlsx":
                written.append(write_xlsx(tables, config.resolve_path(output.path), dashboard, title=output.title))
            elif output.kind == "sheets":
                from connectors.sheets_sink import SheetsSink
                with guard("sheets"):
                    key = SheetsSink(output, context or context_of(config)).write(tables, dashboard)
                written.append(f"https://docs.google.com/spreadsheets/d/{key}")
            elif output.kind == "html":
                from connectors.html_report import write_html
                written.append(write_html(dashboard, config.resolve_path(output.path), title=output.title))
        except OkrSyncError as exc:  # one output that cannot be written does not keep the others from being written
            failed.append(str(exc))
    if failed:
        raise OutputsFailed(failed, written)
    return written


class OutputsFailed(OutputError):
    """Some outputs could not be written (each error said once); the others were written (`written`).

    `outcome` is the sync's outcome when the sync got that far (history is recorded before outputs are written)."""

    def __init__(self, errors: list[str], written: list[Path | str]):
        super().__init__("; ".join(errors) + (f" (written: {', '.join(map(str, written))})" if written else ""))
        self.errors, self.written = errors, written
        self.outcome: Optional[SyncOutcome] = None


def run_sync(config: Config, now: datetime | None = None, *, as_of: Optional[date] = None, write: bool = True,
             run_id: str | None = None, fetch_all: Callable[..., dict[Query, Result]] = fetch_all_local,
             env: Mapping[str, str] | None = None, publish_outputs: bool = True, kind: str = "sync",
             progress: Callable[[str], None] = lambda step: None, events: Optional[SourceEvents] = None,
             output_guard: Callable[[str], ContextManager[Any]] = lambda kind: nullcontext()) -> SyncOutcome:
    """The whole sync. With write=False (preview) nothing is recorded or written.

    With `as_of` (a day before today) every KR is computed as it stood at the end of that day: sources are
    asked as of that day, expected progress and status use that day, and the values are recorded under it.
    Every writing run is logged in the run ledger: running, then completed / failed (a failed source or
    output), or crashed (found unfinished by a later run).
    """
    ev = evaluation(config, now, as_of)
    now = ev.now
    run_id = run_id or uuid.uuid4().hex
    context = context_of(config, env)
    period = config.period_obj()
    register_client = None
    history = open_history(config, context, read_only=not write)
    if write:
        assert history is not None
        history.begin_run(run_id, datetime.now(ZoneInfo(config.timezone)), str(config.file), "as-of" if ev.past and kind == "sync" else kind,
                          ev.day if ev.past else None)
    outcomes: list[SourceOutcome] = []
    status, error = "failed", "the run stopped before it finished"
    failing = False
    try:
        if config.okrs is not None:
            progress("reading the OKR register")
            config, register_client = load_register(config, context)
        plan = make_plan(config)
        progress(f"fetching {plan.query_count} queries from {len(plan.by_source)} sources")
        answers = fetch_all(config, plan, ev.query_period, now, context, outcomes=outcomes,
                            **({"events": events} if events is not None else {}))
        progress("scoring")
        results = score_all(config, plan, answers, now, history, manual_observations(config, now))
        objectives = rollup(config, results)
        # the History table: recent values per KR, read before today's record (today's values are laid over)
        points = max([output.history_points for output in config.outputs if output.kind == "sheets"], default=HISTORY_POINTS)
        series = history.recent([kr.id for _, kr in config.key_results()], points, up_to=ev.day) if history else {}
        tables = build_report(config, results, objectives, series, ev.day, points)
        dashboard = build_dashboard(config, results, objectives, series, now, ev.day,
                                    checkins=last_checkins(history, ev.day) if history else None)
        outcome = SyncOutcome(run_id, now, period, results, objectives, tables, plan, dashboard=dashboard)
        if write:
            assert history is not None
            progress("recording history")
            history.record(run_id, ev.day, results.values(), now, track_errors=not ev.past, params=_params(config, ev))
            if config.history_retention_days:
                history.prune(config.history_retention_days, ev.day if not ev.past else now_in(config).date())
            if config.alerts is not None and not ev.past:  # a past day's evaluation never alerts
                from connectors.notify import send_alerts
                progress("sending alerts")
                send_alerts(config, history, results, {o.source: o.error if o.failed else "" for o in outcomes}, run_id, now, context.env)
            if publish_outputs:
                progress("writing outputs")
                failure: Optional[OutputsFailed] = None
                try:
                    outcome.written = publish(config, tables, context, dashboard, output_guard)
                except OutputsFailed as exc:
                    outcome.written, exc.outcome, failure = exc.written, outcome, exc
                if config.okrs is not None and config.okrs.write_back and register_client is not None:
                    from connectors.sheets_register import write_register
                    progress("writing the register")
                    write_register(config.okrs, config._register, results, now, register_client)
                if failure is not None:
                    raise failure
        status = "completed" if outcome.ok else "failed"
        error = "" if outcome.ok else outcome.failure_message()
        return outcome
    except BaseException as exc:
        error = f"{type(exc).__name__}: {exc}" if not isinstance(exc, OkrSyncError) else str(exc)
        failing = True
        raise
    finally:
        if history is not None:
            try:
                if write:
                    history.finish_run(run_id, datetime.now(ZoneInfo(config.timezone)), status,
                                       len(config.key_results()), outcomes, error)
            except HistoryError as exc:
                if not failing:  # the history store broke during the run: say so (exit 3), never "synced"
                    said = str(exc).replace("; nothing was recorded or written:", "; this run's values and outputs were written, "
                                            f"but its entry in the run ledger ({run_id}) could not be closed:")
                    raise HistoryError(said) from None
                log.warning("could not close run %s in the history ledger: %s", run_id, exc)
            finally:
                history.close()


def last_checkins(history: HistoryStore, day: date) -> dict[str, tuple[date, float]]:
    """Each KR's (day, value) at the newest weekly check-in up to `day`'s ISO week; empty without one."""
    from connectors.checkins import CheckinStore

    week = "{}-W{:02d}".format(*day.isocalendar()[:2])
    try:
        return CheckinStore(history).last_checkin(week)
    except HistoryError:  # a store not upgraded yet (read-only preview): no check-ins to compare with
        return {}


def load_register(config: Config, context: Context) -> tuple[Config, object]:
    """The config with the objectives of its register sheet (one read); unmapped KRs are logged as warnings."""
    from connectors.sheets_register import read_register
    from mapping.loader import apply_register, register_warnings

    assert config.okrs is not None
    rows, client = read_register(config.okrs, context)
    config = apply_register(config, rows)
    for warning in register_warnings(config):
        log.warning(warning)
    return config, client


def manual_observations(config: Config, now: datetime) -> dict[str, Observation]:
    """The register's filled "Manual value" cells as observations with provenance manual (they override the source)."""
    register = config._register
    if register is None:
        return {}
    return {kr_id: Observation(value, now, "register", f"{register.worksheet!r} row {register.kr_rows[kr_id]} manual value", "manual")
            for kr_id, value in register.manual.items()}
