"""okr-sync init: every template validates, is lint-clean and runs offline; the minimal config; no overwriting."""
from datetime import date, datetime, timezone

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from flows.cli import app
from flows.init_project import TEMPLATES, InitError, init_project, period_for
from flows.pipeline import run_sync
from mapping.config import Config
from mapping.lint import lint_file
from mapping.loader import load_config

runner = CliRunner()
ENV = {"PREFECT_API_URL": ""}


@pytest.mark.parametrize("template", TEMPLATES)
def test_template_inits_validates_lints_clean_and_runs_offline(tmp_path, template):
    folder = tmp_path / template
    made = runner.invoke(app, ["init", str(folder), "--template", template], env=ENV)
    assert made.exit_code == 0, made.output
    config = folder / "okrs.yaml"
    assert f"created {config}" in made.stdout and (folder / "data").is_dir()
    text = config.read_text(encoding="utf-8")
    assert text.startswith("# ") and "What to change:" in text and "__PERIOD__" not in text
    assert "#   kind:" in text  # the real source block, commented next to the offline stand-in

    checked = runner.invoke(app, ["validate", "--strict", str(config)], env=ENV)
    assert checked.exit_code == 0 and ": OK - " in checked.stdout and "warning" not in checked.stderr, checked.output
    linted = runner.invoke(app, ["lint", "--strict", str(config)], env=ENV)
    assert linted.exit_code == 0 and "no lint findings" in linted.stdout, linted.output

    ran = runner.invoke(app, ["run", str(config)], env=ENV)
    assert ran.exit_code == 0, ran.output  # every source answered
    loaded = load_config(config)
    workbook = load_workbook(folder / "out" / "okr-summary.xlsx", read_only=True)
    assert workbook.sheetnames
    workbook.close()
    assert (folder / ".okr-sync" / "history.db").exists()

    levels = {objective.level for objective in loaded.objectives}
    assert "company" in levels and "department" in levels
    assert all(o.aligns_to for o in loaded.objectives if o.level != "company")


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("day", [date(2027, 1, 1), date(2027, 2, 14), date(2027, 3, 31)])
def test_template_data_answers_every_kr_on_any_day_of_its_period(tmp_path, template, day):
    """First day, middle and last day of a period: every query has rows to answer with (nothing NULL or failing)."""
    init_project(tmp_path, template, today=day)
    config = load_config(tmp_path / "okrs.yaml")
    assert config.period_obj() == period_for(template, day)
    outcome = run_sync(config, now=datetime(day.year, day.month, day.day, 20, tzinfo=timezone.utc), write=False)
    assert outcome.ok, outcome.failure_message()
    assert all(result.value is not None for result in outcome.results.values()), {k: r.error for k, r in outcome.results.items()}


def test_periods_are_quarters_except_for_the_startup_month():
    assert period_for("software", date(2026, 11, 5)).name == "2026-Q4"
    assert period_for(None, date(2026, 2, 5)).name == "2026-Q1"
    assert period_for("startup", date(2026, 11, 5)).name == "2026-11"


def test_the_startup_template_switches_monthly_period_off_and_others_keep_it(tmp_path):
    init_project(tmp_path / "s", "startup", today=date(2026, 11, 5))
    startup = load_config(tmp_path / "s" / "okrs.yaml")
    assert startup.lint is not None and startup.lint.disable == ["monthly-period"]
    init_project(tmp_path / "f", "finance", today=date(2026, 11, 5))
    assert load_config(tmp_path / "f" / "okrs.yaml").lint is None


def test_init_without_template_asks_nothing_and_writes_the_smallest_valid_config(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path)], input="", env=ENV)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["okrs.yaml"]  # no data, nothing else
    config = load_config(tmp_path / "okrs.yaml")
    assert isinstance(config, Config) and len(config.key_results()) == 1 and not config.sources
    assert [f.rule for f in lint_file(config)] == ["kr-no-metric"]  # the next step the header tells about
    preview = runner.invoke(app, ["preview", str(tmp_path / "okrs.yaml")], env=ENV)
    assert preview.exit_code == 0, preview.output


def test_init_refuses_to_overwrite_and_writes_nothing(tmp_path):
    init_project(tmp_path, "manufacturing", today=date(2026, 11, 5))
    (tmp_path / "okrs.yaml").write_text("# my edits\n", encoding="utf-8")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    result = runner.invoke(app, ["init", str(tmp_path), "--template", "manufacturing"], env=ENV)
    assert result.exit_code == 2 and "already exist" in result.stderr and "--force" in result.stderr
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before  # no temp files left either
    forced = runner.invoke(app, ["init", str(tmp_path), "--template", "manufacturing", "--force"], env=ENV)
    assert forced.exit_code == 0 and (tmp_path / "okrs.yaml").read_text().startswith("# OKRs of a plant")


def test_init_refuses_when_only_the_data_exists(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "metrics.csv").write_text("mine\n", encoding="utf-8")
    with pytest.raises(InitError, match="metrics.csv already exists"):
        init_project(tmp_path, "startup")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["data", "metrics.csv"]


def test_init_into_a_new_folder_that_is_refused_leaves_no_empty_data_folder(tmp_path):
    (tmp_path / "okrs.yaml").write_text("# mine\n", encoding="utf-8")
    with pytest.raises(InitError):
        init_project(tmp_path, "services")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["okrs.yaml"]


def test_unknown_template_suggests_the_closest(tmp_path):
    result = runner.invoke(app, ["init", str(tmp_path), "--template", "manufactoring"], env=ENV)
    assert result.exit_code == 2 and "did you mean 'manufacturing'?" in result.stderr
    assert not any(tmp_path.iterdir())


def test_templates_are_package_data():
    tomllib = pytest.importorskip("tomllib")
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    data = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "*/okrs.yaml" in data["flows.templates"]
    for template in TEMPLATES:
        assert (root / "flows" / "templates" / template / "okrs.yaml").is_file()
