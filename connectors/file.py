"""The `file` source: a local CSV or XLSX read once per sync with pandas; a cell or an aggregated column per query.

As of a past day only a column with `date_column` can answer (its rows up to that day: the period's
end is already clipped to it); a cell or an undated column holds only today's value and is refused.
"""
from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from openpyxl.utils.cell import coordinate_from_string, column_index_from_string

from connectors.base import Context, Result, SourceError, not_as_of, refuse_undated
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.file import FileQuery, FileSource
from mapping.values import ValueParseError, parse_number


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

    def _read(self, sheets: set[Any]) -> dict[Any, pd.DataFrame | SourceError]:
        """Raw cells (no header) of each sheet asked for (None = the first); a missing sheet fails only its queries."""
        if not self.path.exists():
            raise SourceError(f"source {self.name!r}: file {self.path} not found; check path (relative to the config file)")
        try:
            if self.path.suffix.lower() == ".csv":
                frame = pd.read_csv(self.path, header=None, dtype=object, keep_default_na=False, na_values=[""], skip_blank_lines=False)
                return {sheet: frame for sheet in sheets}
            book = pd.ExcelFile(self.path, engine="openpyxl")
        except Exception as exc:  # corrupt, locked or not really a spreadsheet: say which file
            raise SourceError(f"source {self.name!r}: cannot read {self.path.name}: {exc}") from None
        frames: dict[Any, pd.DataFrame | SourceError] = {}
        with book:
            for sheet in sheets:
                wanted = 0 if sheet is None else sheet
                if isinstance(wanted, str) and wanted not in book.sheet_names:
                    frames[sheet] = SourceError(f"source {self.name!r}: no sheet {wanted!r} in {self.path.name}; sheets are {', '.join(book.sheet_names)}")
                    continue
                if isinstance(wanted, int) and not 0 <= wanted < len(book.sheet_names):
                    frames[sheet] = SourceError(f"source {self.name!r}: {self.path.name} has no sheet number {wanted} (it has {len(book.sheet_names)})")
                    continue
                frames[sheet] = book.parse(wanted, header=None, dtype=object, keep_default_na=False, na_values=[""])
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

    def _answer(self, frame: pd.DataFrame, query: FileQuery, period: Period) -> float:
        where = self._where(query)
        if query.cell:
            letters, row = coordinate_from_string(query.cell)
            r, c = row - 1, column_index_from_string(letters) - 1
            if r >= frame.shape[0] or c >= frame.shape[1] or _empty(frame.iat[r, c]):
                raise SourceError(f"{where}: cell {query.cell} is empty; check the cell address")
            return self._number(frame.iat[r, c], f"{where} cell {query.cell}")
        return self._aggregate(frame, query, period, where)

    def _aggregate(self, frame: pd.DataFrame, query: FileQuery, period: Period, where: str) -> float:
        if frame.empty:
            raise SourceError(f"{where}: the sheet is empty")
        header = [str(h).strip() if not _empty(h) else "" for h in frame.iloc[0].tolist()]
        body = frame.iloc[1:]
        body.columns = range(len(header))
        index = {name: i for i, name in enumerate(header) if name}
        needed = [query.column, *query.where, *([query.date_column] if query.date_column else [])]
        for name in needed:
            if name not in index:
                raise SourceError(f"{where}: no column {name!r}; columns are {', '.join(index)}")
        mask = pd.Series(True, index=body.index)
        for name, wanted in query.where.items():
            options = wanted if isinstance(wanted, list) else [wanted]
            options = [str(o).replace("{period}", period.name) if isinstance(o, str) else o for o in options]
            column = body[index[name]]
            mask &= column.map(lambda cell: any(_same(cell, o) for o in options))
        if query.date_column:
            dates = pd.to_datetime(body[index[query.date_column]], errors="coerce")
            bad = dates.isna() & ~body[index[query.date_column]].map(_empty)
            if bad.any():
                row = int(bad.idxmax()) + 1
                raise SourceError(f"{where}: row {row}: {body.at[bad.idxmax(), index[query.date_column]]!r} in {query.date_column!r} is not a date")
            mask &= (dates.dt.date >= period.start) & (dates.dt.date <= period.end)
        rows = body[mask]
        if query.agg == "count":
            return float(len(rows))
        values = []
        for row_index, raw in rows[index[query.column]].items():
            if _empty(raw):
                continue
            values.append(self._number(raw, f"{where} row {int(row_index) + 1} column {query.column!r}"))
        if not values:
            raise SourceError(f"{where}: no rows with a value in {query.column!r} match the filter; check where/date_column")
        series = pd.Series(values, dtype=float)
        return float({"sum": series.sum, "mean": series.mean, "min": series.min, "max": series.max,
                      "last": lambda: series.iloc[-1], "first": lambda: series.iloc[0]}[query.agg]())

    def close(self) -> None:
        pass
