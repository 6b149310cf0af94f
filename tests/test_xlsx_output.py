"""The workbook writer: detail sheets written from column kinds, text never a formula, valid OOXML, safe files."""
import os
import random
import re
import stat
import time
import warnings
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path
from unittest import mock
from xml.etree import ElementTree

import pytest
from openpyxl import load_workbook

from connectors.atomic import TEMP_MARK
from connectors.xlsx import OutputError, STATUS_COLOURS, write_xlsx
from connectors.xlsx.stream import column_letter, serial, xml_text
from mapping.report import Column, Table

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


def table(rows, extra=()):
    return Table("Summary", [Column("Name", "text"), Column("Value", "number"), Column("Progress", "percent"),
                             Column("When", "datetime"), Column("Status", "status"), Column("Score", "score"),
                             Column("Committed", "bool"), Column("2026-11-28", "series"), *extra], rows)


def row(name="x", value=1234.5, progress=0.25, when=datetime(2026, 11, 28, 9), status="at_risk", score=0.4,
        committed=True, day=0.8179918985123):
    return [name, value, progress, when, status, score, committed, day]


@pytest.fixture(autouse=True)
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-cmd", "@SUM(A1)", "=1+1",
                                  "http://example.com", "0042"])
def test_text_that_looks_like_a_formula_or_number_is_stored_as_text(tmp_path, text):
    path = write_xlsx([table([row(name=text)])], tmp_path / "out.xlsx")
    cell = load_workbook(path)["Summary"]["A2"]
    assert cell.value == text and cell.data_type == "s"
    with zipfile.ZipFile(path) as package:
        sheet = ElementTree.fromstring(package.read("xl/worksheets/sheet1.xml"))
    assert sheet.find(f".//{MAIN}f") is None                          # no formula anywhere


def test_xml_special_and_control_characters_are_escaped_or_dropped(tmp_path):
    text = "A & B <c> \"d\" 'e'\x01\x0b\x1f end"
    path = write_xlsx([table([row(name=text), row(name="  indented"), row(name="tab\tand\nnewline")])],
                      tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    assert sheet["A2"].value == "A & B <c> \"d\" 'e' end"              # \x01 \x0b \x1f are not allowed in XML 1.0
    assert sheet["A3"].value == "  indented"                          # leading spaces kept (xml:space="preserve")
    assert sheet["A4"].value == "tab\tand\nnewline"
    assert xml_text("<&>\x00") == "&lt;&amp;&gt;"


def test_text_longer_than_a_cell_holds_is_cut_to_32767_characters(tmp_path):
    path = write_xlsx([table([row(name="x" * 40000)])], tmp_path / "out.xlsx")
    assert load_workbook(path)["Summary"]["A2"].value == "x" * 32767


def test_numbers_stay_numbers_at_full_precision_with_rounded_formats(tmp_path):
    path = write_xlsx([table([row()])], tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    assert sheet["B2"].value == 1234.5 and sheet["B2"].number_format == "#,##0.00"
    assert sheet["C2"].value == 0.25 and sheet["C2"].number_format == "0.0%"
    assert sheet["D2"].value == datetime(2026, 11, 28, 9) and sheet["D2"].number_format == "yyyy-mm-dd hh:mm"
    assert sheet["F2"].value == 0.4 and sheet["F2"].number_format == "0.00"
    assert sheet["G2"].value is True and sheet["G2"].data_type == "b"
    assert sheet["H2"].value == 0.8179918985123 and sheet["H2"].number_format == "#,##0.00"   # History's day columns
    assert sheet["E2"].value == "at_risk" and sheet["E2"].fill.fgColor.rgb == "FF" + STATUS_COLOURS["at_risk"]


def test_other_number_types_are_written_as_numbers(tmp_path):
    from decimal import Decimal
    from fractions import Fraction

    path = write_xlsx([table([row(value=Decimal("2.5")), row(value=Fraction(1, 4)), row(value=float("nan"))])],
                      tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    assert [sheet.cell(r, 2).value for r in (2, 3, 4)] == [2.5, 0.25, None]   # NaN has no spreadsheet value


def test_every_numeric_cell_of_the_detail_sheets_has_a_rounded_format(tmp_path):
    rows = [row(value=v, progress=v / 7, score=v / 9, day=v / 3) for v in (1 / 3, 2.0, 12345.678901, -0.5)]
    path = write_xlsx([table(rows)], tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    numeric = [c for r in sheet.iter_rows(min_row=2) for c in r
               if isinstance(c.value, (int, float)) and not isinstance(c.value, bool)]
    assert len(numeric) == 4 * 4
    assert all(c.number_format != "General" for c in numeric)


def test_a_column_added_at_the_end_is_written_from_its_kind(tmp_path):
    extra = (Column("Confidence", "percent"), Column("Reviewed", "datetime"), Column("Note", "text"))
    path = write_xlsx([table([row() + [0.7, datetime(2026, 11, 1, 8, 30), "=cmd"]], extra)], tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    assert [c.value for c in sheet[1]][-3:] == ["Confidence", "Reviewed", "Note"]
    assert sheet["I2"].value == 0.7 and sheet["I2"].number_format == "0.0%"
    assert sheet["J2"].value == datetime(2026, 11, 1, 8, 30)
    assert sheet["K2"].value == "=cmd" and sheet["K2"].data_type == "s"


def test_header_is_bold_frozen_filtered_and_printed_on_every_page_with_fitted_widths(tmp_path):
    long_name = "A key result title that is quite long indeed"
    path = write_xlsx([table([row(name=long_name), row(), row(name=None)])], tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    assert all(c.font.b for c in sheet[1])
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:H4"
    assert sheet.print_title_rows == "$1:$1" and sheet.page_setup.orientation == "landscape"
    assert sheet.sheet_properties.pageSetUpPr.fitToPage and sheet.page_setup.fitToHeight == 0
    with zipfile.ZipFile(path) as package:
        cols = ElementTree.fromstring(package.read("xl/worksheets/sheet1.xml")).iter(f"{MAIN}col")
        width = {c: float(col.get("width")) for col in cols for c in range(int(col.get("min")), int(col.get("max")) + 1)}
    assert width[1] >= len(long_name) + 1                             # fitted to the longest text
    assert width[4] >= len("2026-11-28 09:00")                          # a date-time shows, not ####
    assert width[5] >= len("Status") + 2 and all(w <= 61 for w in width.values())
    assert sheet["A4"].value is None and sheet["B4"].value == 1234.5


def test_many_rows_round_trip_exactly_and_the_package_is_valid_ooxml(tmp_path):
    rng = random.Random(7)
    rows = []
    for n in range(700):
        rows.append([f"KR {n} <{rng.random()}> & co" if n % 5 else None, rng.uniform(-1e6, 1e6), rng.random(),
                     datetime(2026, 10, 1) + timedelta(minutes=rng.randrange(100000)) if n % 3 else None,
                     rng.choice(["done", "on_track", "at_risk", "off_track", None]), round(rng.random(), 2),
                     bool(n % 2), rng.random() * 100 if n % 4 else None])
    history = Table("History", [Column("KR id", "text"), Column("2026-11-27", "series"), Column("2026-11-28", "series")],
                    [[f"kr{n}", n * 0.1, None] for n in range(50)])
    path = write_xlsx([table(rows), history], tmp_path / "out.xlsx")
    with warnings.catch_warnings():
        warnings.simplefilter("error")                                # no sparkline here, so no warning at all
        book = load_workbook(path)
    got = [list(r) for r in book["Summary"].iter_rows(min_row=2, values_only=True)]
    assert got == rows
    assert [list(r) for r in book["History"].iter_rows(min_row=2, values_only=True)] == history.rows
    assert book["Summary"].dimensions == "A1:H701"
    with zipfile.ZipFile(path) as package:
        assert package.testzip() is None
        names = package.namelist()
        types = ElementTree.fromstring(package.read("[Content_Types].xml"))
        overrides = {o.get("PartName").lstrip("/") for o in types if o.get("PartName")}
        for name in names:
            if name.endswith((".xml", ".rels")):
                ElementTree.fromstring(package.read(name))            # every part is well-formed XML
        assert {"xl/worksheets/sheet1.xml", "xl/worksheets/sheet2.xml", "xl/styles.xml"} <= overrides
        sheet = ElementTree.fromstring(package.read("xl/worksheets/sheet1.xml"))
        numbers = [int(r.get("r")) for r in sheet.iter(f"{MAIN}row")]
        assert numbers == sorted(numbers) and len(numbers) == len(set(numbers)) == 701
        for r in sheet.iter(f"{MAIN}row"):
            refs = [c.get("r") for c in r]
            assert all(ref.endswith(r.get("r")) for ref in refs)


def test_serial_dates_match_the_1900_date_system():
    assert serial(date(1900, 3, 1)) == 61.0 and serial(datetime(2026, 11, 28, 18)) == 46354.75
    assert [column_letter(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]


def test_a_new_workbook_is_readable_like_any_new_file(tmp_path):
    path = write_xlsx([table([row()])], tmp_path / "out.xlsx")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644                 # 0666 minus umask 022, not mkstemp's 0600


def test_a_chmod_on_the_existing_workbook_is_kept(tmp_path):
    path = write_xlsx([table([row()])], tmp_path / "out.xlsx")
    path.chmod(0o640)
    write_xlsx([table([row(name="again")])], path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert load_workbook(path)["Summary"]["A2"].value == "again"


@pytest.mark.parametrize("error", [OSError(28, "No space left on device"), RuntimeError("killed")])
def test_a_crash_while_writing_leaves_the_previous_workbook_and_no_temp_file(tmp_path, error):
    path = write_xlsx([table([row(name="old")])], tmp_path / "out.xlsx")
    before = path.read_bytes()

    def half_written(laid_out, streamed, out, **kwargs):
        out.write(b"PK\x03\x04 half a zip")
        raise error

    with mock.patch("connectors.xlsx.repackage", side_effect=half_written):
        with pytest.raises((OutputError, RuntimeError)) as raised:
            write_xlsx([table([row(name="new")])], path)
    if isinstance(error, OSError):
        assert raised.type is OutputError and "previous file was left unchanged" in str(raised.value)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.xlsx"]


def test_stale_temp_files_of_a_crashed_run_are_removed_on_the_next_write(tmp_path):
    stale = tmp_path / f".out.xlsx{TEMP_MARK}deadbeef"
    fresh = tmp_path / f".out.xlsx{TEMP_MARK}cafe0001"               # may belong to a writer running right now
    other = tmp_path / ".someone-elses.tmp"
    for leftover in (stale, fresh, other):
        leftover.write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    os.utime(other, (two_hours_ago, two_hours_ago))
    write_xlsx([table([row()])], tmp_path / "out.xlsx")
    assert sorted(os.listdir(tmp_path)) == sorted([".someone-elses.tmp", fresh.name, "out.xlsx"])


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_xlsx([table([])], blocker / "out.xlsx")


def test_the_writer_never_uses_xlsxwriters_generic_write_for_data():
    """XlsxWriter's write() turns "=..." into a formula; the writer uses typed calls (write_string, ...) only."""
    folder = Path(__file__).resolve().parent.parent / "connectors" / "xlsx"
    calls = [call for path in folder.glob("*.py") for call in re.findall(r"(\w+)\.write\(", path.read_text())]
    assert calls == ["part"]                                           # the zip part the streamed rows go to
