"""The Dashboard tab of the summary spreadsheet: the lead's `mapping.dashboard.Dashboard` laid out on a grid.

Rows, top to bottom (1-based): 1 title, 2 period and as-of time, 3 overall score with a bar and its
status (rows 1-3 frozen); 5-6 key results counted per status; 8 the objectives header, then one row
per objective in alignment-tree order (indented by depth) with its score as a bar; a blank row; the
key-results header, then one row per KR: status label, current vs target, progress with a bar,
change since the last recorded day, owner, trend (over the KR's row of the History tab), source,
last update, and why it is stale.

Everything that a sync changes (texts, numbers, status labels) is a plain value in the one RAW
values write, so a daily sync never reformats. The layout — where each row sits, the formulas
(bars and trends, which only point at cells) and the conditional formats colouring the status
labels — depends only on the number of objectives and KRs and on where the History tab keeps each
KR's days; that is the layout signature. When it changes, the sink re-lays the tab out; every cell
that is not a formula gets a value (or "") in the values write, so nothing stale survives, and the
grid is cut to the rows in use.

Formulas are okr-sync's own and point at cells only; source text never enters one (the History tab's
title, from the config, is quoted with `quote_tab`).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Callable, Optional

from openpyxl.utils import get_column_letter

from mapping.labels import STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER
from mapping.report import text_sparkline
from mapping.sources.sheets import quote_tab

DASHBOARD_VERSION = "dashboard-1"
FROZEN_ROWS = 3
COUNTS_ROW, OBJECTIVES_HEADER_ROW = 5, 8  # 1-based
KR_HEADER = ["Key result", "Objective", "Status", "Current", "Target", "Progress", "Progress bar", "Change",
             "Owner", "Trend", "Source", "Last update", "Note"]
OBJECTIVE_HEADER = ["Objective (alignment tree)", "Level", "Status", "KRs measured", "Owner", "Score", "Score bar"]
WIDTHS = [320, 220, 90, 110, 110, 80, 130, 90, 120, 130, 110, 130, 320]  # pixels per column
WIDTH = len(KR_HEADER)
STATUS_COL, VALUE_COL, BAR_COL, TREND_COL = 2, 5, 6, 9  # 0-based: status label, bar value, bar, trend
HEADER_FILL = {"red": 0x1F / 255, "green": 0x38 / 255, "blue": 0x64 / 255}
WHITE = {"red": 1, "green": 1, "blue": 1}
FORMATS = {"score": {"type": "NUMBER", "pattern": "0.00"}, "percent": {"type": "PERCENT", "pattern": "0%"},
           "count": {"type": "NUMBER", "pattern": "0"}, "datetime": {"type": "DATE_TIME", "pattern": "yyyy-mm-dd hh:mm"}}


def rgb(hex_colour: str) -> dict[str, float]:
    return {name: int(hex_colour[i:i + 2], 16) / 255 for name, i in (("red", 0), ("green", 2), ("blue", 4))}


def bar_formula(cell: str) -> str:
    """A 0..1 bar over one cell (clipped), empty while the cell holds no number."""
    return f'=IF(ISNUMBER({cell}),SPARKLINE(MAX(0,MIN(1,{cell})),{{"charttype","bar";"max",1}}),"")'


def trend_formula(tab: str, first_col: int, last_col: int, row: int) -> str:
    """A line over one row of the History tab's day columns (1-based), empty while the row has no numbers."""
    cells = f"{quote_tab(tab)}!{get_column_letter(first_col)}{row}:{get_column_letter(last_col)}{row}"
    return f'=IF(COUNT({cells})=0,"",SPARKLINE({cells}))'


def formula_runs(formulas: dict[tuple[int, int], str]) -> list[tuple[int, int, list[str]]]:
    """Formulas by 0-based (row, column) as (column, first row, formulas) runs of consecutive rows."""
    runs: list[tuple[int, int, list[str]]] = []
    for r, c in sorted(formulas, key=lambda rc: (rc[1], rc[0])):
        if runs and runs[-1][0] == c and runs[-1][1] + len(runs[-1][2]) == r:
            runs[-1][2].append(formulas[(r, c)])
        else:
            runs.append((c, r, [formulas[(r, c)]]))
    return runs


@dataclass(frozen=True)
class TrendSource:
    """Where the History tab keeps each KR's days: its title, its day columns (1-based) and each KR's row (or None)."""

    tab: str
    first_col: int
    last_col: int
    rows: tuple[Optional[int], ...]


class DashboardLayout:
    """The grid positions of one dashboard; its signature changes only with the number of objectives/KRs and the trend cells."""

    def __init__(self, dashboard: Any, title: str, trend: Optional[TrendSource]):
        self.dashboard, self.title, self.trend = dashboard, title, trend
        self.objectives = len(dashboard.objectives)
        self.krs = len(dashboard.krs)
        self.kr_header_row = OBJECTIVES_HEADER_ROW + self.objectives + 2  # 1-based, a blank row between the sections
        self.rows = self.kr_header_row + self.krs
        self.width = WIDTH
        self.frozen = FROZEN_ROWS
        self._formulas: Optional[dict[tuple[int, int], str]] = None

    # ---- what the layout depends on -----------------------------------------------------------
    def signature(self) -> str:
        trend = None if self.trend is None else [self.trend.tab, self.trend.first_col, self.trend.last_col, list(self.trend.rows)]
        parts = [DASHBOARD_VERSION, self.objectives, self.krs, KR_HEADER, OBJECTIVE_HEADER, trend,
                 [[STATUS_LABELS[k], STATUS_FILLS[k], STATUS_INKS[k]] for k in STATUS_ORDER]]
        return DASHBOARD_VERSION + ":" + hashlib.sha1(json.dumps(parts).encode()).hexdigest()[:16]

    def _trend_row(self, index: int) -> Optional[int]:
        return self.trend.rows[index] if self.trend is not None and index < len(self.trend.rows) else None

    def formulas(self) -> dict[tuple[int, int], str]:
        """okr-sync's formulas by 0-based (row, column): the bars and the trends (built once)."""
        if self._formulas is None:
            self._formulas = self._build_formulas()
        return self._formulas

    def _build_formulas(self) -> dict[tuple[int, int], str]:
        out = {(2, 2): bar_formula("B3")}
        for i in range(self.objectives):
            row = OBJECTIVES_HEADER_ROW + 1 + i
            out[(row - 1, BAR_COL)] = bar_formula(f"{get_column_letter(VALUE_COL + 1)}{row}")
        for i in range(self.krs):
            row = self.kr_header_row + 1 + i
            out[(row - 1, BAR_COL)] = bar_formula(f"{get_column_letter(VALUE_COL + 1)}{row}")
            history_row = self._trend_row(i)
            if history_row is not None and self.trend is not None:
                out[(row - 1, TREND_COL)] = trend_formula(self.trend.tab, self.trend.first_col, self.trend.last_col, history_row)
        return out

    # ---- the formatting requests (only on a layout change) ------------------------------------
    def formats(self, sheet_id: int) -> list[dict]:
        """Fonts, fills, number formats, column widths, status colours (conditional formats) and the formulas."""
        def span(r0: int, r1: int, c0: int, c1: int) -> dict:  # 0-based, exclusive ends
            return {"sheetId": sheet_id, "startRowIndex": r0, "endRowIndex": r1, "startColumnIndex": c0, "endColumnIndex": c1}

        def fmt(rng: dict, cell_format: dict, fields: str) -> dict:
            return {"repeatCell": {"range": rng, "cell": {"userEnteredFormat": cell_format}, "fields": fields}}

        obj0, obj1 = OBJECTIVES_HEADER_ROW, OBJECTIVES_HEADER_ROW + self.objectives  # 0-based rows of the objectives
        kr0, kr1 = self.kr_header_row, self.rows                                     # 0-based rows of the KRs
        out: list[dict] = [
            fmt(span(0, 1, 0, 1), {"textFormat": {"bold": True, "fontSize": 15}}, "userEnteredFormat.textFormat"),
            fmt(span(1, 2, 0, 1), {"textFormat": {"italic": True, "foregroundColor": rgb("595959")}}, "userEnteredFormat.textFormat"),
            fmt(span(2, 3, 0, 2), {"textFormat": {"bold": True}}, "userEnteredFormat.textFormat"),
            fmt(span(2, 3, 1, 2), {"numberFormat": FORMATS["score"]}, "userEnteredFormat.numberFormat"),
            fmt(span(COUNTS_ROW - 1, COUNTS_ROW + 1, 0, 1), {"textFormat": {"bold": True}}, "userEnteredFormat.textFormat"),
        ]
        for c, key in enumerate(STATUS_ORDER, start=1):  # the counts: one fixed coloured column per status
            out.append(fmt(span(COUNTS_ROW - 1, COUNTS_ROW + 1, c, c + 1),
                           {"backgroundColor": rgb(STATUS_FILLS[key]), "horizontalAlignment": "CENTER", "numberFormat": FORMATS["count"],
                            "textFormat": {"bold": True, "foregroundColor": rgb(STATUS_INKS[key])}},
                           "userEnteredFormat(backgroundColor,horizontalAlignment,numberFormat,textFormat)"))
        for header_row, width in ((OBJECTIVES_HEADER_ROW, len(OBJECTIVE_HEADER)), (self.kr_header_row, WIDTH)):
            out.append(fmt(span(header_row - 1, header_row, 0, width),
                           {"backgroundColor": HEADER_FILL, "wrapStrategy": "WRAP", "textFormat": {"bold": True, "foregroundColor": WHITE}},
                           "userEnteredFormat(backgroundColor,textFormat,wrapStrategy)"))
        if self.objectives:
            out.append(fmt(span(obj0, obj1, VALUE_COL, VALUE_COL + 1), {"numberFormat": FORMATS["score"]}, "userEnteredFormat.numberFormat"))
        if self.krs:
            out.append(fmt(span(kr0, kr1, VALUE_COL, VALUE_COL + 1), {"numberFormat": FORMATS["percent"]}, "userEnteredFormat.numberFormat"))
            last_update = KR_HEADER.index("Last update")
            out.append(fmt(span(kr0, kr1, last_update, last_update + 1), {"numberFormat": FORMATS["datetime"]}, "userEnteredFormat.numberFormat"))
        for c, pixels in enumerate(WIDTHS):
            out.append({"updateDimensionProperties": {
                "range": {"sheetId": sheet_id, "dimension": "COLUMNS", "startIndex": c, "endIndex": c + 1},
                "properties": {"pixelSize": pixels}, "fields": "pixelSize"}})
        status_ranges = [span(2, 3, 3, 4)]  # the overall status next to the overall score
        if self.objectives:
            status_ranges.append(span(obj0, obj1, STATUS_COL, STATUS_COL + 1))
        if self.krs:
            status_ranges.append(span(kr0, kr1, STATUS_COL, STATUS_COL + 1))
        for index, key in enumerate(STATUS_ORDER):
            out.append({"addConditionalFormatRule": {"index": index, "rule": {
                "ranges": status_ranges,
                "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": STATUS_LABELS[key]}]},
                                "format": {"backgroundColor": rgb(STATUS_FILLS[key]),
                                           "textFormat": {"bold": True, "foregroundColor": rgb(STATUS_INKS[key])}}}}}})
        for c, r0, formulas in formula_runs(self.formulas()):  # one updateCells per run of rows in a column
            out.append({"updateCells": {"range": span(r0, r0 + len(formulas), c, c + 1),
                                        "rows": [{"values": [{"userEnteredValue": {"formulaValue": f}}]} for f in formulas],
                                        "fields": "userEnteredValue"}})
        return out

    # ---- the values (every sync) --------------------------------------------------------------
    def grid(self, cell_value: Callable[[Any], Any]) -> list[list[Any]]:
        """Every cell of the tab: values (RAW), "" for empty cells, None (= leave as is) on the formula cells."""
        d = self.dashboard
        grid: list[list[Any]] = [[""] * WIDTH for _ in range(self.rows)]

        def put(row: int, values: list[Any]) -> None:  # 1-based row
            for c, value in enumerate(values):
                grid[row - 1][c] = cell_value(value)

        put(1, [d.title])
        put(2, [d.subtitle])
        put(3, ["Overall score", d.overall_score, None, STATUS_LABELS.get(d.overall_status, d.overall_status)])
        put(COUNTS_ROW, ["Key results by status"] + [count.label for count in d.counts])
        put(COUNTS_ROW + 1, [f"{len(d.krs)} key results"] + [count.count for count in d.counts])
        put(OBJECTIVES_HEADER_ROW, OBJECTIVE_HEADER)
        for i, line in enumerate(d.objectives):
            indent = "    " * line.depth + ("└ " if line.depth else "")
            put(OBJECTIVES_HEADER_ROW + 1 + i, [indent + line.title, line.level_label, line.status_label,
                                                f"{line.measured}/{line.total}", line.owner, line.score])
        put(self.kr_header_row, KR_HEADER)
        for i, kr in enumerate(d.krs):
            note = kr.stale_reason
            if kr.stale_since is not None:
                note = f"Stale since {kr.stale_since:%Y-%m-%d %H:%M}" + (f": {note}" if note else "")
            trend = "" if self._trend_row(i) is not None else text_sparkline([value for _, value in kr.trend])
            put(self.kr_header_row + 1 + i, [kr.title, kr.objective_title, kr.status_label, kr.current_text, kr.target_text,
                                             kr.progress, None, kr.change_text, kr.owner, trend, kr.source, kr.last_update, note])
        for (r, c) in self.formulas():
            grid[r][c] = None
        return grid
