"""Reading the OKR register tab (one `values:batchGet`) and writing its measured columns back (one RAW `values:batchUpdate`).

The read's answer tells the tab's grid size; when the write-back needs more columns (measured columns
added after the header's last one) or rows than the grid has, the grid is grown first (one metadata
read for the tab's sheetId, one `batchUpdate` with `appendDimension`), else Google answers HTTP 400
"exceeds grid limits".
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Optional

from gspread.utils import a1_to_rowcol

from connectors.base import Context, RetriableError, SourceError
from connectors.sheets_client import SheetsClient
from connectors.xlsx import OutputError
from mapping.errors import OkrSyncError
from mapping.register import Register, RegisterConfig, RegisterRows, writeback_ranges
from mapping.results import KRResult
from mapping.sources.sheets import quote_tab, spreadsheet_key


class RegisterError(OkrSyncError):
    """The register sheet could not be read: without it there are no OKRs to sync."""

    exit_code = 3


def read_register(okrs: RegisterConfig, context: Context, client: Optional[SheetsClient] = None) -> tuple[RegisterRows, SheetsClient]:
    """Every row of the register tab, unformatted, and the client (reused for the write-back)."""
    client = client or _client(okrs, context)
    try:
        answers = client.batch_get(okrs.spreadsheet, [quote_tab(okrs.worksheet)])
    except (SourceError, RetriableError) as exc:
        raise RegisterError(f"register tab {okrs.worksheet!r}: {exc}") from None
    rows = answers[0].get("values", []) if answers else []
    return RegisterRows(okrs.worksheet, rows, okrs.header_row), client


def write_register(okrs: RegisterConfig, register: Register, results: Mapping[str, KRResult], now: datetime,
                   client: SheetsClient) -> int:
    """Write Current, Progress, Score, Status and Last synced of every KR row (nothing else); returns the ranges written (0 when unchanged)."""
    data = writeback_ranges(register, results, now)
    if not data:
        return 0
    rows, columns = extent(data)
    try:
        client.ensure_grid(okrs.spreadsheet, okrs.worksheet, rows, columns)  # measured columns added past the grid's edge
        client.batch_update_values(okrs.spreadsheet, data, "RAW")
    except (SourceError, RetriableError) as exc:
        raise OutputError(f"register {spreadsheet_key(okrs.spreadsheet)} tab {okrs.worksheet!r}: {exc}") from None
    return len(data)


def extent(data: list[dict]) -> tuple[int, int]:
    """The last row and column (1-based) the value ranges reach: the grid must be at least that big."""
    rows = columns = 0
    for entry in data:
        a1 = entry["range"].rsplit("!", 1)[-1]
        for corner in a1.split(":"):
            row, column = a1_to_rowcol(corner)
            rows, columns = max(rows, row), max(columns, column)
    return rows, columns


def _client(okrs: RegisterConfig, context: Context) -> SheetsClient:
    try:
        return SheetsClient.for_auth(okrs, context)
    except (SourceError, RetriableError) as exc:
        raise RegisterError(f"register: {exc}") from None
