"""`okr-sync example` never overwrites sample data that is already there, unless forced (issue 10)."""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows import example_data
from flows.cli import app
from flows.example_data import ExampleDataExists, make_factory, make_mes_db, make_survey_xlsx
from mapping.errors import OkrSyncError


def snapshot(directory):
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_creating_the_factory_data_twice_is_refused_and_leaves_the_files_as_they_were(tmp_path):
    make_factory(tmp_path, date(2026, 10, 15))
    before = snapshot(tmp_path)
    with pytest.raises(ExampleDataExists) as caught:
        make_factory(tmp_path, date(2026, 11, 15))
    message = str(caught.value)
    assert isinstance(caught.value, OkrSyncError) and caught.value.exit_code == 2
    assert "\n" not in message and "pass --force" in message
    assert str(tmp_path / "mes.db") in message and str(tmp_path / "quality.xlsx") in message
    assert snapshot(tmp_path) == before


def test_one_existing_file_stops_both_before_anything_is_written(tmp_path):
    (tmp_path / "quality.xlsx").write_text("my own workbook")
    with pytest.raises(ExampleDataExists, match="quality.xlsx already exists; pass --force"):
        make_factory(tmp_path, date(2026, 10, 15))
    assert snapshot(tmp_path) == {"quality.xlsx": b"my own workbook"}


def test_force_overwrites(tmp_path):
    make_factory(tmp_path, date(2026, 10, 15))
    before = snapshot(tmp_path)
    assert make_factory(tmp_path, date(2026, 11, 15), force=True) == [tmp_path / "mes.db", tmp_path / "quality.xlsx"]
    after = snapshot(tmp_path)
    assert after.keys() == before.keys() and after["mes.db"] != before["mes.db"]


@pytest.mark.parametrize("make, name", [(make_mes_db, "mes.db"), (make_survey_xlsx, "quality.xlsx")])
def test_each_file_maker_refuses_an_existing_file(tmp_path, make, name):
    path = tmp_path / name
    path.write_bytes(b"keep me")
    with pytest.raises(ExampleDataExists, match="pass --force"):
        make(path, date(2026, 10, 15))
    assert path.read_bytes() == b"keep me" and sorted(p.name for p in tmp_path.iterdir()) == [name]
    make(path, date(2026, 10, 15), force=True)
    assert path.read_bytes() != b"keep me"


def test_a_file_that_appears_while_the_data_is_generated_is_kept(tmp_path):
    """The last step links the finished file into place, which fails (instead of replacing) when the name exists."""
    temp, path = tmp_path / "mes.tmp", tmp_path / "mes.db"
    temp.write_bytes(b"new")
    path.write_bytes(b"written meanwhile")
    with pytest.raises(ExampleDataExists):
        example_data._publish(temp, path, force=False)
    assert path.read_bytes() == b"written meanwhile" and not temp.exists()


def test_example_command_refuses_to_overwrite_with_one_line_and_exit_code_2(tmp_path):
    runner = CliRunner()
    args = ["example", "factory", "--dir", str(tmp_path), "--until", "2026-10-15"]
    assert runner.invoke(app, args).exit_code == 0
    before = snapshot(tmp_path)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.strip()]
    assert len(errors) == 1 and "already exist" in errors[0] and "--force" in errors[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("folder", ["mes.db", "quality.xlsx"])
def test_a_folder_where_sample_data_goes_is_refused_even_with_force_and_nothing_is_written(tmp_path, folder):
    from flows.example_data import ExampleDataExists, make_factory

    (tmp_path / folder).mkdir()
    with pytest.raises(ExampleDataExists, match=f"{folder} is a folder where the sample data goes; move it aside"):
        make_factory(tmp_path, date(2026, 11, 27), force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]  # no sample file, no temp file


def test_a_failed_move_into_place_leaves_no_temp_file(tmp_path, monkeypatch):
    from flows import example_data

    def refuse(self, target):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(Path, "replace", refuse)
    with pytest.raises(PermissionError):
        example_data.make_factory(tmp_path, date(2026, 11, 27), force=True)
    assert list(tmp_path.iterdir()) == []
