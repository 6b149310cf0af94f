"""The period review: once the period is over, every KR evaluated as of its last day, scored and flagged.

`run_review` is the plain function (the CLI calls it directly); `review_okrs` is the Prefect flow that calls
it and publishes the review as a table artifact. It is safe to schedule daily: before the period's end
(plus `offset_days`, for sources that close late) it only says when the review can run and writes nothing;
the first run after that evaluates the period's last day and writes the `Review <period>` tab; later runs
find that review in the run ledger and write nothing (`force` evaluates and rewrites it, keeping the
lessons typed into it, e.g. after a late correction in a source).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Optional

from connectors.checkins import read_sheets, write_sheet
from flows.checkin import RitualError, describe, targets
from flows.pipeline import SyncOutcome, context_of, now_in, run_sync
from mapping.config import Config
from mapping.errors import OkrSyncError
from mapping.review import Review, artifact_rows, build_review, read_lessons, review_from, review_table, tab_title
from mapping.sources.sheets import SheetsOutput


@dataclass
class ReviewOutcome:
    """What a review did; `ready` is False (and nothing was evaluated or written) before `review_day`."""

    period: str
    period_end: date
    review_day: date
    ready: bool
    done_before: Optional[datetime] = None  # when the review was already written (nothing done this time)
    review: Optional[Review] = None
    sync: Optional[SyncOutcome] = None
    written: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        if self.done_before is not None:
            return (f"review {self.period} was written on {self.done_before:%Y-%m-%d %H:%M}; nothing was written "
                    "(okr-sync review --force writes it again)")
        if not self.ready:
            return f"period {self.period} ends on {self.period_end}, review from {self.review_day}; nothing was written"
        assert self.review is not None
        flagged = self.review.flagged
        return (f"review {self.period}: {self.review.successes} of {len(self.review.krs)} KRs met"
                + (f"; flagged: {', '.join(f'{kr.kr_id} ({kr.verdict})' for kr in flagged)}" if flagged else "")
                + (f"; written to {', '.join(self.written)}" if self.written else ""))


def reviewed_at(config: Config, env: Optional[Mapping[str, str]] = None) -> Optional[datetime]:
    """When a completed review of the config's workspace and period was recorded in the run ledger (None: never)."""
    from flows.pipeline import open_history

    history = open_history(config, context_of(config, env), read_only=True)
    if history is None:
        return None
    try:
        done = history.last_run("review")
        return done.started_at if done is not None else None
    finally:
        history.close()


def run_review(config: Config, now: Optional[datetime] = None, offset_days: int = 0,
               env: Optional[Mapping[str, str]] = None, sheets_client: Any = None, force: bool = False) -> ReviewOutcome:
    """Evaluate the period as of its last day and write the `Review <period>` tab to every check-in target (once,
    unless `force`)."""
    if offset_days < 0:
        raise RitualError(f"--offset-days {offset_days}: give 0 or more days to wait after the period's end")
    now = now or now_in(config)
    period = config.period_obj()
    outcome = ReviewOutcome(period.name, period.end, review_from(period, offset_days), False)
    if now.date() < outcome.review_day:
        return outcome
    if not force:
        outcome.done_before = reviewed_at(config, env)
        if outcome.done_before is not None:
            return outcome
    places = targets(config, "review")
    outcome.sync = run_sync(config, now, as_of=period.end, kind="review", publish_outputs=False, env=env)
    outcome.review = review = build_review(period, period.end, outcome.sync.results, outcome.sync.objectives)
    outcome.ready = True
    title = tab_title(period.name)
    for place in places:
        if isinstance(place, Path):
            lessons = read_lessons(read_sheets(place, [title]).get(title) or [])
            outcome.written.append(str(write_sheet(place, review_table(review, lessons))))
        else:
            outcome.written.append(_write_sheets(config, place, review, env, sheets_client, outcome))
    return outcome


def _write_sheets(config: Config, output: SheetsOutput, review: Review, env: Optional[Mapping[str, str]],
                  client: Any, outcome: ReviewOutcome) -> str:
    """One batchGet of the Review tab (its lessons; Google says when it does not exist yet), then add it if new and write it."""
    from connectors.sheets_checkin import write_ritual_tab
    from connectors.sheets_client import SheetsClient
    client = client or SheetsClient.for_auth(output, context_of(config, env))
    title = tab_title(review.period)
    done = write_ritual_tab(client, output.spreadsheet, title, [], None,
                            lambda found: review_table(review, read_lessons(found.get(title) or [])))
    where = describe(output)
    outcome.requests[where] = done.requests
    return where


def _flow_body(config_path: str, offset_days: int, now: Optional[datetime], force: bool = False) -> Any:
    """What the `review_okrs` flow does: the review, a table artifact of it, a state that says what happened."""
    from prefect import get_run_logger
    from prefect.artifacts import create_table_artifact
    from prefect.states import Completed, Failed

    from mapping.loader import load_config
    logger = get_run_logger()
    try:
        outcome = run_review(load_config(Path(config_path)), now, offset_days, force=force)
    except OkrSyncError as exc:
        logger.error(str(exc))
        return Failed(message=str(exc))
    logger.info(outcome.message)
    if not outcome.ready or outcome.done_before is not None:
        return Completed(message=outcome.message)
    assert outcome.review is not None and outcome.sync is not None
    create_table_artifact(artifact_rows(outcome.review), key=f"okr-review-{outcome.period.lower()}",
                          description=f"OKR review {outcome.period} (as of {outcome.period_end})")
    if not outcome.sync.ok:
        return Failed(message=f"{outcome.message}. {outcome.sync.failure_message()}")
    return Completed(message=outcome.message)


def __getattr__(name: str) -> Any:
    """`review_okrs`, the Prefect flow, built on first use: the CLI runs `run_review` without importing Prefect (seconds)."""
    if name != "review_okrs":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from prefect import flow

    @flow(name="review-okrs", log_prints=False)
    def review_okrs(config_path: str = "okrs.yaml", offset_days: int = 0, now: Optional[datetime] = None,
                    force: bool = False) -> Any:
        """The period review of one okrs.yaml (schedule it daily: it waits until the period's end + offset_days).

        Writes the `Review <period>` tab and a table artifact; ends Failed when the config is invalid or a source failed."""
        return _flow_body(config_path, offset_days, now, force)

    globals()["review_okrs"] = review_okrs
    return review_okrs
