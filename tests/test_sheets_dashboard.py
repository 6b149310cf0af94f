"""The Dashboard tab of the Google summary spreadsheet (issue 12), against the stateful Sheets fake.

It comes first, says in words and colours how every objective and KR stands, and costs no request of
its own: the first sync lays it out in the one formatting batchUpdate, a daily sync only rewrites its
values in the one RAW values write; fewer KRs re-lay it out on a grid cut to size.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from pydantic import ValidationError

from connectors.sheets_dashboard import KR_HEADER, OBJECTIVE_HEADER, WIDTH, WIDTHS, bar_formula
from connectors.sheets_sink import rgb
from fakes.sheets_fake import SheetsFake
from flows.pipeline import run_sync
from mapping.labels import STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER
from mapping.loader import load_config
from mapping.sources.sheets import SheetsOutput

KEY_KPI = "1Survey00000000000000000000000000000000000BB"
KEY_OUT = "1Summary000000000000000000000000000000000CC"
DAY1 = datetime(2026, 11, 14, 12, 0, tzinfo=timezone.utc)
DAY2 = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
EVIL = '=IMPORTXML("http://x","//a")'
KR_TITLES = {"rev": "Revenue 1M", "nps": "NPS 40+", "churn": "Churn at most 2%", "evil": EVIL, "pilots": "Pilot customers"}


@pytest.fixture
def env(sheets_env):
    return sheets_env


@pytest.fixture
def fake(sheets_fake):
    sheets_fake.add_spreadsheet(KEY_KPI, "KPIs", {"KPIs": [["rev", 250000], ["nps", 38], ["churn", 2.5], ["evil", 5], ["pilots", 1]]})
    sheets_fake.add_spreadsheet(KEY_OUT, "OKR summary")  # a new spreadsheet: one tab "Sheet1"
    return sheets_fake


def dashboard_config(write_config, krs: tuple[str, ...] = ("rev", "nps", "churn", "evil", "pilots"), extra: str = "") -> str:
    """Two objectives: `sales` (company) and `product` (team) aligned to the KR `rev`; KRs spread over both."""
    specs = {
        "rev": ("sales", "{id: rev, title: %s, owner: Ann, baseline: 0, target: 1000000, unit: EUR, metric: {source: kpis, cell: \"'KPIs'!B1\"}}"),
        "nps": ("sales", "{id: nps, title: %s, owner: Bob, type: at_least, baseline: 30, target: 40, unit: pts, metric: {source: kpis, cell: \"'KPIs'!B2\"}}"),
        "churn": ("product", "{id: churn, title: %s, type: at_most, baseline: 4, target: 2, unit: '%%', metric: {source: kpis, cell: \"'KPIs'!B3\"}}"),
        "evil": ("product", "{id: evil, title: %s, baseline: 0, target: 10, metric: {source: kpis, cell: \"'KPIs'!B4\"}}"),
        "pilots": ("product", "{id: pilots, title: %s, baseline: 0, target: 4, metric: {source: kpis, cell: \"'KPIs'!B5\"}}"),
    }
    lines = ["period: 2026-Q4", "history: sqlite:///history.db", "sources:",
             f"  kpis: {{kind: sheets, spreadsheet: {KEY_KPI}, credentials_env: SA_KEY}}", "objectives:",
             "  - {id: sales, title: Grow revenue, level: company, owner: CEO, key_results: ["
             + ", ".join(specs[k][1] % json.dumps(KR_TITLES[k]) for k in krs if specs[k][0] == "sales") + "]}",
             "  - {id: product, title: Better product, level: team, owner: Cleo, aligns_to: rev, key_results: ["
             + ", ".join(specs[k][1] % json.dumps(KR_TITLES[k]) for k in krs if specs[k][0] == "product") + "]}",
             "outputs:", f"  - {{kind: sheets, spreadsheet: {KEY_OUT}, credentials_env: SA_KEY{extra}}}"]
    return str(write_config("\n".join(lines) + "\n"))


def sync(path: str, env: dict, now: datetime = DAY2):
    return run_sync(load_config(path, env=env), now, env=env)


def requests_out(fake: SheetsFake) -> dict[str, int]:
    return {kind: fake.count(kind, KEY_OUT) for kind in ("metadata", "batchUpdate", "values.batchUpdate") if fake.count(kind, KEY_OUT)}


def cells(fake: SheetsFake, tab: str = "Dashboard") -> list[list]:
    """The tab's values padded to its width (formulas shown as their text)."""
    return [row + [""] * (WIDTH - len(row)) for row in fake.values(KEY_OUT, tab)]


def kr_rows(fake: SheetsFake) -> dict[str, dict]:
    rows = cells(fake)
    header = rows.index(KR_HEADER)
    return {row[0]: dict(zip(KR_HEADER, row)) for row in rows[header + 1:]}


def test_the_dashboard_is_the_first_tab_with_title_counts_objectives_and_one_row_per_kr(fake, write_config, env):
    outcome = sync(dashboard_config(write_config), env)
    dashboard = outcome.dashboard
    tab = fake.tab(KEY_OUT, "Dashboard")
    assert tab.index == 0 and [t.title for t in fake.books[KEY_OUT].tabs] == ["Dashboard", "Sheet1", "Summary", "Objectives", "History"]
    assert tab.frozen_rows == 3 and tab.cols == WIDTH
    rows = cells(fake)
    assert rows[0][0] == dashboard.title and "2026-Q4" in rows[0][0]
    assert rows[1][0] == dashboard.subtitle and "as of 2026-11-15 12:00" in rows[1][0]
    assert rows[2][:4] == ["Overall score", dashboard.overall_score, bar_formula("B3"), STATUS_LABELS[dashboard.overall_status]]
    # counts per status, every status in order, zeros included
    assert rows[4][1:7] == [STATUS_LABELS[k] for k in STATUS_ORDER]
    assert rows[5][:7] == ["5 key results"] + [c.count for c in dashboard.counts] and sum(rows[5][1:7]) == 5
    # the alignment tree: the team objective under the company KR it supports, indented, with its score
    assert rows[7][:len(OBJECTIVE_HEADER)] == OBJECTIVE_HEADER
    assert [r[0] for r in rows[8:10]] == ["Grow revenue", "    └ Better product"]
    sales = outcome.objectives[0]
    assert rows[8][1:6] == ["Company", STATUS_LABELS[sales.status], f"{sales.measured}/{sales.total}", "CEO", sales.score]
    assert rows[8][6] == bar_formula("F9") and rows[9][6] == bar_formula("F10")
    assert rows[10] == [""] * WIDTH and rows[11] == KR_HEADER
    # one row per KR, in tree order, with the words a manager reads
    krs = kr_rows(fake)
    assert list(krs) == ["Revenue 1M", "NPS 40+", "Churn at most 2%", EVIL, "Pilot customers"] and tab.rows == 12 + 5
    rev, nps, churn = krs["Revenue 1M"], krs["NPS 40+"], krs["Churn at most 2%"]
    assert (rev["Objective"], rev["Owner"], rev["Current"], rev["Target"]) == ("Grow revenue", "Ann", "250,000 EUR", "1,000,000 EUR")
    assert rev["Progress"] == pytest.approx(0.25) and rev["Status"] == STATUS_LABELS[outcome.results["rev"].status]
    assert (nps["Current"], nps["Target"], nps["Owner"]) == ("38 pts", "≥ 40 pts", "Bob")
    assert (churn["Current"], churn["Target"], churn["Owner"]) == ("2.50%", "≤ 2%", "Cleo")  # owner from the objective
    assert all(row["Status"] in STATUS_LABELS.values() for row in krs.values())
    assert rev["Source"] == "kpis" and rev["Last update"] == pytest.approx(46341.5)  # 2026-11-15 12:00 as a serial number
    assert rev["Change"] == ""  # nothing recorded before today


def test_status_labels_are_coloured_by_conditional_formats_and_the_layout_is_formatted(fake, write_config, env):
    sync(dashboard_config(write_config), env)
    tab = fake.tab(KEY_OUT, "Dashboard")
    rules = tab.conditional
    assert [r["booleanRule"]["condition"] for r in rules] == [
        {"type": "TEXT_EQ", "values": [{"userEnteredValue": STATUS_LABELS[k]}]} for k in STATUS_ORDER]
    assert [r["booleanRule"]["format"] for r in rules] == [
        {"backgroundColor": rgb(STATUS_FILLS[k]), "textFormat": {"bold": True, "foregroundColor": rgb(STATUS_INKS[k])}} for k in STATUS_ORDER]
    spans = [(g["startRowIndex"], g["endRowIndex"], g["startColumnIndex"], g["endColumnIndex"]) for g in rules[0]["ranges"]]
    assert spans == [(2, 3, 3, 4), (8, 10, 2, 3), (12, 17, 2, 3)]  # overall status, objectives' and KRs' Status column
    assert all(r["ranges"] == rules[0]["ranges"] for r in rules)
    widths = [f["updateDimensionProperties"] for f in tab.formats if "updateDimensionProperties" in f]
    assert [(w["range"]["startIndex"], w["properties"]["pixelSize"]) for w in widths] == list(enumerate(WIDTHS))
    number = {(f["repeatCell"]["range"]["startRowIndex"], f["repeatCell"]["range"]["startColumnIndex"]):
              f["repeatCell"]["cell"]["userEnteredFormat"]["numberFormat"]["type"]
              for f in tab.formats if "numberFormat" in f.get("repeatCell", {}).get("cell", {}).get("userEnteredFormat", {})}
    assert number[(2, 1)] == "NUMBER" and number[(8, 5)] == "NUMBER" and number[(12, 5)] == "PERCENT" and number[(12, 11)] == "DATE_TIME"
    assert all(number[(4, c)] == "NUMBER" for c in range(1, 7))  # the counts
    counts = [f["repeatCell"] for f in tab.formats if f.get("repeatCell", {}).get("range", {}).get("startRowIndex") == 4
              and f["repeatCell"]["range"]["startColumnIndex"] >= 1]
    assert [c["cell"]["userEnteredFormat"]["backgroundColor"] for c in counts] == [rgb(STATUS_FILLS[k]) for k in STATUS_ORDER]


def test_formulas_are_okr_syncs_own_bars_and_trends_over_the_history_rows(fake, write_config, env):
    sync(dashboard_config(write_config), env, DAY1)
    sync(dashboard_config(write_config), env)
    tab = fake.tab(KEY_OUT, "Dashboard")
    history = fake.values(KEY_OUT, "History")
    row_of = {row[0]: r for r, row in enumerate(history, start=1) if r > 1}
    ids = ["rev", "nps", "churn", "evil", "pilots"]
    expected = {(2, 2): bar_formula("B3"), (8, 6): bar_formula("F9"), (9, 6): bar_formula("F10")}
    for i, kr_id in enumerate(ids):
        r = 12 + i  # 0-based row of the KR on the dashboard
        expected[(r, 6)] = bar_formula(f"F{r + 1}")
        cells_ = f"'History'!F{row_of[kr_id]}:Q{row_of[kr_id]}"  # the KR's 12 day columns on History
        expected[(r, 9)] = f'=IF(COUNT({cells_})=0,"",SPARKLINE({cells_}))'
    assert tab.formulas == expected
    assert bar_formula("F13") == '=IF(ISNUMBER(F13),SPARKLINE(MAX(0,MIN(1,F13)),{"charttype","bar";"max",1}),"")'
    assert not any("IMPORTXML" in f for f in tab.formulas.values())
    # the values write leaves every formula cell alone (JSON null) and writes all others
    write = [body for kind, body in fake.bodies if kind == "values.batchUpdate"][-1]
    grid = next(d for d in write["data"] if d["range"].startswith("'Dashboard'!"))
    assert grid["range"] == f"'Dashboard'!A1:M{tab.rows}"
    assert {(r, c) for r, row in enumerate(grid["values"]) for c, v in enumerate(row) if v is None} == set(expected)
    # change since the last recorded day, in the KR's unit
    krs = kr_rows(fake)
    assert krs["Revenue 1M"]["Change"] == "±0 EUR" and krs["NPS 40+"]["Change"] == "±0 pts"


def test_request_counts_first_and_steady_sync(fake, write_config, env):
    path = dashboard_config(write_config)
    sync(path, env, DAY1)
    assert requests_out(fake) == {"metadata": 1, "batchUpdate": 1, "values.batchUpdate": 1}  # the dashboard costs no request
    fake.books[KEY_KPI].tab("KPIs").cells[(1, 1)] = 39  # NPS moves; a new day on History
    sync(path, env)
    assert requests_out(fake) == {"metadata": 2, "batchUpdate": 1, "values.batchUpdate": 2}  # steady: no formatting
    krs = kr_rows(fake)
    assert krs["NPS 40+"]["Current"] == "39 pts" and krs["NPS 40+"]["Change"] == "+1 pts"
    assert "as of 2026-11-15 12:00" in cells(fake)[1][0]
    snapshot = fake.snapshot(KEY_OUT)
    sync(path, env)  # the same day again: nothing changes, still two requests
    assert requests_out(fake) == {"metadata": 3, "batchUpdate": 1, "values.batchUpdate": 3}
    assert fake.snapshot(KEY_OUT) == snapshot


def test_a_formula_looking_kr_title_stays_text(fake, write_config, env):
    sync(dashboard_config(write_config), env)
    tab = fake.tab(KEY_OUT, "Dashboard")
    assert EVIL in tab.cells.values() and EVIL in kr_rows(fake)
    assert all(not str(v).startswith("=") or v == EVIL for v in tab.cells.values())
    assert [body["valueInputOption"] for kind, body in fake.bodies if kind == "values.batchUpdate"] == ["RAW"]
    assert all("IMPORTXML" not in f for t in fake.books[KEY_OUT].tabs for f in t.formulas.values())


def test_fewer_krs_leave_no_stale_rows_formulas_or_colours(fake, write_config, env):
    sync(dashboard_config(write_config), env, DAY1)
    sync(dashboard_config(write_config, ("rev", "churn")), env)  # three KRs removed
    tab = fake.tab(KEY_OUT, "Dashboard")
    assert requests_out(fake) == {"metadata": 2, "batchUpdate": 2, "values.batchUpdate": 2}  # a layout change: one formatting request
    assert tab.rows == 12 + 2 and tab.index == 0
    assert list(kr_rows(fake)) == ["Revenue 1M", "Churn at most 2%"]
    assert max(r for r, _ in tab.formulas) == 13 and max(r for r, _ in tab.cells) <= 13
    assert sorted(tab.formulas) == [(2, 2), (8, 6), (9, 6), (12, 6), (12, 9), (13, 6), (13, 9)]
    assert len(tab.conditional) == len(STATUS_ORDER)  # replaced, not added to
    assert tab.conditional[0]["ranges"][-1] == {"sheetId": tab.sheet_id, "startRowIndex": 12, "endRowIndex": 14,
                                                "startColumnIndex": 2, "endColumnIndex": 3}
    assert len([m for m in tab.metadata if m["metadataKey"] == "okr-sync-layout"]) == 1
    sync(dashboard_config(write_config, ("rev", "churn")), env)  # steady again
    assert requests_out(fake) == {"metadata": 3, "batchUpdate": 2, "values.batchUpdate": 3}


def test_a_dashboard_moved_by_hand_goes_back_to_the_front_with_one_small_request(fake, write_config, env):
    path = dashboard_config(write_config, extra=", dashboard_tab: 'At a glance'")
    sync(path, env)
    book = fake.books[KEY_OUT]
    assert book.tabs[0].title == "At a glance" and "Dashboard" not in [t.title for t in book.tabs]
    tab = book.tabs.pop(0)
    book.tabs.append(tab)  # dragged to the end in the browser
    for i, t in enumerate(book.tabs):
        t.index = i
    sync(path, env)
    assert book.tabs[0].title == "At a glance"
    moved = [body for kind, body in fake.bodies if kind == "batchUpdate"][-1]
    assert moved == {"requests": [{"updateSheetProperties": {"properties": {"sheetId": tab.sheet_id, "index": 0}, "fields": "index"}}]}


def test_dashboard_tab_is_configurable_and_must_differ_from_the_other_tabs():
    key = "1Summary000000000000000000000000000000000CC"
    assert SheetsOutput(kind="sheets", spreadsheet=key).dashboard_tab == "Dashboard"
    with pytest.raises(ValidationError, match="dashboard_tab, summary_tab, objectives_tab and history_tab must differ"):
        SheetsOutput(kind="sheets", spreadsheet=key, dashboard_tab="Summary")


def test_a_stale_kr_reads_stale_with_since_when_and_why(fake, write_config, env):
    path = dashboard_config(write_config)
    sync(path, env, DAY1)
    fake.books[KEY_KPI].tab("KPIs").cells[(1, 1)] = "n/a"  # NPS cannot be read today
    outcome = sync(path, env)
    nps = kr_rows(fake)["NPS 40+"]
    line = next(kr for kr in outcome.dashboard.krs if kr.kr_id == "nps")
    assert nps["Status"] == line.status_label == "Stale" and nps["Current"] == "38 pts"  # the last good value
    assert nps["Note"] == f"Stale since 2026-11-15 12:00: {line.stale_reason}" and "'n/a' is not a number" in line.stale_reason
    counts = cells(fake)[5][1:7]
    assert counts == [c.count for c in outcome.dashboard.counts]
    assert requests_out(fake) == {"metadata": 2, "batchUpdate": 1, "values.batchUpdate": 2}  # statuses change values only


def test_without_a_history_tab_the_trend_is_written_as_text(fake, write_config, env):
    from connectors.sheets_sink import SheetsSink
    outcome = sync(dashboard_config(write_config), env)
    sink = SheetsSink(SheetsOutput(kind="sheets", spreadsheet=KEY_OUT), context=None)  # type: ignore[arg-type]
    summary = [t for t in outcome.tables if t.name == "Summary"]
    formatting, grids = sink.plan(summary, {"sheets": []}, outcome.dashboard)
    data = sink.value_ranges(summary, grids, outcome.dashboard)
    grid = next(d for d in data if d["range"].startswith("'Dashboard'!"))["values"]
    trend = KR_HEADER.index("Trend")
    assert [row[trend] for row in grid[12:]] == ["▄"] * 5  # one recorded day each: a flat text sparkline
    formulas = [f["updateCells"]["rows"][0]["values"][0]["userEnteredValue"]["formulaValue"] for f in formatting if "updateCells" in f]
    assert formulas and not any("History" in f for f in formulas)
