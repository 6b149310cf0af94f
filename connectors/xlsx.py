"""The summary workbook sink: report tables to an .xlsx, formatted, written atomically."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from mapping.errors import OkrSyncError
from mapping.report import Table

STATUS_COLOURS = {
    "done": "C6EFCE", "on_track": "DDEBF7", "at_risk": "FFEB9C", "off_track": "FFC7CE", "no_data": "EDEDED",
}
NUMBER_FORMATS = {"number": "#,##0.00", "percent": "0.0%", "score": "0.00", "datetime": "yyyy-mm-dd hh:mm"}
HEADER_FILL = PatternFill("solid", fgColor="1F3864")


class OutputError(OkrSyncError):
    """An output could not be written; the previous version was left in place."""

    exit_code = 3


def build_workbook(tables: list[Table]) -> Workbook:
    """One sheet per table: bold frozen header, number/percent formats, status colours, filters."""
    book = Workbook()
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(table.name)
        sheet.append(table.header)
        for cell in sheet[1]:
            cell.font = Font(bold=True, color="FFFFFF")
            cell.fill = HEADER_FILL
            cell.alignment = Alignment(vertical="center", wrap_text=True)
        for r, row in enumerate(table.rows, start=2):
            for c, (column, value) in enumerate(zip(table.columns, row), start=1):
                cell = sheet.cell(row=r, column=c)
                if isinstance(value, str):
                    cell.value = value
                    cell.data_type = "s"  # text from sources stays text, never a formula
                else:
                    cell.value = value
                if column.kind in NUMBER_FORMATS and value is not None:
                    cell.number_format = NUMBER_FORMATS[column.kind]
                if column.kind == "status" and value in STATUS_COLOURS:
                    cell.fill = PatternFill("solid", fgColor=STATUS_COLOURS[value])
        for c, column in enumerate(table.columns, start=1):
            sheet.column_dimensions[get_column_letter(c)].width = column.width
        sheet.freeze_panes = "A2"
        if table.rows:
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{len(table.rows) + 1}"
    return book


def write_xlsx(tables: list[Table], path: Path, dashboard: object = None) -> Path:
    """Write the workbook next to `path` under a temporary name, then rename it into place."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=".xlsx.tmp", dir=path.parent)
        os.close(handle)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}; check the output path and permissions") from None
    try:
        build_workbook(tables).save(temp)
        os.replace(temp, path)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror}; the previous file was left unchanged") from None
    finally:
        if os.path.exists(temp):
            os.unlink(temp)
    return path
