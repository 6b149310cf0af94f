"""The file source: one read per file, cells and aggregated columns, deliberate number parsing."""
from datetime import date, datetime, timezone
from pathlib import Path
from unittest import mock

import pytest
from openpyxl import Workbook

from connectors.base import Context, SourceError
from connectors.file import FileConnector
from mapping.config import Query
from mapping.period import parse_period
from mapping.results import Observation
from mapping.sources.file import FileQuery, FileSource

NOW = datetime(2026, 11, 15, tzinfo=timezone.utc)
Q4 = parse_period("2026-Q4")
SURVEY = [
    ["month", "region", "responses", "nps", "share"],
    [date(2026, 9, 1), "EMEA", 100, 18, "50%"],
    [date(2026, 10, 1), "EMEA", 120, 24, "55%"],
    [date(2026, 10, 1), "APAC", 80, 30, "1,234.5"],
    [date(2026, 11, 1), "EMEA", 140, 28, None],
    [date(2026, 11, 1), "APAC", 90, "N/A", "60%"],
]


@pytest.fixture
def workbook(tmp_path):
    book = Workbook()
    sheet = book.active
    sheet.title = "Survey"
    for row in SURVEY:
        sheet.append(row)
    notes = book.create_sheet("Notes")
    notes["B2"] = "=1+1 is text here"
    notes["B3"] = 7
    notes["C4"] = "12%"
    book.save(tmp_path / "survey.xlsx")
    return tmp_path / "survey.xlsx"


def fetch(tmp_path, *specs, path="survey.xlsx", decimal="."):
    conn = FileConnector("survey", FileSource(kind="file", path=path, decimal=decimal), Context(tmp_path))
    queries = [Query.of("survey", FileQuery(source="survey", **spec)) for spec in specs]
    results = conn.fetch(queries, Q4, NOW)
    return [results[q] for q in queries]


def value(result):
    assert isinstance(result, Observation), result
    return result.value


def test_column_aggregations_over_period_and_filter(tmp_path, workbook):
    emea_q4 = [r for r in SURVEY[1:] if r[1] == "EMEA" and r[0] >= date(2026, 10, 1)]
    results = fetch(tmp_path,
                    dict(sheet="Survey", column="responses", agg="sum", date_column="month"),
                    dict(sheet="Survey", column="responses", agg="sum", where={"region": "EMEA"}, date_column="month"),
                    dict(sheet="Survey", column="nps", agg="last", where={"region": "EMEA"}),
                    dict(sheet="Survey", column="responses", agg="mean", where={"region": ["EMEA", "APAC"]}),
                    dict(sheet="Survey", column="responses", agg="count", date_column="month"),
                    dict(sheet="Survey", column="responses", agg="max"),
                    dict(sheet="Survey", column="responses", agg="min", where={"responses": 120}))
    assert value(results[0]) == 120 + 80 + 140 + 90
    assert value(results[1]) == sum(r[2] for r in emea_q4)
    assert value(results[2]) == 28
    assert value(results[3]) == pytest.approx((100 + 120 + 80 + 140 + 90) / 5)
    assert value(results[4]) == 4
    assert value(results[5]) == 140
    assert value(results[6]) == 120


def test_cells_and_percent_text(tmp_path, workbook):
    results = fetch(tmp_path, dict(sheet="Notes", cell="B3"), dict(sheet="Notes", cell="c4"))
    assert [value(r) for r in results] == [7.0, 12.0]


def test_text_values_are_parsed_deliberately_and_bad_ones_name_the_row(tmp_path, workbook):
    share, nps = fetch(tmp_path, dict(sheet="Survey", column="share", agg="sum"),
                       dict(sheet="Survey", column="nps", agg="sum", where={"region": "APAC"}))
    assert value(share) == pytest.approx(50 + 55 + 1234.5 + 60)
    assert isinstance(nps, SourceError)
    assert "row 6 column 'nps'" in str(nps) and "'N/A' is not a number" in str(nps)


def test_empty_cell_missing_column_sheet_and_file(tmp_path, workbook):
    empty, column, sheet = fetch(tmp_path, dict(sheet="Notes", cell="Z99"), dict(sheet="Survey", column="score"),
                                 dict(sheet="Nope", cell="A1"))
    assert "cell Z99 is empty" in str(empty)
    assert "no column 'score'" in str(column) and "responses" in str(column)
    assert isinstance(sheet, SourceError) and "Nope" in str(sheet)
    (missing,) = fetch(tmp_path, dict(cell="A1"), path="gone.xlsx")
    assert "gone.xlsx not found" in str(missing)


def test_no_matching_rows_is_an_error_not_zero(tmp_path, workbook):
    (result,) = fetch(tmp_path, dict(sheet="Survey", column="nps", where={"region": "LATAM"}))
    assert "no rows with a value" in str(result)


def test_csv_with_comma_decimal(tmp_path):
    (tmp_path / "fin.csv").write_text("quarter,revenue\n2026-Q3,\"1.000,5\"\n2026-Q4,\"2.500,25\"\n", encoding="utf-8")
    total, q4 = fetch(tmp_path, dict(column="revenue", agg="sum"), dict(column="revenue", where={"quarter": "{period}"}),
                      path="fin.csv", decimal=",")
    assert value(total) == pytest.approx(3500.75)
    assert value(q4) == pytest.approx(2500.25)


def test_each_file_is_read_once_per_batch(tmp_path, workbook):
    from python_calamine import CalamineWorkbook

    real = CalamineWorkbook.from_path
    with mock.patch("python_calamine.CalamineWorkbook.from_path", side_effect=real) as spy:
        fetch(tmp_path, dict(sheet="Survey", column="nps"), dict(sheet="Survey", column="responses"), dict(sheet="Notes", cell="B3"))
    assert spy.call_count == 1


@pytest.mark.parametrize("text,day", [("2026-10-05", "2026-10-05"), ("2026-10-05T23:30:00Z", "2026-10-05"),
                                      ("2026-10-05 08:00", "2026-10-05"), ("Oct 5, 2026", "2026-10-05"),
                                      ("2026/10/05", "2026-10-05")])
def test_text_dates_iso_or_otherwise_filter_by_period(tmp_path, text, day):
    # one row inside Q4 on the given day, one row in Q3: only the first counts
    (tmp_path / "d.csv").write_text(f"day,value\n\"{text}\",7\n2026-09-30,100\n", encoding="utf-8")
    (result,) = fetch(tmp_path, dict(column="value", date_column="day"), path="d.csv")
    assert value(result) == 7


def test_a_sync_of_files_imports_neither_pandas_nor_openpyxl(tmp_path, workbook):
    import subprocess
    import sys

    code = ("import sys, datetime\n"
            "from pathlib import Path\n"
            "from connectors.base import Context\nfrom connectors.file import FileConnector\n"
            "from mapping.config import Query\nfrom mapping.period import parse_period\n"
            "from mapping.sources.file import FileQuery, FileSource\n"
            f"conn = FileConnector('s', FileSource(kind='file', path='survey.xlsx'), Context(Path({str(tmp_path)!r})))\n"
            "queries = [Query.of('s', FileQuery(source='s', sheet='Survey', column='responses', date_column='month')),\n"
            "           Query.of('s', FileQuery(source='s', sheet='Notes', cell='B3'))]\n"
            "out = conn.fetch(queries, parse_period('2026-Q4'), datetime.datetime(2026, 11, 15))\n"
            "assert all(hasattr(r, 'value') for r in out.values()), out\n"
            "print('pandas' in sys.modules, 'openpyxl' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    assert out.stdout.strip() == "False False", out.stderr


def test_bad_date_in_date_column_names_the_row(tmp_path):
    (tmp_path / "d.csv").write_text("day,value\n2026-10-01,1\nyesterday,2\n", encoding="utf-8")
    (result,) = fetch(tmp_path, dict(column="value", date_column="day"), path="d.csv")
    assert "row 3" in str(result) and "'yesterday'" in str(result)
