"""The detail sheets (Summary, Objectives, History): one per report table, for filters and pivots.

XlsxWriter lays out the header (bold, frozen, repeated when printing), widths, the autofilter and print
setup; the data rows are returned as streamed XML (`stream.columns_xml`), styled from each column's kind,
so a column another writer adds to a table is written like the rest.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

from xlsxwriter.worksheet import Worksheet

from connectors.xlsx.stream import column_letter, columns_xml, transpose
from connectors.xlsx.styles import Styles, xf
from mapping.report import Column, Table

MAX_WIDTH = 60
# the narrowest a column of each kind may be so its formatted values show (not "####")
MIN_WIDTHS = {"datetime": 17, "number": 11, "series": 11, "percent": 8, "score": 7, "bool": 7}


def fitted_width(column: Column, values: Sequence[Any]) -> float:
    """A column wide enough for its header and its text (numbers: the table's width), within MAX_WIDTH."""
    longest = max(len(column.name) + 2, MIN_WIDTHS.get(column.kind, 6),
                  column.width if column.kind not in ("text", "status") else 0)
    texts = [len(value) + 1 for value in values if type(value) is str]
    if texts:
        longest = max(longest, max(texts))
    return float(min(MAX_WIDTH, longest))


def lay_out_table(sheet: Worksheet, table: Table, styles: Styles) -> tuple[Iterable[str], str]:
    """Header and sheet settings through XlsxWriter; the rows as XML to splice in, and the used range."""
    width = len(table.columns)
    last_col = width - 1
    columns = transpose(table.rows, width)
    for c, column in enumerate(table.columns):
        sheet.write_string(0, c, column.name, styles.header)
        sheet.set_column(c, c, fitted_width(column, columns[c]))
    sheet.set_row(0, 30)
    sheet.freeze_panes(1, 0)
    last_row = len(table.rows)  # 0-based index of the last data row
    sheet.autofilter(0, 0, max(last_row, 1), last_col)
    sheet.set_landscape()
    sheet.fit_to_pages(1, 0)
    sheet.repeat_rows(0)
    column_styles: list[Any] = [xf(styles.kinds.get(column.kind)) for column in table.columns]
    status_xf = {key: xf(fmt) for key, fmt in styles.status.items()}
    for c, column in enumerate(table.columns):
        if column.kind == "status":  # the fill of each status
            column_styles[c] = [status_xf.get(value, 0) if isinstance(value, str) else 0 for value in columns[c]]
    rows = columns_xml(columns, 2, column_styles)
    return rows, f"A1:{column_letter(last_col)}{last_row + 1}"
