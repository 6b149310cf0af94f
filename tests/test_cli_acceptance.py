"""What acceptance runs of the command line found: one-line errors for command-line and machine problems, the
result shown even when an output fails, progress said once, ids never cut short."""
import json
import os
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.example_data import make_factory

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
COMMAND = Path(sys.executable).parent / "okr-sync"


@pytest.fixture
def factory(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", date(2026, 11, 27))
    return tmp_path / "okrs.yaml"


def okr_sync(*args, cwd: Path, **env) -> subprocess.CompletedProcess:
    """The installed command, as a user runs it (main(): its own handling of click's errors and of the exit)."""
    environment = {**os.environ, "PREFECT_API_URL": "", "COLUMNS": "200", **env}
    return subprocess.run([str(COMMAND), *map(str, args)], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,says", [
    (["preview", "okrs.yaml", "--format", "yaml"], "error: Invalid value: --format 'yaml': use table or json (see okr-sync preview --help)"),
    (["backfill", "okrs.yaml", "--from", "2026-10-01"], "error: Missing option '--to'. (see okr-sync backfill --help)"),
    (["run"], "error: Missing argument 'FILE'. (see okr-sync run --help)"),
    (["nosuch"], "error: No such command 'nosuch'. (see okr-sync --help)"),
    (["review", "okrs.yaml", "--offset-days", "-5"], "error: Invalid value for '--offset-days'"),
])
def test_a_command_line_mistake_is_one_line_naming_the_help_to_read(factory, args, says):
    done = okr_sync(*args, cwd=factory.parent)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(says) and done.stderr.count("\n") == 1, done.stderr


@pytest.mark.parametrize("args", [["init", "taken"], ["init", "taken/sub"], ["example", "factory", "--dir", "taken"]])
def test_a_file_where_a_folder_is_needed_is_one_line_not_an_internal_error(tmp_path, args):
    (tmp_path / "taken").write_text("a file\n")
    done = okr_sync(*args, cwd=tmp_path)
    assert done.returncode == 2  # a path given wrong, like a bad argument
    assert done.stderr.startswith("error: taken") and "a file is in the way where a folder is needed" in done.stderr
    assert "internal error" not in done.stderr and done.stderr.count("\n") == 1


@pytest.mark.parametrize("url,code,says", [
    ("postgresql+psycopg://postgres@127.0.0.1:1/x", 3, "error: cannot load the example into postgresql+psycopg://postgres@127.0.0.1:1/x: "),
    ("oracle://x@y/z", 2, "error: --postgres 'oracle': not a database okr-sync can load the example into"),
])
def test_example_into_a_database_it_cannot_use_is_one_line(tmp_path, url, code, says):
    done = okr_sync("example", "factory", "--dir", "data", "--postgres", url, cwd=tmp_path)
    assert done.returncode == code and done.stderr.startswith(says) and done.stderr.count("\n") == 1, done.stderr


def test_deploy_without_a_prefect_api_says_so_at_once_and_starts_no_server(factory, tmp_path):
    home = tmp_path / "prefect-home"  # a profile of its own: no PREFECT_API_URL in it
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(PREFECT_HOME=str(home), COLUMNS="200")
    done = subprocess.run([str(COMMAND), "deploy", "okrs.yaml"], cwd=factory.parent, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: PREFECT_API_URL is not set") and "temporary server" not in done.stdout + done.stderr
    assert not (home / "prefect.db").exists() and not list(home.glob("*.db"))  # no temporary server's database


def test_a_malformed_limit_is_a_command_line_error(factory):
    done = okr_sync("deploy", "okrs.yaml", "--limit", "jira", "--dry-run", cwd=factory.parent)
    assert done.returncode == 2 and done.stderr.startswith("error: --limit 'jira': write KIND=N")


def test_an_output_that_fails_leaves_the_others_written_and_the_result_shown(factory):
    # /sys takes no new files, not even from root: the HTML report cannot be written (validate cannot know)
    factory.write_text(factory.read_text() + "  - {kind: html, path: /sys/okr-report.html}\n  - {kind: xlsx, path: out/second.xlsx}\n")
    done = okr_sync("run", "okrs.yaml", "--format", "json", cwd=factory.parent)
    assert done.returncode == 3
    said = json.loads(done.stdout)
    assert said["ok"] is False and len(said["key_results"]) == 8
    assert said["written"] == ["out/okr-summary.xlsx", "out/second.xlsx"]
    assert len(said["output_errors"]) == 1 and said["output_errors"][0].startswith("cannot write HTML report /sys/okr-report.html")
    assert (factory.parent / "out" / "second.xlsx").exists()
    assert done.stderr.splitlines()[-1].startswith("error: cannot write HTML report /sys/okr-report.html")
    table = okr_sync("run", "okrs.yaml", cwd=factory.parent)
    assert table.returncode == 3 and "defect-rate" in table.stdout and "wrote out/second.xlsx" in table.stdout


def test_a_retry_is_said_once_and_a_failed_source_named_once(factory):
    factory.write_text(factory.read_text().replace("url: sqlite:///data/mes.db", "url_env: MES_URL")
                       + "fetch: {retries: 1, retry_delay_seconds: 0.1}\n")
    done = okr_sync("preview", "okrs.yaml", cwd=factory.parent, MES_URL="postgresql+psycopg://okr@127.0.0.1:1/x")
    assert done.returncode == 1
    retries = [line for line in done.stderr.splitlines() if "retry 1/1" in line]
    assert len(retries) == 1 and retries[0].startswith("source 'mes': retry 1/1 in 0 s: cannot connect to"), done.stderr
    failed = [line for line in done.stderr.splitlines() if "failed in" in line]
    assert len(failed) == 1 and failed[0].count("source 'mes'") == 1, failed


def test_kr_ids_are_never_cut_short_in_a_narrow_table(factory):
    (factory.parent / "data" / "quality.xlsx").unlink()  # long labels: "no_data (source failed)"
    result = CliRunner().invoke(app, ["preview", str(factory)], env={"PREFECT_API_URL": "", "COLUMNS": "80"})
    assert result.exit_code == 1
    assert "complaint-closure" in result.stdout and "…" not in result.stdout
    assert all(len(line) <= 80 for line in result.stdout.splitlines())


def test_validate_connect_reports_an_unreachable_database_without_python_class_names(factory):
    factory.write_text(factory.read_text().replace("url: sqlite:///data/mes.db", "url_env: MES_URL") + "fetch: {retries: 0}\n")
    done = okr_sync("validate", "okrs.yaml", "--connect", cwd=factory.parent, MES_URL="postgresql+psycopg://okr@127.0.0.1:1/x")
    assert done.returncode == 1
    assert "FAILED" in done.stderr and "cannot connect to" in done.stderr and "RetriableError" not in done.stderr


@pytest.mark.parametrize("days", ["3651", "100000000000"])
def test_a_review_offset_beyond_ten_years_is_a_command_line_error(factory, days):
    done = okr_sync("review", "okrs.yaml", "--offset-days", days, cwd=factory.parent)
    assert done.returncode == 2 and done.stderr.startswith("error: Invalid value for '--offset-days'"), done.stderr
    assert done.stderr.count("\n") == 1


def test_a_file_name_with_control_codes_is_printed_harmlessly(factory):
    odd = factory.parent / "e\x1b[2Jx.yaml"
    odd.write_text(factory.read_text())
    for command in (["validate", odd.name], ["lint", odd.name]):
        done = okr_sync(*command, cwd=factory.parent)
        assert done.returncode == 0, done.stderr
        assert "\x1b" not in done.stdout + done.stderr and "e\\x1b[2Jx.yaml" in done.stdout + done.stderr


def test_a_log_warning_reads_like_every_other_line(factory, tmp_path):
    factory.write_text(factory.read_text() + "alerts: {notify: [custom-webhook/nope]}\n"
                       .replace("nope", f"nope-{tmp_path.name[-6:]}"))
    home = tmp_path / "prefect-home"
    done = okr_sync("run", "okrs.yaml", cwd=factory.parent, PREFECT_HOME=str(home))
    lines = [line for line in done.stderr.splitlines() if "notification block" in line]
    assert lines and all(line.startswith("warning: ") for line in lines), done.stderr
    assert "ERROR" not in done.stderr and "telemetry" not in done.stderr
