"""Config of the `file` source kind: a local CSV (UTF-8) or XLSX file, read once per sync."""
from __future__ import annotations

import re
from typing import Any, Literal, Optional, Union

from pydantic import Field, field_validator, model_validator

from mapping.sources.base import Kind, SourceBase, StrictModel

Aggregation = Literal["sum", "mean", "last", "first", "count", "min", "max"]
_CELL = re.compile(r"^[A-Za-z]{1,3}[1-9][0-9]*$")


class FileSource(SourceBase):
    """A local .csv, .xlsx or .xlsm file (path relative to the config file)."""

    kind: Literal["file"]
    path: str = Field(description="path of a .csv or .xlsx file, relative to the config file")
    decimal: Literal[".", ","] = Field(".", description="decimal mark used by text cells ('1.234,5' needs ',')")

    @field_validator("path")
    @classmethod
    def _known_suffix(cls, value: str) -> str:
        if not value.lower().endswith((".csv", ".xlsx", ".xlsm")):
            raise ValueError("must end in .csv, .xlsx or .xlsm")
        return value


class FileQuery(StrictModel):
    """One cell, or one column aggregated over the rows that match `where` (and the period, with `date_column`)."""

    source: str
    sheet: Optional[Union[str, int]] = Field(None, description="worksheet name or 0-based index (xlsx); default: the first")
    cell: Optional[str] = Field(None, description="a single cell in A1 notation, e.g. B7")
    column: Optional[str] = Field(None, description="header of the column to aggregate")
    agg: Aggregation = Field("sum", description="how the matching rows are combined")
    where: dict[str, Any] = Field(default_factory=dict, description="column -> value (or list of values) the rows must match; '{period}' is replaced by the period name")
    date_column: Optional[str] = Field(None, description="keep only rows whose date in this column lies in the period")

    @field_validator("cell")
    @classmethod
    def _a1(cls, value: str | None) -> str | None:
        if value is not None and not _CELL.match(value):
            raise ValueError(f"{value!r} is not a cell in A1 notation like B7")
        return value.upper() if value else value

    @model_validator(mode="after")
    def _cell_or_column(self) -> "FileQuery":
        if bool(self.cell) == bool(self.column):
            raise ValueError("set exactly one of cell (one value) or column (aggregated over rows)")
        if self.cell and (self.where or self.date_column):
            raise ValueError("where/date_column apply to a column, not to a single cell")
        return self


KINDS = (
    Kind("file", FileSource, FileQuery),
)
