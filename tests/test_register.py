"""The OKR register (pure part and its validation): sheet rows -> objectives, problems naming the sheet row."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from mapping.errors import ConfigError
from mapping.loader import apply_register, load_config, register_warnings
from mapping.register import RegisterRows, parse_register, writeback_ranges
from mapping.results import KRResult

HEADER = ["Objective id", "Objective", "Level", "Aligns to", "KR id", "Key result", "Owner", "Type", "Baseline",
          "Target", "Unit", "Committed", "Manual value", "Notes", "Current", "Progress", "Score", "Status", "Last synced"]
ROWS = [
    HEADER,
    ["sales", "Grow revenue", "Company", "", "rev", "Revenue 1M", "Ann", "increase", 0, 1000000, "EUR", True, "", "watch"],
    ["", "", "", "", "nps", "NPS 40+", "Bob", "at least", 30, 40, "pts", "no"],
    [],
    ["ops", "Ship on time", "department", "rev", "otd", "On-time delivery", "Cy", "increase", "80", "95", "%", "", "91,5", "manual"],
    ["ops", "", "", "", "churn", "Churn below 2%", "Di", "decrease", 5, 2, "%"],
]


def yaml_with_register(write_config, metrics: str = "", extra: str = "") -> str:
    return write_config(f"""
        period: 2026-Q4
        sources:
          kpis: {{kind: sheets, spreadsheet: 1Survey00000000000000000000000000000000000BB}}
        okrs:
          from: sheets
          spreadsheet: https://docs.google.com/spreadsheets/d/1Register000000000000000000000000000000000RR/edit
          worksheet: OKRs
          decimal: ","
          metrics:
            rev: {{source: kpis, cell: "'KPIs'!B1"}}
            nps: {{source: kpis, cell: "'KPIs'!B2"}}
            otd: {{source: kpis, cell: "'KPIs'!B3"}}
        {metrics}
        {extra}
        """)


def test_rows_become_objectives_and_an_empty_objective_id_continues_the_one_above():
    reg = parse_register(RegisterRows("OKRs", ROWS), decimal=",")
    assert [o["id"] for o in reg.objectives] == ["sales", "ops"]
    sales, ops = reg.objectives
    assert sales["title"] == "Grow revenue" and sales["level"] == "company"
    assert [kr["id"] for kr in sales["key_results"]] == ["rev", "nps"]
    assert sales["key_results"][1] == {"id": "nps", "title": "NPS 40+", "owner": "Bob", "unit": "pts", "type": "at_least",
                                       "baseline": 30.0, "target": 40.0, "committed": False}
    assert sales["key_results"][0]["committed"] is True
    assert ops["aligns_to"] == "rev" and [kr["id"] for kr in ops["key_results"]] == ["otd", "churn"]
    assert ops["key_results"][0]["baseline"] == 80.0  # text "80" parsed deliberately
    assert reg.kr_rows == {"rev": 2, "nps": 3, "otd": 5, "churn": 6}
    assert reg.manual == {"otd": 91.5}  # "91,5" with the declared decimal comma


def test_headers_match_whatever_the_case_and_separators():
    rows = [["objective_ID", "OBJECTIVE", "kr-id", "key result", "target", "Type"], ["o", "O", "k", "K", 5, "milestone"]]
    reg = parse_register(RegisterRows("OKRs", rows))
    assert reg.objectives == [{"id": "o", "title": "O", "key_results": [{"id": "k", "title": "K", "target": 5.0, "type": "milestone"}]}]


def test_a_register_without_the_required_columns_says_which(write_config):
    config = load_config(yaml_with_register(write_config), check_env=False)
    with pytest.raises(ConfigError) as info:
        apply_register(config, RegisterRows("OKRs", [["Objective", "KR"], ["x", "y"]]))
    assert "register 'OKRs' row 1" in str(info.value) and "'Objective id'" in str(info.value) and "'KR id'" in str(info.value)


def test_every_problem_of_the_sheet_names_its_row_and_column(write_config):
    rows = [HEADER,
            ["sales", "Grow", "company", "", "rev", "Revenue", "Ann", "increase", 10, 10],        # baseline = target
            ["", "", "", "", "nps", "NPS", "Bob", "increase", "lots", 40],                       # not a number
            ["ops", "Ops", "galaxy", "nowhere", "rev", "", "", "sideways", 1, 2, "", "maybe"],     # level, aligns_to, dup id, no title, type, committed
            ]
    config = load_config(yaml_with_register(write_config), check_env=False)
    with pytest.raises(ConfigError) as info:
        apply_register(config, RegisterRows("OKRs", rows))
    text = str(info.value)
    assert "register 'OKRs' row 2, column 'Target': baseline equals target" in text
    assert "register 'OKRs' row 3, column 'Baseline': 'lots' is not a number" in text
    assert "register 'OKRs' row 4, column 'KR id': duplicate key result id 'rev'" in text
    assert "register 'OKRs' row 4, column 'Key result': required value is missing" in text
    assert "register 'OKRs' row 4, column 'Committed': 'maybe' is not yes/no" in text
    assert "register 'OKRs' row 4, column 'Aligns to': aligns to unknown key result 'nowhere'" in text
    assert "row 4, column 'Level'" in text and "row 4, column 'Type'" in text
    assert "Traceback" not in text


def test_kr_without_metric_is_reported_not_dropped_and_stray_mappings_are_named(write_config):
    config = load_config(yaml_with_register(write_config, metrics="    revv: {source: kpis, cell: \"'KPIs'!B9\"}"), check_env=False)
    merged = apply_register(config, RegisterRows("OKRs", ROWS))
    assert [kr.id for _, kr in merged.key_results()] == ["rev", "nps", "otd", "churn"]
    assert merged.objectives[1].key_results[1].metric is None
    warnings = register_warnings(merged)
    assert any("row 6" in w and "'churn' has no metric" in w for w in warnings)
    assert any("okrs.metrics.revv" in w and "did you mean 'rev'" in w for w in warnings)
    assert not any("'otd'" in w for w in warnings)
    assert merged.objectives[0].key_results[0].metric.query.spec.cell == "'KPIs'!B1"


def test_register_metrics_are_validated_with_yaml_line_numbers(write_config):
    path = yaml_with_register(write_config, metrics="    bad: {source: nope, cell: \"'KPIs'!B9\"}")
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    assert "okrs.yaml:13: okrs.metrics.bad.source: unknown source 'nope'" in str(info.value)


def test_objectives_and_a_register_are_not_mixed(write_config):
    path = yaml_with_register(write_config, extra="objectives: [{id: o, title: O, key_results: [{id: k, title: K, target: 1, type: milestone}]}]")
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    assert "objectives come from the register sheet when okrs is given" in str(info.value)


def test_without_a_register_objectives_are_still_required(write_config):
    with pytest.raises(ConfigError) as info:
        load_config(write_config("period: 2026-Q4\n"), check_env=False)
    assert "objectives: required key is missing" in str(info.value)


def result(kr_id: str, value, progress, score, status, error: str = "") -> KRResult:
    return KRResult("o", kr_id, value, progress, score, 0.5, status, error=error)


def test_write_back_touches_only_measured_cells_of_kr_rows():
    reg = parse_register(RegisterRows("OKRs", ROWS), decimal=",")
    now = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
    results = {"rev": result("rev", 250000.0, 0.25, 0.25, "off_track"), "nps": result("nps", 38.0, 0.8, 0.8, "at_risk"),
               "otd": result("otd", 91.5, 0.7667, 0.77, "on_track"), "churn": result("churn", None, None, None, "no_data", "boom")}
    data = writeback_ranges(reg, results, now)
    assert [d["range"] for d in data] == ["'OKRs'!O2:O6", "'OKRs'!P2:P6", "'OKRs'!Q2:Q6", "'OKRs'!R2:R6", "'OKRs'!S2:S6"]
    assert data[0]["values"] == [[250000.0], [38.0], [None], [91.5], [""]]  # row 4 is blank: null leaves it alone
    assert data[3]["values"] == [["off_track"], ["at_risk"], [None], ["on_track"], ["no_data (source failed)"]]
    assert data[4]["values"] == [["2026-11-15 12:00"], ["2026-11-15 12:00"], [None], ["2026-11-15 12:00"], ["2026-11-15 12:00"]]


def test_write_back_is_skipped_when_the_sheet_already_shows_the_values():
    now = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
    rows = [HEADER, ["o", "O", "", "", "k", "K", "", "increase", 0, 10, "", "", "", "", 5, 0.5, 0.5, "on_track", "2026-11-15 12:00"]]
    reg = parse_register(RegisterRows("OKRs", rows))
    assert writeback_ranges(reg, {"k": result("k", 5.0, 0.5, 0.5, "on_track")}, now) == []
    assert writeback_ranges(reg, {"k": result("k", 6.0, 0.6, 0.6, "on_track")}, now) != []


def test_missing_measured_columns_are_added_after_the_last_header():
    rows = [["Objective id", "Objective", "KR id", "Key result", "Target", "Type", "Notes"], ["o", "O", "k", "K", 1, "milestone", "n"]]
    reg = parse_register(RegisterRows("OKRs", rows))
    data = writeback_ranges(reg, {"k": result("k", 1.0, 1.0, 1.0, "done")}, datetime(2026, 11, 15, 12, 0))
    headers = {d["range"]: d["values"] for d in data if d["range"].endswith("1")}
    assert headers == {"'OKRs'!H1": [["Current"]], "'OKRs'!I1": [["Progress"]], "'OKRs'!J1": [["Score"]],
                       "'OKRs'!K1": [["Status"]], "'OKRs'!L1": [["Last synced"]]}


# ---- reading the register tab: one spreadsheets.get, values as values:batchGet gave them ------------

KEY_REG = "1Register000000000000000000000000000000000RR"


def register_client():
    from google.oauth2.credentials import Credentials

    from connectors.sheets_client import BoundedRetryHTTPClient, RateLimiter, SheetsClient
    return SheetsClient(BoundedRetryHTTPClient(Credentials(token="x"), limiter=RateLimiter(), sleep=lambda s: None),
                        "okr-sync@acme-okrs.iam.gserviceaccount.com")


def read(worksheet: str, client=None):
    from connectors.base import Context
    from connectors.sheets_register import read_register
    from mapping.register import RegisterConfig

    okrs = RegisterConfig.model_validate({"from": "sheets", "spreadsheet": KEY_REG, "worksheet": worksheet})
    return read_register(okrs, Context(env={}), client or register_client())


def test_the_register_is_read_with_one_get_and_its_values_are_those_batch_get_gave(sheets_fake):
    from fakes.sheets_fake import CellError
    tab = [
        ["KR id", "Target", "Due", "Committed", "Current", "Notes", "", ""],
        ["rev", 1000000, 46357, True, CellError("#N/A"), "=not a formula"],   # 46357 = 2026-12-01 as a serial number
        ["nps", 40.5, 46357.75, False, "", "", "", "late note"],              # blank cells in the middle
        [],                                                                  # a blank row in the middle
        ["otd", "95", "", "", CellError("#DIV/0!"), "", "", ""],             # trailing blanks
        [], [],                                                              # trailing blank rows
    ]
    sheets_fake.add_spreadsheet(KEY_REG, "OKR register", {"Other": [["x"]], "Q4 'OKRs'": tab})
    sheets_fake.tab(KEY_REG, "Q4 'OKRs'").formulas[(4, 7)] = "=NOW()"  # a formula the fake does not compute: empty
    rows, client = read("Q4 'OKRs'")
    expected = [  # by hand: what values:batchGet (UNFORMATTED_VALUE, SERIAL_NUMBER) answers for that tab
        ["KR id", "Target", "Due", "Committed", "Current", "Notes"],
        ["rev", 1000000, 46357, True, "#N/A", "=not a formula"],
        ["nps", 40.5, 46357.75, False, "", "", "", "late note"],
        [],
        ["otd", "95", "", "", "#DIV/0!"],
    ]
    assert rows.rows == expected and rows.worksheet == "Q4 'OKRs'"
    assert [type(v) for v in rows.rows[1][1:4]] == [int, int, bool] and type(rows.rows[2][1]) is float
    assert sheets_fake.count("metadata", KEY_REG) == 1 and sheets_fake.count(key=KEY_REG) == 1  # one read, nothing else
    assert client.grids[(KEY_REG, "Q4 'OKRs'")] == (1000, 26) and client.sheet_ids[(KEY_REG, "Q4 'OKRs'")] == 1001
    old = client.batch_get(KEY_REG, ["'Q4 ''OKRs'''"])[0]["values"]  # the previous read, for comparison
    assert old == expected


def test_an_empty_register_tab_reads_as_no_rows(sheets_fake):
    sheets_fake.add_spreadsheet(KEY_REG, "OKR register", {"OKRs": []}, rows=5, cols=3)
    rows, client = read("OKRs")
    assert rows.rows == [] and client.grids[(KEY_REG, "OKRs")] == (5, 3)


def test_a_missing_register_tab_is_a_register_error_of_one_line(sheets_fake):
    from connectors.sheets_register import RegisterError

    sheets_fake.add_spreadsheet(KEY_REG, "OKR register", {"KRs": [["x"]]})
    with pytest.raises(RegisterError) as info:
        read("OKRs")
    assert str(info.value) == (f"register tab 'OKRs': spreadsheet {KEY_REG}: Unable to parse range: 'OKRs' (HTTP 400) "
                               "while reading values")
    assert info.value.exit_code == 3 and "\n" not in str(info.value)
