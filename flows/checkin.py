"""The weekly check-in: sync, read last week's owner entries back into history, write this week's `Check-in` tab.

`run_checkin` is the plain function (the CLI calls it directly); `checkin_okrs` is the Prefect flow that
calls it (schedule it weekly). Steps:

1. a sync (fetch, score, record today's values; the ledger says kind "checkin"); the summary outputs are
   left to the regular sync;
2. for each check-in target (the check-in workbook next to each xlsx output, each Google Sheets output):
   read the sheet of the latest earlier week and, when it exists already, this week's sheet; the owners'
   entries (note, blockers, help needed, confidence 0-10, matched by KR id) go into the history store;
3. write this week's sheet: per KR current value, change since the last check-in, progress, status and what
   changed status, the last confidence, and the owner columns (empty, or as typed when the week is rerun);
4. record what this check-in showed (the next one counts its changes from it).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Mapping, Optional, Union

from connectors.checkins import CheckinStore, read_sheets, sheet_titles, workbook_path, write_sheet
from connectors.history import HistoryStore
from flows.pipeline import SyncOutcome, context_of, now_in, open_history, run_sync
from mapping.checkin import (Entry, WeekError, checkin_table, iso_week, read_entries, snapshot_of, tab_title, week_days,
                             week_of_tab)
from mapping.config import Config, XlsxOutput
from mapping.errors import OkrSyncError
from mapping.period import Period
from mapping.report import Table
from mapping.sources.sheets import SheetsOutput, spreadsheet_key

log = logging.getLogger("okr_sync")
Target = Union[Path, SheetsOutput]


class RitualError(OkrSyncError):
    """A check-in or review cannot run as asked (no output to write to, a week in the future)."""

    exit_code = 2


def targets(config: Config, what: str = "check-in") -> list[Target]:
    """Where check-ins and reviews are written: the check-in workbook of each xlsx output, each Sheets output."""
    out: list[Target] = []
    for output in config.outputs:
        if isinstance(output, XlsxOutput):
            summary = config.resolve_path(output.path)
            out.append(workbook_path(summary, config.resolve_path(output.checkin_path) if output.checkin_path else None))
        elif isinstance(output, SheetsOutput):
            out.append(output)
    if not out:
        raise RitualError(f"{config.file}: no xlsx or sheets output to write the {what} to; add one under outputs "
                          "(e.g. - {kind: xlsx, path: out/okr-summary.xlsx})")
    return out


def describe(target: Target) -> str:
    return str(target) if isinstance(target, Path) else f"https://docs.google.com/spreadsheets/d/{spreadsheet_key(target.spreadsheet)}"


@dataclass
class CheckinOutcome:
    """What a check-in did: its week, the sync behind it, the table written and where, what was read back."""

    week: str
    previous_week: Optional[str]
    sync: SyncOutcome
    table: Table
    written: list[str] = field(default_factory=list)
    entries_read: dict[str, int] = field(default_factory=dict)  # week -> KRs with an owner entry read back
    warnings: list[str] = field(default_factory=list)
    requests: dict[str, int] = field(default_factory=dict)  # Sheets requests per spreadsheet


def choose_week(today: date, week: Optional[str], period: Optional[Period] = None) -> tuple[str, Optional[date]]:
    """The week to check in (default: today's ISO week) and the day to evaluate as of (None: now).

    A week that ends before `period` starts is refused here, naming --week (the sync's own check names --as-of,
    which the user never typed)."""
    if week is None:
        return iso_week(today), None
    try:
        monday, sunday = week_days(week)
    except WeekError as exc:
        raise RitualError(f"--week: {exc}") from None
    if monday > today:
        raise RitualError(f"--week {week} has not started (today is {today}, in {iso_week(today)}); check in a current or past week")
    if period is not None and sunday < period.start:
        raise RitualError(f"--week {week.strip()} ends {sunday}, before period {period.name} starts ({period.start}); "
                          "check in a week of the period, or the earlier period with its own config")
    return week.strip(), None if sunday >= today else sunday


class _Checkin:
    """One check-in's state while it reads and writes its targets."""

    def __init__(self, config: Config, store: CheckinStore, week: str, sync: SyncOutcome, now: datetime,
                 env: Optional[Mapping[str, str]] = None):
        self.config, self.store, self.week, self.sync, self.now, self.env = config, store, week, sync, now, env
        self.kr_ids = [kr.id for _, kr in config.key_results()]
        self.previous = store.previous_week(week)
        self.read: dict[str, int] = {}
        self.warnings: list[str] = []
        self.table: Optional[Table] = None

    def build(self, found: Mapping[str, Optional[list[list[Any]]]], where: str, previous_title: Optional[str] = None) -> Table:
        """Store the entries found in the previous week's and this week's sheets, then build this week's table."""
        ids = set(self.kr_ids)
        typed: dict[str, Entry] = {}
        previous_title = previous_title or (tab_title(self.previous) if self.previous else None)
        for title in (previous_title, tab_title(self.week)):
            rows = found.get(title) if title else None
            if not rows:
                continue
            entries, warnings = read_entries(rows, f"{where} sheet {title!r}", ids)
            self.warnings.extend(warnings)
            week = week_of_tab(title) or self.week
            if entries:
                self.store.record_entries(week, entries, self.sync.run_id, self.now)
                self.read[week] = max(self.read.get(week, 0), len(entries))
            if week == self.week:
                typed = entries
        previous = self.store.snapshot(self.previous) if self.previous else None
        self.table = checkin_table(self.config, self.sync.results, self.sync.objectives, self.week, previous, typed,
                                   self.store.last_confidence(self.kr_ids, before=self.week))
        return self.table

    def xlsx(self, path: Path) -> str:
        """Read the latest earlier week's sheet (and this week's) of the workbook, then add or replace this week's."""
        first = iso_week(self.config.period_obj().start)  # an earlier period's weeks in the same workbook are not read
        earlier = sorted(w for t in sheet_titles(path) if (w := week_of_tab(t)) and first <= w < self.week)
        previous_title = tab_title(earlier[-1]) if earlier else None
        found = read_sheets(path, [t for t in (previous_title, tab_title(self.week)) if t])
        return str(write_sheet(path, self.build(found, str(path), previous_title)))

    def sheets(self, output: SheetsOutput, client: Any = None) -> tuple[str, int]:
        """Read last week's tab (and this week's when history says it exists) in one batchGet, then write this week's."""
        from connectors.sheets_checkin import write_ritual_tab
        from connectors.sheets_client import SheetsClient
        client = client or SheetsClient.for_auth(output, context_of(self.config, self.env))
        also = [tab_title(self.previous)] if self.previous else []
        done = write_ritual_tab(client, output.spreadsheet, tab_title(self.week), also, self.week in self.store.weeks(),
                                lambda found: self.build(found, f"spreadsheet {spreadsheet_key(output.spreadsheet)}"))
        return describe(output), done.requests


def run_checkin(config: Config, now: Optional[datetime] = None, week: Optional[str] = None,
                env: Optional[Mapping[str, str]] = None, sheets_client: Any = None) -> CheckinOutcome:
    """The whole check-in (see the module docstring); warnings about owners' cells are returned and logged."""
    now = now or now_in(config)
    week, as_of = choose_week(now.date(), week, config.period_obj())
    places = targets(config)
    sync = run_sync(config, now, as_of=as_of, kind="checkin", publish_outputs=False, env=env)
    history: HistoryStore = open_history(config, context_of(config, env))  # type: ignore[assignment]
    try:
        job = _Checkin(config, CheckinStore(history), week, sync, now, env)
        written: list[str] = []
        requests: dict[str, int] = {}
        for place in places:
            if isinstance(place, Path):
                written.append(job.xlsx(place))
            else:
                where, count = job.sheets(place, sheets_client)
                written.append(where)
                requests[where] = count
        job.store.record_snapshot(week, [snapshot_of(sync.results[kr_id]) for kr_id in job.kr_ids], sync.run_id, now)
    finally:
        history.close()
    for warning in job.warnings:
        log.warning(warning)
    assert job.table is not None
    return CheckinOutcome(week, job.previous, sync, job.table, written, job.read, job.warnings, requests)


def _flow_body(config_path: str, week: Optional[str], now: Optional[datetime]) -> Any:
    """What the `checkin_okrs` flow does: the check-in, its warnings logged, a state that names what was written."""
    from prefect import get_run_logger
    from prefect.states import Completed, Failed

    from mapping.loader import load_config
    logger = get_run_logger()
    try:
        outcome = run_checkin(load_config(Path(config_path)), now, week)
    except OkrSyncError as exc:
        logger.error(str(exc))
        return Failed(message=str(exc))
    for warning in outcome.warnings:
        logger.warning(warning)
    read = ", ".join(f"{w}: {n} KRs" for w, n in sorted(outcome.entries_read.items()))
    message = f"check-in {outcome.week} of {len(outcome.table.rows)} KRs written to {', '.join(outcome.written)}" + (
        f"; owner entries read back ({read})" if read else "")
    logger.info(message)
    if not outcome.sync.ok:
        return Failed(message=f"{message}. {outcome.sync.failure_message()}")
    return Completed(message=message)


def __getattr__(name: str) -> Any:
    """`checkin_okrs`, the Prefect flow, built on first use: the CLI runs `run_checkin` without importing Prefect (seconds)."""
    if name != "checkin_okrs":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from prefect import flow

    @flow(name="checkin-okrs", log_prints=False)
    def checkin_okrs(config_path: str = "okrs.yaml", week: Optional[str] = None, now: Optional[datetime] = None) -> Any:
        """The weekly check-in of one okrs.yaml: sync, read last week's owner entries back, write this week's tab.

        Ends Failed when the config is invalid or a source failed (the tab is still written, stale KRs marked)."""
        return _flow_body(config_path, week, now)

    globals()["checkin_okrs"] = checkin_okrs
    return checkin_okrs
