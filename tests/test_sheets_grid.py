"""Grid limits (issue 10): a write past a tab's grid is HTTP 400 "exceeds grid limits" at Google, so the
register write-back and the summary sink grow the grid first, with as few requests as possible (the
register: its one write is then a `batchUpdate` with the `appendDimension` before the `updateCells`);
and rows cleared after KRs were removed keep no SPARKLINE formula.

Everything runs against the stateful Sheets fake, which enforces grid limits like the real API.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from google.oauth2.credentials import Credentials

from connectors.sheets_client import BoundedRetryHTTPClient, RateLimiter, SheetsClient, SheetsError
from fakes.sheets_fake import SheetsFake, apply_fields, parse_fields
from flows.pipeline import run_sync
from mapping.loader import load_config

KEY_REG = "1Register000000000000000000000000000000000RR"
KEY_KPI = "1Survey00000000000000000000000000000000000BB"
KEY_OUT = "1Summary000000000000000000000000000000000CC"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
HUMAN = ["Objective id", "Objective", "Level", "Aligns to", "KR id", "Key result", "Owner", "Type", "Baseline",
         "Target", "Unit", "Committed", "Manual value", "Notes"]
MEASURED = ["Current", "Progress", "Score", "Status", "Last synced"]
KR_ROWS = [
    ["sales", "Grow revenue", "company", "", "rev", "Revenue 1M", "Ann", "increase", 0, 1000000, "EUR", True, "", "note"],
    ["", "", "", "", "nps", "NPS 40+", "Bob", "at_least", 30, 40, "pts", False, "", ""],
]


@pytest.fixture
def env(sheets_env):
    return sheets_env


@pytest.fixture
def fake(sheets_fake):
    sheets_fake.add_spreadsheet(KEY_KPI, "KPIs", {"KPIs": [["revenue", 250000], ["nps", 38]] + [[f"k{i}", i] for i in range(3, 13)]})
    return sheets_fake


def register_config(write_config, outputs: str = "", worksheet: str = "OKRs") -> str:
    return str(write_config(f"""
        period: 2026-Q4
        history: sqlite:///history.db
        sources:
          kpis: {{kind: sheets, spreadsheet: {KEY_KPI}, credentials_env: SA_KEY}}
        okrs:
          from: sheets
          spreadsheet: {KEY_REG}
          worksheet: {json.dumps(worksheet)}
          credentials_env: SA_KEY
          metrics:
            rev: {{source: kpis, cell: "'KPIs'!B1"}}
            nps: {{source: kpis, cell: "'KPIs'!B2"}}
        {outputs}
        """))


def sync(path, env, now: datetime = NOW):
    return run_sync(load_config(path, env=env), now, env=env)


def requests_to(fake: SheetsFake, key: str) -> dict[str, int]:
    return {kind: fake.count(kind, key) for kind in ("batchGet", "metadata", "batchUpdate", "values.batchUpdate") if fake.count(kind, key)}


def measured_of(fake: SheetsFake, first_measured: int, tab: str = "OKRs") -> dict[str, list]:
    rows = fake.values(KEY_REG, tab)
    return {row[4]: row[first_measured:first_measured + 5] for row in rows[1:] if len(row) > 4 and row[4]}


# ---- the register write-back ------------------------------------------------------------------

def sent_requests(fake: SheetsFake, kind: str = "batchUpdate") -> list[dict]:
    return [body for k, body in fake.bodies if k == kind]


def update_cells(sheet_id: int, row: int, column: int, *values: dict) -> dict:
    """An updateCells request writing one column of cells from (row, column), 0-based."""
    return {"updateCells": {"start": {"sheetId": sheet_id, "rowIndex": row, "columnIndex": column},
                            "rows": [{"values": [v]} for v in values], "fields": "userEnteredValue"}}


def num(x) -> dict:
    return {"userEnteredValue": {"numberValue": x}}


def text(x: str) -> dict:
    return {"userEnteredValue": {"stringValue": x}}


def test_a_register_with_22_header_columns_grows_its_grid_in_its_one_write(fake, write_config, env):
    """22 header columns + 5 measured ones = 27 > Google's default 26: one read, one batchUpdate growing and writing."""
    extra = [f"Note {i}" for i in range(1, 9)]
    header = HUMAN + extra  # 22 columns, A..V; the measured columns go to W..AA
    fake.add_spreadsheet(KEY_REG, "OKR register", {"OKRs": [header] + [row + [""] * 8 for row in KR_ROWS]})  # 1000 x 26
    sync(register_config(write_config), env)

    tab = fake.tab(KEY_REG, "OKRs")
    assert tab.cols == 27 and tab.rows == 1000  # exactly one column appended, rows untouched
    assert fake.values(KEY_REG, "OKRs")[0][22:] == MEASURED
    measured = measured_of(fake, 22)
    # rev: 250000 of 0 -> 1,000,000 = 0.25; nps: at_least 40, baseline 30, at 38 -> 0.8
    assert measured["rev"] == [250000, 0.25, 0.25, "off_track", "2026-11-15 12:00"]
    assert measured["nps"][:3] == [38, 0.8, 0.8]
    assert fake.values(KEY_REG, "OKRs")[1][:14] == KR_ROWS[0][:13] + ["note"]  # human columns untouched
    # 1 read (spreadsheets.get with the grid data) + 1 write (appendDimension and the values together)
    assert requests_to(fake, KEY_REG) == {"metadata": 1, "batchUpdate": 1}
    assert fake.count(key=KEY_REG) == 2
    (body,) = sent_requests(fake)
    requests_ = body["requests"]
    assert requests_[0] == {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": 1}}
    assert all("updateCells" in r for r in requests_[1:]) and len(requests_) == 1 + 10  # 5 columns: KR rows + header each
    assert requests_[1] == update_cells(0, 1, 22, num(250000), num(38))  # W2:W3, Current
    assert requests_[2] == update_cells(0, 0, 22, text("Current"))       # W1, its header
    assert requests_[-1] == update_cells(0, 0, 26, text("Last synced"))  # AA1: the appended column

    sync(register_config(write_config), env)  # the read shows the grown grid and the same values: one read, nothing else
    assert requests_to(fake, KEY_REG) == {"metadata": 2, "batchUpdate": 1}


def test_a_register_tab_with_no_column_right_of_its_header_gets_the_five_measured_columns(fake, write_config, env):
    fake.add_spreadsheet(KEY_REG, "OKR register", {"OKRs": [HUMAN] + KR_ROWS}, rows=3, cols=len(HUMAN))  # a tab cut to its data
    sync(register_config(write_config), env)
    tab = fake.tab(KEY_REG, "OKRs")
    assert (tab.rows, tab.cols) == (3, len(HUMAN) + 5)
    rows = fake.values(KEY_REG, "OKRs")
    assert rows[0] == HUMAN + MEASURED and rows[1][:len(HUMAN)] == KR_ROWS[0]  # human columns untouched
    assert measured_of(fake, len(HUMAN))["rev"] == [250000, 0.25, 0.25, "off_track", "2026-11-15 12:00"]
    assert requests_to(fake, KEY_REG) == {"metadata": 1, "batchUpdate": 1}
    assert sent_requests(fake)[0]["requests"][0] == {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": 5}}


def test_a_register_whose_grid_fits_is_one_read_and_one_values_write(fake, write_config, env):
    fake.add_spreadsheet(KEY_REG, "OKR register", {"OKRs": [HUMAN + MEASURED] + KR_ROWS}, rows=3, cols=19)  # exactly enough
    sync(register_config(write_config), env)
    assert requests_to(fake, KEY_REG) == {"metadata": 1, "values.batchUpdate": 1}
    assert measured_of(fake, 14)["nps"][:3] == [38, 0.8, 0.8]
    assert (fake.tab(KEY_REG, "OKRs").rows, fake.tab(KEY_REG, "OKRs").cols) == (3, 19)
    assert {body["valueInputOption"] for body in sent_requests(fake, "values.batchUpdate")} == {"RAW"}


def test_a_register_tab_titled_with_quotes_and_spaces_is_read_and_grown(fake, write_config, env):
    title = "Q4 'team' OKRs"
    fake.add_spreadsheet(KEY_REG, "OKR register", {"Other": [["x"]], title: [HUMAN] + KR_ROWS}, rows=3, cols=len(HUMAN))
    sync(register_config(write_config, worksheet=title), env)
    tab = fake.tab(KEY_REG, title)
    assert (tab.rows, tab.cols) == (3, 19) and fake.tab(KEY_REG, "Other").cols == len(HUMAN)  # only that tab grown
    assert measured_of(fake, len(HUMAN), title)["nps"][:3] == [38, 0.8, 0.8]
    assert requests_to(fake, KEY_REG) == {"metadata": 1, "batchUpdate": 1}
    read = [request for request in fake.mock.calls if request.request.method == "GET" and KEY_REG in request.request.url]
    assert "ranges=%27Q4+%27%27team%27%27+OKRs%27" in read[0].request.url  # 'Q4 ''team'' OKRs'
    assert sent_requests(fake)[0]["requests"][0]["appendDimension"]["sheetId"] == tab.sheet_id == 1001


def make_client() -> SheetsClient:
    return SheetsClient(BoundedRetryHTTPClient(Credentials(token="x"), limiter=RateLimiter(), sleep=lambda s: None),
                        "okr-sync@acme-okrs.iam.gserviceaccount.com")


def test_ensure_grid_reads_the_size_from_a_whole_tab_read_and_grows_rows_and_columns_in_one_request(fake):
    fake.add_spreadsheet(KEY_REG, tabs={"Other": [], "My 'tab'": [["a"]]}, rows=10, cols=4)
    client = make_client()
    client.batch_get(KEY_REG, ["'My ''tab'''"])
    assert client.grids[(KEY_REG, "My 'tab'")] == (10, 4)  # from the echoed range 'My ''tab'''!A1:D10
    assert client.ensure_grid(KEY_REG, "My 'tab'", 10, 4) == 0 and fake.count() == 1  # fits: no request
    assert client.ensure_grid(KEY_REG, "My 'tab'", 12, 30) == 2
    tab = fake.tab(KEY_REG, "My 'tab'")
    assert (tab.rows, tab.cols) == (12, 30) and fake.tab(KEY_REG, "Other").cols == 4
    assert [body for kind, body in fake.bodies if kind == "batchUpdate"] == [{"requests": [
        {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "ROWS", "length": 2}},
        {"appendDimension": {"sheetId": tab.sheet_id, "dimension": "COLUMNS", "length": 26}}]}]
    assert client.ensure_grid(KEY_REG, "My 'tab'", 12, 30) == 0  # remembered


def test_ensure_grid_without_a_known_size_reads_metadata_and_does_not_grow_a_big_enough_tab(fake):
    fake.add_spreadsheet(KEY_REG, tabs={"OKRs": []})
    client = make_client()
    client.batch_get(KEY_REG, ["'OKRs'!A1:B2"])  # not a whole-tab read: says nothing about the grid
    assert client.grids == {}
    assert client.ensure_grid(KEY_REG, "OKRs", 500, 26) == 1
    assert fake.count("metadata") == 1 and fake.count("batchUpdate") == 0
    with pytest.raises(SheetsError, match="no tab 'Missing'"):
        client.ensure_grid(KEY_REG, "Missing", 1, 1)


def test_a_write_past_the_grid_grows_rows_and_columns_in_the_same_request_with_literal_values(fake):
    fake.add_spreadsheet(KEY_REG, tabs={"Other": [], "My 'tab'": [["a", "b"], ["", "keep"]]}, rows=5, cols=3)
    client = make_client()
    assert client.read_tab(KEY_REG, "My 'tab'") == [["a", "b"], ["", "keep"]]
    assert (client.grids[(KEY_REG, "My 'tab'")], client.sheet_ids[(KEY_REG, "My 'tab'")]) == ((5, 3), 1001)
    data = [{"range": "'My ''tab'''!B1:B8", "values": [["=1+1"], [None], ["+49 30 1234"], [None], [None], [True], [7], [0.5]]},
            {"range": "'My ''tab'''!E2:F2", "values": [["", "'quoted"]]},
            {"range": "'My ''tab'''!A1", "values": [[""]]}]
    assert client.write_values_growing(KEY_REG, "My 'tab'", data) == {"batchUpdate": 1}
    assert fake.count() == 2 and fake.count("metadata") == 1 and fake.count("batchUpdate") == 1
    (body,) = sent_requests(fake)
    assert body["requests"] == [
        {"appendDimension": {"sheetId": 1001, "dimension": "ROWS", "length": 3}},     # 8 rows needed, 5 there
        {"appendDimension": {"sheetId": 1001, "dimension": "COLUMNS", "length": 3}},  # F = 6 columns needed, 3 there
        update_cells(1001, 0, 1, text("=1+1")),                                       # B2 is null: left alone
        update_cells(1001, 2, 1, text("+49 30 1234")),
        update_cells(1001, 5, 1, {"userEnteredValue": {"boolValue": True}}, num(7), num(0.5)),
        {"updateCells": {"start": {"sheetId": 1001, "rowIndex": 1, "columnIndex": 4},
                         "rows": [{"values": [{}, text("'quoted")]}], "fields": "userEnteredValue"}},
        update_cells(1001, 0, 0, {}),                                                 # "" clears A1
    ]
    tab = fake.tab(KEY_REG, "My 'tab'")
    assert (tab.rows, tab.cols) == (8, 6) and fake.tab(KEY_REG, "Other").cols == 3
    assert tab.formulas == {}  # text starting with "=" stays text, like a RAW write
    assert fake.values(KEY_REG, "My 'tab'") == [["", "=1+1"], ["", "keep", "", "", "", "'quoted"], ["", "+49 30 1234"],
                                                [], [], ["", True], ["", 7], ["", 0.5]]
    assert client.grids[(KEY_REG, "My 'tab'")] == (8, 6)
    assert client.write_values_growing(KEY_REG, "My 'tab'", [{"range": "'My ''tab'''!F8", "values": [[1]]}]) == {"values.batchUpdate": 1}
    assert fake.count() == 3 and fake.values(KEY_REG, "My 'tab'")[7] == ["", 0.5, "", "", "", 1]


def test_a_write_without_a_read_of_the_tab_first_finds_its_sheet_id_with_one_metadata_read(fake):
    fake.add_spreadsheet(KEY_REG, tabs={"OKRs": []}, rows=2, cols=2)
    client = make_client()
    assert client.write_values_growing(KEY_REG, "OKRs", [{"range": "'OKRs'!C3", "values": [["x"]]}]) == {"metadata": 1, "batchUpdate": 1}
    tab = fake.tab(KEY_REG, "OKRs")
    assert fake.values(KEY_REG, "OKRs") == [[], [], ["", "", "x"]] and (tab.rows, tab.cols) == (3, 3)
    with pytest.raises(SheetsError, match="no tab 'Missing'"):
        client.write_values_growing(KEY_REG, "Missing", [{"range": "'Missing'!A1", "values": [["x"]]}])


def test_the_fake_applies_a_batch_in_order_and_atomically(fake):
    """updateCells past the grid is HTTP 400 unless an appendDimension before it in the same batch made room."""
    fake.add_spreadsheet(KEY_REG, tabs={"OKRs": [["a"]]}, rows=2, cols=2)
    client = make_client()
    write = {"updateCells": {"start": {"sheetId": 0, "rowIndex": 0, "columnIndex": 1}, "rows": [{"values": [text("b"), text("c")]}],
                             "fields": "userEnteredValue"}}
    grow = {"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 1}}
    first = {"updateCells": {"start": {"sheetId": 0, "rowIndex": 1, "columnIndex": 0}, "rows": [{"values": [text("z")]}],
                             "fields": "userEnteredValue"}}
    with pytest.raises(SheetsError, match=r"Invalid requests\[1\]\.updateCells: exceeds grid limits\. Max rows: 2, max columns: 2"):
        client.batch_update(KEY_REG, [first, write, grow])
    assert fake.values(KEY_REG, "OKRs") == [["a"]] and fake.tab(KEY_REG, "OKRs").cols == 2  # nothing applied, not even A2
    client.batch_update(KEY_REG, [grow, write])
    assert fake.values(KEY_REG, "OKRs") == [["a", "b", "c"]] and fake.tab(KEY_REG, "OKRs").cols == 3


def test_the_fake_answers_a_get_with_ranges_and_a_field_mask_like_google(fake):
    fake.add_spreadsheet(KEY_REG, tabs={"Other": [["o"]], "OKRs": [["a", "", 3], [], [True, 2.5]]}, rows=10, cols=4)
    fields = "sheets(properties(sheetId,title,gridProperties(rowCount,columnCount)),data(rowData(values(effectiveValue,formattedValue))))"
    client = make_client()
    answer = client.http.fetch_sheet_metadata(KEY_REG, params={"ranges": "'OKRs'", "fields": fields})
    assert answer == {"sheets": [{"properties": {"sheetId": 1001, "title": "OKRs", "gridProperties": {"rowCount": 10, "columnCount": 4}},
                                  "data": [{"rowData": [
                                      {"values": [{"effectiveValue": {"stringValue": "a"}, "formattedValue": "a"}, {},
                                                  {"effectiveValue": {"numberValue": 3}, "formattedValue": "3"}]},
                                      {},
                                      {"values": [{"effectiveValue": {"boolValue": True}, "formattedValue": "TRUE"},
                                                  {"effectiveValue": {"numberValue": 2.5}, "formattedValue": "2.5"}]}]}]}]}
    with pytest.raises(SheetsError, match=r"Unable to parse range: 'Nope' \(HTTP 400\)"):
        client.read_tab(KEY_REG, "Nope")
    plain = client.metadata(KEY_REG)  # no ranges, no mask: every tab, no grid data
    assert [s["properties"]["title"] for s in plain["sheets"]] == ["Other", "OKRs"] and "data" not in plain["sheets"][0]
    assert parse_fields("a(b,c.d),e") == {"a": {"b": None, "c": {"d": None}}, "e": None}
    assert apply_fields({"a": [{"b": 1, "x": 2}], "e": 3, "z": 4}, parse_fields("a(b),e")) == {"a": [{"b": 1}], "e": 3}


def test_the_fake_answers_a_write_past_the_grid_like_google(fake):
    """The 400 the acceptance run saw: Google's error JSON naming the range and the grid's size."""
    fake.add_spreadsheet(KEY_REG, tabs={"OKRs": [["x"]]})
    client = make_client()
    with pytest.raises(SheetsError) as info:
        client.batch_update_values(KEY_REG, [{"range": "'OKRs'!AA2:AA3", "values": [[1], [2]]}])
    assert "Invalid data[0]: Range ('OKRs'!AA2:AA3) exceeds grid limits. Max rows: 1000, max columns: 26 (HTTP 400)" in str(info.value)
    with pytest.raises(SheetsError, match=r"Range \('OKRs'!A1001\) exceeds grid limits\. Max rows: 1000, max columns: 26"):
        client.batch_get(KEY_REG, ["'OKRs'!A1001"])
    assert fake.values(KEY_REG, "OKRs") == [["x"]]  # nothing written


def test_the_fake_grows_grids_up_to_googles_cell_limit_atomically(fake):
    fake.add_spreadsheet(KEY_REG, tabs={"OKRs": []})
    client = make_client()
    client.batch_update(KEY_REG, [{"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 4}}])
    assert fake.tab(KEY_REG, "OKRs").cols == 30
    with pytest.raises(SheetsError) as info:
        client.batch_update(KEY_REG, [{"appendDimension": {"sheetId": 0, "dimension": "COLUMNS", "length": 1}},
                                      {"appendDimension": {"sheetId": 0, "dimension": "ROWS", "length": 400_000}}])
    assert ("Invalid requests[1].appendDimension: This action would increase the number of cells in the workbook "
            "above the limit of 10000000 cells.") in str(info.value)
    assert (fake.tab(KEY_REG, "OKRs").rows, fake.tab(KEY_REG, "OKRs").cols) == (1000, 30)  # all or nothing


# ---- the summary sink -------------------------------------------------------------------------

def summary_config(write_config, krs: int, history_points: int = 12) -> str:
    lines = ["period: 2026-Q4", "history: sqlite:///history.db", "sources:",
             f"  kpis: {{kind: sheets, spreadsheet: {KEY_KPI}, credentials_env: SA_KEY}}",
             "objectives:", "  - id: o", "    title: Objective", "    key_results:"]
    for i in range(krs):
        lines += [f"      - id: k{i}", f"        title: KR {i}", "        baseline: 0", "        target: 100",
                  f"        metric: {{source: kpis, cell: \"'KPIs'!B{i + 3}\"}}"]
    lines += ["outputs:", f"  - {{kind: sheets, spreadsheet: {KEY_OUT}, credentials_env: SA_KEY, history_points: {history_points}}}"]
    return str(write_config("\n".join(lines) + "\n"))


def out_requests(fake: SheetsFake) -> dict[str, int]:
    return requests_to(fake, KEY_OUT)


def sheet_ids_of(request: dict) -> set[int]:
    """Every sheetId a formatting request names (to tell which tab it touches)."""
    found: set[int] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "sheetId":
                    found.add(value)  # type: ignore[arg-type]
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)
    walk(request)
    return found


def test_rows_cleared_after_krs_were_removed_keep_no_sparkline_formula(fake, write_config, env):
    fake.add_spreadsheet(KEY_OUT, "OKR summary")
    sync(summary_config(write_config, 8), env, datetime(2026, 11, 14, 12, 0, tzinfo=timezone.utc))
    history = fake.tab(KEY_OUT, "History")
    assert sorted(r for r, _ in history.formulas) == list(range(1, 9))  # one sparkline per KR row

    sync(summary_config(write_config, 3), env)  # five KRs removed from the config
    history = fake.tab(KEY_OUT, "History")
    trend = fake.values(KEY_OUT, "History")[0].index("Trend")
    assert history.formulas == {(r, trend): f'=IF(COUNT(F{r + 1}:Q{r + 1})=0,"",SPARKLINE(F{r + 1}:Q{r + 1}))' for r in (1, 2, 3)}
    assert [row[0] for row in fake.values(KEY_OUT, "History")[1:]] == ["k0", "k1", "k2"]
    assert all(r <= 3 for r, _ in history.cells)  # cleared rows: no values and no formulas
    # one request more than a steady sync, only in the sync that removes rows: History's grid cut and the
    # Dashboard re-laid out (its rows moved), no re-formatting of Summary/Objectives/History
    assert out_requests(fake) == {"metadata": 2, "batchUpdate": 2, "values.batchUpdate": 2}
    shrink = [body for kind, body in fake.bodies if kind == "batchUpdate"][-1]["requests"]
    dashboard = fake.tab(KEY_OUT, "Dashboard")
    assert shrink[0] == {"updateSheetProperties": {"properties": {"sheetId": history.sheet_id, "gridProperties": {"rowCount": 4}},
                                                   "fields": "gridProperties/rowCount"}}
    assert all(sheet_ids_of(r) == {dashboard.sheet_id} for r in shrink[1:] if "deleteDeveloperMetadata" not in r)
    assert sum("deleteDeveloperMetadata" in r for r in shrink) == 1  # the Dashboard's old layout signature
    assert dashboard.rows == 8 + 1 + 2 + 3 and dashboard.index == 0  # 1 objective, blank, KR header, 3 KRs: no stale row below
    summary = fake.tab(KEY_OUT, "Summary")  # no formulas there: its rows are cleared by "" values, the grid stays
    assert summary.rows == 9 and len(fake.values(KEY_OUT, "Summary")) == 4 and summary.formulas == {}

    sync(summary_config(write_config, 3), env)  # steady state: no formatting request
    assert out_requests(fake) == {"metadata": 3, "batchUpdate": 2, "values.batchUpdate": 3}

    sync(summary_config(write_config, 6), env)  # KRs back: their rows get their formulas again
    history = fake.tab(KEY_OUT, "History")
    assert sorted(r for r, _ in history.formulas) == list(range(1, 7)) and history.rows == 7
    assert out_requests(fake) == {"metadata": 4, "batchUpdate": 3, "values.batchUpdate": 4}


def test_summary_tabs_smaller_than_the_tables_are_grown_before_the_values_write(fake, write_config, env):
    """Tabs made by hand (or cut down) are grown in the formatting request, never written past their grid."""
    fake.add_spreadsheet(KEY_OUT, "OKR summary", {"Summary": [["old"]], "History": [], "Objectives": []}, rows=3, cols=5)
    sync(summary_config(write_config, 6, history_points=40), env)  # History: 5 + 40 = 45 columns, 7 rows
    assert out_requests(fake) == {"metadata": 1, "batchUpdate": 1, "values.batchUpdate": 1}
    history = fake.tab(KEY_OUT, "History")
    assert (history.rows, history.cols) == (7, 45) and len(fake.values(KEY_OUT, "Summary")) == 7
    assert fake.values(KEY_OUT, "History")[0][-1] == "2026-11-15"

    sync(summary_config(write_config, 10, history_points=60), env)  # more rows and more day columns
    assert out_requests(fake) == {"metadata": 2, "batchUpdate": 2, "values.batchUpdate": 2}
    history = fake.tab(KEY_OUT, "History")
    assert (history.rows, history.cols) == (11, 65) and len(fake.values(KEY_OUT, "Summary")) == 11
    assert sorted(r for r, _ in history.formulas) == list(range(1, 11))


def test_the_fake_checks_formatting_ranges_against_the_grid_and_honours_tab_indexes(fake):
    """Formatting requests are validated like Google does: a range past the grid is HTTP 400, the batch is atomic."""
    fake.add_spreadsheet(KEY_OUT, tabs={"Summary": []}, rows=5, cols=3)
    client = make_client()
    rule = {"ranges": [{"sheetId": 0, "startRowIndex": 1, "endRowIndex": 9, "startColumnIndex": 0, "endColumnIndex": 1}],
            "booleanRule": {"condition": {"type": "TEXT_EQ", "values": [{"userEnteredValue": "On track"}]}, "format": {}}}
    for request in ({"addConditionalFormatRule": {"index": 0, "rule": rule}},
                    {"repeatCell": {"range": {"sheetId": 0, "startColumnIndex": 2, "endColumnIndex": 4}, "cell": {}, "fields": "userEnteredFormat"}},
                    {"updateDimensionProperties": {"range": {"sheetId": 0, "dimension": "COLUMNS", "startIndex": 3, "endIndex": 4},
                                                   "properties": {"pixelSize": 70}, "fields": "pixelSize"}}):
        with pytest.raises(SheetsError, match="HTTP 400"):
            client.batch_update(KEY_OUT, [{"addSheet": {"properties": {"title": "Dashboard", "index": 0}}}, request])
        assert [t.title for t in fake.books[KEY_OUT].tabs] == ["Summary"]  # all or nothing
    client.batch_update(KEY_OUT, [{"addSheet": {"properties": {"sheetId": 7, "title": "Dashboard", "index": 0}}},
                                  {"addSheet": {"properties": {"title": "History"}}}])
    assert [(t.title, t.index) for t in fake.books[KEY_OUT].tabs] == [("Dashboard", 0), ("Summary", 1), ("History", 2)]
    client.batch_update(KEY_OUT, [{"updateSheetProperties": {"properties": {"sheetId": 7, "index": 2}, "fields": "index"}}])
    assert [t.title for t in fake.books[KEY_OUT].tabs] == ["Summary", "History", "Dashboard"]
    assert [s["properties"]["index"] for s in client.metadata(KEY_OUT)["sheets"]] == [0, 1, 2]
