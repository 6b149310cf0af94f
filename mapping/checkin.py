"""The weekly check-in table (the methodology's 15-minute weekly meeting), and reading the owners' entries back.

One row per KR: where it stands now (current value, change since the last check-in, progress, status and
what changed status), then the columns the owner fills in the sheet: progress note, blockers, help needed
and confidence 0-10. The next check-in reads those entries back (matched by KR id, by header name, so
moved columns still read), and confidence becomes a weekly series.

Pure: the scored results, the previous check-in's snapshot and the entries are passed in.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Mapping, Optional, Sequence

from mapping.config import Config
from mapping.labels import STATUS_LABELS, display_status
from mapping.report import Column, Table
from mapping.results import KRResult
from mapping.rollup import ObjectiveResult

TAB_PREFIX = "Check-in "
NOTE, BLOCKERS, HELP, CONFIDENCE = "Progress note", "Blockers", "Help needed", "Confidence (0-10)"
OWNER_COLUMNS = [Column(NOTE, "text", 40), Column(BLOCKERS, "text", 30), Column(HELP, "text", 30), Column(CONFIDENCE, "number", 12)]
CHECKIN_COLUMNS = [
    Column("Objective", "text", 30), Column("KR id", "text", 16), Column("Key result", "text", 40), Column("Owner", "text", 14),
    Column("Unit", "text", 7), Column("Current", "number", 10), Column("Target", "number", 10),
    Column("Change since last check-in", "number", 12), Column("Progress", "percent", 10), Column("Score", "score", 8),
    Column("Status", "text", 11), Column("Status change", "text", 22), Column("Last confidence", "number", 11),
    *OWNER_COLUMNS,
]
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


class WeekError(ValueError):
    """A week that is not an ISO week like 2026-W48."""


def iso_week(day: date) -> str:
    """The ISO week of a day, as 2026-W48 (weeks run Monday to Sunday; week 1 holds the year's first Thursday)."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def week_days(week: str) -> tuple[date, date]:
    """Monday and Sunday of an ISO week like 2026-W48."""
    match = _WEEK.match(week.strip())
    if not match:
        raise WeekError(f"{week!r} is not an ISO week like 2026-W48")
    try:
        monday = date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise WeekError(f"{week!r}: year {match.group(1)} has no week {match.group(2)}") from None
    return monday, monday + timedelta(days=6)


def tab_title(week: str) -> str:
    return TAB_PREFIX + week


def week_of_tab(title: str) -> Optional[str]:
    """The week a check-in tab or sheet is for ("Check-in 2026-W48" -> "2026-W48"); None for any other tab."""
    if not title.startswith(TAB_PREFIX):
        return None
    week = title[len(TAB_PREFIX):]
    return week if _WEEK.match(week) else None


@dataclass(frozen=True)
class Entry:
    """What an owner wrote for one KR in one week's check-in."""

    kr_id: str
    note: str = ""
    blockers: str = ""
    help_needed: str = ""
    confidence: Optional[float] = None

    @property
    def empty(self) -> bool:
        return not (self.note or self.blockers or self.help_needed) and self.confidence is None


@dataclass(frozen=True)
class Snapshot:
    """A KR as a check-in showed it (what the next check-in's change and status change are counted from)."""

    kr_id: str
    value: Optional[float]
    progress: Optional[float]
    status: str  # display status key (done, on_track, ..., stale, no_data)


def status_change(before: Optional[str], after: str) -> str:
    """"On track → At risk" when the display status moved since the last check-in; "" when it did not (or no earlier one)."""
    if before is None or before == after:
        return ""
    return f"{STATUS_LABELS.get(before, before)} → {STATUS_LABELS.get(after, after)}"


def snapshot_of(result: KRResult) -> Snapshot:
    return Snapshot(result.kr_id, result.value, result.progress, display_status(result))


def checkin_table(config: Config, results: Mapping[str, KRResult], objectives: Sequence[ObjectiveResult], week: str,
                  previous: Optional[Mapping[str, Snapshot]] = None, entries: Optional[Mapping[str, Entry]] = None,
                  last_confidence: Optional[Mapping[str, float]] = None) -> Table:
    """One row per KR (objectives in alignment-tree order) for the check-in of `week`.

    `previous`: the last earlier check-in's snapshot per KR (None when this is the period's first check-in:
    no change, no status change; a KR missing from it reads "new"). `entries`: owner entries already typed
    into this week's tab (kept when the tab is written again). `last_confidence`: each KR's newest confidence.
    """
    table = Table(tab_title(week), CHECKIN_COLUMNS)
    entries = entries or {}
    last_confidence = last_confidence or {}
    for entry in objectives:
        objective = entry.objective
        for kr in objective.key_results:
            r = results[kr.id]
            status = display_status(r)
            before = previous.get(kr.id) if previous is not None else None
            change = None
            if before is not None and before.value is not None and r.value is not None:
                change = r.value - before.value
            moved = "new" if previous is not None and before is None else status_change(before.status if before else None, status)
            typed = entries.get(kr.id, Entry(kr.id))
            table.rows.append([
                objective.title, kr.id, kr.title, kr.owner or objective.owner, kr.unit, r.value, kr.target, change,
                r.progress, r.score, STATUS_LABELS[status], moved, last_confidence.get(kr.id),
                typed.note or None, typed.blockers or None, typed.help_needed or None, typed.confidence,
            ])
    return table


def parse_confidence(value: Any) -> Optional[float]:
    """A confidence cell as a number 0..10 (None when empty); ValueError saying why otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(str(value).strip().replace(",", "."))
        except ValueError:
            raise ValueError(f"{str(value).strip()!r} is not a number") from None
    if not 0 <= number <= 10:  # also refuses nan
        raise ValueError(f"{number:g} is not on the 0-10 scale")
    return number


def cell_text(value: Any) -> str:
    """An owner's cell as plain text (a number or date typed in a note stays readable; a formula is its text)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def read_entries(rows: Sequence[Sequence[Any]], where: str, kr_ids: Optional[set[str]] = None) -> tuple[dict[str, Entry], list[str]]:
    """The owner entries of a check-in sheet's rows (header first), by KR id, and one warning line per bad cell.

    Columns are found by their header, so an owner who moves or adds columns does not break the read. A bad
    confidence ("eleven", 14) is ignored with a warning naming `where` and the row (the notes are kept); a row
    of a KR that is not in the config is skipped with a warning; rows without a KR id are skipped.
    """
    if not rows:
        return {}, []
    header = [cell_text(cell) for cell in rows[0]]
    if "KR id" not in header:
        return {}, [f"{where}: no 'KR id' column in row 1; the owners' entries were not read (restore the header row)"]
    index = {name: header.index(name) for name in ("KR id", NOTE, BLOCKERS, HELP, CONFIDENCE) if name in header}

    def cell(row: Sequence[Any], name: str) -> Any:
        i = index.get(name)
        return row[i] if i is not None and i < len(row) else None

    entries: dict[str, Entry] = {}
    warnings: list[str] = []
    for number, row in enumerate(rows[1:], start=2):
        kr_id = cell_text(cell(row, "KR id"))
        if not kr_id:
            continue
        if kr_ids is not None and kr_id not in kr_ids:
            warnings.append(f"{where} row {number}: KR {kr_id!r} is not in the config; its entries were not read")
            continue
        raw = cell(row, CONFIDENCE)
        try:
            confidence = parse_confidence(raw)
        except ValueError as exc:
            warnings.append(f"{where} row {number} (KR {kr_id}): confidence {exc}; it was ignored (write a number from 0 to 10)")
            confidence = None
        found = Entry(kr_id, cell_text(cell(row, NOTE)), cell_text(cell(row, BLOCKERS)), cell_text(cell(row, HELP)), confidence)
        if not found.empty:
            entries[kr_id] = found
    return entries, warnings
