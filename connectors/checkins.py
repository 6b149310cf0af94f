"""Where weekly check-ins live: their rows in the history store, and the check-in workbook next to the summary.

The store keeps, per (workspace, period, week, KR), what the check-in showed (value, progress, status: the
next check-in's "change since last check-in" and "status change" are counted from it) and what the owner
wrote back (note, blockers, help needed, confidence 0-10). Confidence read week after week is a series.
The table is created by migration 0004 and registered on the history store's metadata.

The summary workbook is rewritten by every sync, so check-ins (and the period review) go to a workbook of
their own, `<summary stem>-checkins.xlsx` (or the xlsx output's `checkin_path`): one sheet per week, earlier
weeks' sheets kept, saved atomically. Text is always stored as text: a note starting with "=" never becomes
a formula.
"""
from __future__ import annotations

import io
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from connectors.atomic import OutputError, atomic_output
from connectors.history import HistoryStore, _chunks, _utc_naive, metadata, upsert
from mapping.checkin import Entry, Snapshot, week_of_tab
from mapping.report import Table

checkins = sa.Table(
    "okr_checkins", metadata,
    sa.Column("workspace", sa.String(100), primary_key=True),
    sa.Column("period", sa.String(64), primary_key=True),
    sa.Column("week", sa.String(10), primary_key=True),
    sa.Column("kr_id", sa.String(200), primary_key=True),
    sa.Column("value", sa.Float),
    sa.Column("progress", sa.Float),
    sa.Column("status", sa.String(20)),
    sa.Column("checked_in_at", sa.DateTime),
    sa.Column("run_id", sa.String(64)),
    sa.Column("note", sa.Text),
    sa.Column("blockers", sa.Text),
    sa.Column("help_needed", sa.Text),
    sa.Column("confidence", sa.Float),
    sa.Column("entered_at", sa.DateTime),
    sa.Column("entries_run_id", sa.String(64)),
)


class CheckinStore:
    """The check-in rows of one history scope (workspace + period), on an open HistoryStore's engine."""

    def __init__(self, history: HistoryStore):
        self.history = history
        self.scope = history.scope

    def _where(self) -> sa.ColumnElement[bool]:
        return sa.and_(checkins.c.workspace == self.scope.workspace, checkins.c.period == self.scope.period)

    def _key(self, week: str, kr_id: str) -> dict[str, str]:
        return {"workspace": self.scope.workspace, "period": self.scope.period, "week": week, "kr_id": kr_id}

    def weeks(self) -> list[str]:
        """The weeks of this period that had a check-in, oldest first (ISO weeks sort as text)."""
        with self.history._reading() as conn:
            rows = conn.execute(sa.select(checkins.c.week).where(self._where(), checkins.c.checked_in_at.is_not(None)).distinct())
            return sorted(row.week for row in rows)

    def previous_week(self, week: str) -> Optional[str]:
        """The latest week before `week` that had a check-in (None for the period's first)."""
        earlier = [w for w in self.weeks() if w < week]
        return earlier[-1] if earlier else None

    def snapshot(self, week: str) -> dict[str, Snapshot]:
        """What the check-in of `week` showed, per KR."""
        c = checkins.c
        with self.history._reading() as conn:
            rows = conn.execute(sa.select(c.kr_id, c.value, c.progress, c.status)
                                .where(self._where(), c.week == week, c.checked_in_at.is_not(None)))
            return {r.kr_id: Snapshot(r.kr_id, r.value, r.progress, r.status or "no_data") for r in rows}

    def last_checkin(self, up_to_week: str) -> dict[str, tuple[date, float]]:
        """Each KR's value at the newest check-in of a week up to `up_to_week` (and the day it was taken): what the
        dashboard's "change since the last check-in" is measured from. Empty when there was none."""
        shown = [w for w in self.weeks() if w <= up_to_week]
        if not shown:
            return {}
        c = checkins.c
        with self.history._reading() as conn:
            rows = conn.execute(sa.select(c.kr_id, c.value, c.checked_in_at)
                                .where(self._where(), c.week == shown[-1], c.checked_in_at.is_not(None), c.value.is_not(None)))
            return {r.kr_id: (r.checked_in_at.date(), r.value) for r in rows}

    def entries(self, week: str) -> dict[str, Entry]:
        """The owner entries read back for `week`, per KR."""
        c = checkins.c
        with self.history._reading() as conn:
            rows = conn.execute(sa.select(c.kr_id, c.note, c.blockers, c.help_needed, c.confidence)
                                .where(self._where(), c.week == week, c.entered_at.is_not(None)))
            return {r.kr_id: Entry(r.kr_id, r.note or "", r.blockers or "", r.help_needed or "", r.confidence) for r in rows}

    def confidence_series(self, kr_ids: Optional[list[str]] = None) -> dict[str, list[tuple[str, float]]]:
        """KR id -> (week, confidence) of every week its owner gave one, oldest first."""
        c = checkins.c
        where = [self._where(), c.confidence.is_not(None)]
        out: dict[str, list[tuple[str, float]]] = {kr_id: [] for kr_id in kr_ids or []}
        with self.history._reading() as conn:
            for chunk in (_chunks(kr_ids) if kr_ids else [None]):
                query = sa.select(c.kr_id, c.week, c.confidence).where(*where, *([c.kr_id.in_(chunk)] if chunk else []))
                for row in conn.execute(query.order_by(c.kr_id, c.week)):
                    out.setdefault(row.kr_id, []).append((row.week, row.confidence))
        return out

    def last_confidence(self, kr_ids: list[str], before: str) -> dict[str, float]:
        """Each KR's newest confidence from a week before `before`."""
        out: dict[str, float] = {}
        for kr_id, points in self.confidence_series(kr_ids).items():
            earlier = [value for week, value in points if week < before]
            if earlier:
                out[kr_id] = earlier[-1]
        return out

    def record_snapshot(self, week: str, snapshots: Iterable[Snapshot], run_id: str, now: datetime) -> None:
        """Store what this week's check-in shows (re-running the week overwrites it; entries are kept)."""
        stamp = _utc_naive(now)
        rows = [{**self._key(week, s.kr_id), "value": s.value, "progress": s.progress, "status": s.status,
                 "checked_in_at": stamp, "run_id": run_id} for s in snapshots]
        self._write(rows, "cannot record the check-in")

    def record_entries(self, week: str, entries: Mapping[str, Entry], run_id: str, now: datetime) -> None:
        """Store the owners' entries of `week` as read from its sheet (a second read overwrites the first)."""
        stamp = _utc_naive(now)
        rows = [{**self._key(week, e.kr_id), "note": e.note or None, "blockers": e.blockers or None,
                 "help_needed": e.help_needed or None, "confidence": e.confidence, "entered_at": stamp,
                 "entries_run_id": run_id} for e in entries.values()]
        self._write(rows, "cannot record the check-in entries")

    def _write(self, rows: list[dict], doing: str) -> None:
        try:
            with self.history.engine.begin() as conn:
                upsert(conn, checkins, rows)
        except SQLAlchemyError as exc:
            raise self.history._error(exc, doing) from None


# ---- the check-in workbook ---------------------------------------------------------------------

def workbook_path(summary_path: Path, checkin_path: Optional[Path] = None) -> Path:
    """`checkin_path` when set, else `<summary stem>-checkins.xlsx` next to the summary workbook."""
    return checkin_path or summary_path.with_name(f"{summary_path.stem}-checkins.xlsx")


def _load(path: Path) -> Any:
    from openpyxl import load_workbook
    from zipfile import BadZipFile
    try:
        return load_workbook(path)  # formulas as their text: an owner's "=..." is read as text, never evaluated
    except (OSError, BadZipFile, KeyError, ValueError) as exc:
        raise OutputError(f"cannot read the check-in workbook {path}: {exc}; close it in Excel, or move it aside "
                          "to start a new one") from None


def sheet_titles(path: Path) -> list[str]:
    """The sheet names of the workbook at `path` ([] when it does not exist yet)."""
    return list(_load(path).sheetnames) if path.exists() else []


def read_sheets(path: Path, titles: Iterable[str]) -> dict[str, list[list[Any]]]:
    """The values of each named sheet that exists (rows, header first)."""
    if not path.exists():
        return {}
    book = _load(path)
    return {title: [list(row) for row in book[title].iter_rows(values_only=True)] for title in titles if title in book.sheetnames}


_FORMATS = {"number": "#,##0.00", "percent": "0%", "score": "0.00"}


def checkin_position(titles: list[str], title: str) -> Optional[int]:
    """Where a new check-in sheet `title` goes among the sheets `titles` so that check-in sheets read newest first
    (a back-dated week lands between its neighbours): before the first sheet of an older week, else right after
    the last sheet of a newer one. None when `title` is no check-in sheet or no other check-in sheet exists."""
    week = week_of_tab(title)
    if week is None:
        return None
    weeks = [(i, w) for i, t in enumerate(titles) if (w := week_of_tab(t)) is not None and t != title]
    if not weeks:
        return None
    older = [i for i, w in weeks if w < week]
    return older[0] if older else weeks[-1][0] + 1


def write_sheet(path: Path, table: Table) -> Path:
    """Add or replace the sheet `table.name` (a replaced one where it was; a new check-in week among the other weeks,
    newest first; any other new sheet first); other sheets are kept.

    Every text is stored as a string (never a formula); the file is replaced atomically.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font, PatternFill
    from openpyxl.utils import get_column_letter

    if path.exists():
        book = _load(path)
        if table.name in book.sheetnames:
            index = book.sheetnames.index(table.name)
            del book[table.name]
        else:
            position = checkin_position(book.sheetnames, table.name)
            index = 0 if position is None else position
    else:
        book, index = Workbook(), 0
        book.remove(book.active)
    sheet = book.create_sheet(table.name, index)
    sheet.append(table.header)
    for r, row in enumerate(table.rows, start=2):
        for c, (column, value) in enumerate(zip(table.columns, row), start=1):
            if value is None:
                continue
            cell = sheet.cell(r, c)
            cell.value = value
            if isinstance(value, str):
                cell.data_type = "s"  # "=..." from a source or an owner stays text
            elif column.kind in _FORMATS:
                cell.number_format = _FORMATS[column.kind]
    bold, fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="1F3864")
    for c, column in enumerate(table.columns, start=1):
        head = sheet.cell(1, c)
        head.font, head.fill = bold, fill
        sheet.column_dimensions[get_column_letter(c)].width = column.width
    sheet.freeze_panes = "C2"
    book.active = index
    for other in book.worksheets:
        other.sheet_view.tabSelected = other.title == table.name
    buffer = io.BytesIO()
    book.save(buffer)
    with atomic_output(path, "check-in workbook") as handle:
        handle.write(buffer.getvalue())
    return path
