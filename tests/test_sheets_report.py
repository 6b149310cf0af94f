"""The History table and the Sheets serialisation of report tables (pure: no HTTP)."""
from __future__ import annotations

from datetime import date, datetime

from connectors.sheets_sink import SheetsSink, cell_value, fit_series, layout_signature, sparkline_formula
from mapping.config import Config
from mapping.report import Column, Table, history_table, text_sparkline
from mapping.results import KRResult
from mapping.rollup import rollup
from mapping.sources.sheets import SheetsOutput

KEY = "1OkrSummary000000000000000000000000000000000"


def config() -> Config:
    return Config.model_validate({"period": "2026-Q4", "objectives": [
        {"id": "o", "title": "O", "key_results": [{"id": "a", "title": "A", "baseline": 0, "target": 10, "unit": "%"},
                                                  {"id": "b", "title": "B", "baseline": 0, "target": 10}]}]})


def result(kr_id: str, value, error: str = "") -> KRResult:
    return KRResult("o", kr_id, value, None if value is None else value / 10, None, 0.5, "on_track", error=error)


def test_text_sparkline_scales_between_min_and_max():
    assert text_sparkline([1, 2, 3]) == "▁▅█"          # (2-1)/(3-1)*7 = 3.5 -> index 4
    assert text_sparkline([5, None, 5]) == "▄▄"         # flat, gap skipped
    assert text_sparkline([None]) == ""


def test_history_puts_every_kr_on_the_axis_of_the_most_recent_days_and_adds_today():
    cfg = config()
    results = {"a": result("a", 7.0), "b": result("b", 9.0, error="source down")}
    series = {"a": [(date(2026, 11, 10), 1.0), (date(2026, 11, 12), 3.0)],
              "b": [(date(2026, 11, 11), 2.0), (date(2026, 11, 13), 4.0)]}
    table = history_table(rollup(cfg, results), results, series, today=date(2026, 11, 15), points=4)
    assert table.header == ["KR id", "Key result", "Unit", "Trend", "Latest", "2026-11-11", "2026-11-12", "2026-11-13", "2026-11-15"]
    a, b = table.rows
    assert a == ["a", "A", "%", "▁█", 7.0, None, 3.0, None, 7.0]  # 2026-11-10 fell off (4 points); today's 7 added
    assert b == ["b", "B", "", "▁█", 4.0, 2.0, None, 4.0, None]     # b is stale today: no value for today


def test_cell_values_keep_types_and_none_clears():
    assert cell_value(None) == "" and cell_value(True) is True and cell_value(0.25) == 0.25
    assert cell_value(float("nan")) == ""
    assert cell_value("=1+1") == "=1+1"  # sent RAW: stays this text
    assert cell_value(datetime(2026, 11, 15, 12, 0)) == 46341.5  # days since 1899-12-30
    assert cell_value(date(2026, 11, 15)) == 46341


def history(days: int) -> Table:
    names = [f"2026-11-{14 + i}" for i in range(days)]
    return Table("History", [Column("KR id"), Column("Trend", "sparkline"), Column("Latest", "number")]
                 + [Column(name, "series") for name in names], [["a", "▁█", 2.0] + [1.0 + i for i in range(days)]])


def test_values_write_skips_the_sparkline_column_and_pads_to_the_grid():
    sink = SheetsSink(SheetsOutput(kind="sheets", spreadsheet=KEY, history_points=2), context=None)  # type: ignore[arg-type]
    data = sink.value_ranges([history(2)], {"History": 4})
    assert data == [
        {"range": "'History'!A1:A4", "values": [["KR id"], ["a"], [""], [""]]},
        {"range": "'History'!C1:E4", "values": [["Latest", "2026-11-14", "2026-11-15"], [2.0, 1.0, 2.0], ["", "", ""], ["", "", ""]]},
        {"range": "'History'!B1", "values": [["Trend"]]},
    ]
    assert sparkline_formula([4, 5], 2) == '=IF(COUNT(D2:E2)=0,"",SPARKLINE(D2:E2))'


def test_history_keeps_history_points_day_columns_whatever_the_days_recorded():
    """A first sync has one day: the tab still gets `history_points` day columns (blank ones after it), so the
    grid, the number formats and the sparklines do not change while days accrue; more days keep the newest."""
    assert fit_series(history(1), 3).header == ["KR id", "Trend", "Latest", "2026-11-14", "", ""]
    assert fit_series(history(1), 3).rows == [["a", "▁█", 2.0, 1.0, None, None]]
    assert fit_series(history(4), 3).header == ["KR id", "Trend", "Latest", "2026-11-15", "2026-11-16", "2026-11-17"]
    assert fit_series(history(4), 3).rows == [["a", "▁█", 2.0, 2.0, 3.0, 4.0]]
    assert [layout_signature(fit_series(history(days), 3)) for days in (1, 2, 3, 5)] == [layout_signature(history(3))] * 4
    sink = SheetsSink(SheetsOutput(kind="sheets", spreadsheet=KEY, history_points=3), context=None)  # type: ignore[arg-type]
    data = sink.value_ranges([history(1)], {"History": 2})
    assert data[1] == {"range": "'History'!C1:F2", "values": [["Latest", "2026-11-14", "", ""], [2.0, 1.0, "", ""]]}
    formats, _ = sink.plan([history(1)], {"sheets": []})
    number_cols = {f["repeatCell"]["range"]["startColumnIndex"] for f in formats
                   if "repeatCell" in f and "numberFormat" in f["repeatCell"]["cell"].get("userEnteredFormat", {})}
    assert number_cols == {2, 3, 4, 5}  # Latest and every day column, the blank ones too
    sparkline = next(f["updateCells"] for f in formats if "updateCells" in f)
    assert sparkline["rows"][0]["values"][0]["userEnteredValue"]["formulaValue"] == '=IF(COUNT(D2:F2)=0,"",SPARKLINE(D2:F2))'


def test_layout_signature_ignores_the_dates_of_series_columns_but_not_the_kinds():
    one = Table("History", [Column("KR id"), Column("2026-11-14", "series")])
    next_day = Table("History", [Column("KR id"), Column("2026-11-15", "series")])
    wider = Table("History", [Column("KR id"), Column("2026-11-14", "series"), Column("2026-11-15", "series")])
    assert layout_signature(one) == layout_signature(next_day) != layout_signature(wider)


def test_an_up_to_date_tab_needs_no_formatting_request():
    table = Table("Summary", [Column("KR id"), Column("Status", "status")], [["a", "on_track"]])
    sink = SheetsSink(SheetsOutput(kind="sheets", spreadsheet=KEY), context=None)  # type: ignore[arg-type]
    first, grids = sink.plan([table], {"sheets": [{"properties": {"sheetId": 0, "title": "Sheet1"}}]})
    assert [next(iter(r)) for r in first][0] == "addSheet" and grids == {"Summary": 2}
    added = first[0]["addSheet"]["properties"]
    meta = {"sheets": [{"properties": {"sheetId": added["sheetId"], "title": "Summary",
                                       "gridProperties": {"rowCount": 2, "columnCount": 2, "frozenRowCount": 1}},
                        "developerMetadata": [{"metadataId": 7, "metadataKey": "okr-sync-layout", "metadataValue": layout_signature(table)}]}]}
    again, grids = sink.plan([table], meta)
    assert again == [] and grids == {"Summary": 2}
    table.rows.append(["b", "at_risk"])  # one more row than the grid: re-layout, old signature replaced
    grown, grids = sink.plan([table], meta)
    kinds = [next(iter(r)) for r in grown]
    assert kinds[0] == "updateSheetProperties" and "deleteDeveloperMetadata" in kinds and grids == {"Summary": 3}
