"""The `file` source: a local CSV or XLSX read once per sync; a cell or an aggregated column per query.

Read with the standard csv module, or calamine (a compiled xlsx reader, python-calamine) into plain
rows: a sync of a few files pays neither pandas' nor openpyxl's start-up (0.2-0.5 s each). Dates in a `date_column` are datetimes (xlsx) or
ISO text; other text dates are handed to pandas' parser, imported only then.

As of a past day only a column with `date_column` can answer (its rows up to that day: the period's
end is already clipped to it); a cell or an undated column holds only today's value and is refused.
"""
from __future__ import annotations

import csv
import math
from datetime import date, datetime
from pathlib import Path
from typing import Any, Optional, Sequence

from connectors.base import Context, Result, SourceError, count_request, not_as_of, refuse_undated
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.file import FileQuery, FileSource
from mapping.values import ValueParseError, parse_number

Rows = list[list[Any]]  # a sheet's raw cells, no header taken out (row 1 is rows[0])
_AGGREGATE = {"sum": math.fsum, "mean": lambda v: math.fsum(v) / len(v), "min": min, "max": max,
              "last": lambda v: v[-1], "first": lambda v: v[0]}


def _cell_index(address: str) -> tuple[int, int]:
    """B7 -> (6, 1): 0-based row and column of an A1 address (validated by the config model)."""
    letters = "".join(ch for ch in address if ch.isalpha())
    column = 0
    for ch in letters.upper():
        column = column * 26 + ord(ch) - 64
    return int(address[len(letters):]) - 1, column - 1


def as_date(cell: Any) -> Optional[date]:
    """A date column's cell as a date; None when empty; ValueError when it is not a date."""
    if _empty(cell):
        return None
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if not isinstance(cell, str):
        raise ValueError(f"{cell!r} is not a date")
    text = cell.strip()
    for parse in (date.fromisoformat, lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")).date()):
        try:
            return parse(text)
        except ValueError:
            pass
    import pandas as pd  # the rare text date that is not ISO ("Oct 1, 2026", "2026/10/01")

    parsed = pd.to_datetime(text, errors="coerce")
    if pd.isna(parsed):
        raise ValueError(f"{cell!r} is not a date")
    return parsed.date()


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _same(cell: Any, wanted: Any) -> bool:
    """Does a cell equal a filter value? Numbers compare as numbers, everything else as trimmed text."""
    if _empty(cell):
        return False
    try:
        return float(cell) == float(wanted)
    except (TypeError, ValueError):
        return str(cell).strip() == str(wanted).strip()


class FileConnector:
    """Reads its file once per fetch, then answers every query from the frames in memory."""

    def __init__(self, name: str, settings: FileSource, context: Context):
        self.name, self.settings, self.context = name, settings, context
        self.path: Path = context.resolve(settings.path)

    def _read(self, sheets: set[Any]) -> dict[Any, Rows | SourceError]:
        """Raw cells (no header) of each sheet asked for (None = the first); a missing sheet fails only its queries."""
        if not self.path.exists():
            raise SourceError(f"source {self.name!r}: file {self.path} not found; check path (relative to the config file)")
        count_request(self.name)
        try:
            if self.path.suffix.lower() == ".csv":
                with open(self.path, newline="", encoding="utf-8-sig") as handle:
                    rows: Rows = [list(row) for row in csv.reader(handle)]
                return {sheet: rows for sheet in sheets}
            from python_calamine import CalamineWorkbook

            book = CalamineWorkbook.from_path(str(self.path))
        except Exception as exc:  # corrupt, locked, not UTF-8 or not really a spreadsheet: say which file
            raise SourceError(f"source {self.name!r}: cannot read {self.path.name}: {exc}") from None
        frames: dict[Any, Rows | SourceError] = {}
        try:
            names = list(book.sheet_names)
            for sheet in sheets:
                wanted = 0 if sheet is None else sheet
                if isinstance(wanted, str) and wanted not in names:
                    frames[sheet] = SourceError(f"source {self.name!r}: no sheet {wanted!r} in {self.path.name}; sheets are {', '.join(names)}")
                    continue
                if isinstance(wanted, int) and not 0 <= wanted < len(names):
                    frames[sheet] = SourceError(f"source {self.name!r}: {self.path.name} has no sheet number {wanted} (it has {len(names)})")
                    continue
                name = names[wanted] if isinstance(wanted, int) else wanted
                # from A1 (skip_empty_area=False), so cell addresses count from the sheet's corner; formulas give their cached value
                frames[sheet] = book.get_sheet_by_name(name).to_python(skip_empty_area=False)
        except Exception as exc:
            raise SourceError(f"source {self.name!r}: cannot read {self.path.name}: {exc}") from None
        finally:
            getattr(book, "close", lambda: None)()
        return frames

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        queries, results = refuse_undated(queries, period, lambda query: self._not_as_of(query.spec))
        if not queries:
            return results
        sheets = {q.spec.sheet for q in queries}
        try:
            frames = self._read(sheets)
        except SourceError as exc:
            return {**results, **{q: exc for q in queries}}
        for query in queries:
            frame = frames[query.spec.sheet]
            try:
                if isinstance(frame, SourceError):
                    raise frame
                value = self._answer(frame, query.spec, period)
                results[query] = Observation(value, now, self.name, query.describe())
            except SourceError as exc:
                results[query] = exc
        return results

    def _not_as_of(self, query: FileQuery) -> SourceError:
        sheet = f" sheet {query.sheet!r}" if query.sheet is not None else ""
        what = f"{self.path.name}{sheet} " + (f"cell {query.cell}" if query.cell else f"column {query.column!r}")
        reason = "a cell holds only its value today" if query.cell else "the column has no date_column, so rows after that day cannot be told apart"
        return not_as_of(self.name, what, reason,
                         "keep one dated row per day or event and read it as a column with date_column (rows up to that day are used)")

    def _where(self, query: FileQuery) -> str:
        sheet = f" sheet {query.sheet!r}" if query.sheet is not None else ""
        return f"source {self.name!r} ({self.path.name}{sheet})"

    def _number(self, raw: Any, where: str) -> float:
        try:
            return parse_number(raw, self.settings.decimal)
        except ValueParseError as exc:
            raise SourceError(f"{where}: {exc}") from None

    def _answer(self, rows: Rows, query: FileQuery, period: Period) -> float:
        where = self._where(query)
        if query.cell:
            r, c = _cell_index(query.cell)
            raw = rows[r][c] if r < len(rows) and c < len(rows[r]) else None
            if _empty(raw):
                raise SourceError(f"{where}: cell {query.cell} is empty; check the cell address")
            return self._number(raw, f"{where} cell {query.cell}")
        return self._aggregate(rows, query, period, where)

    def _aggregate(self, rows: Rows, query: FileQuery, period: Period, where: str) -> float:
        if not rows or all(_empty(cell) for row in rows for cell in row):
            raise SourceError(f"{where}: the sheet is empty")
        header = [str(h).strip() if not _empty(h) else "" for h in rows[0]]
        index: dict[str, int] = {}
        for i, name in enumerate(header):
            if name and name not in index:
                index[name] = i
        needed = [query.column, *query.where, *([query.date_column] if query.date_column else [])]
        for name in needed:
            if name not in index:
                raise SourceError(f"{where}: no column {name!r}; columns are {', '.join(index)}")
        filters = []
        for name, wanted in query.where.items():
            options = wanted if isinstance(wanted, list) else [wanted]
            filters.append((index[name], [str(o).replace("{period}", period.name) if isinstance(o, str) else o for o in options]))
        date_at = index[query.date_column] if query.date_column else None
        column = index[query.column]  # type: ignore[index]

        def cell(row: list[Any], i: int) -> Any:
            return row[i] if i < len(row) else None

        matching: list[tuple[int, Any]] = []  # (1-based row number, raw value)
        for number, row in enumerate(rows[1:], start=2):
            if not all(any(_same(cell(row, i), o) for o in options) for i, options in filters):
                continue
            if date_at is not None:
                try:
                    day = as_date(cell(row, date_at))
                except ValueError:
                    raise SourceError(f"{where}: row {number}: {cell(row, date_at)!r} in {query.date_column!r} is not a date") from None
                if day is None or not period.start <= day <= period.end:
                    continue
            matching.append((number, cell(row, column)))
        if query.agg == "count":
            return float(len(matching))
        values = [self._number(raw, f"{where} row {number} column {query.column!r}") for number, raw in matching if not _empty(raw)]
        if not values:
            raise SourceError(f"{where}: no rows with a value in {query.column!r} match the filter; check where/date_column")
        return float(_AGGREGATE[query.agg](values))

    def close(self) -> None:
        pass
