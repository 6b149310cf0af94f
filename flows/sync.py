"""The `sync_okrs` Prefect flow: one task per source, then score, record and publish."""
from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.states import Completed, Failed
from prefect.tasks import exponential_backoff

from connectors.base import Context, Result, RetriableError
from connectors.history import SourceOutcome
from flows.pipeline import Plan, SyncOutcome, fetch_source, run_sync, settle
from mapping.config import Config, Query
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.period import Period


def only_retriable(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a source batch only when it failed with a RetriableError (429, 5xx, unreachable)."""
    try:
        state.result(raise_on_failure=True)
    except RetriableError:
        return True
    except BaseException:
        return False
    return False


@task(name="fetch-source", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=exponential_backoff(10),
      retry_jitter_factor=0.5, retry_condition_fn=only_retriable, log_prints=False)
def fetch_source_task(config: Config, name: str, queries: list[Query], period: Period, now: datetime,
                      context: Context) -> dict[Query, Result]:
    """Fetch one source's whole batch of queries (retried as a batch on retriable errors)."""
    return fetch_source(config, name, queries, period, now, context)


def fetch_all_tasks(config: Config, plan: Plan, period: Period, now: datetime, context: Context,
                    outcomes: Optional[list[SourceOutcome]] = None) -> dict[Query, Result]:
    """Submit one task per source, concurrently; a failed task marks only its own queries failed.

    A source's seconds in `outcomes` run from submitting its task to collecting its result."""
    delays = exponential_backoff(config.fetch.retry_delay_seconds) if config.fetch.retry_delay_seconds else 0
    futures = {
        name: fetch_source_task.with_options(name=f"fetch-{name}", retries=config.fetch.retries, retry_delay_seconds=delays)
        .submit(config, name, queries, period, now, context)
        for name, queries in plan.by_source.items()
    }
    answers: dict[Query, Result] = {}
    for name, future in futures.items():
        answers.update(settle(name, plan.by_source[name], future.result, outcomes))
    return answers


def _publish_artifacts(outcome: SyncOutcome) -> None:
    summary = outcome.tables[0]
    rows = [{k: ("" if v is None else str(v)) for k, v in zip(summary.header, row)
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
    outcome = run_sync(config, now, as_of=as_of, run_id=run_id, fetch_all=fetch_all_tasks)
    logger.info("synced %d KRs over %d distinct queries; wrote %s", len(outcome.results), outcome.plan.query_count,
                ", ".join(str(p) for p in outcome.written) or "no outputs")
    _publish_artifacts(outcome)
    if not outcome.ok:
        message = f"sources failed: {', '.join(outcome.failed_sources)}. {outcome.failure_message()}"
        logger.error(message)
        return Failed(message=message)
    return Completed(message=f"{len(outcome.results)} KRs synced")
