"""What `okr-sync run` / `preview` show while they work and when they are done.

While sources are fetched: a live line per source on a terminal (state, elapsed time, a retry
countdown such as "retry 1/2 in 8 s: connection refused"), plain log lines when the output is not a
terminal (CI logs, cron mails). When done: the full result table for a small config, a summary for a
large one (counts per status, stale KRs, the worst KRs; `--all` shows every KR), or JSON for scripts.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from connectors.base import source_message
from mapping.rollup import SEVERITY

FULL_TABLE_UP_TO = 40  # KRs; a larger config gets the summary unless --all
WORST = 10
STATUS_STYLE = {"done": "green", "on_track": "cyan", "at_risk": "yellow", "off_track": "red", "no_data": "dim"}


@dataclass
class _Source:
    state: str = "waiting"
    detail: str = ""
    started: float = field(default_factory=time.monotonic)
    until: float = 0.0  # end of a retry wait
    seconds: float = 0.0


class SourceProgress:
    """Thread-safe per-source progress: a rich renderable on a terminal, one stderr line per event otherwise."""

    def __init__(self, console: Console):
        self.console, self.live = console, console.is_terminal
        self.step = "starting"
        self._sources: dict[str, _Source] = {}
        self._lock = threading.Lock()

    def on_step(self, step: str) -> None:
        self.step = step
        if not self.live:
            self.console.print(f"{step}...", markup=False, highlight=False, soft_wrap=True)

    def on_source(self, source: str, state: str, detail: str = "", seconds: float = 0.0) -> None:
        with self._lock:
            entry = self._sources.setdefault(source, _Source())
            entry.state, entry.detail = state, detail
            if state == "retry":
                entry.until = time.monotonic() + seconds
            elif state in ("done", "failed"):
                entry.seconds = seconds
        if not self.live:
            self.console.print(self._line(source, entry), markup=False, highlight=False, soft_wrap=True)

    @staticmethod
    def _line(source: str, entry: _Source) -> str:
        if entry.state == "retry":  # "retry 1/2: why" -> "retry 1/2 in 8 s: why", counting down
            left = max(0.0, entry.until - time.monotonic())
            text = entry.detail.replace(":", f" in {left:.0f} s:", 1)
        elif entry.state in ("done", "failed"):
            text = f"{entry.state} in {entry.seconds:.1f} s" + (f": {entry.detail}" if entry.detail else "")
        else:
            text = f"{entry.state} ({entry.detail}), {time.monotonic() - entry.started:.0f} s" if entry.detail else entry.state
        return source_message(source, text)

    def __rich__(self) -> Group:
        with self._lock:
            unicode = (self.console.encoding or "").lower().startswith("utf")
            lines = [Text(f"{_mark(entry.state, unicode)} {self._line(name, entry)}", style="red" if entry.state == "failed" else "")
                     for name, entry in self._sources.items()]
        return Group(Text(f"{self.step}...", style="bold"), *lines)


SPINNER, ASCII_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏", "|/-\\"


def _mark(state: str, unicode: bool = True) -> str:
    """A spinner frame while a source works (fetching, waiting to retry), then ✓ or ✗ (ASCII on a terminal that
    cannot show them)."""
    if state == "done":
        return "✓" if unicode else "+"
    if state == "failed":
        return "✗" if unicode else "x"
    frames = SPINNER if unicode else ASCII_SPINNER
    return frames[int(time.monotonic() * 8) % len(frames)]


def result_rows(outcome: Any) -> list[dict[str, Any]]:
    """One dict per KR in alignment order (for --format json and the tables)."""
    rows = []
    for entry in outcome.objectives:
        for kr in entry.objective.key_results:
            r = outcome.results[kr.id]
            rows.append({"kr_id": kr.id, "objective_id": entry.objective.id, "title": kr.title, "value": r.value, "target": kr.target,
                         "unit": kr.unit, "progress": r.progress, "score": r.score, "expected": r.expected, "status": r.status,
                         "label": r.label, "stale": r.stale, "error": r.error or None,
                         "last_updated": r.as_of.isoformat() if r.as_of else None})
    return rows


def format_number(value: Any, percent: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:.0%}" if percent else f"{value:,.4g}"


def kr_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("KR", overflow="fold", min_width=8)  # an id is what `explain` takes: folded, never cut short
    for name in ("Current", "Target", "Progress", "Score"):
        table.add_column(name, justify="right", no_wrap=True, min_width=len(name))
    table.add_column("Status", overflow="fold", min_width=8)
    for row in rows:
        style = "red" if row["stale"] else STATUS_STYLE[row["status"]]
        table.add_row(escape(row["kr_id"]), format_number(row["value"]), format_number(row["target"]), format_number(row["progress"], True), format_number(row["score"]),
                      f"[{style}]{escape(row['label'])}[/]")
    return table


def show_result(console: Console, outcome: Any, show_all: bool = False) -> None:
    """The full table for a config of up to FULL_TABLE_UP_TO KRs (or with --all), else a summary."""
    rows = result_rows(outcome)
    title = f"OKRs {outcome.period.name} - {outcome.period.elapsed(outcome.now):.0%} of the period gone"
    if show_all or len(rows) <= FULL_TABLE_UP_TO:
        console.print(kr_table(title, rows))
        return
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    console.print(f"{title}: {len(rows):,} KRs - " + ", ".join(f"{status} {counts[status]:,}" for status in
                  sorted(counts, key=SEVERITY.__getitem__)), markup=False, highlight=False, soft_wrap=True)
    stale = [row for row in rows if row["stale"]]
    if stale:
        shown = ", ".join(row["kr_id"] for row in stale[:20]) + (f" and {len(stale) - 20:,} more" if len(stale) > 20 else "")
        console.print(f"stale or failed: {len(stale):,} KRs ({shown})", markup=False, highlight=False, soft_wrap=True)
    worst = sorted(rows, key=lambda row: (SEVERITY[row["status"]], row["score"] if row["score"] is not None else -1))[:WORST]
    console.print(kr_table(f"The {len(worst)} worst KRs (all {len(rows):,}: --all, or --format json)", worst))
