"""The `sheets` source: every query of one spreadsheet answered from ONE `values:batchGet`.

A query is a cell, a named range or a table column aggregated over matching rows. Values are read
unformatted (numbers arrive as numbers); text is parsed with mapping.values.parse_number in the
source's declared decimal convention, and anything else is an error naming the tab, row and column.

As of a past day only a table column with `date_column` can answer (its rows up to that day: the
period's end is already clipped to it); a cell, a named range or an undated column is refused
without reading the spreadsheet for it.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta
from statistics import fmean
from typing import Any, Optional, Sequence

from connectors.base import Context, Result, SourceError, count_request, not_as_of, refuse_undated, source_message
from connectors.sheets_client import SheetsClient
from mapping.config import Query
from mapping.period import Period
from mapping.results import Observation
from mapping.sources.sheets import SheetsQuery, SheetsSource, split_cell
from mapping.values import ValueParseError, parse_number

SERIAL_EPOCH = date(1899, 12, 30)  # day 0 of Google Sheets (and Excel) serial dates


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _same(cell: Any, wanted: Any) -> bool:
    """Does a cell equal a filter value? Numbers compare as numbers, everything else as trimmed text."""
    if _empty(cell):
        return False
    if isinstance(cell, bool) or isinstance(wanted, bool):
        return str(cell).strip().lower() == str(wanted).strip().lower()
    try:
        return float(cell) == float(wanted)
    except (TypeError, ValueError):
        return str(cell).strip() == str(wanted).strip()


def cell_date(value: Any) -> Optional[date]:
    """A date from a serial number (what UNFORMATTED_VALUE gives for date cells) or ISO text; None if neither."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return SERIAL_EPOCH + timedelta(days=int(value))
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


class SheetsConnector:
    """Answers a batch of queries of one spreadsheet with one read."""

    def __init__(self, name: str, settings: SheetsSource, context: Context, client: Optional[SheetsClient] = None):
        self.name, self.settings, self.context = name, settings, context
        self._client = client

    @property
    def client(self) -> SheetsClient:
        if self._client is None:
            self._client = SheetsClient.for_auth(self.settings, self.context)
        return self._client

    def fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        queries, refused = refuse_undated(queries, period, lambda query: self._not_as_of(query.spec))
        if not queries:
            return refused
        before = self._requests()
        try:
            return {**refused, **self._fetch(queries, period, now)}
        finally:
            count_request(self.name, self._requests() - before)

    def _requests(self) -> int:
        return sum(getattr(self._client, "counts", {}).values()) if self._client is not None else 0

    def _not_as_of(self, query: SheetsQuery) -> SourceError:
        if query.cell:
            tab, cell = split_cell(query.cell)
            what, reason = f"cell '{tab or query.worksheet}'!{cell}", "a cell holds only its value today"
        elif query.named_range:
            what, reason = f"named range {query.named_range!r}", "a named range holds only its value today"
        else:
            what = f"tab {query.worksheet!r} column {query.column!r}"
            reason = "the column has no date_column, so rows after that day cannot be told apart"
        return not_as_of(self.name, what, reason,
                         "keep one dated row per day or event in a table and read it as a column with date_column (rows up to that day are used)")

    def _fetch(self, queries: Sequence[Query], period: Period, now: datetime) -> dict[Query, Result]:
        ranges: list[str] = []
        for query in queries:
            wanted = query.spec.sheet_range()
            if wanted not in ranges:
                ranges.append(wanted)
        try:
            answers = self.client.batch_get(self.settings.spreadsheet, ranges)
        except SourceError as exc:
            error = SourceError(source_message(self.name, str(exc)))
            return {q: error for q in queries}
        if len(answers) != len(ranges):
            error = SourceError(f"source {self.name!r}: Google answered {len(answers)} ranges for {len(ranges)} asked")
            return {q: error for q in queries}
        values = {wanted: answer.get("values", []) for wanted, answer in zip(ranges, answers)}
        results: dict[Query, Result] = {}
        for query in queries:
            try:
                value = self._answer(query.spec, values[query.spec.sheet_range()], period)
                results[query] = Observation(value, now, self.name, query.describe())
            except SourceError as exc:
                results[query] = exc
        return results

    def _number(self, raw: Any, where: str) -> float:
        try:
            return parse_number(raw, self.settings.decimal)
        except ValueParseError as exc:
            raise SourceError(f"{where}: {exc}") from None

    def _answer(self, query: SheetsQuery, rows: list[list[Any]], period: Period) -> float:
        if query.cell:
            tab, cell = split_cell(query.cell)
            where = f"source {self.name!r} cell '{tab or query.worksheet}'!{cell}"
            if not rows or not rows[0] or _empty(rows[0][0]):
                raise SourceError(f"{where} is empty; check the cell address")
            return self._number(rows[0][0], where)
        if query.named_range:
            where = f"source {self.name!r} named range {query.named_range!r}"
            filled = [value for row in rows for value in row if not _empty(value)]
            if len(filled) != 1:
                raise SourceError(f"{where} holds {len(filled)} values; point it at the one cell to read")
            return self._number(filled[0], where)
        return self._aggregate(query, rows, period)

    def _aggregate(self, query: SheetsQuery, rows: list[list[Any]], period: Period) -> float:
        where = f"source {self.name!r} tab {query.worksheet!r}"
        head = query.header_row - 1
        if len(rows) <= head:
            raise SourceError(f"{where}: no header in row {query.header_row}; the tab is empty there")
        header = [str(h).strip() if not _empty(h) else "" for h in rows[head]]
        index = {name: i for i, name in enumerate(header) if name}
        needed = [query.column, *query.where, *([query.date_column] if query.date_column else [])]
        for name in needed:
            if name not in index:
                raise SourceError(f"{where}: no column {name!r} in row {query.header_row}; columns are {', '.join(index)}")

        def cell(row: list[Any], name: str) -> Any:
            i = index[name]
            return row[i] if i < len(row) else None

        matching: list[tuple[int, list[Any]]] = []
        for number, row in enumerate(rows[head + 1:], start=head + 2):
            ok = True
            for name, wanted in query.where.items():
                options = wanted if isinstance(wanted, list) else [wanted]
                options = [o.replace("{period}", period.name) if isinstance(o, str) else o for o in options]
                if not any(_same(cell(row, name), o) for o in options):
                    ok = False
                    break
            if ok and query.date_column:
                raw = cell(row, query.date_column)
                if _empty(raw):
                    ok = False
                else:
                    day = cell_date(raw)
                    if day is None:
                        raise SourceError(f"{where} row {number}: {raw!r} in {query.date_column!r} is not a date")
                    ok = period.start <= day <= period.end
            if ok:
                matching.append((number, row))
        if query.agg == "count":
            return float(len(matching))
        values = [self._number(cell(row, query.column), f"{where} row {number} column {query.column!r}")  # type: ignore[arg-type]
                  for number, row in matching if not _empty(cell(row, query.column))]  # type: ignore[arg-type]
        if not values:
            raise SourceError(f"{where}: no rows with a value in {query.column!r} match the filter; check where/date_column")
        return float({"sum": sum, "mean": fmean, "min": min, "max": max,
                      "last": lambda v: v[-1], "first": lambda v: v[0]}[query.agg](values))

    def close(self) -> None:
        pass
