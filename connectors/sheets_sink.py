"""The Google Sheets summary output: a Dashboard tab first, then the report tables, one tab per table, rewritten in place.

Per sync: one metadata read, then ONE `values:batchUpdate` (RAW) holding every tab's cells, padded
with empty strings to the tab's grid so rows that disappeared are cleared. Only when a tab is
missing or its layout changed (columns, kinds, grid too small; for the Dashboard the number of
objectives and KRs) one formatting `batchUpdate` comes first: add/resize the tab, freeze the header,
number/percent formats, status colours as conditional formats, okr-sync's own formulas (History
sparklines, Dashboard bars and trends), and a developer-metadata layout signature that lets the next
sync see that nothing needs formatting. A tab holding formulas keeps exactly one grid row per data
row: when History has fewer rows than last time, that `batchUpdate` only cuts the grid to size, so
the rows of removed KRs do not keep their (empty-looking) SPARKLINE formulas (the Dashboard's row
count is part of its signature: fewer KRs re-lay it out on a grid cut to size).

The History tab always has `history_points` day columns (the table starts at the first recorded day
and grows daily; the columns not used yet are blank but formatted): so a new day changes values, not
the layout, and a daily sync stays at two requests.

Why RAW: a value from a source (a Jira summary like `=IMPORTXML(...)`) is stored as the text it is,
never parsed as a formula or a number. The only formulas are written by okr-sync itself as
`formulaValue`s in the formatting request; they depend on the layout only (each points at cells of
its own row), so they never need rewriting while the layout stays. The values write leaves formula
cells alone (they are skipped, or sent as JSON null) and writes every other cell of the grid.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Optional

from openpyxl.utils import get_column_letter

from connectors.base import Context, RetriableError, SourceError
from connectors.sheets_dashboard import DashboardLayout, TrendSource
from connectors.sheets_client import SheetsClient
from connectors.xlsx import OutputError
from mapping.labels import STATUS_FILLS, STATUS_INKS
from mapping.report import Column, Table
from mapping.sources.sheets import SheetsOutput, quote_tab, spreadsheet_key

LAYOUT_KEY = "okr-sync-layout"
LAYOUT_VERSION = "2"  # 2: History sized to history_points, status colours with ink and "stale"
SERIAL_EPOCH = datetime(1899, 12, 30)
NUMBER_FORMATS = {
    "number": {"type": "NUMBER", "pattern": "#,##0.00"},
    "series": {"type": "NUMBER", "pattern": "#,##0.00"},
    "percent": {"type": "PERCENT", "pattern": "0.0%"},
    "score": {"type": "NUMBER", "pattern": "0.00"},
    "datetime": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"},
}
HEADER_FILL = {"red": 0x1F / 255, "green": 0x38 / 255, "blue": 0x64 / 255}


def rgb(hex_colour: str) -> dict[str, float]:
    return {name: int(hex_colour[i:i + 2], 16) / 255 for name, i in (("red", 0), ("green", 2), ("blue", 4))}


def cell_value(value: Any) -> Any:
    """A report value as Sheets stores it with RAW input: text stays text, numbers numbers, dates serial numbers.

    None becomes "" (which clears the cell; JSON null would leave the old value in place).
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return "" if isinstance(value, float) and (math.isnan(value) or math.isinf(value)) else value
    if isinstance(value, datetime):
        naive = value.replace(tzinfo=None)
        return round((naive - SERIAL_EPOCH).total_seconds() / 86400, 8)
    if isinstance(value, date):
        return (value - SERIAL_EPOCH.date()).days
    return str(value)


def layout_signature(table: Table) -> str:
    """What the formatting depends on: the column kinds (names of series columns change daily and do not count).

    Given a table fitted to its tab (`fit_series`), the number of series columns is `history_points`, not the days recorded so far.
    """
    kinds = [column.kind for column in table.columns]
    fixed = [column.name for column in table.columns if column.kind != "series"]
    return LAYOUT_VERSION + ":" + hashlib.sha1(json.dumps([kinds, fixed]).encode()).hexdigest()[:16]


def has_formulas(table: Table) -> bool:
    """Whether the tab holds okr-sync's formulas (one per data row), which only the formatting request writes."""
    return any(column.kind == "sparkline" for column in table.columns)


def fit_series(table: Table, capacity: int) -> Table:
    """The table as its tab holds it: exactly `capacity` series (day) columns — the newest ones, then blank
    columns for days still to come — so the grid, the formats and the sparklines stay put while days accrue."""
    series = [i for i, column in enumerate(table.columns) if column.kind == "series"]
    if not series or capacity <= 0 or len(series) == capacity:
        return table
    drop = set(series[:max(0, len(series) - capacity)])
    pad = capacity - (len(series) - len(drop))
    last = series[-1]

    def fit(values: list, blank: Any) -> list:
        out = []
        for i, value in enumerate(values):
            if i not in drop:
                out.append(value)
            if i == last:
                out.extend([blank] * pad)
        return out

    blank_column = Column("", "series", table.columns[last].width)
    return Table(table.name, fit(table.columns, blank_column), [fit(row, None) for row in table.rows])


def sparkline_formula(series_cols: list[int], row: int) -> str:
    """=SPARKLINE over the row's series cells (1-based columns and row); empty while the row has no numbers."""
    first, last = get_column_letter(series_cols[0]), get_column_letter(series_cols[-1])
    cells = f"{first}{row}:{last}{row}"
    return f'=IF(COUNT({cells})=0,"",SPARKLINE({cells}))'


@dataclass
class TabLayout:
    """One tab as the sink lays it out: its grid, what its formatting depends on, and how to format and fill it."""

    title: str
    rows: int             # grid rows needed (header and data)
    width: int
    frozen: int
    signature: str
    exact_rows: bool      # holds formulas per row: a bigger grid is cut to `rows` (else its spare rows are cleared)
    first: bool           # must be the first tab (index 0)
    formats: Callable[[int, int], list[dict]]  # (sheetId, grid rows) -> formatting requests, formulas included
    values: Callable[[int], list[dict]]        # grid rows -> value ranges of the one RAW write


class SheetsSink:
    """Writes the dashboard and the report tables into one spreadsheet."""

    def __init__(self, output: SheetsOutput, context: Context, client: Optional[SheetsClient] = None):
        self.output, self.context = output, context
        self._client = client
        self.titles = {"Summary": output.summary_tab, "Objectives": output.objectives_tab, "History": output.history_tab}

    @property
    def client(self) -> SheetsClient:
        if self._client is None:
            self._client = SheetsClient.for_auth(self.output, self.context)
        return self._client

    def write(self, tables: list[Table], dashboard: Any = None) -> str:
        """Rewrite every tab; return the spreadsheet's key. Errors become OutputError (one line, actionable)."""
        key = spreadsheet_key(self.output.spreadsheet)
        try:
            tabs = self.layouts(tables, dashboard)
            meta = self.client.metadata(self.output.spreadsheet)
            formatting, grids = self.plan_tabs(tabs, meta)
            if formatting:
                self.client.batch_update(self.output.spreadsheet, formatting)
            self.client.batch_update_values(self.output.spreadsheet, [r for tab in tabs for r in tab.values(grids[tab.title])], "RAW")
        except (SourceError, RetriableError) as exc:
            raise OutputError(f"sheets output {key}: {exc}") from None
        return key

    # ---- the layout of each tab -----------------------------------------------------------------
    def layouts(self, tables: list[Table], dashboard: Any = None) -> list[TabLayout]:
        """Every tab of this sync: the tables fitted to their tabs, then (when given) the Dashboard, which comes first."""
        out: list[TabLayout] = []
        fitted = [fit_series(table, self.output.history_points) for table in tables]
        for table in fitted:
            title = self.titles.get(table.name, table.name)
            out.append(TabLayout(
                title, max(2, len(table.rows) + 1), len(table.columns), 1, layout_signature(table), has_formulas(table), False,
                lambda sheet_id, rows, table=table: self._formats(table, sheet_id, rows),
                lambda rows, table=table, title=title: self._table_values(table, title, rows)))
        if dashboard is not None:
            layout = DashboardLayout(dashboard, self.output.dashboard_tab, self._trend_source(fitted, dashboard))
            title = self.output.dashboard_tab
            out.append(TabLayout(
                title, layout.rows, layout.width, layout.frozen, layout.signature(), True, True,
                lambda sheet_id, rows: layout.formats(sheet_id),
                lambda rows: [{"range": f"{quote_tab(title)}!A1:{get_column_letter(layout.width)}{layout.rows}",
                               "values": layout.grid(cell_value)}]))
        return out

    def _trend_source(self, tables: list[Table], dashboard: Any) -> Optional[TrendSource]:
        """Where each dashboard KR's days are on the History tab (its row, found by KR id), for the trend sparklines."""
        history = next((t for t in tables if t.name == "History"), None)
        if history is None:
            return None
        series = [c for c, column in enumerate(history.columns, start=1) if column.kind == "series"]
        if not series or "KR id" not in history.header:
            return None
        id_col = history.header.index("KR id")
        rows = {row[id_col]: r for r, row in enumerate(history.rows, start=2)}
        return TrendSource(self.titles["History"], series[0], series[-1], tuple(rows.get(kr.kr_id) for kr in dashboard.krs))

    # ---- the formatting request (only when a layout changed) -----------------------------------
    def plan(self, tables: list[Table], meta: dict, dashboard: Any = None) -> tuple[list[dict], dict[str, int]]:
        """The formatting requests needed (empty when every tab is as the last sync left it) and each tab's grid rows."""
        return self.plan_tabs(self.layouts(tables, dashboard), meta)

    def plan_tabs(self, tabs: list[TabLayout], meta: dict) -> tuple[list[dict], dict[str, int]]:
        sheets = {s["properties"]["title"]: s for s in meta.get("sheets", [])}
        used_ids = {s["properties"]["sheetId"] for s in meta.get("sheets", [])}
        requests: list[dict] = []
        grids: dict[str, int] = {}
        for tab in tabs:
            needed = max(tab.rows, tab.frozen + 1)  # at least one row below the frozen ones
            sheet = sheets.get(tab.title)
            if sheet is not None:
                props = sheet["properties"]
                grid = props.get("gridProperties", {})
                marks = [m for m in sheet.get("developerMetadata", []) if m.get("metadataKey") == LAYOUT_KEY]
                current = marks[0].get("metadataValue") if len(marks) == 1 else None
                rows = grid.get("rowCount", 0)
                sheet_id = props["sheetId"]
                misplaced = tab.first and props.get("index", 0) != 0
                if current == tab.signature and grid.get("columnCount") == tab.width and grid.get("frozenRowCount", 0) == tab.frozen \
                        and rows >= needed:
                    grids[tab.title] = rows
                    fields, properties = [], {"sheetId": sheet_id}
                    if rows > needed and tab.exact_rows:
                        # Fewer rows than last time on a tab with formulas: the RAW values write does not touch those
                        # formulas, so the rows of removed KRs would keep them. Cut the grid to the rows in use.
                        properties["gridProperties"] = {"rowCount": needed}
                        fields.append("gridProperties/rowCount")
                        grids[tab.title] = needed
                    if misplaced:  # moved by hand: back to the front
                        properties["index"] = 0
                        fields.append("index")
                    if fields:
                        requests.append({"updateSheetProperties": {"properties": properties, "fields": ",".join(fields)}})
                    continue
                properties = {"sheetId": sheet_id, "gridProperties": {"rowCount": needed, "columnCount": tab.width, "frozenRowCount": tab.frozen}}
                fields = ["gridProperties/rowCount", "gridProperties/columnCount", "gridProperties/frozenRowCount"]
                if misplaced:
                    properties["index"] = 0
                    fields.append("index")
                requests.append({"updateSheetProperties": {"properties": properties, "fields": ",".join(fields)}})
                requests.append({"repeatCell": {"range": {"sheetId": sheet_id}, "cell": {}, "fields": "userEnteredFormat"}})  # reset old formats
                requests.extend({"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": 0}}
                                for _ in sheet.get("conditionalFormats", []))
                requests.extend({"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": m["metadataId"]}}}}
                                for m in marks)
            else:
                sheet_id = zlib.crc32(tab.title.encode()) & 0x3FFFFFFF
                while sheet_id in used_ids:
                    sheet_id += 1
                used_ids.add(sheet_id)
                properties = {"sheetId": sheet_id, "title": tab.title, "sheetType": "GRID",
                              "gridProperties": {"rowCount": needed, "columnCount": tab.width, "frozenRowCount": tab.frozen}}
                if tab.first:
                    properties["index"] = 0
                requests.append({"addSheet": {"properties": properties}})
            grids[tab.title] = needed
            requests.extend(tab.formats(sheet_id, needed))
            requests.append({"createDeveloperMetadata": {"developerMetadata": {
                "metadataKey": LAYOUT_KEY, "metadataValue": tab.signature, "visibility": "DOCUMENT",
                "location": {"sheetId": sheet_id}}}})
        return requests, grids

    def _formats(self, table: Table, sheet_id: int, rows: int) -> list[dict]:
        width = len(table.columns)
        out: list[dict] = [{"repeatCell": {
            "range": {"sheetId": sheet_id, "startRowIndex": 0, "endRowIndex": 1, "startColumnIndex": 0, "endColumnIndex": width},
            "cell": {"userEnteredFormat": {"backgroundColor": HEADER_FILL, "wrapStrategy": "WRAP",
                                           "textFormat": {"bold": True, "foregroundColor": {"red": 1, "green": 1, "blue": 1}}}},
            "fields": "userEnteredFormat(backgroundColor,textFormat,wrapStrategy)"}}]
        series_cols = [c for c, column in enumerate(table.columns, start=1) if column.kind == "series"]
        for c, column in enumerate(table.columns):
            span = {"sheetId": sheet_id, "startRowIndex": 1, "startColumnIndex": c, "endColumnIndex": c + 1}
            out.append({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": c, "endIndex": c + 1},
                "properties": {"pixelSize": column.width * 7}, "fields": "pixelSize"}})
            if column.kind in NUMBER_FORMATS:
                out.append({"repeatCell": {"range": span, "cell": {"userEnteredFormat": {"numberFormat": NUMBER_FORMATS[column.kind]}},
                                           "fields": "userEnteredFormat.numberFormat"}})
            if column.kind == "status":
                for index, (status, colour) in enumerate(STATUS_FILLS.items()):
                    out.append({"addConditionalFormatRule": {"index": index, "rule": {
                        "ranges": [span],
                        "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": status}]},
                                        "format": {"backgroundColor": rgb(colour),
                                                   "textFormat": {"foregroundColor": rgb(STATUS_INKS[status])}}}}}})
            if column.kind == "sparkline" and series_cols:
                out.append({"updateCells": {
                    "range": {"sheetId": sheet_id, "startRowIndex": 1, "endRowIndex": rows, "startColumnIndex": c, "endColumnIndex": c + 1},
                    "rows": [{"values": [{"userEnteredValue": {"formulaValue": sparkline_formula(series_cols, r)}}]}
                             for r in range(2, rows + 1)],
                    "fields": "userEnteredValue"}})
        return out

    # ---- the one values write --------------------------------------------------------------------
    def value_ranges(self, tables: list[Table], grids: dict[str, int], dashboard: Any = None) -> list[dict]:
        """Every tab's cells for the one RAW values write (see `_table_values` and the Dashboard's grid)."""
        return [r for tab in self.layouts(tables, dashboard) for r in tab.values(grids[tab.title])]

    @staticmethod
    def _table_values(table: Table, title: str, rows: int) -> list[dict]:
        """A table's header and rows, padded with "" to its grid height, skipping formula (sparkline) columns."""
        data: list[dict] = []
        width = len(table.columns)
        grid = [[cell_value(v) for v in table.header]] + [[cell_value(v) for v in row] for row in table.rows]
        grid += [[""] * width for _ in range(rows - len(grid))]
        runs: list[tuple[int, int]] = []  # [start, end) column runs without formula columns
        start = None
        for c, column in enumerate(table.columns + [None]):  # type: ignore[operator]
            writable = column is not None and column.kind != "sparkline"
            if writable and start is None:
                start = c
            elif not writable and start is not None:
                runs.append((start, c))
                start = None
        for c0, c1 in runs:
            data.append({"range": f"{quote_tab(title)}!{get_column_letter(c0 + 1)}1:{get_column_letter(c1)}{rows}",
                         "values": [row[c0:c1] for row in grid]})
        if any(column.kind == "sparkline" for column in table.columns):  # its header is plain text
            c = next(i for i, column in enumerate(table.columns) if column.kind == "sparkline")
            data.append({"range": f"{quote_tab(title)}!{get_column_letter(c + 1)}1", "values": [[table.columns[c].name]]})
        return data
