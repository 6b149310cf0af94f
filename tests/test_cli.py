"""The okr-sync command line: one-line errors, exit codes, and nothing half-written on bad input."""
import json
import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.example_data import make_factory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
runner = CliRunner()


@pytest.fixture
def factory(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", date(2026, 11, 27))
    return tmp_path / "okrs.yaml"


def invoke(*args, env=None):
    return runner.invoke(app, [str(a) for a in args], env=env or {"PREFECT_API_URL": ""})


def test_run_writes_workbook_and_history_and_exits_0(factory):
    result = invoke("run", factory)
    assert result.exit_code == 0, result.output
    assert "defect-rate" in result.stdout and "wrote" in result.stdout
    assert (factory.parent / "out" / "okr-summary.xlsx").exists()
    assert (factory.parent / ".okr-sync" / "history.db").exists()


def test_preview_shows_results_but_writes_nothing(factory):
    result = invoke("preview", factory)
    assert result.exit_code == 0, result.output
    assert "nothing was recorded or written" in result.stdout
    assert not (factory.parent / "out").exists() and not (factory.parent / ".okr-sync").exists()


def test_failing_source_exits_1_naming_the_krs_and_still_writes(factory):
    (factory.parent / "data" / "quality.xlsx").unlink()
    result = invoke("run", factory)
    assert result.exit_code == 1
    assert "(KRs nps, complaint-closure, 8d-rollout)" in result.stderr and "quality.xlsx not found" in result.stderr
    warning = [line for line in result.stderr.splitlines() if line.startswith("warning:")][0]
    assert warning.count("not found") == 1  # the error is said once for its three KRs
    assert "Traceback" not in result.output
    assert (factory.parent / "out" / "okr-summary.xlsx").exists()


def test_invalid_config_exits_2_with_one_line_per_problem_and_writes_nothing(factory):
    factory.write_text(factory.read_text().replace("type: at_most", "type: at_mots", 1).replace("source: mes", "source: mse", 1))
    result = invoke("run", factory)
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: 2 problems in config")
    assert all(str(factory) + ":" in line for line in lines[1:]) and len(lines) == 3
    assert "Traceback" not in result.output
    assert not (factory.parent / "out").exists() and not (factory.parent / ".okr-sync").exists()


def test_validate_ok_and_schema_is_json(factory):
    ok = invoke("validate", factory)
    assert ok.exit_code == 0 and "OK - 3 objectives, 8 key results, 2 sources" in ok.stdout
    schema = invoke("schema")
    assert schema.exit_code == 0
    assert json.loads(schema.stdout)["title"] == "okr-sync config (okrs.yaml)"


def test_missing_file_and_malformed_yaml(tmp_path):
    missing = invoke("validate", tmp_path / "nope.yaml")
    assert missing.exit_code == 2 and "nope.yaml: file not found" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("period: [2026\n")
    malformed = invoke("run", bad)
    assert malformed.exit_code == 2 and "bad.yaml:2: malformed YAML" in malformed.stderr


def test_database_unreachable_is_one_line_and_exit_1(tmp_path):
    cfg = tmp_path / "okrs.yaml"
    cfg.write_text("""
period: 2026-Q4
fetch: {retries: 1, retry_delay_seconds: 0}
sources:
  mes: {kind: sql, url_env: MES_URL}
objectives:
  - id: o
    title: O
    key_results:
      - {id: k, title: K, type: at_most, target: 1, metric: {source: mes, sql: SELECT 1}}
outputs: [{kind: xlsx, path: out.xlsx}]
""")
    result = invoke("run", cfg, env={"PREFECT_API_URL": "", "MES_URL": "postgresql+psycopg://okr:pw1234@127.0.0.1:1/mes"})
    assert result.exit_code == 1
    assert "source 'mes': cannot connect" in result.stderr and "(KR k)" in result.stderr
    assert "source 'mes': source" not in result.output and "pw1234" not in result.output
    assert "Traceback" not in result.output


def test_unwritable_output_exits_3_and_keeps_history_intact(factory):
    factory.write_text(factory.read_text().replace("path: out/okr-summary.xlsx", "path: /sys/okr-summary.xlsx"))  # no new files there
    result = invoke("run", factory)
    assert result.exit_code == 3 and "cannot write" in result.stderr and "Traceback" not in result.output


def test_bad_as_of_is_a_usage_error(factory):
    result = invoke("run", factory, "--as-of", "tomorrow")
    assert result.exit_code == 2 and "not an ISO date" in result.output


def test_example_command_creates_data(tmp_path):
    result = invoke("example", "factory", "--dir", tmp_path / "d", "--until", "2026-10-15")
    assert result.exit_code == 0
    assert (tmp_path / "d" / "mes.db").exists() and (tmp_path / "d" / "quality.xlsx").exists()
    assert invoke("example", "bakery").exit_code == 2


def test_debug_flag_shows_the_traceback(tmp_path):
    result = runner.invoke(app, ["--debug", "validate", str(tmp_path / "nope.yaml")])
    assert result.exit_code != 0
    assert result.exception is not None and type(result.exception).__name__ == "ConfigError"


def test_validate_of_a_register_config_says_where_the_krs_come_from():
    sheets = Path(__file__).resolve().parent.parent / "examples" / "sheets" / "okrs.yaml"
    result = invoke("validate", sheets, "--no-env-check")
    assert result.exit_code == 0, result.output
    assert "objectives and KRs from register tab 'OKRs' (read at sync time), 5 metric mappings" in result.stdout


@pytest.mark.parametrize("args,code,says", [
    (["validate", "missing.yaml"], 2, "file not found"),
    (["run", "okrs.yaml"], 0, "wrote "),
    (["run", "broken.yaml"], 1, "missing.db not found"),
    (["--version"], 0, "okr-sync "),
])
def test_the_installed_command_exits_with_the_same_codes_and_complete_output(factory, args, code, says):
    """`okr-sync` ends the process without tearing the interpreter down: output and files must be complete."""
    import os
    import sqlite3
    import subprocess
    import sys

    broken = factory.read_text().replace("url: sqlite:///data/mes.db", "url: sqlite:///data/missing.db")
    (factory.parent / "broken.yaml").write_text(broken.replace("path: out/okr-summary.xlsx", "path: out/broken.xlsx"))
    command = Path(sys.executable).parent / "okr-sync"
    env = {**os.environ, "PREFECT_API_URL": "", "COLUMNS": "200"}
    done = subprocess.run([str(command), *args], cwd=factory.parent, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == code, done.stdout + done.stderr
    assert says in done.stdout + done.stderr
    if args == ["run", "okrs.yaml"]:
        assert "8 KRs" in done.stdout or "defect-rate" in done.stdout  # the table was flushed before the exit
        history = sqlite3.connect(factory.parent / ".okr-sync" / "history.db")
        assert history.execute("SELECT COUNT(*) FROM okr_observations").fetchone()[0] == 8
        assert history.execute("SELECT status FROM okr_runs").fetchall() == [("completed",)]
        history.close()
