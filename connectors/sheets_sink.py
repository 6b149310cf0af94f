"""The Google Sheets summary output: the report tables rewritten in place, one tab per table.

Per sync: one metadata read, then ONE `values:batchUpdate` (RAW) holding every tab's cells, padded
with empty strings to the tab's grid so rows that disappeared are cleared. Only when a tab is
missing or its layout changed (columns, kinds, grid too small) one formatting `batchUpdate` comes
first: add/resize the tab, freeze the header, number/percent formats, status colours as conditional
formats, the History sparkline formulas, and a developer-metadata layout signature that lets the next
sync see that nothing needs formatting. A tab holding formulas (History) keeps exactly one grid row
per data row: when it has fewer rows than last time, that `batchUpdate` only cuts the grid to size,
so the rows of removed KRs do not keep their (empty-looking) SPARKLINE formulas.

Why RAW: a value from a source (a Jira summary like `=IMPORTXML(...)`) is stored as the text it is,
never parsed as a formula or a number. The only formulas (SPARKLINE) are written by okr-sync itself
as `formulaValue`s in the formatting request; they depend on the layout only (each points at its own
row's series cells), so they never need rewriting while the layout stays.
"""
from __future__ import annotations

import hashlib
import json
import math
import zlib
from datetime import date, datetime
from typing import Any, Optional

from openpyxl.utils import get_column_letter

from connectors.base import Context, RetriableError, SourceError
from connectors.sheets_client import SheetsClient
from connectors.xlsx import STATUS_COLOURS, OutputError
from mapping.report import Table
from mapping.sources.sheets import SheetsOutput, quote_tab, spreadsheet_key

LAYOUT_KEY = "okr-sync-layout"
LAYOUT_VERSION = "1"
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
    """What the formatting depends on: the column kinds (names of series columns change daily and do not count)."""
    kinds = [column.kind for column in table.columns]
    fixed = [column.name for column in table.columns if column.kind != "series"]
    return LAYOUT_VERSION + ":" + hashlib.sha1(json.dumps([kinds, fixed]).encode()).hexdigest()[:16]


def has_formulas(table: Table) -> bool:
    """Whether the tab holds okr-sync's formulas (one per data row), which only the formatting request writes."""
    return any(column.kind == "sparkline" for column in table.columns)


def sparkline_formula(series_cols: list[int], row: int) -> str:
    """=SPARKLINE over the row's series cells (1-based columns and row); empty while the row has no numbers."""
    first, last = get_column_letter(series_cols[0]), get_column_letter(series_cols[-1])
    cells = f"{first}{row}:{last}{row}"
    return f'=IF(COUNT({cells})=0,"",SPARKLINE({cells}))'


class SheetsSink:
    """Writes the report tables into one spreadsheet."""

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
            meta = self.client.metadata(self.output.spreadsheet)
            formatting, grids = self.plan(tables, meta)
            if formatting:
                self.client.batch_update(self.output.spreadsheet, formatting)
            self.client.batch_update_values(self.output.spreadsheet, self.value_ranges(tables, grids), "RAW")
        except (SourceError, RetriableError) as exc:
            raise OutputError(f"sheets output {key}: {exc}") from None
        return key

    # ---- the formatting request (only when a layout changed) -----------------------------------
    def plan(self, tables: list[Table], meta: dict) -> tuple[list[dict], dict[str, int]]:
        """The formatting requests needed (empty when every tab is as the last sync left it) and each tab's grid rows."""
        sheets = {s["properties"]["title"]: s for s in meta.get("sheets", [])}
        used_ids = {s["properties"]["sheetId"] for s in meta.get("sheets", [])}
        requests: list[dict] = []
        grids: dict[str, int] = {}
        for table in tables:
            title = self.titles.get(table.name, table.name)
            needed = max(2, len(table.rows) + 1)  # header + rows; at least one row below the frozen header
            width = len(table.columns)
            signature = layout_signature(table)
            sheet = sheets.get(title)
            if sheet is not None:
                props = sheet["properties"]
                grid = props.get("gridProperties", {})
                marks = [m for m in sheet.get("developerMetadata", []) if m.get("metadataKey") == LAYOUT_KEY]
                current = marks[0].get("metadataValue") if len(marks) == 1 else None
                rows = grid.get("rowCount", 0)
                sheet_id = props["sheetId"]
                if current == signature and grid.get("columnCount") == width and grid.get("frozenRowCount", 0) == 1:
                    if rows == needed or (rows > needed and not has_formulas(table)):
                        grids[title] = rows
                        continue
                    if rows > needed:
                        # Fewer rows than last time on a tab with sparkline formulas: the RAW values write cannot
                        # touch those formulas (it skips their column), so the rows of removed KRs would keep them.
                        # Cut the grid to the rows in use; every remaining row keeps its own formula.
                        requests.append({"updateSheetProperties": {
                            "properties": {"sheetId": sheet_id, "gridProperties": {"rowCount": needed}},
                            "fields": "gridProperties/rowCount"}})
                        grids[title] = needed
                        continue
                requests.append({"updateSheetProperties": {
                    "properties": {"sheetId": sheet_id, "gridProperties": {"rowCount": needed, "columnCount": width, "frozenRowCount": 1}},
                    "fields": "gridProperties/rowCount,gridProperties/columnCount,gridProperties/frozenRowCount"}})
                requests.append({"repeatCell": {"range": {"sheetId": sheet_id}, "cell": {}, "fields": "userEnteredFormat"}})  # reset old formats
                requests.extend({"deleteConditionalFormatRule": {"sheetId": sheet_id, "index": 0}}
                                for _ in sheet.get("conditionalFormats", []))
                requests.extend({"deleteDeveloperMetadata": {"dataFilter": {"developerMetadataLookup": {"metadataId": m["metadataId"]}}}}
                                for m in marks)
            else:
                sheet_id = zlib.crc32(title.encode()) & 0x3FFFFFFF
                while sheet_id in used_ids:
                    sheet_id += 1
                used_ids.add(sheet_id)
                requests.append({"addSheet": {"properties": {
                    "sheetId": sheet_id, "title": title, "sheetType": "GRID",
                    "gridProperties": {"rowCount": needed, "columnCount": width, "frozenRowCount": 1}}}})
            grids[title] = needed
            requests.extend(self._formats(table, sheet_id, needed))
            requests.append({"createDeveloperMetadata": {"developerMetadata": {
                "metadataKey": LAYOUT_KEY, "metadataValue": signature, "visibility": "DOCUMENT",
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
                for index, (status, colour) in enumerate(STATUS_COLOURS.items()):
                    out.append({"addConditionalFormatRule": {"index": index, "rule": {
                        "ranges": [span],
                        "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": status}]},
                                        "format": {"backgroundColor": rgb(colour)}}}}})
            if column.kind == "sparkline" and series_cols:
                out.append({"updateCells": {
                    "range": {"sheetId": sheet_id, "startRowIndex": 1, "endRowIndex": rows, "startColumnIndex": c, "endColumnIndex": c + 1},
                    "rows": [{"values": [{"userEnteredValue": {"formulaValue": sparkline_formula(series_cols, r)}}]}
                             for r in range(2, rows + 1)],
                    "fields": "userEnteredValue"}})
        return out

    # ---- the one values write --------------------------------------------------------------------
    def value_ranges(self, tables: list[Table], grids: dict[str, int]) -> list[dict]:
        """Every tab's header and rows, padded with "" to its grid height, skipping formula (sparkline) columns."""
        data: list[dict] = []
        for table in tables:
            title = self.titles.get(table.name, table.name)
            rows = grids[title]
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
