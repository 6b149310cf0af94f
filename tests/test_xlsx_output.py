"""The workbook writer: formula-looking text stays text, and a failed write leaves the old file intact."""
import os
from datetime import datetime
from unittest import mock

import pytest
from openpyxl import load_workbook

from connectors.xlsx import OutputError, write_xlsx
from mapping.report import Column, Table


def table(rows):
    return Table("Summary", [Column("Name", "text"), Column("Value", "number"), Column("Progress", "percent"),
                             Column("When", "datetime"), Column("Status", "status")], rows)


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://evil\",\"x\")", "+1+2", "-cmd", "@SUM(A1)", "=1+1"])
def test_text_that_looks_like_a_formula_is_stored_as_text(tmp_path, text):
    path = write_xlsx([table([[text, 1.5, 0.25, datetime(2026, 11, 28, 9), "on_track"]])], tmp_path / "out.xlsx")
    cell = load_workbook(path)["Summary"]["A2"]
    assert cell.value == text and cell.data_type == "s"
    raw = load_workbook(path, data_only=False)["Summary"]["A2"]
    assert raw.data_type != "f"


def test_numbers_stay_numbers_with_formats(tmp_path):
    path = write_xlsx([table([["x", 1234.5, 0.25, datetime(2026, 11, 28, 9), "at_risk"]])], tmp_path / "out.xlsx")
    sheet = load_workbook(path)["Summary"]
    assert sheet["B2"].value == 1234.5 and sheet["B2"].number_format == "#,##0.00"
    assert sheet["C2"].value == 0.25 and sheet["C2"].number_format == "0.0%"
    assert sheet["D2"].value == datetime(2026, 11, 28, 9)
    assert sheet["E2"].fill.fgColor.rgb.endswith("FFEB9C")


def test_a_crash_while_writing_leaves_the_previous_workbook_and_no_temp_file(tmp_path):
    path = write_xlsx([table([["old", 1, 0.1, None, "done"]])], tmp_path / "out.xlsx")
    before = path.read_bytes()
    with mock.patch("connectors.xlsx.Workbook.save", side_effect=OSError(28, "No space left on device")):
        with pytest.raises(OutputError, match="previous file was left unchanged"):
            write_xlsx([table([["new", 2, 0.2, None, "done"]])], path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["out.xlsx"]


def test_unwritable_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot write"):
        write_xlsx([table([])], blocker / "out.xlsx")
