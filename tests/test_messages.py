"""Messages people read: each error said once, naming its source once; text from outside never becomes markup;
status labels say what is true."""
from __future__ import annotations

import sqlite3

import pytest
from typer.testing import CliRunner

from connectors.base import SourceError, source_message
from flows.cli import app
from flows.pipeline import settle
from mapping.config import Config
from mapping.results import KRResult
from mapping.rollup import rollup


def test_a_source_is_named_once_however_often_the_error_was_wrapped():
    inner = source_message("jira", "Jira rejected JQL 'x'")
    assert source_message("jira", f"numerator: {inner}") == "source 'jira': numerator: Jira rejected JQL 'x'"

    def boom() -> dict:
        raise SourceError(inner)
    answers = settle("jira", ["q"], boom)  # type: ignore[list-item]
    assert str(answers["q"]) == "source 'jira': Jira rejected JQL 'x'"


def test_text_from_sources_is_printed_verbatim_never_as_terminal_markup(tmp_path):
    db = sqlite3.connect(tmp_path / "mes.db")
    db.execute("CREATE TABLE t (x TEXT)")
    db.execute("INSERT INTO t VALUES ('x')")
    db.commit()
    db.close()
    (tmp_path / "okrs.yaml").write_text("""
period: 2026-Q4
history: sqlite:///h.db
sources:
  mes: {kind: sql, url: "sqlite:///mes.db"}
  sheet: {kind: file, path: "data/[postgres] [bold]x[/bold].csv"}
objectives:
  - id: o
    title: O
    key_results:
      - {id: a, title: A, baseline: 0, target: 10, metric: {source: sheet, column: v}}
      - {id: b, title: B, baseline: 0, target: 10, metric: {source: mes, sql: "SELECT COUNT(*) FROM nowhere"}}
""")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "okrs.yaml")], env={"PREFECT_API_URL": ""})
    assert result.exit_code == 1
    assert "data/[postgres] [bold]x[/bold].csv not found" in result.stderr
    assert "no such table: nowhere" in result.stderr
    assert "no_data (source failed)" in result.stdout


def kr(id_: str, value, status: str, error: str = "") -> KRResult:
    return KRResult("o", id_, value, None if value is None else 0.5, None if value is None else 0.5, 0.4, status, error=error)


def test_status_labels_say_whether_a_value_is_stale_or_missing():
    assert kr("a", 3.0, "on_track").label == "on_track"
    assert kr("a", 3.0, "on_track", error="boom").label == "on_track (stale)"
    assert kr("a", None, "no_data", error="boom").label == "no_data (source failed)"
    assert kr("a", None, "no_data").label == "no_data"


def test_an_objective_is_as_good_as_its_measured_krs_and_no_data_only_when_none_is_measured():
    config = Config.model_validate({"period": "2026-Q4", "objectives": [
        {"id": "o", "title": "O", "key_results": [{"id": "a", "title": "A", "baseline": 0, "target": 10},
                                                 {"id": "b", "title": "B", "baseline": 0, "target": 10}]},
        {"id": "p", "title": "P", "key_results": [{"id": "c", "title": "C", "baseline": 0, "target": 10}]}]})
    results = {"a": kr("a", 5.0, "on_track"), "b": kr("b", None, "no_data"), "c": kr("c", None, "no_data", error="x")}
    by_id = {r.objective.id: r for r in rollup(config, results)}
    assert (by_id["o"].status, by_id["o"].measured, by_id["o"].total) == ("on_track", 1, 2)
    assert by_id["p"].status == "no_data"


def test_validate_reports_the_default_google_credentials_variable_when_it_is_unset(write_config):
    import pytest

    from mapping.errors import ConfigError
    from mapping.loader import load_config
    path = write_config("""
        period: 2026-Q4
        sources:
          survey: {kind: sheets, spreadsheet: 1AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdEF}
        objectives:
          - id: o
            title: O
            key_results:
              - {id: nps, title: NPS, baseline: 0, target: 50, metric: {source: survey, cell: "Survey!B2"}}
        outputs:
          - {kind: sheets, spreadsheet: 1ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210zyxwVU}
    """)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert message.count("environment variable GOOGLE_APPLICATION_CREDENTIALS is not set (the default Google credentials") == 2
    assert f"{path}:3: sources.survey:" in message and "outputs[0]:" in message
    load_config(path, env={"GOOGLE_APPLICATION_CREDENTIALS": "/keys/sa.json"})
    load_config(path, env={}, check_env=False)


def test_progress_says_each_sources_state_and_counts_down_a_retry():
    import io

    from rich.console import Console

    from flows.run_view import SourceProgress
    plain = io.StringIO()
    progress = SourceProgress(Console(file=plain, force_terminal=False, width=200))
    progress.on_step("fetching 2 queries from 1 sources")
    progress.on_source("mes", "fetching", "2 queries")
    progress.on_source("mes", "retry", "retry 1/2: cannot connect to postgresql+psycopg://okr@db/mes: connection refused", 10.0)
    progress.on_source("mes", "failed", "source 'mes': cannot connect", 31.2)
    lines = plain.getvalue().splitlines()
    assert lines[0] == "fetching 2 queries from 1 sources..."
    assert lines[1].startswith("source 'mes': fetching (2 queries)")
    assert lines[2] == "source 'mes': retry 1/2 in 10 s: cannot connect to postgresql+psycopg://okr@db/mes: connection refused"
    assert lines[3] == "source 'mes': failed in 31.2 s: cannot connect"
    live = SourceProgress(Console(file=io.StringIO(), force_terminal=True, width=200))
    live.on_source("jira", "retry", "retry 2/2: 429 Too Many Requests", 30.0)
    shown = io.StringIO()
    Console(file=shown, width=200, force_terminal=False).print(live)
    assert "source 'jira': retry 2/2 in 30 s: 429 Too Many Requests" in shown.getvalue() or "in 29 s" in shown.getvalue()


def test_a_large_config_shows_a_summary_and_all_shows_every_kr(tmp_path):
    db = sqlite3.connect(tmp_path / "mes.db")
    db.execute("CREATE TABLE t (x INTEGER)")
    db.execute("INSERT INTO t VALUES (5)")
    db.commit()
    db.close()
    krs = "\n".join(f"      - {{id: kr{i:02d}, title: KR {i}, baseline: 0, target: {10 if i % 3 else 100}, "
                    f"metric: {{source: mes, sql: \"SELECT x + {i % 7} FROM t\"}}}}" for i in range(60))
    (tmp_path / "okrs.yaml").write_text(f"period: 2026-Q4\nhistory: sqlite:///h.db\nsources:\n  mes: {{kind: sql, url: 'sqlite:///mes.db'}}\n"
                                        f"objectives:\n  - id: o\n    title: O\n    key_results:\n{krs}\n")
    runner = CliRunner()
    summary = runner.invoke(app, ["preview", str(tmp_path / "okrs.yaml")], env={"PREFECT_API_URL": "", "COLUMNS": "120"})
    assert summary.exit_code == 0, summary.output
    assert "60 KRs - " in summary.stdout and "The 10 worst KRs (all 60: --all, or --format json)" in summary.stdout
    assert summary.stdout.count("│ kr") == 10
    full = runner.invoke(app, ["preview", str(tmp_path / "okrs.yaml"), "--all"], env={"PREFECT_API_URL": "", "COLUMNS": "120"})
    assert full.stdout.count("│ kr") == 60
    data = runner.invoke(app, ["preview", str(tmp_path / "okrs.yaml"), "--format", "json"], env={"PREFECT_API_URL": ""})
    import json
    rows = json.loads(data.stdout)["key_results"]
    assert len(rows) == 60 and rows[0]["kr_id"] == "kr00" and rows[0]["value"] == 5.0


@pytest.mark.parametrize("encoding, marks", [("utf-8", ("✓", "✗")), ("ascii", ("+", "x"))])
def test_the_live_view_marks_each_source_in_what_the_terminal_can_show(encoding, marks):
    import io

    from rich.console import Console

    from flows.run_view import SourceProgress

    class Terminal(io.StringIO):
        @property
        def encoding(self) -> str:  # what the terminal's locale says it can show
            return encoding

    screen = Terminal()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    progress = SourceProgress(console)
    progress.on_source("mes", "done", "", 0.2)
    progress.on_source("jira", "failed", "source 'jira': HTTP 401", 1.5)
    console.print(progress)
    shown = screen.getvalue()
    assert f"{marks[0]} source 'mes': done in 0.2 s" in shown
    assert f"{marks[1]} source 'jira': failed in 1.5 s: HTTP 401" in shown
