"""`okr-sync backfill`: fill the history series for past days, one as-of evaluation per day.

A team adopting okr-sync mid-quarter gets its trend from day one. Each source is opened once for
the whole backfill (one connection pool, one role check); a `series: true` SQL query is asked once
for the last day and its daily points answer every earlier day. Days already recorded for every KR
are skipped (resumable) unless `overwrite`; the outputs are not touched.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Callable, Mapping

from connectors.base import Connector, Result, SourceError
from connectors.history import SourceOutcome
from connectors.registry import open_connector
from flows.pipeline import (Plan, _params, context_of, evaluation, fetch_with_retries, load_register, make_plan, manual_observations,
                            now_in, open_history, score_all, settle)
from mapping.config import Config, Query
from mapping.errors import ConfigError, Problem
from mapping.period import Period
from mapping.results import Observation


@dataclass
class BackfillOutcome:
    """What a backfill did: the days it evaluated and skipped, and the KRs that could not be evaluated, per day."""

    evaluated: list[date] = field(default_factory=list)
    skipped: list[date] = field(default_factory=list)
    stale: dict[str, int] = field(default_factory=dict)  # KR id -> number of days it could not be evaluated
    errors: dict[str, str] = field(default_factory=dict)  # KR id -> its last error
    queries_sent: int = 0

    @property
    def ok(self) -> bool:
        return not self.stale


def backfill_days(config: Config, first: date, last: date, every: str, today: date) -> list[date]:
    """The days to evaluate: from `first` to `last` (both included) every day or every 7 days, within the period and before today."""
    period = config.period_obj()
    problems = []
    if last < first:
        problems.append(f"--to {last} is before --from {first}")
    if first < period.start:
        problems.append(f"--from {first} is before period {period.name} starts ({period.start})")
    if first >= today:
        problems.append(f"--from {first} is not in the past (today is {today}); backfill fills past days, `run` does today")
    if problems:
        raise ConfigError([Problem(str(config.file), None, "period", p, "pick days inside the period, before today") for p in problems])
    step = timedelta(days=7 if every == "week" else 1)
    end = min(last, period.end, today - timedelta(days=1))
    days, day = [], first
    while day <= end:
        days.append(day)
        day += step
    return days


def run_backfill(config: Config, first: date, last: date, *, every: str = "day", overwrite: bool = False,
                 env: Mapping[str, str] | None = None, progress: Callable[[date, int, int], None] = lambda day, done, total: None,
                 sleep: Callable[[float], None] = time.sleep) -> BackfillOutcome:
    """Evaluate every chosen past day as of its end and record it in history (outputs untouched)."""
    context = context_of(config, env)
    if config.okrs is not None:
        config, _ = load_register(config, context)
    today = now_in(config).date()
    days = backfill_days(config, first, last, every, today)
    plan = make_plan(config)
    history = open_history(config, context)
    assert history is not None
    outcome = BackfillOutcome()
    kr_ids = [kr.id for _, kr in config.key_results()]
    done = set() if overwrite else history.days_recorded(kr_ids)
    todo = [d for d in days if d not in done]
    outcome.skipped = [d for d in days if d in done]
    connectors: dict[str, Connector] = {}
    try:
        series_answers = _series_answers(config, plan, todo, connectors, context, outcome)
        for index, day in enumerate(todo):
            ev = evaluation(config, None, day)
            run_id = uuid.uuid4().hex
            history.begin_run(run_id, now_in(config), str(config.file), "backfill", day)
            sources: list[SourceOutcome] = []
            status, error = "failed", "the backfill stopped before this day was recorded"
            try:
                answers = _fetch_day(config, plan, ev.query_period, ev.now, connectors, context, sources, sleep, series_answers, outcome)
                results = score_all(config, plan, answers, ev.now, history, manual_observations(config, ev.now))
                for r in results.values():
                    if r.error:
                        outcome.stale[r.kr_id] = outcome.stale.get(r.kr_id, 0) + 1
                        outcome.errors[r.kr_id] = r.error
                history.record(run_id, day, results.values(), ev.now, track_errors=False, params=_params(config, ev))
                status = "completed" if not any(r.error for r in results.values()) else "failed"
                error = "" if status == "completed" else f"{sum(1 for r in results.values() if r.error)} KR(s) not evaluated"
            finally:
                history.finish_run(run_id, now_in(config), status, len(kr_ids), sources, error)
            outcome.evaluated.append(day)
            progress(day, index + 1, len(todo))
    finally:
        for connector in connectors.values():
            connector.close()
        history.close()
    return outcome


def _connector(name: str, config: Config, connectors: dict[str, Connector], context) -> Connector:  # type: ignore[no-untyped-def]
    if name not in connectors:
        connectors[name] = open_connector(name, config.sources[name], context)
    return connectors[name]


def _is_series(query: Query) -> bool:
    return bool(getattr(query.spec, "series", False))


def _series_answers(config: Config, plan: Plan, days: list[date], connectors: dict[str, Connector], context,  # type: ignore[no-untyped-def]
                    outcome: BackfillOutcome) -> dict[Query, Result]:
    """`series: true` queries, asked once as of the last day: their daily points answer every earlier day."""
    if not days:
        return {}
    ev = evaluation(config, None, days[-1])
    answers: dict[Query, Result] = {}
    for name, queries in plan.by_source.items():
        series = [q for q in queries if _is_series(q)]
        if series:
            connector = _connector(name, config, connectors, context)
            outcome.queries_sent += len(series)
            answers.update(settle(name, series, lambda: connector.fetch(series, ev.query_period, ev.now)))
    return answers


def _as_of_point(answer: Result, day: date) -> Result:
    """A series answer as it stood on `day`: the newest point on or before it (an error when there is none)."""
    if not isinstance(answer, Observation):
        return answer
    points = tuple(p for p in getattr(answer, "points", ()) if p[0] <= day)
    if not points:
        return SourceError(f"source {answer.source!r}: the series has no point on or before {day}")
    return replace(answer, value=points[-1][1], points=())  # type: ignore[call-arg]  # each day records its own value


def _fetch_day(config: Config, plan: Plan, period: Period, now, connectors: dict[str, Connector], context,  # type: ignore[no-untyped-def]
               sources: list[SourceOutcome], sleep: Callable[[float], None], series_answers: dict[Query, Result],
               outcome: BackfillOutcome) -> dict[Query, Result]:
    answers: dict[Query, Result] = {q: _as_of_point(a, period.end) for q, a in series_answers.items()}
    for name, queries in plan.by_source.items():
        asked = [q for q in queries if q not in series_answers]
        if not asked:
            continue
        connector = _connector(name, config, connectors, context)
        outcome.queries_sent += len(asked)
        answers.update(settle(name, asked, lambda: fetch_with_retries(config, name, asked, period, now, context, sleep,
                                                                      fetch=lambda: connector.fetch(asked, period, now)), sources))
    return answers
