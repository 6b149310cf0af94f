"""Config of the `sheets` source kind and of everything else that talks to Google Sheets (auth, outputs).

A metric reads one cell (`'Tab'!B7`), one named range, or a column of a table (header row)
aggregated over the rows that match a filter. Every read of one spreadsheet in a sync is one
`values:batchGet`; values are read unformatted and text is parsed deliberately (mapping.values).
"""
from __future__ import annotations

import re
from typing import Any, Literal, Optional

from pydantic import Field, field_validator, model_validator

from mapping.sources.base import Kind, SourceBase, StrictModel

Aggregation = Literal["sum", "mean", "count", "last", "first", "min", "max"]
DEFAULT_CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"

_URL = re.compile(r"^https://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")
_KEY = re.compile(r"^[A-Za-z0-9_-]{20,}$")
_CELL = re.compile(r"^\$?[A-Za-z]{1,3}\$?[1-9][0-9]*$")
_NAMED = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def spreadsheet_key(ref: str) -> str:
    """The key of a spreadsheet given by URL (https://docs.google.com/spreadsheets/d/KEY/...) or by key."""
    match = _URL.match(ref.strip())
    return match.group(1) if match else ref.strip()


def split_cell(ref: str) -> tuple[Optional[str], str]:
    """`'My tab'!B7` -> ("My tab", "B7"); `B7` -> (None, "B7"). Raises ValueError on anything else."""
    ref = ref.strip()
    tab: Optional[str] = None
    if "!" in ref:
        tab, _, cell = ref.rpartition("!")
        if tab.startswith("'") and tab.endswith("'") and len(tab) >= 2:
            tab = tab[1:-1].replace("''", "'")
        if not tab:
            raise ValueError(f"{ref!r} has an empty tab name")
    else:
        cell = ref
    if not _CELL.match(cell):
        raise ValueError(f"{ref!r} is not one cell like 'Tab'!B7 or B7")
    return tab, cell.replace("$", "").upper()


def quote_tab(title: str) -> str:
    """A tab title as Sheets wants it in A1 ranges: always single-quoted, inner quotes doubled."""
    return "'" + title.replace("'", "''") + "'"


class GoogleAuth(StrictModel):
    """How okr-sync signs in to Google: a service account, never a personal password.

    `credentials_env` names an env var holding either the path of the service-account JSON key file
    or the JSON content itself; `credentials_block` names a Prefect Secret block holding the JSON.
    """

    credentials_env: Optional[str] = Field(None, description=f"env var holding the service-account JSON key (a file path or the JSON itself); default {DEFAULT_CREDENTIALS_ENV}")
    credentials_block: Optional[str] = Field(None, description="name of a Prefect Secret block holding the service-account JSON (instead of credentials_env)")

    @model_validator(mode="after")
    def _one_credential(self) -> "GoogleAuth":
        if self.credentials_env and self.credentials_block:
            raise ValueError("set only one of credentials_env or credentials_block")
        return self


def _check_spreadsheet(value: str) -> str:
    value = value.strip()
    if _URL.match(value) or _KEY.match(value):
        return value
    raise ValueError(f"{value!r} is neither a Google Sheets URL (https://docs.google.com/spreadsheets/d/...) nor a spreadsheet key")


class SheetsSource(SourceBase, GoogleAuth):
    """A Google spreadsheet read as a metric source."""

    kind: Literal["sheets"]
    spreadsheet: str = Field(description="the spreadsheet's URL or key")
    decimal: Literal[".", ","] = Field(".", description="decimal mark of numbers typed as text ('1.234,5' needs ',')")

    @field_validator("spreadsheet")
    @classmethod
    def _spreadsheet_ref(cls, value: str) -> str:
        return _check_spreadsheet(value)


class SheetsQuery(StrictModel):
    """One cell, one named range, or a table column aggregated over the rows matching `where`."""

    source: str
    cell: Optional[str] = Field(None, description="one cell: 'Tab'!B7 (or B7 with worksheet)")
    named_range: Optional[str] = Field(None, description="a named range holding one value")
    worksheet: Optional[str] = Field(None, description="tab of the cell or of the table")
    column: Optional[str] = Field(None, description="header of the table column to aggregate (the header is in header_row)")
    agg: Aggregation = Field("sum", description="how the matching rows are combined")
    where: dict[str, Any] = Field(default_factory=dict, description="column -> value (or list of values) the rows must match; '{period}' is replaced by the period name")
    date_column: Optional[str] = Field(None, description="keep only rows whose date in this column lies in the period")
    header_row: int = Field(1, ge=1, description="row number of the table's header")

    @field_validator("cell")
    @classmethod
    def _a1(cls, value: Optional[str]) -> Optional[str]:
        if value is not None:
            split_cell(value)
        return value

    @field_validator("named_range")
    @classmethod
    def _named(cls, value: Optional[str]) -> Optional[str]:
        if value is not None and not _NAMED.match(value):
            raise ValueError(f"{value!r} is not a named range name (letters, digits, _ and .)")
        return value

    @model_validator(mode="after")
    def _one_target(self) -> "SheetsQuery":
        targets = [name for name in ("cell", "named_range", "column") if getattr(self, name)]
        if len(targets) != 1:
            raise ValueError("set exactly one of cell ('Tab'!B7), named_range, or worksheet + column (a table column aggregated over rows)")
        if self.cell:
            tab, _ = split_cell(self.cell)
            if tab is None and not self.worksheet:
                raise ValueError("cell needs its tab: write 'Tab'!B7 or add worksheet")
            if tab is not None and self.worksheet and tab != self.worksheet:
                raise ValueError(f"cell names tab {tab!r} but worksheet is {self.worksheet!r}")
        if self.column and not self.worksheet:
            raise ValueError("column needs worksheet (the tab holding the table)")
        if not self.column and (self.where or self.date_column):
            raise ValueError("where/date_column apply to a table column, not to a cell or named range")
        return self

    def sheet_range(self) -> str:
        """The A1 range this query reads: a cell, a named range, or the whole tab of a table."""
        if self.named_range:
            return self.named_range
        if self.cell:
            tab, cell = split_cell(self.cell)
            return f"{quote_tab(tab or self.worksheet or '')}!{cell}"
        return quote_tab(self.worksheet or "")


class SheetsOutput(GoogleAuth):
    """The summary spreadsheet: a Dashboard tab first, then tabs Summary, Objectives and History, rewritten in place every sync."""

    kind: Literal["sheets"]
    spreadsheet: str = Field(description="URL or key of the summary spreadsheet (share it with the service account as editor)")
    summary_tab: str = Field("Summary", description="tab of the one-row-per-KR table")
    objectives_tab: str = Field("Objectives", description="tab of the objective rollup")
    history_tab: str = Field("History", description="tab of recent values per KR with a sparkline")
    dashboard_tab: str = Field("Dashboard", description="first tab: the one-page summary (scores, statuses, progress bars, trends)")
    history_points: int = Field(12, ge=2, le=120, description="how many recent days of values the History tab shows")

    @field_validator("spreadsheet")
    @classmethod
    def _spreadsheet_ref(cls, value: str) -> str:
        return _check_spreadsheet(value)

    @model_validator(mode="after")
    def _distinct_tabs(self) -> "SheetsOutput":
        tabs = [self.dashboard_tab, self.summary_tab, self.objectives_tab, self.history_tab]
        if len(set(tabs)) != len(tabs):
            raise ValueError("dashboard_tab, summary_tab, objectives_tab and history_tab must differ")
        return self


KINDS = (
    Kind("sheets", SheetsSource, SheetsQuery),
)
