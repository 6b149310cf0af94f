"""The summary workbook sink: a Dashboard sheet first, then the detail sheets, written fast and atomically.

`write_xlsx(tables, path, dashboard, title=...)` lays the workbook out with XlsxWriter (styles, the
Dashboard's top, chart, data bars, sparklines, print setup, widths, frozen headers, filters) and streams
the data rows as XML into the package (see `stream`), then renames the finished file into place
(`connectors.atomic`: normal permissions, a previous file kept on failure).
"""
from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import BinaryIO, Iterable, Optional

from xlsxwriter.workbook import Workbook

from connectors.atomic import OutputError, atomic_output
from connectors.xlsx.dashboard import lay_out_dashboard
from connectors.xlsx.detail import lay_out_table
from connectors.xlsx.stream import repackage
from connectors.xlsx.styles import NUMBER_FORMATS, Styles
from mapping.dashboard import Dashboard
from mapping.labels import STATUS_FILLS
from mapping.report import Table

__all__ = ["NUMBER_FORMATS", "STATUS_COLOURS", "OutputError", "build_workbook", "write_xlsx"]

STATUS_COLOURS = dict(STATUS_FILLS)  # fill per status key, RRGGBB (the Google Sheets sink colours the same way)
DASHBOARD_SHEET = "Dashboard"


def build_workbook(tables: list[Table], out: BinaryIO, dashboard: Optional[Dashboard] = None,
                   title: Optional[str] = None) -> None:
    """Write the .xlsx package to the binary file `out`: Dashboard (with a dashboard), then one sheet per table."""
    laid_out = io.BytesIO()
    book = Workbook(laid_out, {"in_memory": True, "strings_to_formulas": False, "strings_to_numbers": False,
                               "strings_to_urls": False})
    styles = Styles(book)
    streamed: dict[str, tuple[Iterable[str], str]] = {}
    sheets = []
    if dashboard is not None:
        if title:
            dashboard = replace(dashboard, title=title)
        sheets.append((book.add_worksheet(DASHBOARD_SHEET), None))
    for table in tables:
        sheets.append((book.add_worksheet(table.name), table))
    history = next((table for table in tables if table.name == "History"), None)
    for number, (sheet, table) in enumerate(sheets, start=1):
        part = f"xl/worksheets/sheet{number}.xml"
        if table is None:
            streamed[part] = lay_out_dashboard(book, sheet, dashboard, styles, history)
        else:
            streamed[part] = lay_out_table(sheet, table, styles)
    book.set_properties({"title": dashboard.title if dashboard else "OKR summary"})
    book.close()
    repackage(laid_out.getvalue(), streamed, out)


def write_xlsx(tables: list[Table], path: Path, dashboard: Optional[Dashboard] = None,
               title: Optional[str] = None) -> Path:
    """Write the workbook to `path` atomically (readable like any new file of the user; a chmod is kept)."""
    path = Path(path)
    with atomic_output(path, "workbook") as handle:
        build_workbook(tables, handle, dashboard, title)
    return path
