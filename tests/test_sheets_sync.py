"""A whole sync with Google Sheets sources and the Sheets summary output, against the stateful fake.

200 KRs read from 2 spreadsheets and published to 1: exact request counts, sheet contents computed by
hand from the fixture data, formula-looking text kept as text, an identical second sync changing
nothing, rows of removed KRs cleared.
"""
from __future__ import annotations

import json
import re
from datetime import datetime, timezone

import pytest
from openpyxl import load_workbook

from connectors.sheets_sink import layout_signature, rgb
from fakes.sheets_fake import SheetsFake, service_account_info
from flows.pipeline import run_sync
from mapping.loader import load_config
from mapping.labels import STATUS_FILLS
from mapping.report import SUMMARY_COLUMNS

KEY_A = "1Finance0000000000000000000000000000000000AA"
KEY_B = "1Survey00000000000000000000000000000000000BB"
KEY_OUT = "1Summary000000000000000000000000000000000CC"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
EVIL = '=IMPORTXML("https://evil.example/x","//a")'


@pytest.fixture(scope="module")
def key_json() -> str:
    return json.dumps(service_account_info())


@pytest.fixture
def fake(sheets_fake):
    finance = [["team", "month", "revenue"]]
    for i in range(100):
        finance += [[f"t{i}", 46336, i], [f"t{i}", 46340, 2 * i]]  # team t{i}: revenue i + 2i = 3i in November
    sheets_fake.add_spreadsheet(KEY_A, "Finance", {"Finance": finance})
    kpis = [[f"kpi {i}", i + 0.5] for i in range(100)]
    kpis[99][1] = EVIL  # a source cell holding formula-looking text
    sheets_fake.add_spreadsheet(KEY_B, "Survey", {"KPIs": kpis})
    sheets_fake.add_spreadsheet(KEY_OUT, "OKR summary")
    return sheets_fake


def write_okrs(tmp_path, n_a: int = 100, n_b: int = 100, xlsx: bool = True) -> str:
    lines = [
        "period: 2026-Q4",
        "history: sqlite:///history.db",
        "sources:",
        f"  fin: {{kind: sheets, spreadsheet: 'https://docs.google.com/spreadsheets/d/{KEY_A}/edit', credentials_env: SA_KEY}}",
        f"  kpis: {{kind: sheets, spreadsheet: {KEY_B}, credentials_env: SA_KEY}}",
        "objectives:",
    ]
    krs = [("a", i) for i in range(n_a)] + [("b", i) for i in range(n_b)]
    for o in range(0, len(krs), 20):
        lines += [f"  - id: o{o // 20}", f"    title: Objective {o // 20}", "    key_results:"]
        for kind, i in krs[o:o + 20]:
            title = EVIL if (kind, i) == ("a", 0) else f"KR {kind}{i}"
            lines += [f"      - id: {kind}{i}", f"        title: '{title}'" if "'" not in title else f'        title: "{title}"']
            if kind == "a":
                lines += ["        baseline: 0", "        target: 300", "        owner: '+1 555 0100'" if i == 0 else "        owner: Finance",
                          "        metric: {source: fin, worksheet: Finance, column: revenue, agg: sum, where: {team: t%d}, date_column: month}" % i]
            else:
                lines += ["        baseline: 0", "        target: 200", "        unit: '@'" if i == 0 else "        unit: pts",
                          f"        metric: {{source: kpis, cell: \"'KPIs'!B{i + 1}\"}}"]
    lines += ["outputs:", f"  - {{kind: sheets, spreadsheet: {KEY_OUT}, credentials_env: SA_KEY}}"]
    if xlsx:
        lines += ["  - {kind: xlsx, path: out/summary.xlsx}"]
    path = tmp_path / "okrs.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def sync(path: str, key_json: str, now: datetime = NOW):
    config = load_config(path, env={"SA_KEY": key_json})
    return run_sync(config, now, env={"SA_KEY": key_json})


def counts(fake: SheetsFake) -> dict[str, int]:
    return {kind: fake.count(kind) for kind in ("metadata", "batchGet", "values.batchUpdate", "batchUpdate") if fake.count(kind)}


def sheet_ids(request: dict) -> set[int]:
    """Every sheetId a formatting request names."""
    return {int(n) for n in re.findall(r'"sheetId": (\d+)', json.dumps(request))}


def test_a_sync_of_200_krs_sends_one_read_per_source_spreadsheet_and_one_write(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path), key_json)
    assert fake.count("batchGet", KEY_A) == 1 and fake.count("batchGet", KEY_B) == 1
    assert fake.count(key=KEY_A) == 1 and fake.count(key=KEY_B) == 1  # values need no metadata read
    assert counts(fake) == {"metadata": 1, "batchGet": 2, "values.batchUpdate": 1, "batchUpdate": 1}  # first sync formats once
    assert fake.token_requests == 1

    sync(write_okrs(tmp_path), key_json)  # second sync: same layout, no formatting request
    assert counts(fake) == {"metadata": 2, "batchGet": 4, "values.batchUpdate": 2, "batchUpdate": 1}


def test_summary_tab_holds_one_row_per_kr_with_the_values_computed_from_the_sheets(fake, tmp_path, key_json):
    outcome = sync(write_okrs(tmp_path), key_json)
    rows = fake.values(KEY_OUT, "Summary")
    assert rows[0] == [column.name for column in SUMMARY_COLUMNS]
    assert len(rows) == 201
    by_id = {row[1]: dict(zip(rows[0], row + [""] * (len(rows[0]) - len(row)))) for row in rows[1:]}
    # KR a7: revenue of team t7 in November = 7 + 14 = 21; progress 21 / 300
    assert by_id["a7"]["Current"] == 21 and by_id["a7"]["Progress"] == pytest.approx(0.07) and by_id["a7"]["Score"] == 0.07
    # KR b41: cell B42 = 41.5; progress 41.5 / 200 = 0.2075, score rounded to 0.21
    assert by_id["b41"]["Current"] == 41.5 and by_id["b41"]["Progress"] == pytest.approx(0.2075) and by_id["b41"]["Score"] == 0.21
    # expected progress on 2026-11-15 12:00 = 45.5 / 92 days
    assert by_id["b41"]["Expected"] == pytest.approx(45.5 / 92, abs=1e-4)
    # 2026-11-15 12:00 as a Sheets serial number: 46341 days after 1899-12-30, plus half a day
    assert by_id["b41"]["Last updated"] == pytest.approx(46341.5)
    assert by_id["b41"]["Committed"] is False and by_id["b41"]["Status"] == outcome.results["b41"].status
    assert by_id["b99"]["Error"].startswith("source 'kpis' cell 'KPIs'!B100") and EVIL in by_id["b99"]["Error"]
    assert by_id["b99"]["Current"] == "" and by_id["b99"]["Status"] == "no_data"


def test_formula_looking_text_is_written_raw_and_stays_text(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path), key_json)
    writes = [body for kind, body in fake.bodies if kind == "values.batchUpdate"]
    assert [w["valueInputOption"] for w in writes] == ["RAW"]
    summary = fake.tab(KEY_OUT, "Summary")
    header = fake.values(KEY_OUT, "Summary")[0]
    row = next(r for (r, c), v in summary.cells.items() if v == "a0")
    assert summary.cells[(row, header.index("Key result"))] == EVIL
    assert summary.cells[(row, header.index("Owner"))] == "+1 555 0100"
    b0 = next(r for (r, c), v in summary.cells.items() if v == "b0")
    assert summary.cells[(b0, header.index("Unit"))] == "@"
    assert summary.formulas == {}
    for title in ("Objectives", "History"):
        history_formulas = fake.tab(KEY_OUT, title).formulas
        assert all(f.startswith('=IF(COUNT(') for f in history_formulas.values())  # only okr-sync's own sparklines
    history = fake.tab(KEY_OUT, "History")
    assert any(v == EVIL for v in history.cells.values())  # the title, as text


def test_history_tab_has_a_sparkline_per_row_over_the_series_columns(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path), key_json, datetime(2026, 11, 14, 12, 0, tzinfo=timezone.utc))
    sync(write_okrs(tmp_path), key_json)
    history = fake.tab(KEY_OUT, "History")
    rows = fake.values(KEY_OUT, "History")
    assert rows[0][:5] == ["KR id", "Key result", "Unit", "Trend", "Latest"]
    assert rows[0][5:] == ["2026-11-14", "2026-11-15"]  # from the first recorded day, newest last
    assert history.cols == 5 + 12  # room for history_points = 12 days: the 10 not recorded yet are blank
    a7 = next(r for r in rows if r[0] == "a7")
    assert a7[4:] == [21, 21, 21]  # latest, then the days
    trend = rows[0].index("Trend")
    assert history.formulas[(1, trend)] == '=IF(COUNT(F2:Q2)=0,"",SPARKLINE(F2:Q2))'  # over all 12 day columns
    number_cols = {f["repeatCell"]["range"]["startColumnIndex"] for f in history.formats
                   if "repeatCell" in f and "numberFormat" in f["repeatCell"]["cell"].get("userEnteredFormat", {})}
    assert number_cols == set(range(4, 17))  # Latest and every day column, the blank ones too
    assert fake.count("batchUpdate") == 1  # a new day does not change the layout
    assert sorted(r for r, c in history.formulas) == list(range(1, history.rows))  # one per data row, none in the header
    assert all(c == trend for r, c in history.formulas)


def test_formatting_freezes_the_header_and_colours_statuses(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path), key_json)
    summary = fake.tab(KEY_OUT, "Summary")
    assert summary.frozen_rows == 1 and summary.rows == 201 and summary.cols == len(SUMMARY_COLUMNS)
    status_col = [c.name for c in SUMMARY_COLUMNS].index("Status")
    rules = summary.conditional
    assert [r["booleanRule"]["condition"]["values"][0]["userEnteredValue"] for r in rules] == list(STATUS_FILLS)
    assert [r["booleanRule"]["format"]["backgroundColor"] for r in rules] == [rgb(STATUS_FILLS[k]) for k in STATUS_FILLS]
    assert all(r["ranges"][0]["startColumnIndex"] == status_col for r in rules)
    percent_cols = {f["repeatCell"]["range"]["startColumnIndex"] for f in summary.formats
                    if "repeatCell" in f and f["repeatCell"]["cell"]["userEnteredFormat"].get("numberFormat", {}).get("type") == "PERCENT"}
    assert percent_cols == {i for i, c in enumerate(SUMMARY_COLUMNS) if c.kind == "percent"}
    assert [m["metadataValue"] for m in summary.metadata] == [layout_signature_of("Summary", fake)]


def layout_signature_of(title: str, fake: SheetsFake) -> str:
    from mapping.report import Table
    return layout_signature(Table(title, SUMMARY_COLUMNS))


def test_a_second_identical_sync_changes_nothing(fake, tmp_path, key_json):
    path = write_okrs(tmp_path)
    sync(path, key_json)
    first = fake.snapshot(KEY_OUT)
    sync(path, key_json)
    assert fake.snapshot(KEY_OUT) == first


def test_rows_of_removed_krs_are_cleared_and_keep_no_sparkline_formula(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path), key_json)
    sync(write_okrs(tmp_path, n_b=50), key_json)
    # Summary and Objectives: the grid is big enough, their rows are cleared by the values write; History holds
    # formulas the RAW write cannot clear, so its grid is cut to its rows (one small batchUpdate, no re-formatting)
    assert fake.count("batchUpdate") == 2
    dashboard = fake.tab(KEY_OUT, "Dashboard").sheet_id  # fewer KRs also move the Dashboard's rows: re-laid out
    cut = [r for r in [body for kind, body in fake.bodies if kind == "batchUpdate"][-1]["requests"] if dashboard not in sheet_ids(r) and "deleteDeveloperMetadata" not in r]
    assert cut == [{"updateSheetProperties": {"properties": {"sheetId": fake.tab(KEY_OUT, "History").sheet_id, "gridProperties": {"rowCount": 151}},
                                              "fields": "gridProperties/rowCount"}}]
    rows = fake.values(KEY_OUT, "Summary")
    assert len(rows) == 151 and {r[1] for r in rows[1:]} == {f"a{i}" for i in range(100)} | {f"b{i}" for i in range(50)}
    assert fake.tab(KEY_OUT, "Summary").rows == 201  # cleared, not cut
    history = fake.values(KEY_OUT, "History")
    assert len(history) == 151 and {r[0] for r in history[1:151]} == {r[1] for r in rows[1:]}
    assert sorted(r for r, c in fake.tab(KEY_OUT, "History").formulas) == list(range(1, 151))  # no formula on a removed KR's row
    assert len(fake.values(KEY_OUT, "Objectives")) == 1 + 8


def test_more_krs_than_rows_grows_the_tab_with_one_formatting_request(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path, n_b=50), key_json)
    sync(write_okrs(tmp_path), key_json)
    assert fake.count("batchUpdate") == 2 and fake.tab(KEY_OUT, "Summary").rows == 201
    assert len(fake.values(KEY_OUT, "Summary")) == 201
    assert len(fake.tab(KEY_OUT, "Summary").conditional) == len(STATUS_FILLS)  # old rules replaced, not duplicated


def test_workbook_and_google_sheet_come_from_the_same_tables(fake, tmp_path, key_json):
    sync(write_okrs(tmp_path), key_json)
    book = load_workbook(tmp_path / "out" / "summary.xlsx")
    for title in ("Summary", "Objectives", "History"):
        sheet_rows = fake.values(KEY_OUT, title)
        xlsx_rows = [[("" if v is None else v) for v in row] for row in book[title].iter_rows(values_only=True)]
        assert len(xlsx_rows) == len(sheet_rows)
        assert [r[0] for r in xlsx_rows] == [r[0] if r else "" for r in sheet_rows]
    summary_xlsx = list(book["Summary"].iter_rows(values_only=True))
    summary_sheet = fake.values(KEY_OUT, "Summary")
    current = summary_sheet[0].index("Current")
    assert [r[current] if r[current] is not None else "" for r in summary_xlsx[1:]] == [
        (r[current] if len(r) > current else "") for r in summary_sheet[1:]]


def test_summary_spreadsheet_not_shared_is_one_clear_error(fake, tmp_path, key_json):
    from connectors.xlsx import OutputError
    fake.books[KEY_OUT].access = "forbidden"
    with pytest.raises(OutputError) as info:
        sync(write_okrs(tmp_path, xlsx=False), key_json)
    message = str(info.value)
    assert "403" in message and json.loads(key_json)["client_email"] in message and "share" in message


def test_the_cli_run_writes_the_sheet_and_a_403_is_one_line_with_exit_code_3(fake, tmp_path, key_json):
    from typer.testing import CliRunner

    from flows.cli import app
    path = write_okrs(tmp_path, n_a=10, n_b=10, xlsx=False)  # b0..b9 read B1..B10: all numbers
    env = {"PREFECT_API_URL": "", "SA_KEY": key_json}
    result = CliRunner().invoke(app, ["run", path], env=env)
    assert result.exit_code == 0, result.output
    assert f"wrote https://docs.google.com/spreadsheets/d/{KEY_OUT}" in result.output
    assert len(fake.values(KEY_OUT, "Summary")) == 21
    fake.books[KEY_OUT].access = "forbidden"
    result = CliRunner().invoke(app, ["run", path], env=env)
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert "error: sheets output" in result.output and "403" in result.output
