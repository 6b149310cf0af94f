"""The workbook's Dashboard sheet: what a manager reads first, checked cell by cell and in the package XML."""
import re
import shutil
import warnings
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from xml.etree import ElementTree
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from connectors.xlsx import write_xlsx
from flows.example_data import make_factory
from flows.pipeline import run_sync
from mapping.dashboard import Dashboard, KRLine, ObjectiveLine, StatusCount
from mapping.labels import STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER
from mapping.loader import load_config
from mapping.period import Period
from mapping.report import HISTORY_COLUMNS, Column, Table

NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main",
      "x14": "http://schemas.microsoft.com/office/spreadsheetml/2009/9/main",
      "xm": "http://schemas.microsoft.com/office/excel/2006/main",
      "c": "http://schemas.openxmlformats.org/drawingml/2006/chart"}
DAYS = (date(2026, 11, 26), date(2026, 11, 27), date(2026, 11, 28))
NOW = datetime(2026, 11, 28, 9, 0)
EVIL = '=HYPERLINK("http://x","y")'
# openpyxl drops Excel sparklines (an x14 extension) with a warning; the test of warnings checks it is the only one
pytestmark = pytest.mark.filterwarnings("ignore:Sparkline Group extension")


def kr(objective_id, objective_title, kr_id, title, status, current, target, progress, trend, change=None,
       stale_since=None, reason="", unit="%", kind="at_most", owner="COO"):
    return KRLine(objective_id, objective_title, kr_id, title, owner, kind, "Stay at most", True, unit, 1.2, target,
                  current, progress, progress, 0.6, status, STATUS_LABELS[status], change,
                  DAYS[-2] if change is not None else None, tuple(zip(DAYS, trend)), "mes", "SELECT 1", NOW,
                  stale_since, reason)


def small_report():
    """A three-level tree (company -> department -> team) with five KRs in every display status but one."""
    objectives = (
        ObjectiveLine("co", "Become the most reliable supplier", "company", "Company", "CEO", 0, 0.41, 0.4, "at_risk", "At risk", 2, 2),
        ObjectiveLine("dept", "Run leaner lines", "department", "Department", "Head of Production", 1, 0.7, 0.7, "on_track", "On track", 2, 2),
        ObjectiveLine("team", "Welding team: zero rework", "team", "Team", "Welding lead", 2, 0.0, 0.0, "no_data", "No data", 0, 1),
    )
    krs = (
        kr("co", "Become the most reliable supplier", "defects", "Defect rate at or below 0.5%", "off_track", 0.86, 0.5,
           0.4855, (0.9, 0.88, 0.86), change=-0.02),
        kr("co", "Become the most reliable supplier", "evil", EVIL, "done", 1.0, 1.0, 1.0, (0.5, 1.0), kind="milestone",
           unit=""),
        kr("dept", "Run leaner lines", "energy", "Energy per unit down to 1.7 kWh", "on_track", 1.83, 1.7, 0.5574,
           (1.9, 1.85, 1.83), change=-0.02, unit="kWh/unit", kind="decrease", owner="Head of Production"),
        kr("dept", "Run leaner lines", "downtime", "Downtime at most 2%", "stale", 2.04, 2.0, 1.3,
           (2.1, 2.04), stale_since=datetime(2026, 11, 28, 9), reason="mes.db not found"),
        kr("team", "Welding team: zero rework", "rework", "Rework hours per week", "no_data", None, 0.0, None, ()),
    )
    counts = tuple(StatusCount(key, STATUS_LABELS[key], sum(1 for k in krs if k.status == key), STATUS_FILLS[key],
                               STATUS_INKS[key]) for key in STATUS_ORDER)
    dashboard = Dashboard("OKR dashboard · Acme · 2026-Q4", "acme", Period("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
                          NOW, "Europe/Berlin", 0.63, 0.41, "at_risk", counts, objectives, krs, DAYS)
    history = Table("History", HISTORY_COLUMNS + [Column(day.isoformat(), "series", 11) for day in DAYS])
    # History rows in a different order from the dashboard, so the sparkline ranges must follow the KR id
    for line in reversed(krs):
        values = dict(line.trend)
        row = [values.get(day) for day in DAYS]
        history.rows.append([line.kr_id, line.title, line.unit, "", row[-1], *row])
    return dashboard, [history]


@pytest.fixture
def book_path(tmp_path):
    dashboard, tables = small_report()
    return write_xlsx(tables, tmp_path / "okr.xlsx", dashboard)


def sheet_xml(path, part="xl/worksheets/sheet1.xml"):
    with zipfile.ZipFile(path) as package:
        return ElementTree.fromstring(package.read(part))


def widths(path, part="xl/worksheets/sheet1.xml"):
    """Column widths by 1-based column from the <cols> element (openpyxl merges equal neighbours)."""
    result = {}
    for col in sheet_xml(path, part).iterfind("m:cols/m:col", NS):
        for c in range(int(col.get("min")), int(col.get("max")) + 1):
            result[c] = float(col.get("width"))
    return result


def find_row(sheet, text, column=1):
    return next(r for r in range(1, sheet.max_row + 1) if sheet.cell(r, column).value == text)


def test_dashboard_is_the_first_and_active_sheet_with_title_counts_and_overall_score(book_path):
    book = load_workbook(book_path)
    assert book.sheetnames == ["Dashboard", "History"] and book.active.title == "Dashboard"
    sheet = book["Dashboard"]
    assert sheet["A1"].value == "OKR dashboard · Acme · 2026-Q4" and sheet["A1"].font.b
    assert "2026-10-01" in sheet["A2"].value and "as of 2026-11-28 09:00 Europe/Berlin" in sheet["A2"].value
    assert sheet["B3"].value == 0.41 and sheet["B3"].number_format == "0.00"
    assert sheet["C3"].value == "At risk" and sheet["C3"].fill.fgColor.rgb == "FF" + STATUS_FILLS["at_risk"]
    labels = [sheet.cell(6, c).value for c in range(2, 8)]
    counts = [sheet.cell(7, c).value for c in range(2, 8)]
    assert labels == ["Done", "On track", "At risk", "Off track", "Stale", "No data"]
    assert counts == [1, 1, 0, 1, 1, 1]   # counted by hand from small_report()
    for c, key in enumerate(STATUS_ORDER, start=2):
        assert sheet.cell(6, c).fill.fgColor.rgb == "FF" + STATUS_FILLS[key]
        assert sheet.cell(6, c).font.color.rgb == "FF" + STATUS_INKS[key]


def test_alignment_tree_is_indented_by_depth_with_scores_as_data_bars(book_path):
    sheet = load_workbook(book_path)["Dashboard"]
    first = find_row(sheet, "Become the most reliable supplier")
    assert [c.value for c in sheet[first - 1]][:6] == ["Objective", "Level", "Owner", "Status", "KRs measured", "Score"]
    tree = [[c.value for c in sheet[r]][:6] for r in range(first, first + 3)]
    assert tree == [["Become the most reliable supplier", "Company", "CEO", "At risk", "2/2", 0.41],
                    ["Run leaner lines", "Department", "Head of Production", "On track", "2/2", 0.7],
                    ["Welding team: zero rework", "Team", "Welding lead", "No data", "0/1", 0.0]]
    assert [sheet.cell(r, 1).alignment.indent for r in range(first, first + 3)] == [0, 1, 2]
    assert sheet.cell(first, 6).number_format == "0.00"
    bars = {str(cf.sqref): cf.rules[0] for cf in sheet.conditional_formatting}
    score_bar = bars[f"F{first}:F{first + 2}"]
    assert score_bar.type == "dataBar"
    assert [(v.type, v.val) for v in score_bar.dataBar.cfvo] == [("num", 0.0), ("num", 1.0)]


def test_each_kr_reads_as_words_with_status_colours_progress_bar_change_and_owner(book_path):
    sheet = load_workbook(book_path)["Dashboard"]
    header = find_row(sheet, "Key result", 2)
    assert [c.value for c in sheet[header]][:12] == ["Objective", "Key result", "Owner", "Status", "Current", "Target",
                                                     "Progress", "Change", "Since", "Trend", "Last update", "Why / note"]
    rows = {sheet.cell(r, 2).value: [c.value for c in sheet[r]][:12] for r in range(header + 1, header + 6)}
    defects = rows["Defect rate at or below 0.5%"]
    assert defects[0] == "Become the most reliable supplier"      # objective named on its first KR only
    assert rows[EVIL][0] is None
    assert defects[2:8] == ["COO", "Off track", "0.86%", "≤ 0.50%", 0.4855, "−0.02%"]
    assert defects[8] == datetime(2026, 11, 27) and defects[10] == NOW
    energy = rows["Energy per unit down to 1.7 kWh"]
    assert energy[4:6] == ["1.83 kWh/unit", "1.70 kWh/unit"] and energy[2] == "Head of Production"
    stale = rows["Downtime at most 2%"]
    assert stale[3] == "Stale" and stale[6] == 1.0                  # progress 1.3 is clipped to a full bar
    assert stale[11] == "Stale since 2026-11-28 09:00: mes.db not found"
    assert rows["Rework hours per week"][3:7] == ["No data", None, "≤ 0%", None]
    for r in range(header + 1, header + 6):
        status = {label: key for key, label in STATUS_LABELS.items()}[sheet.cell(r, 4).value]
        assert sheet.cell(r, 4).fill.fgColor.rgb == "FF" + STATUS_FILLS[status]
        assert sheet.cell(r, 4).font.color.rgb == "FF" + STATUS_INKS[status]
    assert sheet.cell(header + 1, 7).number_format == "0%"
    bars = {str(cf.sqref): cf.rules[0] for cf in sheet.conditional_formatting}
    progress_bar = bars[f"G{header + 1}:G{header + 5}"]
    assert progress_bar.type == "dataBar" and [v.val for v in progress_bar.dataBar.cfvo] == [0.0, 1.0]


def test_source_text_that_looks_like_a_formula_stays_text_on_the_dashboard(book_path):
    sheet = load_workbook(book_path)["Dashboard"]
    cell = sheet.cell(find_row(sheet, EVIL, 2), 2)
    assert cell.value == EVIL and cell.data_type == "s"
    assert sheet_xml(book_path).find(".//m:f", NS) is None


def test_every_kr_has_a_line_sparkline_over_its_own_history_row(book_path):
    book = load_workbook(book_path)
    sheet, history = book["Dashboard"], book["History"]
    header = find_row(sheet, "Key result", 2)
    groups = sheet_xml(book_path).findall(".//x14:sparklineGroups/x14:sparklineGroup", NS)
    assert len(groups) == 1 and groups[0].get("type", "line") == "line"
    found = {s.find("xm:sqref", NS).text: s.find("xm:f", NS).text for s in groups[0].iterfind(".//x14:sparkline", NS)}
    expected = {}
    for r in range(header + 1, header + 6):
        kr_id = {line.title: line.kr_id for line in small_report()[0].krs}[sheet.cell(r, 2).value]
        history_row = find_row(history, kr_id)
        expected[f"J{r}"] = f"History!F{history_row}:H{history_row}"   # the three day columns F..H
    assert found == expected


def test_a_bar_chart_of_objective_scores_sits_beside_the_tree(book_path):
    with zipfile.ZipFile(book_path) as package:
        names = package.namelist()
        chart = ElementTree.fromstring(package.read("xl/charts/chart1.xml"))
        drawing_rels = package.read("xl/drawings/_rels/drawing1.xml.rels").decode()
        sheet_rels = package.read("xl/worksheets/_rels/sheet1.xml.rels").decode()
    assert "xl/charts/chart1.xml" in names and "../charts/chart1.xml" in drawing_rels
    assert "../drawings/drawing1.xml" in sheet_rels
    assert chart.find(".//c:barChart/c:barDir", NS).get("val") == "bar"
    sheet = load_workbook(book_path)["Dashboard"]
    first = find_row(sheet, "Become the most reliable supplier")
    assert chart.find(".//c:ser/c:val//c:f", NS).text == f"Dashboard!$F${first}:$F${first + 2}"
    assert chart.find(".//c:ser/c:cat//c:f", NS).text == f"Dashboard!$A${first}:$A${first + 2}"


def test_print_setup_frozen_title_and_fitted_widths(book_path):
    sheet = load_workbook(book_path)["Dashboard"]
    header = find_row(sheet, "Key result", 2)
    assert sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage
    assert (sheet.page_setup.fitToWidth or 1) == 1 and sheet.page_setup.fitToHeight == 0   # one page wide, any height
    assert sheet.print_area == f"'Dashboard'!$A$1:$L${header + 5}"
    assert sheet.print_title_rows == "$1:$3" and sheet.freeze_panes == "A4"
    width = widths(book_path)
    assert width[2] >= len("Energy per unit down to 1.7 kWh") + 1       # the longest KR title fits
    assert width[3] >= len("Head of Production") + 1
    assert width[12] >= len("Stale since 2026-11-28 09:00: mes.db not found") + 1
    assert all(w <= 51 for w in width.values())


def test_workbook_opens_without_warnings_except_the_sparkline_extension(book_path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        load_workbook(book_path)
    # openpyxl cannot keep Excel 2010 sparklines (an x14 extension) and says so; nothing else may warn
    assert {str(w.message) for w in caught} <= {"Sparkline Group extension is not supported and will be removed"}


def test_without_history_the_trend_is_a_text_sparkline(tmp_path):
    dashboard, _ = small_report()
    path = write_xlsx([], tmp_path / "okr.xlsx", dashboard)
    sheet = load_workbook(path)["Dashboard"]
    header = find_row(sheet, "Key result", 2)
    trends = {sheet.cell(r, 2).value: sheet.cell(r, 10).value for r in range(header + 1, header + 6)}
    falling = trends["Defect rate at or below 0.5%"]                # 0.9, 0.88, 0.86: highest, middle, lowest
    assert len(falling) == 3 and falling[0] == "█" and falling[2] == "▁" and falling[1] not in "█▁"
    assert "sparkline" not in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml").decode()


EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"


def test_factory_workbook_opens_on_the_dashboard_titled_with_the_period(tmp_path):
    text = EXAMPLE.read_text().replace("path: out/okr-summary.xlsx",
                                       "path: out/okr-summary.xlsx\n    title: Plant 7 OKRs 2026-Q4")
    assert "title: Plant 7" in text
    (tmp_path / "okrs.yaml").write_text(text)
    make_factory(tmp_path / "data", date(2026, 11, 27))
    outcome = run_sync(load_config(tmp_path / "okrs.yaml"), datetime(2026, 11, 28, 9, tzinfo=ZoneInfo("Europe/Berlin")))
    book = load_workbook(outcome.written[0])
    assert book.sheetnames[0] == "Dashboard" and book.active.title == "Dashboard"
    sheet = book["Dashboard"]
    assert sheet["A1"].value == "Plant 7 OKRs 2026-Q4"
    assert "Period 2026-Q4" in sheet["A2"].value
    header = find_row(sheet, "Key result", 2)
    titles = [sheet.cell(r, 2).value for r in range(header + 1, header + 1 + len(outcome.results))]
    assert len(set(titles)) == len(outcome.results) == 8
    labels = [sheet.cell(r, 4).value for r in range(header + 1, header + 9)]
    counts = {sheet.cell(6, c).value: sheet.cell(7, c).value for c in range(2, 8)}
    assert {label: labels.count(label) for label in labels} == {k: v for k, v in counts.items() if v}


def test_an_empty_dashboard_still_makes_a_valid_workbook(tmp_path):
    dashboard, tables = small_report()
    counts = tuple(StatusCount(c.key, c.label, 0, c.fill, c.ink) for c in dashboard.counts)
    empty = Dashboard(dashboard.title, "acme", dashboard.period, NOW, "UTC", 0.5, None, "no_data", counts, (), (), ())
    path = write_xlsx([], tmp_path / "okr.xlsx", empty)
    sheet = load_workbook(path)["Dashboard"]
    assert sheet["B3"].value is None and sheet["C3"].value == "No data"
    assert [sheet.cell(7, c).value for c in range(2, 8)] == [0] * 6
    assert "xl/charts/chart1.xml" not in zipfile.ZipFile(path).namelist()


def test_a_thousand_krs_make_a_complete_well_formed_dashboard(tmp_path):
    import sys
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from workbook import synthetic

    tables, dashboard = synthetic(1000)
    path = write_xlsx(tables, tmp_path / "big.xlsx", dashboard)
    with zipfile.ZipFile(path) as package:
        for name in package.namelist():
            if name.endswith((".xml", ".rels")):
                ElementTree.fromstring(package.read(name))
    sheet = sheet_xml(path)
    sparklines = sheet.findall(".//x14:sparkline", NS)
    assert len(sparklines) == 1000
    book = load_workbook(path, read_only=True)
    dash = book["Dashboard"]
    rows = list(dash.iter_rows(values_only=True))
    header = next(i for i, row in enumerate(rows) if row[1] == "Key result")
    krs = rows[header + 1:]
    assert [row[1] for row in krs] == [kr.title for kr in dashboard.krs]
    assert [row[6] for row in krs] == [None if kr.progress is None else max(0.0, min(1.0, kr.progress))
                                       for kr in dashboard.krs]
    assert len(list(book["Summary"].iter_rows(min_row=2))) == 1000
    # each sparkline reads the History row of its own KR
    history_ids = [row[0] for row in book["History"].iter_rows(min_row=2, values_only=True)]
    for spark in sparklines[:50]:
        row = int(re.search(r"\d+", spark.find("xm:sqref", NS).text).group())
        kr_title = rows[row - 1][1]
        kr_id = next(kr.kr_id for kr in dashboard.krs if kr.title == kr_title)
        history_row = history_ids.index(kr_id) + 2
        assert spark.find("xm:f", NS).text == f"History!F{history_row}:Q{history_row}"   # the 12 day columns
