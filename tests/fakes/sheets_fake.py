"""A stateful fake of the Google Sheets v4 endpoints gspread uses, served through `responses`.

Payload shapes follow the real traffic recorded in shared/reference/sheets-api/ (metadata with
`sheets[].properties`, `values:batchGet` -> `valueRanges` echoing A1 ranges, `values:batchUpdate`
-> `totalUpdated*` + `responses`, `batchUpdate` -> `replies`, errors as
`{"error": {"code", "message", "status"}}`). It keeps cells per tab, enforces grid limits like
Google (a read or write past a tab's grid is HTTP 400 `Range ('Tab'!AA1) exceeds grid limits. Max rows:
1000, max columns: 26`, prefixed `Invalid data[i]: ` in a values write; a new tab is 1000 x 26; grids
grow with `appendDimension` or `updateSheetProperties` up to 10 million cells per spreadsheet; every
GridRange of a formatting request — repeatCell, updateCells, conditional formats, column widths — must
lie inside its grid; `addSheet`/`updateSheetProperties` honour `index`, moving the other tabs along),
honours RAW vs USER_ENTERED (and null = leave the cell, "" = clear it, formula included), and logs
every request by kind. `spreadsheets.get` honours `ranges` (only the tabs of the ranges; a range naming
no tab is HTTP 400 `Unable to parse range: <range>`), `includeGridData` or a `fields` mask naming
`data` (GridData: `rowData[].values[]` of CellData with `effectiveValue` and `formattedValue`, `{}` for
an empty cell inside the used area, nothing beyond it), and applies the `fields` mask to its answer.
A cell holding `CellError("#N/A")` is an error cell: its text in `values:batchGet`, an `errorValue`
in grid data.

It deliberately shares no code with okr-sync: A1 parsing here is its own.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from typing import Any, Optional
from urllib.parse import parse_qs, unquote, urlparse

import responses

API = "https://sheets.googleapis.com/v4/spreadsheets/"
TOKEN_URL = "https://oauth2.googleapis.com/token"

_PROPERTIES = {  # condensed from the recorded metadata answer
    "locale": "en_US", "autoRecalc": "ON_CHANGE", "timeZone": "Etc/GMT",
    "defaultFormat": {"backgroundColor": {"red": 1, "green": 1, "blue": 1},
                      "padding": {"top": 2, "right": 3, "bottom": 2, "left": 3},
                      "verticalAlignment": "BOTTOM", "wrapStrategy": "OVERFLOW_CELL",
                      "textFormat": {"foregroundColor": {}, "fontFamily": "arial,sans,sans-serif", "fontSize": 10,
                                     "bold": False, "italic": False, "strikethrough": False, "underline": False}},
}


def col_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + (ord(ch) - 64)
    return n


def col_letters(n: int) -> str:
    out = ""
    while n:
        n, rem = divmod(n - 1, 26)
        out = chr(65 + rem) + out
    return out


class CellError(str):
    """The value of a cell showing an error (`CellError("#N/A")`): UNFORMATTED_VALUE shows its text."""

    TYPES = {"#N/A": "N_A", "#REF!": "REF", "#DIV/0!": "DIVIDE_BY_ZERO", "#VALUE!": "VALUE", "#NAME?": "NAME",
             "#NUM!": "NUM", "#NULL!": "NULL_VALUE", "#ERROR!": "ERROR"}

    @property
    def type(self) -> str:
        return self.TYPES.get(str(self), "ERROR")


def cell_data(value: Any, formula: Optional[str] = None) -> dict:
    """A stored cell as the API's CellData (userEnteredValue, effectiveValue, formattedValue); {} when empty."""
    out: dict[str, Any] = {}
    if formula is not None:  # the fake does not compute formulas: no effective value
        return {"userEnteredValue": {"formulaValue": formula}}
    if value is None or value == "":
        return out
    if isinstance(value, CellError):
        return {"effectiveValue": {"errorValue": {"type": value.type, "message": f"error {value}"}}, "formattedValue": str(value)}
    if isinstance(value, bool):
        kind, text = "boolValue", "TRUE" if value else "FALSE"
    elif isinstance(value, (int, float)):
        kind, text = "numberValue", f"{value:g}" if isinstance(value, float) else str(value)
    else:
        kind, text = "stringValue", str(value)
    return {"userEnteredValue": {kind: value}, "effectiveValue": {kind: value}, "formattedValue": text}


def parse_fields(mask: str) -> dict:
    """A field mask (`sheets(properties(sheetId,title),data)`, `a.b`) as a tree {name: subtree or None (all)}."""
    pos = 0

    def parse_list(end: str) -> dict:
        nonlocal pos
        tree: dict[str, Any] = {}
        while pos < len(mask) and mask[pos] != end:
            match = re.match(r"\s*([A-Za-z_][A-Za-z0-9_.]*)\s*", mask[pos:])
            if not match:
                raise FakeError(400, f"Invalid field selection {mask}", "INVALID_ARGUMENT")
            pos += match.end()
            path = match.group(1).split(".")
            sub: Any = None
            if pos < len(mask) and mask[pos] == "(":
                pos += 1
                sub = parse_list(")")
                if pos >= len(mask):
                    raise FakeError(400, f"Invalid field selection {mask}", "INVALID_ARGUMENT")
                pos += 1
            for name in reversed(path[1:]):
                sub = {name: sub}
            merge(tree, path[0], sub)
            if pos < len(mask) and mask[pos] == ",":
                pos += 1
        return tree

    def merge(tree: dict, name: str, sub: Any) -> None:
        if name in tree and isinstance(tree[name], dict) and isinstance(sub, dict):
            for k, v in sub.items():
                merge(tree[name], k, v)
        else:
            tree[name] = None if name in tree and (tree[name] is None or sub is None) else sub

    tree = parse_list("")
    if pos != len(mask):
        raise FakeError(400, f"Invalid field selection {mask}", "INVALID_ARGUMENT")
    return tree


def apply_fields(node: Any, tree: Optional[dict]) -> Any:
    """Keep only the masked fields of an answer (lists apply the mask to each element)."""
    if tree is None:
        return node
    if isinstance(node, list):
        return [apply_fields(item, tree) for item in node]
    if isinstance(node, dict):
        return {k: apply_fields(v, tree[k]) for k, v in node.items() if k in tree}
    return node


def error_body(code: int, message: str, status: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


class FakeError(Exception):
    def __init__(self, code: int, message: str, status: str):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass
class Tab:
    sheet_id: int
    title: str
    index: int
    rows: int = 1000
    cols: int = 26
    frozen_rows: int = 0
    cells: dict[tuple[int, int], Any] = field(default_factory=dict)     # 0-based (row, col) -> value
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)  # 0-based (row, col) -> "=..."
    formats: list[dict] = field(default_factory=list)                   # repeatCell / dimension requests received
    conditional: list[dict] = field(default_factory=list)
    metadata: list[dict] = field(default_factory=list)

    def properties(self) -> dict:
        grid = {"rowCount": self.rows, "columnCount": self.cols}
        if self.frozen_rows:
            grid["frozenRowCount"] = self.frozen_rows
        return {"sheetId": self.sheet_id, "title": self.title, "index": self.index, "sheetType": "GRID", "gridProperties": grid}

    def grid(self) -> list[list[Any]]:
        """Every value as a list of rows (formulas shown as their text), trailing empties trimmed."""
        keys = set(self.cells) | set(self.formulas)
        if not keys:
            return []
        last_row = max(r for r, _ in keys)
        out = []
        for r in range(last_row + 1):
            row = [self.formulas.get((r, c), self.cells.get((r, c), "")) for c in range(self.cols)]
            while row and row[-1] == "":
                row.pop()
            out.append(row)
        while out and not out[-1]:
            out.pop()
        return out


@dataclass
class Spreadsheet:
    key: str
    title: str
    tabs: list[Tab] = field(default_factory=list)
    named: dict[str, tuple[str, int, int, int, int]] = field(default_factory=dict)  # name -> (tab, r0, c0, r1, c1) exclusive ends
    access: str = "ok"  # ok | forbidden
    next_metadata_id: int = 1000

    def tab(self, title: str) -> Tab:
        for tab in self.tabs:
            if tab.title == title:
                return tab
        raise FakeError(400, f"Unable to parse range: {title}", "INVALID_ARGUMENT")

    def tab_by_id(self, sheet_id: int) -> Tab:
        for tab in self.tabs:
            if tab.sheet_id == sheet_id:
                return tab
        raise FakeError(400, f"No grid with id: {sheet_id}", "INVALID_ARGUMENT")


_RANGE = re.compile(r"^(?:(?:'((?:[^']|'')+)'|([^'!]+))!)?([A-Za-z]*)(\d*)(?::([A-Za-z]*)(\d*))?$")


class SheetsFake:
    """Spreadsheets in memory plus the `responses` callbacks that serve them."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.books: dict[str, Spreadsheet] = {}
        self.log: list[tuple[str, str, str]] = []  # (kind, spreadsheet key, detail)
        self.bodies: list[tuple[str, Any]] = []
        self.failures: list[tuple[int, dict]] = []  # (status, headers) answered before serving, one per request
        self.token_requests = 0
        self.token_error: Optional[str] = None  # e.g. "invalid_grant": the token endpoint refuses the key
        mock.add_callback(responses.POST, TOKEN_URL, callback=self._token)
        pattern = re.compile(re.escape(API) + r".*")
        for method in (responses.GET, responses.POST, responses.PUT):
            mock.add_callback(method, pattern, callback=self._serve)

    # ---- setting up -------------------------------------------------------------------------
    def add_spreadsheet(self, key: str, title: str = "Book", tabs: Optional[dict[str, list[list[Any]]]] = None,
                        rows: int = 1000, cols: int = 26) -> Spreadsheet:
        book = Spreadsheet(key, title)
        for i, (name, values) in enumerate((tabs or {"Sheet1": []}).items()):
            tab = Tab(0 if i == 0 else 1000 + i, name, i, rows, cols)
            for r, row in enumerate(values):
                for c, value in enumerate(row):
                    if value is not None and value != "":
                        tab.cells[(r, c)] = value
            book.tabs.append(tab)
        self.books[key] = book
        return book

    def add_named_range(self, key: str, name: str, tab: str, a1: str) -> None:
        book = self.books[key]
        r0, c0, r1, c1 = self._bounds(book.tab(tab), a1)
        book.named[name] = (tab, r0, c0, r1, c1)

    def fail_next(self, status: int, times: int = 1, retry_after: Optional[str] = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self.failures.extend([(status, headers)] * times)

    # ---- reading state in tests -------------------------------------------------------------
    def values(self, key: str, tab: str) -> list[list[Any]]:
        return self.books[key].tab(tab).grid()

    def tab(self, key: str, tab: str) -> Tab:
        return self.books[key].tab(tab)

    def snapshot(self, key: str) -> str:
        """Everything observable about a spreadsheet, as canonical JSON (to compare two syncs)."""
        book = self.books[key]
        return json.dumps([{"props": t.properties(), "cells": sorted((list(k), v) for k, v in t.cells.items()),
                            "formulas": sorted((list(k), v) for k, v in t.formulas.items()),
                            "formats": t.formats, "conditional": t.conditional, "metadata": t.metadata}
                           for t in book.tabs], sort_keys=True, default=str)

    def count(self, kind: Optional[str] = None, key: Optional[str] = None) -> int:
        return sum(1 for k, s, _ in self.log if (kind is None or k == kind) and (key is None or s == key))

    # ---- serving ----------------------------------------------------------------------------
    def _token(self, request: Any) -> tuple[int, dict, str]:
        self.token_requests += 1
        if self.token_error:
            return 400, {}, json.dumps({"error": self.token_error, "error_description": "Invalid JWT Signature."})
        return 200, {}, json.dumps({"access_token": "fake-token", "expires_in": 3600, "token_type": "Bearer"})

    def _serve(self, request: Any) -> tuple[int, dict, str]:
        url = urlparse(request.url)
        rest = url.path[len(urlparse(API).path):]
        query = parse_qs(url.query)
        body = json.loads(request.body) if request.body else None
        if rest.endswith("/values:batchGet"):
            kind, key = "batchGet", rest[: -len("/values:batchGet")]
        elif rest.endswith("/values:batchUpdate"):
            kind, key = "values.batchUpdate", rest[: -len("/values:batchUpdate")]
        elif rest.endswith(":batchUpdate"):
            kind, key = "batchUpdate", rest[: -len(":batchUpdate")]
        elif "/" not in rest and request.method == "GET":
            kind, key = "metadata", rest
        else:
            kind, key = "unsupported", rest.split("/")[0]
        key = unquote(key)
        self.log.append((kind, key, request.method))
        self.bodies.append((kind, body))
        if self.failures:
            status, headers = self.failures.pop(0)
            return status, headers, json.dumps(error_body(status, "Quota exceeded" if status == 429 else "Backend Error",
                                                          "RESOURCE_EXHAUSTED" if status == 429 else "UNAVAILABLE"))
        book = self.books.get(key)
        if book is None:
            return 404, {}, json.dumps(error_body(404, "Requested entity was not found.", "NOT_FOUND"))
        if book.access == "forbidden":
            return 403, {}, json.dumps(error_body(403, "The caller does not have permission", "PERMISSION_DENIED"))
        try:
            if kind == "metadata":
                answer = self._metadata(book, query)
            elif kind == "batchGet":
                answer = self._batch_get(book, query)
            elif kind == "values.batchUpdate":
                answer = self._values_update(book, body or {})
            elif kind == "batchUpdate":
                answer = self._batch_update(book, body or {})
            else:
                raise FakeError(404, f"unsupported call {request.method} {rest}", "NOT_FOUND")
        except FakeError as exc:
            return exc.code, {}, json.dumps(error_body(exc.code, exc.message, exc.status))
        return 200, {}, json.dumps(answer)

    def _metadata(self, book: Spreadsheet, query: Optional[dict] = None) -> dict:
        query = query or {}
        fields = query.get("fields", [None])[0]
        mask = parse_fields(fields) if fields else None
        wants_data = query.get("includeGridData", ["false"])[0] == "true" or bool(
            mask and "sheets" in mask and (mask["sheets"] is None or "data" in mask["sheets"]))
        asked: dict[str, list[tuple[int, int, int, int]]] = {}  # tab title -> its ranges, in asking order
        for text in query.get("ranges", []):
            tab, r0, c0, r1, c1 = self._resolve(book, text)  # a range naming no tab: 400 "Unable to parse range"
            asked.setdefault(tab.title, []).append((r0, c0, r1, c1))
        sheets = []
        for tab in book.tabs:
            if asked and tab.title not in asked:
                continue  # with ranges, only the tabs they intersect
            entry: dict[str, Any] = {"properties": tab.properties()}
            if wants_data:
                entry["data"] = [self._grid_data(tab, *bounds) for bounds in asked.get(tab.title, [(0, 0, tab.rows, tab.cols)])]
            if tab.conditional:
                entry["conditionalFormats"] = copy.deepcopy(tab.conditional)
            if tab.metadata:
                entry["developerMetadata"] = copy.deepcopy(tab.metadata)
            sheets.append(entry)
        answer: dict[str, Any] = {"spreadsheetId": book.key, "properties": {"title": book.title, **copy.deepcopy(_PROPERTIES)},
                                  "sheets": sheets,
                                  "spreadsheetUrl": f"https://docs.google.com/spreadsheets/d/{book.key}/edit"}
        if book.named:
            answer["namedRanges"] = [{"namedRangeId": str(i), "name": name,
                                      "range": {"sheetId": book.tab(t).sheet_id, "startRowIndex": r0, "endRowIndex": r1,
                                                "startColumnIndex": c0, "endColumnIndex": c1}}
                                     for i, (name, (t, r0, c0, r1, c1)) in enumerate(book.named.items())]
        return apply_fields(answer, mask)

    @staticmethod
    def _grid_data(tab: Tab, r0: int, c0: int, r1: int, c1: int) -> dict:
        """One GridData: rows of CellData up to the last used row, each up to its last used cell; {} inside."""
        used = [r for r, _ in list(tab.cells) + list(tab.formulas)]
        rows = []
        for r in range(r0, min(r1, max(used, default=-1) + 1)):
            cells = [cell_data(tab.cells.get((r, c)), tab.formulas.get((r, c))) for c in range(c0, c1)]
            while cells and not cells[-1]:
                cells.pop()
            rows.append({"values": cells} if cells else {})
        while rows and not rows[-1]:
            rows.pop()
        grid: dict[str, Any] = {}
        if r0:
            grid["startRow"] = r0
        if c0:
            grid["startColumn"] = c0
        if rows:
            grid["rowData"] = rows
        return grid

    @staticmethod
    def _echo_title(title: str) -> str:
        return title if re.fullmatch(r"[A-Za-z0-9_]+", title) else "'" + title.replace("'", "''") + "'"

    def _bounds(self, tab: Tab, a1: str) -> tuple[int, int, int, int]:
        """0-based start, exclusive end of an A1 range without tab; open ends run to the grid's edge."""
        match = _RANGE.match("X!" + a1 if a1 else "X!")
        if not match:
            raise FakeError(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
        c0s, r0s, c1s, r1s = match.group(3), match.group(4), match.group(5), match.group(6)
        c0 = col_number(c0s) - 1 if c0s else 0
        r0 = int(r0s) - 1 if r0s else 0
        if match.group(5) is None and match.group(6) is None:
            c1 = c0 + 1 if c0s else tab.cols
            r1 = r0 + 1 if r0s else tab.rows
            if not a1:
                c1, r1 = tab.cols, tab.rows
        else:
            c1 = col_number(c1s) if c1s else tab.cols
            r1 = int(r1s) if r1s else tab.rows
        return r0, c0, r1, c1

    def _resolve(self, book: Spreadsheet, text: str) -> tuple[Tab, int, int, int, int]:
        if text in book.named:
            title, r0, c0, r1, c1 = book.named[text]
            return book.tab(title), r0, c0, r1, c1
        match = _RANGE.match(text)
        if match and (match.group(1) or match.group(2)):
            title = (match.group(1) or "").replace("''", "'") or match.group(2)
            a1 = text.split("!", 1)[1] if "!" in text else ""
        elif text.startswith("'") and text.endswith("'"):
            title, a1 = text[1:-1].replace("''", "'"), ""
        else:
            title, a1 = text, ""
        try:
            tab = book.tab(title)
        except FakeError:
            raise FakeError(400, f"Unable to parse range: {text}", "INVALID_ARGUMENT") from None
        r0, c0, r1, c1 = self._bounds(tab, a1)
        if r1 > tab.rows or c1 > tab.cols:
            raise FakeError(400, f"Range ({text}) exceeds grid limits. Max rows: {tab.rows}, max columns: {tab.cols}", "INVALID_ARGUMENT")
        return tab, r0, c0, r1, c1

    def _batch_get(self, book: Spreadsheet, query: dict) -> dict:
        if query.get("valueRenderOption", ["FORMATTED_VALUE"])[0] != "UNFORMATTED_VALUE":
            raise FakeError(400, "this fake only serves valueRenderOption=UNFORMATTED_VALUE", "INVALID_ARGUMENT")
        out = []
        for text in query.get("ranges", []):
            tab, r0, c0, r1, c1 = self._resolve(book, text)
            rows = []
            for r in range(r0, r1):
                row = [tab.cells.get((r, c), "") for c in range(c0, c1)]
                while row and row[-1] == "":
                    row.pop()
                rows.append(row)
            while rows and not rows[-1]:
                rows.pop()
            entry: dict[str, Any] = {"range": f"{self._echo_title(tab.title)}!{col_letters(c0 + 1)}{r0 + 1}:{col_letters(c1)}{r1}",
                                     "majorDimension": "ROWS"}
            if rows:
                entry["values"] = rows
            out.append(entry)
        return {"spreadsheetId": book.key, "valueRanges": out}

    def _values_update(self, book: Spreadsheet, body: dict) -> dict:
        option = body.get("valueInputOption")
        if option not in ("RAW", "USER_ENTERED"):
            raise FakeError(400, "Invalid valueInputOption", "INVALID_ARGUMENT")
        responses_, total_cells, sheets, total_rows = [], 0, set(), 0
        staged = []
        for i, entry in enumerate(body.get("data", [])):
            try:
                tab, r0, c0, r1, c1 = self._resolve(book, entry["range"])
            except FakeError as exc:  # Google names the failing entry: "Invalid data[0]: Range (...) exceeds grid limits. ..."
                raise FakeError(exc.code, f"Invalid data[{i}]: {exc.message}", exc.status) from None
            values = entry.get("values", [])
            if len(values) > r1 - r0 or any(len(row) > c1 - c0 for row in values):
                raise FakeError(400, f"Requested writing within range [{entry['range']}], but tried writing beyond it", "INVALID_ARGUMENT")
            staged.append((tab, r0, c0, values, entry["range"]))
        for tab, r0, c0, values, text in staged:  # all or nothing, like Google
            cells = 0
            for dr, row in enumerate(values):
                for dc, value in enumerate(row):
                    if value is None:
                        continue  # null = leave the cell as it is
                    cells += 1
                    pos = (r0 + dr, c0 + dc)
                    tab.formulas.pop(pos, None)
                    tab.cells.pop(pos, None)
                    if option == "USER_ENTERED" and isinstance(value, str):
                        if value.startswith("'"):
                            value = value[1:]
                        elif value.startswith("="):
                            tab.formulas[pos] = value
                            continue
                    if value != "":
                        tab.cells[pos] = value
            total_cells += cells
            total_rows += len(values)
            sheets.add(tab.title)
            width = max((len(row) for row in values), default=0)
            responses_.append({"spreadsheetId": book.key, "updatedRange": f"{self._echo_title(tab.title)}!{col_letters(c0 + 1)}{r0 + 1}:{col_letters(c0 + max(width, 1))}{r0 + max(len(values), 1)}",
                               "updatedRows": len(values), "updatedColumns": width, "updatedCells": cells})
        return {"spreadsheetId": book.key, "totalUpdatedRows": total_rows,
                "totalUpdatedColumns": max((r["updatedColumns"] for r in responses_), default=0),
                "totalUpdatedCells": total_cells, "totalUpdatedSheets": len(sheets), "responses": responses_}

    def _batch_update(self, book: Spreadsheet, body: dict) -> dict:
        snapshot = copy.deepcopy(book.tabs)
        replies = []
        try:
            for i, request in enumerate(body.get("requests", [])):
                (name, args), = request.items()
                try:
                    replies.append(self._apply(book, name, args))
                    self._check_cell_limit(book, i, name)
                except FakeError as exc:
                    message = exc.message if exc.message.startswith("Invalid ") else f"Invalid requests[{i}].{name}: {exc.message}"
                    raise FakeError(exc.code, message, exc.status) from None
        except FakeError:
            book.tabs = snapshot  # batchUpdate is atomic
            raise
        return {"spreadsheetId": book.key, "replies": replies}

    CELL_LIMIT = 10_000_000  # cells per spreadsheet, all tabs together

    def _check_cell_limit(self, book: Spreadsheet, index: int, name: str) -> None:
        if sum(t.rows * t.cols for t in book.tabs) > self.CELL_LIMIT:
            raise FakeError(400, f"Invalid requests[{index}].{name}: This action would increase the number of cells in the "
                                 f"workbook above the limit of {self.CELL_LIMIT} cells.", "INVALID_ARGUMENT")

    @staticmethod
    def _renumber(book: Spreadsheet) -> None:
        for i, tab in enumerate(book.tabs):
            tab.index = i

    @staticmethod
    def _check_grid_range(tab: Tab, rng: dict) -> None:
        """A GridRange (open ends = the grid's edge) must lie inside the grid, like Google checks it."""
        r0, c0 = rng.get("startRowIndex", 0), rng.get("startColumnIndex", 0)
        r1, c1 = rng.get("endRowIndex", tab.rows), rng.get("endColumnIndex", tab.cols)
        if r0 < 0 or c0 < 0 or r1 < r0 or c1 < c0:
            raise FakeError(400, f"Invalid range: start after end ({rng})", "INVALID_ARGUMENT")
        if r1 > tab.rows or c1 > tab.cols:
            raise FakeError(400, f"Range ({SheetsFake._echo_title(tab.title)}!{col_letters(c0 + 1)}{r0 + 1}:{col_letters(max(c1, 1))}{r1}) "
                                 f"exceeds grid limits. Max rows: {tab.rows}, max columns: {tab.cols}", "INVALID_ARGUMENT")

    @staticmethod
    def _check_dimension(tab: Tab, rng: dict) -> None:
        limit = tab.cols if rng.get("dimension") == "COLUMNS" else tab.rows
        start, end = rng.get("startIndex", 0), rng.get("endIndex", limit)
        if rng.get("dimension") not in ("ROWS", "COLUMNS") or start < 0 or end <= start or end > limit:
            raise FakeError(400, f"Invalid dimension range {rng} (grid has {tab.rows} rows, {tab.cols} columns)", "INVALID_ARGUMENT")

    def _apply(self, book: Spreadsheet, name: str, args: dict) -> dict:
        if name == "appendDimension":  # rows/columns added at the end of the grid
            tab = book.tab_by_id(args["sheetId"])
            length = args.get("length", 0)
            if length < 1:
                raise FakeError(400, "length must be greater than 0", "INVALID_ARGUMENT")
            if args["dimension"] == "ROWS":
                tab.rows += length
            elif args["dimension"] == "COLUMNS":
                tab.cols += length
            else:
                raise FakeError(400, f"unknown dimension {args['dimension']!r}", "INVALID_ARGUMENT")
            return {}
        if name == "addSheet":
            props = args.get("properties", {})
            title = props["title"]
            if any(t.title == title for t in book.tabs):
                raise FakeError(400, f"Invalid requests[0].addSheet: A sheet with the name \"{title}\" already exists. Please enter another name.", "INVALID_ARGUMENT")
            sheet_id = props.get("sheetId", 900000000 + len(book.tabs))
            if any(t.sheet_id == sheet_id for t in book.tabs):
                raise FakeError(400, f"Invalid requests[0].addSheet: Sheet with id {sheet_id} already exists.", "INVALID_ARGUMENT")
            grid = props.get("gridProperties", {})
            index = props.get("index", len(book.tabs))
            if not 0 <= index <= len(book.tabs):
                raise FakeError(400, f"Invalid requests[0].addSheet: index {index} is out of range", "INVALID_ARGUMENT")
            tab = Tab(sheet_id, title, index, grid.get("rowCount", 1000), grid.get("columnCount", 26), grid.get("frozenRowCount", 0))
            book.tabs.insert(index, tab)  # later tabs move one to the right, like Google
            self._renumber(book)
            return {"addSheet": {"properties": tab.properties()}}
        if name == "updateSheetProperties":
            props, fields = args["properties"], args["fields"].split(",")
            tab = book.tab_by_id(props["sheetId"])
            grid = props.get("gridProperties", {})
            for f in fields:
                if f == "gridProperties/rowCount":
                    tab.rows = grid["rowCount"]
                    tab.cells = {k: v for k, v in tab.cells.items() if k[0] < tab.rows}
                    tab.formulas = {k: v for k, v in tab.formulas.items() if k[0] < tab.rows}
                elif f == "gridProperties/columnCount":
                    tab.cols = grid["columnCount"]
                    tab.cells = {k: v for k, v in tab.cells.items() if k[1] < tab.cols}
                    tab.formulas = {k: v for k, v in tab.formulas.items() if k[1] < tab.cols}
                elif f == "gridProperties/frozenRowCount":
                    tab.frozen_rows = grid.get("frozenRowCount", 0)
                elif f == "title":
                    tab.title = props["title"]
                elif f == "index":
                    index = props.get("index", 0)
                    if not 0 <= index < len(book.tabs):
                        raise FakeError(400, f"index {index} is out of range", "INVALID_ARGUMENT")
                    book.tabs.remove(tab)
                    book.tabs.insert(index, tab)
                    self._renumber(book)
                else:
                    raise FakeError(400, f"unsupported field mask {f}", "INVALID_ARGUMENT")
            if tab.frozen_rows >= tab.rows:
                raise FakeError(400, "You can't freeze all visible rows on the sheet.", "INVALID_ARGUMENT")
            return {}
        if name in ("repeatCell", "updateDimensionProperties", "setBasicFilter"):
            rng = args.get("range", {})
            tab = book.tab_by_id(rng.get("sheetId", 0))
            if name == "updateDimensionProperties":
                self._check_dimension(tab, rng)
            else:
                self._check_grid_range(tab, rng)
            if name != "setBasicFilter" and not args.get("fields"):
                raise FakeError(400, "At least one field must be specified in 'fields'.", "INVALID_ARGUMENT")
            tab.formats.append({name: args})
            return {}
        if name == "addConditionalFormatRule":
            rule = args["rule"]
            if not rule.get("ranges"):
                raise FakeError(400, "Must specify at least one range.", "INVALID_ARGUMENT")
            tab = book.tab_by_id(rule["ranges"][0]["sheetId"])
            for rng in rule["ranges"]:
                if rng.get("sheetId", 0) != tab.sheet_id:
                    raise FakeError(400, "All ranges of a conditional format rule must be on the same sheet.", "INVALID_ARGUMENT")
                self._check_grid_range(tab, rng)
            condition = rule.get("booleanRule", {}).get("condition", {})
            if "booleanRule" in rule and condition.get("type") in ("TEXT_EQ", "TEXT_CONTAINS", "NUMBER_EQ") and len(condition.get("values", [])) != 1:
                raise FakeError(400, f"{condition.get('type')} condition needs exactly one value.", "INVALID_ARGUMENT")
            index = args.get("index", len(tab.conditional))
            if not 0 <= index <= len(tab.conditional):
                raise FakeError(400, f"index {index} is out of range", "INVALID_ARGUMENT")
            tab.conditional.insert(index, rule)
            return {}
        if name == "deleteConditionalFormatRule":
            tab = book.tab_by_id(args["sheetId"])
            index = args["index"]
            if index >= len(tab.conditional):
                raise FakeError(400, f"Invalid requests.deleteConditionalFormatRule: No conditional format on sheet {tab.sheet_id} at index {index}", "INVALID_ARGUMENT")
            return {"deleteConditionalFormatRule": {"rule": tab.conditional.pop(index)}}
        if name == "updateCells":
            rng = args.get("range") or {}
            start = args.get("start") or {}
            tab = book.tab_by_id((rng or start).get("sheetId", 0))
            if not args.get("fields"):
                raise FakeError(400, "At least one field must be specified in 'fields'.", "INVALID_ARGUMENT")
            if rng:
                self._check_grid_range(tab, rng)
            r0 = rng.get("startRowIndex", start.get("rowIndex", 0))
            c0 = rng.get("startColumnIndex", start.get("columnIndex", 0))
            for dr, row in enumerate(args.get("rows", [])):
                for dc, cell in enumerate(row.get("values", [])):
                    pos = (r0 + dr, c0 + dc)
                    if pos[0] >= tab.rows or pos[1] >= tab.cols:
                        raise FakeError(400, f"exceeds grid limits. Max rows: {tab.rows}, max columns: {tab.cols}", "INVALID_ARGUMENT")
                    value = cell.get("userEnteredValue", {})
                    tab.cells.pop(pos, None)
                    tab.formulas.pop(pos, None)
                    if "formulaValue" in value:
                        tab.formulas[pos] = value["formulaValue"]
                    elif value:
                        (_, v), = value.items()
                        tab.cells[pos] = v
            return {}
        if name == "createDeveloperMetadata":
            meta = copy.deepcopy(args["developerMetadata"])
            location = meta.get("location", {})
            tab = book.tab_by_id(location.get("sheetId", 0))
            meta["metadataId"] = book.next_metadata_id
            book.next_metadata_id += 1
            meta["location"] = {"locationType": "SHEET", "sheetId": tab.sheet_id}
            tab.metadata.append(meta)
            return {"createDeveloperMetadata": {"developerMetadata": meta}}
        if name == "deleteDeveloperMetadata":
            lookup = args["dataFilter"]["developerMetadataLookup"]
            removed = []
            for tab in book.tabs:
                keep = []
                for meta in tab.metadata:
                    if meta["metadataId"] == lookup.get("metadataId"):
                        removed.append(meta)
                    else:
                        keep.append(meta)
                tab.metadata = keep
            return {"deleteDeveloperMetadata": {"deletedDeveloperMetadata": removed}}
        raise FakeError(400, f"Invalid JSON payload received. Unknown name \"{name}\"", "INVALID_ARGUMENT")


def service_account_info(email: str = "okr-sync@acme-okrs.iam.gserviceaccount.com") -> dict:
    """A syntactically real service-account key (fresh RSA key) whose token requests go to the fake token URL."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "acme-okrs", "private_key_id": "0" * 40, "private_key": pem,
            "client_email": email, "client_id": "1" * 21, "token_uri": TOKEN_URL,
            "auth_uri": "https://accounts.google.com/o/oauth2/auth"}
