"""The OKR register: objectives and KRs kept by people in a spreadsheet tab (pure: rows in, rows out).

Human columns are read and never written; measured columns are written back by the sync and
nothing else. A connector reads the tab (one `values:batchGet`) and hands the rows here;
`parse_register` turns them into objective dicts shaped like the YAML ones (validated by
mapping.loader.apply_register, problems naming the sheet row), and `writeback_ranges` computes the
only cells the sync writes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Mapping, Optional

from pydantic import ConfigDict, Field, field_validator

from mapping.results import KRResult
from mapping.sources.sheets import GoogleAuth, _check_spreadsheet, quote_tab
from mapping.values import ValueParseError, parse_number

# canonical key -> header text (matched case-insensitively; spaces, _ and - are equivalent)
HUMAN_COLUMNS = {
    "objective_id": "Objective id", "objective": "Objective", "level": "Level", "objective_owner": "Objective owner",
    "aligns_to": "Aligns to", "kr_id": "KR id", "key_result": "Key result", "owner": "Owner", "type": "Type",
    "baseline": "Baseline", "target": "Target", "unit": "Unit", "weight": "Weight", "committed": "Committed",
    "manual_value": "Manual value", "confidence": "Confidence",
}
MEASURED_COLUMNS = {"current": "Current", "progress": "Progress", "score": "Score", "status": "Status", "last_synced": "Last synced"}
REQUIRED = ("objective_id", "kr_id", "key_result")
_TRUE = {"true", "yes", "y", "x", "1", "committed", "✓"}
_FALSE = {"false", "no", "n", "0", "", "aspirational"}


def _norm(text: Any) -> str:
    return re.sub(r"[\s_-]+", " ", str(text).strip().lower())


_BY_HEADER = {_norm(header): key for key, header in {**HUMAN_COLUMNS, **MEASURED_COLUMNS}.items()}


class RegisterConfig(GoogleAuth):
    """`okrs: {from: sheets, spreadsheet, worksheet, metrics}`: OKRs kept in a sheet, metric mappings kept in YAML."""

    from_: Literal["sheets"] = Field(alias="from", description="where the register lives (sheets)")
    spreadsheet: str = Field(description="URL or key of the register spreadsheet (share it with the service account as Editor)")
    worksheet: str = Field("OKRs", description="tab holding the register")
    header_row: int = Field(1, ge=1, description="row number of the column headers")
    decimal: Literal[".", ","] = Field(".", description="decimal mark of numbers typed as text")
    write_back: bool = Field(True, description="write Current, Progress, Score, Status and Last synced back into the tab")
    metrics: dict[str, dict[str, Any]] = Field(default_factory=dict, description="KR id -> metric ({source, <query>} or a formula), for the KRs of the sheet")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("spreadsheet")
    @classmethod
    def _spreadsheet_ref(cls, value: str) -> str:
        return _check_spreadsheet(value)


@dataclass(frozen=True)
class RegisterRows:
    """The register tab as read: every row from row 1 (ragged, unformatted values)."""

    worksheet: str
    rows: list[list[Any]]
    header_row: int = 1


@dataclass(frozen=True)
class RowIssue:
    """A problem found in one register cell."""

    row: int
    column: str
    message: str
    hint: str = ""


@dataclass
class Register:
    """The register parsed: objective dicts like the YAML ones, plus where each value came from."""

    worksheet: str
    header_row: int
    columns: dict[str, int]                        # canonical key -> 0-based column
    header_width: int
    objectives: list[dict] = field(default_factory=list)
    cells: dict[tuple, tuple[int, str]] = field(default_factory=dict)  # objectives path -> (sheet row, header)
    kr_rows: dict[str, int] = field(default_factory=dict)               # KR id -> sheet row
    manual: dict[str, float] = field(default_factory=dict)              # KR id -> manual value
    measured: dict[tuple[int, str], Any] = field(default_factory=dict)  # (row, key) -> value now in the sheet
    issues: list[RowIssue] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)              # set by mapping.loader.apply_register


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def parse_register(data: RegisterRows, decimal: str = ".") -> Register:
    """Rows -> objectives. A row with an empty objective id continues the objective above it."""
    head = data.header_row - 1
    header = data.rows[head] if len(data.rows) > head else []
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        key = _BY_HEADER.get(_norm(title)) if not _empty(title) else None
        if key and key not in columns:
            columns[key] = index
    width = max((i + 1 for i, title in enumerate(header) if not _empty(title)), default=0)
    reg = Register(data.worksheet, data.header_row, columns, width)
    missing = [HUMAN_COLUMNS[key] for key in REQUIRED if key not in columns]
    if missing:
        reg.issues.append(RowIssue(data.header_row, missing[0], f"the header has no column {', '.join(repr(m) for m in missing)}",
                                   f"the register needs at least {', '.join(HUMAN_COLUMNS[k] for k in REQUIRED)} (see README, register columns)"))
        return reg

    def get(row: list[Any], key: str) -> Any:
        index = columns.get(key)
        return row[index] if index is not None and index < len(row) else None

    by_id: dict[str, dict] = {}
    current: Optional[dict] = None
    for number, row in enumerate(data.rows[head + 1:], start=data.header_row + 1):
        if all(_empty(v) for v in row):
            continue
        for key in MEASURED_COLUMNS:
            if key in columns:
                reg.measured[(number, key)] = get(row, key)
        oid = get(row, "objective_id")
        if not _empty(oid):
            oid = _text(oid)
            current = by_id.get(oid)
            if current is None:
                current = {"id": oid, "key_results": []}
                by_id[oid] = current
                reg.objectives.append(current)
                reg.cells[("objectives", len(reg.objectives) - 1)] = (number, HUMAN_COLUMNS["objective_id"])
                reg.cells[("objectives", len(reg.objectives) - 1, "id")] = (number, HUMAN_COLUMNS["objective_id"])
        elif current is None:
            reg.issues.append(RowIssue(number, HUMAN_COLUMNS["objective_id"], "row has no objective id and no objective above it",
                                       "fill in the Objective id"))
            continue
        oi = reg.objectives.index(current)
        for key, field_name in (("objective", "title"), ("level", "level"), ("objective_owner", "owner"), ("aligns_to", "aligns_to")):
            value = get(row, key)
            if not _empty(value) and field_name not in current:
                current[field_name] = _text(value).lower() if key == "level" else _text(value)
                reg.cells[("objectives", oi, field_name)] = (number, HUMAN_COLUMNS[key])
        kid = get(row, "kr_id")
        if _empty(kid):
            if any(not _empty(get(row, k)) for k in ("key_result", "baseline", "target")):
                reg.issues.append(RowIssue(number, HUMAN_COLUMNS["kr_id"], "row describes a KR but has no KR id", "fill in the KR id"))
            continue
        kr: dict[str, Any] = {"id": _text(kid)}
        ki = len(current["key_results"])
        path = ("objectives", oi, "key_results", ki)
        reg.cells[path] = (number, HUMAN_COLUMNS["kr_id"])
        reg.cells[path + ("id",)] = (number, HUMAN_COLUMNS["kr_id"])
        for key, field_name in (("key_result", "title"), ("owner", "owner"), ("unit", "unit")):
            value = get(row, key)
            if not _empty(value):
                kr[field_name] = _text(value)
                reg.cells[path + (field_name,)] = (number, HUMAN_COLUMNS[key])
        value = get(row, "type")
        if not _empty(value):
            kr["type"] = _norm(value).replace(" ", "_")
            reg.cells[path + ("type",)] = (number, HUMAN_COLUMNS["type"])
        for key in ("baseline", "target", "weight", "confidence"):  # confidence: the owner's 0-10, typed at each check-in
            value = get(row, key)
            if _empty(value):
                continue
            reg.cells[path + (key,)] = (number, HUMAN_COLUMNS[key])
            try:
                kr[key] = parse_number(value, decimal)
            except ValueParseError as exc:
                reg.issues.append(RowIssue(number, HUMAN_COLUMNS[key], str(exc), "write a number"))
        value = get(row, "committed")
        if isinstance(value, bool):
            kr["committed"] = value
        elif not _empty(value) and _norm(value) in _TRUE | _FALSE:
            kr["committed"] = _norm(value) in _TRUE
        elif not _empty(value):
            reg.issues.append(RowIssue(number, HUMAN_COLUMNS["committed"], f"{value!r} is not yes/no", "write TRUE or FALSE (or leave empty for aspirational)"))
        reg.cells[path + ("committed",)] = (number, HUMAN_COLUMNS["committed"])
        manual = get(row, "manual_value")
        if not _empty(manual):
            try:
                reg.manual[kr["id"]] = parse_number(manual, decimal)
            except ValueParseError as exc:
                reg.issues.append(RowIssue(number, HUMAN_COLUMNS["manual_value"], str(exc), "write a number, or clear the cell to use the source"))
        current["key_results"].append(kr)
        reg.kr_rows.setdefault(kr["id"], number)
    return reg



def measured_values(result: Optional[KRResult], synced: str) -> dict[str, Any]:
    """What the sync writes for one KR: value, progress and score as numbers, status and sync time as text."""
    if result is None:
        return {"current": "", "progress": "", "score": "", "status": "no_data", "last_synced": synced}
    status = result.label
    return {"current": "" if result.value is None else result.value,
            "progress": "" if result.progress is None else round(result.progress, 4),
            "score": "" if result.score is None else result.score,
            "status": status, "last_synced": synced}


def writeback_ranges(reg: Register, results: Mapping[str, KRResult], now: datetime) -> list[dict]:
    """The measured cells to write (RAW), one range per measured column; [] when the sheet already shows them.

    Rows that are not KRs get null (the API leaves such cells untouched). Missing measured columns
    are added after the last header column, their header included.
    """
    synced = now.strftime("%Y-%m-%d %H:%M")
    positions = dict((k, v) for k, v in reg.columns.items() if k in MEASURED_COLUMNS)
    new_headers = []
    next_col = reg.header_width
    for key in MEASURED_COLUMNS:
        if key not in positions:
            positions[key] = next_col
            new_headers.append(key)
            next_col += 1
    if not reg.kr_rows:
        return []
    rows = {row: kr_id for kr_id, row in reg.kr_rows.items()}
    first, last = reg.header_row + 1, max(rows)
    changed = bool(new_headers)
    data: list[dict] = []
    for key, col in sorted(positions.items(), key=lambda item: item[1]):
        values: list[list[Any]] = []
        for row in range(first, last + 1):
            if row in rows:
                value = measured_values(results.get(rows[row]), synced)[key]
                if not _same(reg.measured.get((row, key)), value):
                    changed = True
                values.append([value])
            else:
                values.append([None])
        from openpyxl.utils import get_column_letter  # imported when a register is written, not at every start
        letter = get_column_letter(col + 1)
        data.append({"range": f"{quote_tab(reg.worksheet)}!{letter}{first}:{letter}{last}", "values": values})
        if key in new_headers:
            data.append({"range": f"{quote_tab(reg.worksheet)}!{letter}{reg.header_row}", "values": [[MEASURED_COLUMNS[key]]]})
    return data if changed else []


def _same(old: Any, new: Any) -> bool:
    if _empty(old) and _empty(new):
        return True
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool):
        return abs(float(old) - float(new)) < 1e-9
    return old == new
