"""Talking to the Google Sheets API: service-account auth, a bounded-retry HTTP client with a timeout,
a client-side rate limiter, and errors that tell the user what to do.

gspread's `HTTPClient` is the transport (its `values_batch_get`, `values_batch_update`, `batch_update`
and `fetch_sheet_metadata`); only `request` is replaced, because gspread 6.2.1's `BackOffHTTPClient`
retries forever, ignores Retry-After and has no timeout.
"""
from __future__ import annotations

import email.utils
import hashlib
import json
import random
import re
import threading
import time
from collections import deque
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

import requests
from gspread.exceptions import APIError
from gspread.http_client import HTTPClient
from gspread.utils import a1_to_rowcol

from connectors.base import Context, RetriableError, SourceError
from connectors.redaction import scrub
from mapping.sources.sheets import DEFAULT_CREDENTIALS_ENV, GoogleAuth, quote_tab, spreadsheet_key

SCOPES = ["https://www.googleapis.com/auth/spreadsheets"]
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}
READS_PER_MINUTE = 55  # Google's quota is 60 reads and 60 writes per minute per user; keep a margin
WRITES_PER_MINUTE = 55


class SheetsError(SourceError):
    """A Sheets request failed in a way retrying will not fix (no access, bad range, bad key)."""


class SheetsAccessError(SheetsError):
    """404/403: the spreadsheet does not exist or is not shared with the service account."""


class SheetsAuthError(SheetsError):
    """The service-account credentials are missing or unreadable."""


class SheetsUnavailable(RetriableError):
    """Google kept answering 429/5xx (or timing out) after every bounded retry."""


class RateLimiter:
    """At most `limit` requests of each kind (read/write) in any `period` seconds; blocks until a slot frees."""

    def __init__(self, limit_reads: int = READS_PER_MINUTE, limit_writes: int = WRITES_PER_MINUTE, period: float = 60.0,
                 clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep):
        self.limits = {"read": limit_reads, "write": limit_writes}
        self.period, self.clock, self.sleep = period, clock, sleep
        self.sent: dict[str, deque[float]] = {"read": deque(), "write": deque()}
        self.lock = threading.Lock()
        self.waited = 0.0

    def acquire(self, kind: str) -> None:
        """Take a slot for one request of `kind`, sleeping while the window is full."""
        while True:
            with self.lock:
                now = self.clock()
                window = self.sent[kind]
                while window and window[0] <= now - self.period:
                    window.popleft()
                if len(window) < self.limits[kind]:
                    window.append(now)
                    return
                wait = window[0] + self.period - now
            self.waited += wait
            self.sleep(wait)


_LIMITERS: dict[str, RateLimiter] = {}
_LIMITERS_LOCK = threading.Lock()


def limiter_for(user: str) -> RateLimiter:
    """The process-wide limiter of one Google user (a service account is one user for quotas)."""
    with _LIMITERS_LOCK:
        return _LIMITERS.setdefault(user, RateLimiter())


def retry_after_seconds(value: Optional[str], now: Optional[datetime] = None) -> Optional[float]:
    """Parse a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())


class BoundedRetryHTTPClient(HTTPClient):
    """gspread's HTTPClient with a timeout, a rate limiter and a bounded retry on 408/429/5xx and network errors.

    Waits `backoff * 2**attempt` (with jitter, capped at `max_backoff`) between attempts, never less than
    the server's Retry-After; after `max_retries` retries raises SheetsUnavailable (retriable: the
    source batch may be retried later). A Retry-After longer than `max_wait` is not slept through.
    """

    def __init__(self, auth: Any, session: Optional[requests.Session] = None, *, timeout: float = 30.0,
                 max_retries: int = 4, backoff: float = 1.0, max_backoff: float = 32.0, max_wait: float = 120.0,
                 limiter: Optional[RateLimiter] = None, sleep: Callable[[float], None] = time.sleep):
        super().__init__(auth, session)
        self.timeout = timeout
        self.max_retries, self.backoff, self.max_backoff, self.max_wait = max_retries, backoff, max_backoff, max_wait
        self.limiter = limiter or RateLimiter()
        self.sleep = sleep
        self.counts = {"read": 0, "write": 0}

    def request(self, method: str, endpoint: str, params: Any = None, data: Any = None, json: Any = None,
                files: Any = None, headers: Any = None) -> requests.Response:
        kind = "read" if method.lower() == "get" else "write"
        for attempt in range(self.max_retries + 1):
            self.limiter.acquire(kind)
            self.counts[kind] += 1
            retry_after: Optional[float] = None
            try:
                response = self.session.request(method=method, url=endpoint, json=json, params=params, data=data,
                                                files=files, headers=headers, timeout=self.timeout)
            except (requests.Timeout, requests.ConnectionError) as exc:
                problem = f"{type(exc).__name__} (timeout {self.timeout:g}s)" if isinstance(exc, requests.Timeout) else type(exc).__name__
            else:
                if response.ok:
                    return response
                if response.status_code not in RETRY_STATUSES:
                    raise APIError(response)
                retry_after = retry_after_seconds(response.headers.get("Retry-After"))
                problem = f"HTTP {response.status_code}"
            if attempt == self.max_retries:
                raise SheetsUnavailable(f"Google Sheets kept failing ({problem}) after {attempt + 1} attempts; it will be retried on the next sync",
                                        retry_after)
            if retry_after is not None and retry_after > self.max_wait:
                raise SheetsUnavailable(f"Google Sheets asked to wait {retry_after:.0f}s ({problem}); try again later", retry_after)
            delay = min(self.max_backoff, self.backoff * 2 ** attempt) * (0.5 + random.random() / 2)
            self.sleep(max(delay, retry_after or 0.0))
        raise AssertionError("unreachable")


def _read_key(auth: GoogleAuth, env: Mapping[str, str]) -> tuple[dict, str]:
    """The service-account key as a dict, and where it came from (for messages, never its content)."""
    if auth.credentials_block:
        try:
            from prefect.blocks.system import Secret
            raw: Any = Secret.load(auth.credentials_block).get()
        except Exception as exc:  # noqa: BLE001 - any failure to load the block is the user's to fix
            raise SheetsAuthError(f"cannot load Prefect Secret block {auth.credentials_block!r} ({type(exc).__name__}); "
                                  "create it with the service-account JSON as value") from None
        where = f"Prefect Secret block {auth.credentials_block!r}"
    else:
        name = auth.credentials_env or DEFAULT_CREDENTIALS_ENV
        raw = env.get(name)
        where = f"environment variable {name}"
        if not raw:
            raise SheetsAuthError(f"{where} is not set; export it with the path of the service-account JSON key file (or the JSON itself)")
        if not raw.lstrip().startswith("{"):
            path = Path(raw).expanduser()
            try:
                raw = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise SheetsAuthError(f"{where} names {path}, which cannot be read ({exc.strerror}); point it at the service-account JSON key file") from None
            where = f"key file {path} (from {name})"
    try:
        info = raw if isinstance(raw, dict) else json.loads(raw)
    except (TypeError, ValueError):
        raise SheetsAuthError(f"{where} does not hold JSON; it must be a service-account key (Google Cloud console > IAM > Service accounts > Keys)") from None
    if not isinstance(info, dict) or info.get("type") != "service_account" or not info.get("client_email"):
        raise SheetsAuthError(f"{where} is not a service-account key (needs \"type\": \"service_account\" and client_email)")
    return info, where


_CREDENTIALS: dict[str, Any] = {}
_CREDENTIALS_LOCK = threading.Lock()


def service_account_credentials(auth: GoogleAuth, env: Mapping[str, str]) -> tuple[Any, str]:
    """google-auth credentials of the configured service account and its e-mail; cached per key so a sync refreshes one token."""
    from google.oauth2 import service_account

    info, where = _read_key(auth, env)
    digest = hashlib.sha256(json.dumps(info, sort_keys=True).encode()).hexdigest()
    with _CREDENTIALS_LOCK:
        if digest not in _CREDENTIALS:
            try:
                _CREDENTIALS[digest] = service_account.Credentials.from_service_account_info(info, scopes=SCOPES)
            except (ValueError, KeyError) as exc:
                raise SheetsAuthError(f"{where}: the service-account key is invalid ({type(exc).__name__}); download a new JSON key") from None
        credentials = _CREDENTIALS[digest]
        if not credentials.valid:  # refresh once here, not concurrently in every source's thread
            from google.auth.exceptions import RefreshError, TransportError
            from google.auth.transport.requests import Request
            try:
                credentials.refresh(Request())
            except TransportError as exc:
                raise SheetsUnavailable(f"cannot reach Google to sign in as {info['client_email']} ({type(exc).__name__}); "
                                        "check the network and try again") from None
            except RefreshError as exc:
                raise SheetsAuthError(refusal_message(exc, info["client_email"], where)) from None
        return credentials, info["client_email"]


def refusal_reason(exc: BaseException) -> str:
    """The reason of a google-auth RefreshError as one short line (`invalid_grant: Invalid JWT Signature.`).

    google-auth raises RefreshError(message, response body): `str(exc)` is the tuple's repr. Only the
    message is kept (the token endpoint's `error: error_description`); the body is never shown.
    """
    first = exc.args[0] if exc.args else ""
    if isinstance(first, dict):  # some paths pass the decoded body alone
        first = ": ".join(str(first[k]) for k in ("error", "error_description") if first.get(k)) or ""
    text = " ".join(str(first).split())  # one line
    if text.startswith("{"):  # a JSON body google-auth could not pick apart: show only its error code
        try:
            body = json.loads(text)
            text = ": ".join(str(body[k]) for k in ("error", "error_description") if isinstance(body, dict) and body.get(k))
        except ValueError:
            text = ""
    text = re.sub(r":\s*None\.?$", "", text)  # google-auth's "{error}: {description}" without a description
    if text.startswith("<"):  # a proxy's page: its words, not its markup
        words = " ".join(re.sub(r"<[^>]*>", " ", text).split())
        text = f"an HTML page instead of Google's answer{': ' + words if words else ''} (a proxy in between?)"
    if len(text) > 160:
        text = text[:157].rstrip() + "..."
    return scrub(text) or type(exc).__name__


def refusal_message(exc: BaseException, email: str, where: str) -> str:
    """One actionable line for a refused token: the reason, then what to do. No key material."""
    reason = refusal_reason(exc)
    lowered = reason.lower()
    if re.search(r"\biat\b|\bexp\b|timeframe", lowered):
        todo = "check that this machine's clock is correct (the signed token is only valid for minutes)"
    elif "account not found" in lowered or "invalid_client" in lowered or "disabled" in lowered:
        todo = f"check that the service account {email} still exists and is enabled, then create a new JSON key for it"
    else:
        todo = (f"check the service-account key in {where}: it may have been deleted, disabled or rotated; "
                "create a new JSON key (Google Cloud console > IAM > Service accounts > Keys) and put it there")
    return f"Google refused a token for {email}: {reason.rstrip('.')}. {todo[0].upper()}{todo[1:]}"


TAB_FIELDS = ("sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),"
              "data(rowData(values(effectiveValue,formattedValue))))")


def cell_value(cell: Mapping[str, Any]) -> Any:
    """A CellData as `values:batchGet` (UNFORMATTED_VALUE, SERIAL_NUMBER) shows it: number, text, boolean,
    an error's formatted text (`#N/A`), "" for an empty cell."""
    effective = cell.get("effectiveValue") or {}
    for kind in ("numberValue", "stringValue", "boolValue"):
        if kind in effective:
            return effective[kind]
    if "errorValue" in effective:
        return cell.get("formattedValue", "#ERROR!")
    return ""


def grid_rows(data: list[Mapping[str, Any]]) -> list[list[Any]]:
    """The rows of a whole-tab GridData answer, trailing empty cells and rows dropped (like `values:batchGet`)."""
    rows: list[list[Any]] = []
    for grid in data[:1]:  # one range asked: one GridData, starting at A1
        for row_data in grid.get("rowData", []) or []:
            row = [cell_value(cell) for cell in row_data.get("values", []) or []]
            while row and row[-1] == "":
                row.pop()
            rows.append(row)
    while rows and not rows[-1]:
        rows.pop()
    return rows


def extent(data: list[dict]) -> tuple[int, int]:
    """The last row and column (1-based) value ranges reach: the grid must be at least that big."""
    rows = columns = 0
    for entry in data:
        a1 = entry["range"].rsplit("!", 1)[-1]
        for corner in a1.split(":"):
            row, column = a1_to_rowcol(corner)
            rows, columns = max(rows, row), max(columns, column)
    return rows, columns


def entered_value(value: Any) -> dict:
    """A value as an `updateCells` CellData, literal like a RAW write: text is never parsed (no formula); "" clears."""
    if value is None or value == "":
        return {}
    if isinstance(value, bool):
        return {"userEnteredValue": {"boolValue": value}}
    if isinstance(value, (int, float)):
        return {"userEnteredValue": {"numberValue": value}}
    return {"userEnteredValue": {"stringValue": str(value)}}


def grow_requests(sheet_id: int, need: tuple[int, int], have: tuple[int, int]) -> list[dict]:
    """`appendDimension` requests adding exactly the rows and columns a tab lacks: (rows, columns) needed and had."""
    return [{"appendDimension": {"sheetId": sheet_id, "dimension": dimension, "length": wanted - there}}
            for dimension, wanted, there in zip(("ROWS", "COLUMNS"), need, have) if wanted > there]


def update_cells_requests(sheet_id: int, data: list[dict]) -> list[dict]:
    """`updateCells` requests writing value ranges (`{"range": "'Tab'!O2:O6", "values": [[...]]}`), literal values.

    A range without null values is one request; nulls (cells to leave alone) cut it into runs, rows
    with the same run merged into one request.
    """
    requests_: list[dict] = []
    for entry in data:
        a1 = entry["range"].rsplit("!", 1)[-1].split(":")[0]
        row0, col0 = a1_to_rowcol(a1)
        block: Optional[dict] = None  # the request being extended downwards
        for dr, values in enumerate(entry.get("values", [])):
            runs, start = [], None
            for dc, value in enumerate(list(values) + [None]):
                if value is not None and start is None:
                    start = dc
                elif value is None and start is not None:
                    runs.append((start, values[start:dc]))
                    start = None
            row_index = row0 - 1 + dr
            for start, cells in runs:
                cell_data = {"values": [entered_value(v) for v in cells]}
                where = block["updateCells"]["start"] if block else None
                if (len(runs) == 1 and block is not None and where["columnIndex"] == col0 - 1 + start
                        and where["rowIndex"] + len(block["updateCells"]["rows"]) == row_index
                        and len(block["updateCells"]["rows"][0]["values"]) == len(cells)):
                    block["updateCells"]["rows"].append(cell_data)
                    continue
                request = {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": row_index, "columnIndex": col0 - 1 + start},
                                           "rows": [cell_data], "fields": "userEnteredValue"}}
                requests_.append(request)
                block = request if len(runs) == 1 else None
            if len(runs) != 1:
                block = None
    return requests_


class SheetsClient:
    """The few Sheets calls okr-sync makes, each one request, with errors a user can act on."""

    def __init__(self, http: HTTPClient, email: str):
        self.http, self.email = http, email
        self.grids: dict[tuple[str, str], tuple[int, int]] = {}  # (key, tab) -> (rows, columns) of its grid, as last seen
        self.sheet_ids: dict[tuple[str, str], int] = {}  # (key, tab) -> sheetId, from a `read_tab`

    @classmethod
    def for_auth(cls, auth: GoogleAuth, context: Context, **options: Any) -> "SheetsClient":
        """A client signed in as the configured service account, limited by that account's process-wide limiter."""
        credentials, email = service_account_credentials(auth, context.env)
        options.setdefault("limiter", limiter_for(email))
        return cls(BoundedRetryHTTPClient(credentials, **options), email)

    def _explain(self, exc: APIError, ref: str, action: str) -> SheetsError:
        code = exc.code
        message = str(exc.error.get("message", "")) if isinstance(exc.error, dict) else ""
        key = spreadsheet_key(ref)
        if code == 404:
            return SheetsAccessError(f"spreadsheet {key}: not found (404) while {action}; check the URL or key, "
                                     f"and share the spreadsheet with the service account {self.email}")
        if code == 403:
            return SheetsAccessError(f"spreadsheet {key}: the service account {self.email} has no access (403) while {action}; "
                                     "share the spreadsheet with it (Viewer to read; Editor for outputs and the register)")
        if code == 401:
            return SheetsAuthError(f"Google rejected the credentials of {self.email} (401); check or renew the service-account key")
        return SheetsError(f"spreadsheet {key}: {message or 'HTTP ' + str(code)} (HTTP {code}) while {action}")

    def _call(self, ref: str, action: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except APIError as exc:
            raise self._explain(exc, ref, action) from None
        except ValueError as exc:  # a non-JSON answer
            raise SheetsError(f"spreadsheet {spreadsheet_key(ref)}: unreadable answer while {action} ({exc})") from None

    def metadata(self, ref: str) -> dict:
        """Tabs (sheetId, title, grid size, frozen rows), conditional formats and developer metadata: one read."""
        key = spreadsheet_key(ref)
        return self._call(ref, "reading its tabs", lambda: self.http.fetch_sheet_metadata(key))

    def batch_get(self, ref: str, ranges: list[str]) -> list[dict]:
        """Every range in one `values:batchGet`, unformatted (numbers as numbers, dates as serial numbers)."""
        key = spreadsheet_key(ref)
        params = {"valueRenderOption": "UNFORMATTED_VALUE", "dateTimeRenderOption": "SERIAL_NUMBER", "majorDimension": "ROWS"}
        answer = self._call(ref, "reading values", lambda: self.http.values_batch_get(key, ranges, params=params))
        value_ranges = list(answer.get("valueRanges", []))
        for asked, got in zip(ranges, value_ranges):
            self._note_grid(key, asked, got.get("range"))
        return value_ranges

    def read_tab(self, ref: str, title: str) -> list[list[Any]]:
        """Every value of tab `title` in one `spreadsheets.get`, as `batch_get` would give them; notes its sheetId and grid size.

        The field mask asks for the tab's properties (sheetId, title, grid size) and each cell's
        effective and formatted value, nothing else (with `fields`, includeGridData is not needed).
        Values are converted to what `values:batchGet` with UNFORMATTED_VALUE/SERIAL_NUMBER answers:
        numbers (dates as serial numbers), text and booleans as they are, an error cell as its
        formatted text (`#N/A`), an empty cell as "", trailing empty cells and rows dropped.
        """
        key = spreadsheet_key(ref)
        params = {"ranges": quote_tab(title), "fields": TAB_FIELDS}
        answer = self._call(ref, "reading values", lambda: self.http.fetch_sheet_metadata(key, params=params))
        sheet = self._note_sheet(key, title, answer)
        return grid_rows(sheet.get("data", []))

    def _note_sheet(self, key: str, title: str, answer: Mapping[str, Any]) -> dict:
        """The tab `title` of a `spreadsheets.get` answer; its sheetId and grid size remembered under that title."""
        sheets = [s for s in answer.get("sheets", []) if isinstance(s, dict)]
        sheet = next((s for s in sheets if s.get("properties", {}).get("title") == title), None)
        if sheet is None:  # Google matches a tab name in a range whatever its case
            sheet = next((s for s in sheets if str(s.get("properties", {}).get("title", "")).casefold() == title.casefold()), None)
        if sheet is None:
            raise SheetsError(f"spreadsheet {key}: it has no tab {title!r}")
        props = sheet.get("properties", {})
        grid = props.get("gridProperties", {})
        self.sheet_ids[(key, title)] = int(props.get("sheetId", 0))
        self.grids[(key, title)] = (int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0)))
        return sheet

    def _note_grid(self, key: str, asked: str, echoed: Any) -> None:
        """Remember a tab's grid size from the answer to a whole-tab read: Google echoes the whole grid (`'OKRs'!A1:Z1000`).

        Only a lower bound is needed (a write that fits it needs no resize), so a shorter echo is harmless.
        """
        if "!" in asked or not isinstance(echoed, str) or "!" not in echoed:
            return
        title, a1 = echoed.rsplit("!", 1)
        if title.startswith("'") and title.endswith("'"):
            title = title[1:-1].replace("''", "'")
        end = a1.split(":")[-1]
        try:
            rows, cols = a1_to_rowcol(end)
        except Exception:  # noqa: BLE001 - an echo we cannot read only costs a metadata read later
            return
        if asked in (quote_tab(title), title):  # not a named range that merely has no "!"
            self.grids[(key, title)] = (rows, cols)

    def ensure_grid(self, ref: str, title: str, rows: int, columns: int) -> int:
        """Grow tab `title` to at least `rows` x `columns` before a write that needs them; returns the requests sent.

        Writing past a tab's grid answers HTTP 400 "exceeds grid limits". A grid known (from a whole-tab
        read) to be big enough costs nothing; otherwise one metadata read finds the tab's sheetId and
        size, and one `batchUpdate` appends the missing rows and/or columns (`appendDimension`).
        """
        key = spreadsheet_key(ref)
        known = self.grids.get((key, title))
        if known is not None and known[0] >= rows and known[1] >= columns:
            return 0
        meta = self.metadata(ref)
        sheet = next((s for s in meta.get("sheets", []) if s.get("properties", {}).get("title") == title), None)
        if sheet is None:
            raise SheetsError(f"spreadsheet {key}: it has no tab {title!r}")
        props = sheet["properties"]
        grid = props.get("gridProperties", {})
        have_rows, have_cols = int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))
        requests_ = grow_requests(props["sheetId"], (rows, columns), (have_rows, have_cols))
        if requests_:
            self._call(ref, f"adding rows or columns to tab {title!r}", lambda: self.http.batch_update(key, {"requests": requests_}))
        self.grids[(key, title)] = (max(rows, have_rows), max(columns, have_cols))
        return 1 + bool(requests_)

    def write_values_growing(self, ref: str, title: str, data: list[dict]) -> dict[str, int]:
        """Write value ranges of tab `title` as RAW values, growing its grid when they do not fit; one write, no read.

        When the ranges fit the grid known from `read_tab`: one RAW `values:batchUpdate`. Otherwise one
        `batchUpdate` whose `appendDimension` requests (rows and/or columns, exactly the missing ones)
        come before one `updateCells` per run of cells to write (a null value leaves its cell alone, as
        in a RAW values write, so a range is cut at its nulls). Returns the requests sent by kind.
        Without a `read_tab` of the tab first, one metadata read finds its sheetId and grid size
        (unless a whole-tab `batch_get` showed a grid big enough).
        """
        key = spreadsheet_key(ref)
        rows, columns = extent(data)
        sent: dict[str, int] = {}
        known = self.grids.get((key, title))
        if (known is None or rows > known[0] or columns > known[1]) and (key, title) not in self.sheet_ids:
            self._read_properties(ref, title)
            sent["metadata"] = 1
        have_rows, have_cols = self.grids[(key, title)]
        if rows <= have_rows and columns <= have_cols:
            self.batch_update_values(ref, data, "RAW")
            return {**sent, "values.batchUpdate": 1}
        sheet_id = self.sheet_ids[(key, title)]
        requests_ = grow_requests(sheet_id, (rows, columns), (have_rows, have_cols)) + update_cells_requests(sheet_id, data)
        self._call(ref, f"adding rows or columns to tab {title!r} and writing values",
                   lambda: self.http.batch_update(key, {"requests": requests_}))
        self.grids[(key, title)] = (max(rows, have_rows), max(columns, have_cols))
        return {**sent, "batchUpdate": 1}

    def _read_properties(self, ref: str, title: str) -> None:
        self._note_sheet(spreadsheet_key(ref), title, self.metadata(ref))

    def batch_update_values(self, ref: str, data: list[dict], input_option: str = "RAW") -> dict:
        """Many ranges written in one `values:batchUpdate`."""
        key = spreadsheet_key(ref)
        body = {"valueInputOption": input_option, "data": data}
        return self._call(ref, "writing values", lambda: self.http.values_batch_update(key, body=body))

    def batch_update(self, ref: str, requests_: list[dict]) -> dict:
        """Structure and formatting requests (add tabs, resize, freeze, formats) in one `batchUpdate`."""
        key = spreadsheet_key(ref)
        return self._call(ref, "formatting", lambda: self.http.batch_update(key, {"requests": requests_}))

    @property
    def counts(self) -> dict[str, int]:
        return dict(getattr(self.http, "counts", {}))
