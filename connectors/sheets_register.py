"""Reading the OKR register tab and writing its measured columns back: one read and one write per sync, growth included.

The read is one `spreadsheets.get` of the tab (`ranges='OKRs'` and a field mask asking only for the
tab's sheetId, title and grid size and each cell's effective and formatted value), converted to the
unformatted values `values:batchGet` would give (numbers, dates as serial numbers, text, booleans,
an error cell as its text such as `#N/A`). The write is one RAW `values:batchUpdate` when the cells
fit the tab's grid; when they do not (measured columns added past the grid's edge, e.g. Google's
default 26 columns, or more rows) it is one `batchUpdate` whose `appendDimension` requests grow the
grid first, followed by `updateCells` requests with literal values (text is never a formula; one per
range, cut where the range has a null cell, i.e. a cell of a non-KR row left untouched as in the RAW
values write) — a values write past the grid would be HTTP 400 "exceeds grid limits".
"""
from __future__ import annotations

from datetime import datetime
from typing import Mapping, Optional

from connectors.base import Context, RetriableError, SourceError
from connectors.sheets_client import SheetsClient
from connectors.xlsx import OutputError
from mapping.errors import OkrSyncError
from mapping.register import Register, RegisterConfig, RegisterRows, writeback_ranges
from mapping.results import KRResult
from mapping.sources.sheets import spreadsheet_key


class RegisterError(OkrSyncError):
    """The register sheet could not be read: without it there are no OKRs to sync."""

    exit_code = 3


def read_register(okrs: RegisterConfig, context: Context, client: Optional[SheetsClient] = None) -> tuple[RegisterRows, SheetsClient]:
    """Every row of the register tab, unformatted, and the client (reused for the write-back)."""
    client = client or _client(okrs, context)
    try:
        rows = client.read_tab(okrs.spreadsheet, okrs.worksheet)
    except (SourceError, RetriableError) as exc:
        raise RegisterError(f"register tab {okrs.worksheet!r}: {exc}") from None
    return RegisterRows(okrs.worksheet, rows, okrs.header_row), client


def write_register(okrs: RegisterConfig, register: Register, results: Mapping[str, KRResult], now: datetime,
                   client: SheetsClient) -> int:
    """Write Current, Progress, Score, Status and Last synced of every KR row (nothing else); returns the ranges written (0 when unchanged)."""
    data = writeback_ranges(register, results, now)
    if not data:
        return 0
    try:
        client.write_values_growing(okrs.spreadsheet, okrs.worksheet, data)  # grows the grid in the same request if needed
    except (SourceError, RetriableError) as exc:
        raise OutputError(f"register {spreadsheet_key(okrs.spreadsheet)} tab {okrs.worksheet!r}: {exc}") from None
    return len(data)


def _client(okrs: RegisterConfig, context: Context) -> SheetsClient:
    try:
        return SheetsClient.for_auth(okrs, context)
    except (SourceError, RetriableError) as exc:
        raise RegisterError(f"register: {exc}") from None
