"""The Dashboard sheet: the one page a manager reads (title, status counts, alignment tree, KRs).

Layout, top to bottom (rows 1-3 frozen and repeated on every printed page):

    title · period, as-of time, share elapsed · overall score with its status
    key results by status (a coloured label and a count per status)
    objectives as the alignment tree (indented by depth) with the score as a data bar; a bar chart beside it
    key results: status label in its colour, current vs target with units, progress as a data bar,
    change since the last check-in, owner, an Excel sparkline over the KR's History row, why it is stale

XlsxWriter writes the fixed top, the chart, the data bars, the sparklines and the print setup; the tree
and KR rows (one per objective / KR, thousands in a large company) are streamed as XML like the detail
sheets' rows.
"""
from __future__ import annotations

from itertools import chain
from typing import Iterable, Optional

from xlsxwriter.workbook import Workbook
from xlsxwriter.worksheet import Worksheet

from connectors.xlsx.stream import column_letter, columns_xml, row_xml
from connectors.xlsx.styles import BAR_COLOUR, Styles, xf
from mapping.dashboard import Dashboard, KRLine
from mapping.labels import STATUS_LABELS
from mapping.report import Table, text_sparkline

KR_HEADER = ["Objective", "Key result", "Owner", "Status", "Current", "Target", "Progress", "Change",
             "Since", "Trend", "Last update", "Why / note"]
TREE_HEADER = ["Objective", "Level", "Owner", "Status", "KRs measured", "Score"]
WIDTH_LIMITS = [(16, 50), (18, 50), (10, 24), (11, 11), (10, 18), (10, 18), (11, 11), (9, 14), (11, 11),
                (16, 16), (16, 16), (12, 50)]
CHART_ROWS = 16  # rows the objective chart covers; the tree block is at least this tall
CHART_MAX_BARS = 25
FIRST_TREE_ROW = 10  # 0-based: row 11 in Excel


def _data_bar(sheet: Worksheet, first: int, last: int, col: int) -> None:
    """A 0..1 data bar (the plain 2007 kind, so every reader shows it the same)."""
    if last >= first:
        sheet.conditional_format(first, col, last, col, {
            "type": "data_bar", "min_type": "num", "min_value": 0, "max_type": "num", "max_value": 1,
            "bar_color": "#" + BAR_COLOUR, "data_bar_2010": False})


def _clip(value: Optional[float]) -> Optional[float]:
    return None if value is None else max(0.0, min(1.0, value))


def _note(kr: KRLine) -> str:
    if kr.status == "stale" and kr.stale_since is not None:
        return f"Stale since {kr.stale_since:%Y-%m-%d %H:%M}: {kr.stale_reason}".rstrip(": ")
    return kr.stale_reason


def _widths(dashboard: Dashboard) -> list[float]:
    """Each column as wide as its longest text (title rows excluded), within WIDTH_LIMITS."""
    longest = [len(name) + 2 for name in KR_HEADER]
    for line in dashboard.objectives[:2000]:
        longest[0] = max(longest[0], len(line.title) + 3 * min(line.depth, 6) + 2)
        longest[2] = max(longest[2], len(line.owner) + 1)
    for kr in dashboard.krs[:2000]:
        for c, text in ((1, kr.title), (2, kr.owner), (4, kr.current_text), (5, kr.target_text),
                        (7, kr.change_text), (11, _note(kr))):
            longest[c] = max(longest[c], len(text) + 2)
    return [float(min(high, max(low, size))) for size, (low, high) in zip(longest, WIDTH_LIMITS)]


def _trend_ranges(history: Optional[Table]) -> tuple[dict[str, int], Optional[tuple[int, int]]]:
    """Where each KR's History row is (1-based, by KR id) and the first/last series column, if any."""
    if history is None:
        return {}, None
    series = [c for c, column in enumerate(history.columns) if column.kind == "series"]
    id_col = next((c for c, column in enumerate(history.columns) if column.name == "KR id"), 0)
    rows = {row[id_col]: number for number, row in enumerate(history.rows, start=2)}
    return rows, (series[0], series[-1]) if series else None


def lay_out_dashboard(book: Workbook, sheet: Worksheet, dashboard: Dashboard, styles: Styles,
                      history: Optional[Table], history_sheet: str = "History") -> tuple[Iterable[str], str]:
    """Write the Dashboard's fixed part, chart, data bars, sparklines and print setup; return the streamed rows."""
    sheet.hide_gridlines(2)
    for c, width in enumerate(_widths(dashboard)):
        sheet.set_column(c, c, width)
    sheet.write_string(0, 0, dashboard.title, styles.title)
    sheet.set_row(0, 24)
    sheet.write_string(1, 0, dashboard.subtitle, styles.subtitle)
    sheet.write_string(2, 0, "Overall score (0–1)", styles.label)
    if dashboard.overall_score is not None:
        sheet.write_number(2, 1, dashboard.overall_score, styles.big_score)
    sheet.write_string(2, 2, STATUS_LABELS[dashboard.overall_status], styles.status[dashboard.overall_status])
    sheet.write_string(4, 0, "Key results by status", styles.section)
    sheet.write_string(5, 0, "Status", styles.label)
    sheet.write_string(6, 0, "Key results", styles.label)
    for c, count in enumerate(dashboard.counts, start=1):
        sheet.write_string(5, c, count.label, styles.status[count.key])
        sheet.write_number(6, c, count.count, styles.count)
    sheet.write_string(8, 0, "Objectives · alignment tree (company → department → team), score 0–1", styles.section)
    for c, name in enumerate(TREE_HEADER):
        sheet.write_string(9, c, name, styles.header)

    letters = [column_letter(c) for c in range(len(KR_HEADER))]
    status_xf = {key: xf(fmt) for key, fmt in styles.status.items()}
    lines = dashboard.objectives
    tree = [[line.title for line in lines], [line.level_label for line in lines], [line.owner for line in lines],
            [line.status_label for line in lines], [f"{line.measured}/{line.total}" for line in lines],
            [line.score for line in lines]]
    tree_styles = [[xf(styles.for_depth(line.depth, bold=line.depth == 0)) for line in lines], 0, 0,
                   [status_xf[line.status] for line in lines], xf(styles.right), xf(styles.score)]
    rows: list[Iterable[str]] = [columns_xml(tree, FIRST_TREE_ROW + 1, tree_styles)]
    tree_first, tree_last = FIRST_TREE_ROW, FIRST_TREE_ROW + len(lines) - 1
    _data_bar(sheet, tree_first, tree_last, 5)
    if lines:
        _chart(book, sheet, dashboard, tree_first)
    number = max(FIRST_TREE_ROW + 1 + len(lines), FIRST_TREE_ROW + 1 + CHART_ROWS) + 1  # 1-based, after a blank row

    rows.append([row_xml(number, ["Key results"], [xf(styles.section)], letters)])
    header_row = number + 1
    rows.append([row_xml(header_row, KR_HEADER, [xf(styles.header)] * len(KR_HEADER), letters)])
    first_kr = header_row + 1
    history_rows, series = _trend_ranges(history)
    locations, ranges, trends, objective_titles = [], [], [], []
    previous_objective = None
    for number, kr in enumerate(dashboard.krs, start=first_kr):
        if series and kr.kr_id in history_rows:
            locations.append(f"J{number}")
            hist = history_rows[kr.kr_id]
            ranges.append(f"{history_sheet}!{column_letter(series[0])}{hist}:{column_letter(series[1])}{hist}")
            trends.append(None)
        else:
            trends.append(text_sparkline([value for _, value in kr.trend]))
        objective_titles.append(kr.objective_title if kr.objective_id != previous_objective else None)
        previous_objective = kr.objective_id
    krs = dashboard.krs
    kr_columns = [objective_titles, [kr.title for kr in krs], [kr.owner for kr in krs], [kr.status_label for kr in krs],
                  [kr.current_text for kr in krs], [kr.target_text for kr in krs], [_clip(kr.progress) for kr in krs],
                  [kr.change_text for kr in krs], [kr.change_since for kr in krs], trends,
                  [kr.last_update for kr in krs], [_note(kr) for kr in krs]]
    kr_styles = [xf(styles.label), 0, 0, [status_xf[kr.status] for kr in krs], xf(styles.right), xf(styles.right),
                 xf(styles.progress), xf(styles.right), xf(styles.day), 0, xf(styles.moment), 0]
    rows.append(columns_xml(kr_columns, first_kr, kr_styles))
    last_kr = first_kr + len(krs) - 1
    _data_bar(sheet, first_kr - 1, last_kr - 1, 6)
    if locations:
        sheet.add_sparkline(first_kr - 1, 9, {"location": locations, "range": ranges, "type": "line",
                                              "markers": False, "last_point": True, "series_color": "#" + BAR_COLOUR})

    last_row = max(last_kr, header_row)
    sheet.freeze_panes(3, 0)
    sheet.repeat_rows(0, 2)
    sheet.print_area(0, 0, last_row - 1, len(KR_HEADER) - 1)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    sheet.set_footer("&L&A&RPage &P of &N")
    sheet.activate()
    return chain.from_iterable(rows), f"A1:{column_letter(len(KR_HEADER) - 1)}{last_row}"


def _chart(book: Workbook, sheet: Worksheet, dashboard: Dashboard, first_row: int) -> None:
    """A bar chart of the objectives' scores (the first CHART_MAX_BARS in tree order), beside the tree."""
    shown = min(len(dashboard.objectives), CHART_MAX_BARS)
    last = first_row + shown - 1
    chart = book.add_chart({"type": "bar"})
    chart.add_series({
        "name": "Score",
        "categories": [sheet.name, first_row, 0, last, 0],
        "values": [sheet.name, first_row, 5, last, 5],
        "fill": {"color": "#" + BAR_COLOUR},
        "data_labels": {"value": True, "num_format": "0.00"},
    })
    more = f" (first {shown} of {len(dashboard.objectives)})" if shown < len(dashboard.objectives) else ""
    chart.set_title({"name": f"Objective scores{more}", "name_font": {"size": 11}})
    chart.set_x_axis({"min": 0, "max": 1, "num_format": "0.0", "major_gridlines": {"visible": True}})
    chart.set_y_axis({"reverse": True})
    chart.set_legend({"none": True})
    chart.set_size({"width": 560, "height": 20 * CHART_ROWS})
    sheet.insert_chart(first_row - 1, 7, chart, {"x_offset": 10, "y_offset": 4, "object_position": 2})
