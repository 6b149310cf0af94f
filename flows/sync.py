"""The `sync_okrs` Prefect flow: one task per source, then score, record and publish."""
from __future__ import annotations

import time
from contextlib import nullcontext
from datetime import date, datetime
from functools import partial
from pathlib import Path
from typing import Any, Callable, ContextManager, Optional

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed

from connectors.base import Context, Result, RetriableError, SourceError, requests_made, source_message
from connectors.history import SourceOutcome
from flows.deploy import limit_name, limits_in_force
from flows.pipeline import Plan, SyncOutcome, fetch_with_retries, run_sync, settle
from mapping.config import Config, Query
from mapping.errors import ConfigError, OkrSyncError
from mapping.loader import load_config
from mapping.period import Period


def _wait(seconds: float) -> None:
    """The pause before a retry (a function of its own so tests can count the waits instead of sleeping)."""
    time.sleep(seconds)


def _slot(limit: Optional[str]) -> ContextManager[Any]:
    """A slot of a global concurrency limit (held while a service is used); nothing when the limit is not set up."""
    if not limit:
        return nullcontext()
    from prefect.concurrency.sync import concurrency

    return concurrency(limit, occupy=1, strict=False)


@task(name="fetch-source", cache_policy=NO_CACHE, retries=0, log_prints=False)
def fetch_source_task(config: Config, name: str, queries: list[Query], period: Period, now: datetime,
                      context: Context, limit: Optional[str] = None) -> Any:
    """Fetch one source's whole batch; retried inside the task on retriable errors, never sooner than the
    service's Retry-After (Prefect's own task retries would wait a fixed delay instead).

    A batch in which every query failed (unreachable after the retries, file missing, 401) ends the
    task Failed with that one-line reason, without a traceback; each failed query is logged once.
    """
    logger = get_run_logger()
    started, sent = time.perf_counter(), requests_made(name)

    def on_event(source: str, state: str, detail: str = "", seconds: float = 0.0) -> None:
        if state == "retry":
            logger.warning("source %r: %s (waiting %.1f s)", source, detail, seconds)

    try:
        with _slot(limit):
            answers = fetch_with_retries(config, name, queries, period, now, context, sleep=_wait, events=on_event)
    except (SourceError, RetriableError) as exc:
        message = source_message(name, str(exc))
        logger.error("%s (%d queries, %d requests, %.2f s)", message, len(queries), requests_made(name) - sent,
                     time.perf_counter() - started)
        return Failed(message=message)
    errors = [answer for answer in answers.values() if isinstance(answer, SourceError)]
    for error in dict.fromkeys(str(e) for e in errors):
        logger.warning(source_message(name, error))
    logger.info("source %r: %d queries, %d requests, %d failed, %.2f s", name, len(queries), requests_made(name) - sent,
                len(errors), time.perf_counter() - started)
    if errors and len(errors) == len(queries):
        return Failed(message=source_message(name, str(errors[0])))
    return answers


def _collect(future: Any) -> Callable[[], dict[Query, Result]]:
    """The answers of a finished source task; a Failed task becomes its message on every query of the source."""
    def run() -> dict[Query, Result]:
        future.wait()
        state = future.state
        if state.is_failed() or state.is_crashed():
            raise SourceError(state.message or f"the task ended {state.name}")
        return future.result()
    return run


def fetch_all_tasks(config: Config, plan: Plan, period: Period, now: datetime, context: Context,
                    outcomes: Optional[list[SourceOutcome]] = None, limits: frozenset[str] = frozenset()) -> dict[Query, Result]:
    """Submit one task per source, concurrently; a failed task marks only its own queries failed.

    A source of a kind whose global concurrency limit exists (in `limits`) holds one slot while it is read.
    A source's seconds in `outcomes` run from submitting its task to collecting its result."""
    def limit_of(name: str) -> Optional[str]:
        wanted = limit_name(config.sources[name].kind)
        return wanted if wanted in limits else None

    from prefect.utilities.annotations import quote

    # quote(): Prefect would otherwise walk every value of the config (all KRs) and the queries of each task
    # looking for futures, several seconds for 1,000 KRs; they hold none
    futures = {name: fetch_source_task.with_options(name=f"fetch-{name}").submit(quote(config), name, quote(queries), period, now,
                                                                                 quote(context), limit_of(name))
               for name, queries in plan.by_source.items()}
    answers: dict[Query, Result] = {}
    for name, future in futures.items():
        answers.update(settle(name, plan.by_source[name], _collect(future), outcomes))
    return answers


OUTCOMES: dict[str, SyncOutcome] = {}
"""The outcome of each flow run executed in this process, by flow run id (the CLI shows its result table)."""


def _rounded(value: Any) -> Any:
    return round(value, 4) if isinstance(value, float) else value


def _publish_artifacts(outcome: SyncOutcome) -> None:
    """A table artifact of every KR (rounded, human labels) and a markdown list of the stale ones."""
    board = outcome.dashboard
    if board is not None:
        rows = [{"KR id": kr.kr_id, "Key result": kr.title, "Status": kr.status_label, "Current": kr.current_text,
                 "Target": kr.target_text, "Progress": "" if kr.progress is None else f"{kr.progress:.0%}",
                 "Score": "" if kr.score is None else f"{kr.score:.2f}", "Owner": kr.owner, "Error": kr.stale_reason}
                for kr in board.krs]
    else:
        summary = outcome.tables[0]
        rows = [{k: ("" if v is None else str(_rounded(v))) for k, v in zip(summary.header, row)
                 if k in ("KR id", "Key result", "Current", "Target", "Score", "Status", "Error")} for row in summary.rows]
    create_table_artifact(rows, key="okr-summary", description=f"OKR summary {outcome.period.name}")
    if outcome.stale_krs:
        lines = "\n".join(f"- **{r.kr_id}**: {r.error}" for r in outcome.stale_krs)
        create_markdown_artifact(f"## Stale key results\n{lines}\n", key="okr-stale", description="KRs whose source failed")


@flow(name="sync-okrs", log_prints=False)
def sync_okrs(config_path: str = "okrs.yaml", now: Optional[datetime] = None, as_of: Optional[date] = None) -> Any:
    """Sync all KRs of one okrs.yaml: fetch every source, score, record history, publish outputs.

    Ends Failed (naming the failed sources and KRs) when any source failed; every other KR is still published.
    """
    logger = get_run_logger()
    try:
        config = load_config(Path(config_path))
    except ConfigError as exc:
        logger.error(str(exc))
        return Failed(message=str(exc))
    context = FlowRunContext.get()
    run_id = str(context.flow_run.id) if context and context.flow_run else None
    limits = frozenset(limits_in_force({source.kind for source in config.sources.values()} | {output.kind for output in config.outputs}))
    if limits:
        logger.info("using global concurrency limits: %s", ", ".join(sorted(limits)))
    try:
        outcome = run_sync(config, now, as_of=as_of, run_id=run_id, fetch_all=partial(fetch_all_tasks, limits=limits),
                           output_guard=lambda kind: _slot(limit_name(kind) if limit_name(kind) in limits else None))
    except OkrSyncError as exc:  # history damaged, an output or the register not writable: one line, no traceback
        logger.error(str(exc))
        return Failed(message=str(exc))
    if run_id:
        OUTCOMES[run_id] = outcome
    logger.info("synced %d KRs over %d distinct queries; wrote %s", len(outcome.results), outcome.plan.query_count,
                ", ".join(str(p) for p in outcome.written) or "no outputs")
    _publish_artifacts(outcome)
    if not outcome.ok:
        message = f"sources failed: {', '.join(outcome.failed_sources)}. {outcome.failure_message()}"
        logger.error(message)
        return Failed(message=message)
    return Completed(message=f"{len(outcome.results)} KRs synced")
