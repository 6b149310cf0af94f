"""Check-in and review tabs in a Google Sheets output spreadsheet (`Check-in 2026-W48`, `Review 2026-Q4`).

Requests, with the SheetsClient (its retries, rate limit and error messages):
- one `values:batchGet` reads every tab needed at once (last week's check-in, this week's if it was written
  before, to keep what owners typed; the review tab, to keep its lessons);
- one `batchUpdate` only when the tab is new: addSheet (at the end, never moving the summary's tabs) with the
  header formatted, frozen and number formats set;
- one `values:batchUpdate` writes the tab RAW: text from sources or owners is stored as text, never a formula.
Which tabs exist is known from the history (the weeks already checked in) or, for a single tab, from
Google's answer; when the history and the spreadsheet disagree (a tab deleted, an output added later)
one metadata read settles it.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from openpyxl.utils import get_column_letter

from connectors.atomic import OutputError
from connectors.sheets_client import SheetsClient, SheetsError
from mapping.report import Table
from mapping.sources.sheets import quote_tab, spreadsheet_key

_FORMATS = {"number": {"type": "NUMBER", "pattern": "#,##0.00"}, "percent": {"type": "PERCENT", "pattern": "0%"},
            "score": {"type": "NUMBER", "pattern": "0.00"}}
_HEADER = {"backgroundColor": {"red": 0x1F / 255, "green": 0x38 / 255, "blue": 0x64 / 255}, "wrapStrategy": "WRAP",
           "textFormat": {"bold": True, "foregroundColor": {"red": 1, "green": 1, "blue": 1}}}
MIN_ROWS = 100  # rows of a new tab beyond its table, for the owners' additions


def raw_value(value: Any) -> Any:
    """A table value as Sheets stores it with RAW input: text as text, numbers as numbers, None as "" (clears the cell)."""
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return ""
    if isinstance(value, (bool, int, float)):
        return value
    return str(value)


def _missing_tab(exc: SheetsError) -> bool:
    """Google's answer to a range on a tab that does not exist: HTTP 400 "Unable to parse range"."""
    text = str(exc)
    return "(HTTP 400)" in text and "parse range" in text


@dataclass
class TabWrite:
    """What writing one tab did: the rows found before (per tab read) and the requests it took."""

    found: dict[str, Optional[list[list[Any]]]] = field(default_factory=dict)  # title -> rows, None when the tab is absent
    created: bool = False
    requests: int = 0


class RitualTabs:
    """Reads and writes the check-in and review tabs of one spreadsheet."""

    def __init__(self, client: SheetsClient, ref: str):
        self.client, self.ref = client, ref
        self.requests = 0

    def read(self, titles: list[str]) -> dict[str, Optional[list[list[Any]]]]:
        """Each tab's rows (header first) in one `values:batchGet`; None for a tab that does not exist."""
        if not titles:
            return {}
        try:
            self.requests += 1
            ranges = self.client.batch_get(self.ref, [quote_tab(t) for t in titles])
            return {title: [list(row) for row in got.get("values", [])] for title, got in zip(titles, ranges)}
        except SheetsError as exc:
            if not _missing_tab(exc):
                raise
        if len(titles) == 1:
            return {titles[0]: None}
        self.requests += 1
        present = set(self.titles())
        out: dict[str, Optional[list[list[Any]]]] = {t: None for t in titles}
        out.update(self.read([t for t in titles if t in present]))
        return out

    def titles(self) -> list[str]:
        """Every tab's title (one metadata read)."""
        meta = self.client.metadata(self.ref)
        return [s.get("properties", {}).get("title", "") for s in meta.get("sheets", [])]

    def write(self, table: Table, before: Optional[list[list[Any]]]) -> bool:
        """Write `table` to its tab: add the tab when `before` is None (it does not exist), then one RAW values write
        padded with "" over the rows that were there, so a removed KR's row is cleared (columns an owner added to the
        right of the table are left alone). Returns whether it was added."""
        title = table.name
        width = len(table.columns)
        rows = [table.header] + [[raw_value(v) for v in row] for row in table.rows]
        created = before is None
        if created:
            sheet_id = (zlib.crc32(title.encode()) & 0x3FFFFFFF) | 0x40000000  # apart from the summary sink's ids
            self.requests += 1
            self.client.batch_update(self.ref, self._new_tab(table, sheet_id, max(len(rows) + MIN_ROWS, 1000)))
            self.client.grids[(spreadsheet_key(self.ref), title)] = (max(len(rows) + MIN_ROWS, 1000), max(width, 26))
            old_rows = 0
        else:
            old_rows = len(before or [])
            self.requests += self.client.ensure_grid(self.ref, title, max(len(rows), old_rows), width)
        span = width
        padded = [row + [""] * (span - len(row)) for row in rows] + [[""] * span for _ in range(old_rows - len(rows))]
        self.requests += 1
        self.client.batch_update_values(self.ref, [{"range": f"{quote_tab(title)}!A1:{get_column_letter(span)}{len(padded)}",
                                                    "values": padded}], "RAW")
        return created

    @staticmethod
    def _new_tab(table: Table, sheet_id: int, rows: int) -> list[dict]:
        """addSheet (appended after the other tabs) with a formatted, frozen header, column widths and number formats."""
        width = len(table.columns)
        out: list[dict] = [
            {"addSheet": {"properties": {"sheetId": sheet_id, "title": table.name, "sheetType": "GRID",
                                         "gridProperties": {"rowCount": rows, "columnCount": max(width, 26), "frozenRowCount": 1}}}},
            {"repeatCell": {"range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": width},
                            "cell": {"userEnteredFormat": _HEADER}, "fields": "userEnteredFormat(backgroundColor,textFormat,wrapStrategy)"}},
        ]
        for c, column in enumerate(table.columns):
            out.append({"updateDimensionProperties": {"range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": c, "endIndex": c + 1},
                                                      "properties": {"pixelSize": column.width * 7}, "fields": "pixelSize"}})
            if column.kind in _FORMATS:
                out.append({"repeatCell": {"range": {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": c, "endColumnIndex": c + 1},
                                           "cell": {"userEnteredFormat": {"numberFormat": _FORMATS[column.kind]}},
                                           "fields": "userEnteredFormat.numberFormat"}})
        return out


def write_ritual_tab(client: SheetsClient, ref: str, title: str, also_read: list[str], exists: Optional[bool],
                     build: Callable[[dict[str, Optional[list[list[Any]]]]], Table]) -> TabWrite:
    """Read `also_read` (and `title` unless it is known not to exist) in one batchGet, build the table from what
    was read, and write it. `exists`: True/False when the history knows, None when only Google can say."""
    tabs = RitualTabs(client, ref)
    result = TabWrite()
    try:
        wanted = list(dict.fromkeys(also_read + ([title] if exists is not False else [])))
        result.found = tabs.read(wanted)
        before = result.found.get(title)
        table = build(result.found)
        try:
            result.created = tabs.write(table, before)
        except SheetsError as exc:
            if before is not None or "already exists" not in str(exc):
                raise
            # the history did not know the tab (a new history, or the tab was written by another store): keep its entries
            result.found.update(tabs.read([title]))
            result.created = tabs.write(build(result.found), result.found.get(title))
    except SheetsError as exc:
        raise OutputError(f"Google Sheets output {spreadsheet_key(ref)}: tab {title!r}: {exc}") from None
    result.requests = tabs.requests
    return result
