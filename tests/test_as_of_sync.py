"""As-of syncs and backfill: every KR as it stood at the end of a past day, recorded under that day."""
from __future__ import annotations

import json
import sqlite3
from datetime import date, timedelta
from pathlib import Path

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from connectors.history import HistoryStore
from flows.backfill import run_backfill
from flows.cli import app
from flows.pipeline import history_scope, run_sync
from mapping.errors import ConfigError
from mapping.loader import load_config

Q4_START = date(2026, 10, 1)
DAYS = [Q4_START + timedelta(days=i) for i in range(40)]
PRODUCED = {day: 1000 + 37 * i for i, day in enumerate(DAYS)}
DEFECTS = {day: (i * 7) % 13 for i, day in enumerate(DAYS)}
CONFIG = """
period: 2026-Q4
workspace: plant
history: sqlite:///history.db
timezone: Europe/Berlin
sources:
  mes: {kind: sql, url: "sqlite:///mes.db"}
  quality: {kind: file, path: quality.xlsx}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: produced
        title: Units produced this quarter
        baseline: 0
        target: 100000
        metric: {source: mes, sql: "SELECT SUM(produced) FROM production WHERE day BETWEEN :start AND :end"}
      - id: defect-rate
        title: Daily defect rate at most 1%
        type: at_most
        target: 1
        metric:
          source: mes
          series: true
          sql: "SELECT day, 100.0 * SUM(defects) / SUM(produced) FROM production WHERE day BETWEEN :start AND :end GROUP BY day ORDER BY day"
      - id: audit
        title: Audit passed
        type: milestone
        metric: {source: quality, sheet: Audit, cell: B2}
"""


@pytest.fixture
def plant(tmp_path) -> Path:
    db = sqlite3.connect(tmp_path / "mes.db")
    db.execute("CREATE TABLE production (day TEXT, produced INTEGER, defects INTEGER)")
    db.executemany("INSERT INTO production VALUES (?, ?, ?)", [(d.isoformat(), PRODUCED[d], DEFECTS[d]) for d in DAYS])
    db.commit()
    db.close()
    book = Workbook()
    sheet = book.active
    sheet.title = "Audit"
    sheet.append(["audit", "passed"])
    sheet.append(["ISO 9001", 1])
    book.save(tmp_path / "quality.xlsx")
    path = tmp_path / "okrs.yaml"
    path.write_text(CONFIG)
    return path


def produced_until(day: date) -> float:
    return float(sum(v for d, v in PRODUCED.items() if d <= day))


def test_as_of_computes_each_kr_at_the_end_of_that_day(plant):
    day = date(2026, 10, 15)
    outcome = run_sync(load_config(plant), as_of=day)
    results = outcome.results
    assert results["produced"].value == produced_until(day)
    assert results["defect-rate"].value == pytest.approx(100.0 * DEFECTS[day] / PRODUCED[day])
    assert results["produced"].expected == round(15 / 92, 4)  # expected progress at the end of Oct 15
    assert results["audit"].stale and "cannot be evaluated as of a past day" in results["audit"].error
    store = HistoryStore.open(f"sqlite:///{plant.parent / 'history.db'}", read_only=True, scope=history_scope(load_config(plant)))
    assert store is not None
    assert store.series("produced") == [(day, produced_until(day))]
    assert store.current_errors(["audit"]) == {}  # a past day's failure is not today's stale state
    store.close()


def test_as_of_before_the_period_is_one_line_error(plant):
    with pytest.raises(ConfigError, match="--as-of 2026-09-30 is before period 2026-Q4 starts"):
        run_sync(load_config(plant), as_of=date(2026, 9, 30))


def test_backfill_records_each_days_value_and_asks_a_series_query_once(plant):
    config = load_config(plant)
    outcome = run_backfill(config, date(2026, 10, 1), date(2026, 10, 20))
    assert outcome.evaluated == DAYS[:20] and outcome.skipped == []
    assert outcome.stale == {"audit": 20}
    assert outcome.queries_sent == 1 + 20 + 20  # the series once; produced and the audit cell once a day each
    store = HistoryStore(f"sqlite:///{plant.parent / 'history.db'}", scope=history_scope(config))
    assert store.series("produced", limit=100) == [(d, produced_until(d)) for d in DAYS[:20]]
    rates = store.series("defect-rate", limit=100)
    assert [d for d, _ in rates] == DAYS[:20]
    assert [v for _, v in rates] == pytest.approx([100.0 * DEFECTS[d] / PRODUCED[d] for d in DAYS[:20]])
    assert len(store.runs(100)) == 20
    store.close()


def test_backfill_resumes_where_it_stopped_and_overwrite_redoes_days(plant):
    config = load_config(plant.parent / "okrs.yaml")
    plant.write_text(CONFIG.replace("      - id: audit\n        title: Audit passed\n        type: milestone\n"
                                    "        metric: {source: quality, sheet: Audit, cell: B2}\n", ""))
    config = load_config(plant)
    first = run_backfill(config, date(2026, 10, 1), date(2026, 10, 10))
    assert len(first.evaluated) == 10 and first.ok
    second = run_backfill(config, date(2026, 10, 1), date(2026, 10, 20), every="day")
    assert second.skipped == DAYS[:10] and second.evaluated == DAYS[10:20]
    weekly = run_backfill(config, date(2026, 10, 1), date(2026, 10, 29), every="week", overwrite=True)
    assert weekly.evaluated == [date(2026, 10, 1), date(2026, 10, 8), date(2026, 10, 15), date(2026, 10, 22), date(2026, 10, 29)]


def test_backfill_cli_shows_progress_result_and_exit_code(plant):
    result = CliRunner().invoke(app, ["backfill", str(plant), "--from", "2026-10-01", "--to", "2026-10-05"], env={"PREFECT_API_URL": ""})
    assert result.exit_code == 1  # the audit cell cannot be evaluated as of a past day
    assert "backfill: 5 day(s) evaluated, 0 already recorded" in result.stdout
    assert "audit: not evaluated on 5 day(s): " in result.stderr and "cannot be evaluated as of a past day" in result.stderr
    assert not (plant.parent / "out").exists()
    bad = CliRunner().invoke(app, ["backfill", str(plant), "--from", "2026-09-01", "--to", "2026-10-05"])
    assert bad.exit_code == 2 and "before period 2026-Q4 starts" in bad.output and "Traceback" not in bad.output


def test_history_cli_prints_table_csv_and_json(plant):
    run_backfill(load_config(plant), date(2026, 10, 1), date(2026, 10, 4))
    runner = CliRunner()
    table = runner.invoke(app, ["history", str(plant), "produced"])
    assert table.exit_code == 0, table.output
    assert "History of workspace plant - period 2026-Q4" in table.stdout and "2026-10-01" in table.stdout and "▁" in table.stdout
    rows = json.loads(runner.invoke(app, ["history", str(plant), "produced", "--format", "json"]).stdout)
    assert [(r["day"], r["value"]) for r in rows] == [(d.isoformat(), produced_until(d)) for d in DAYS[:4]]
    text = runner.invoke(app, ["history", str(plant), "--format", "csv"]).stdout.splitlines()
    assert text[0] == "kr_id,day,value,score,status,source,provenance,run_id" and len(text) == 1 + 8
    other = runner.invoke(app, ["history", str(plant), "--period", "2026-Q3"])
    assert "no history recorded for workspace 'plant' in period 2026-Q3" in other.stdout
    unknown = runner.invoke(app, ["history", str(plant), "nope"])
    assert unknown.exit_code == 2 and "no key result 'nope'" in unknown.output


def test_explain_lays_out_source_parameters_answer_and_arithmetic(plant):
    run_backfill(load_config(plant), date(2026, 10, 1), date(2026, 10, 3))
    result = CliRunner().invoke(app, ["explain", str(plant), "produced", "--as-of", "2026-10-03"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    value = produced_until(date(2026, 10, 3))
    assert "source 'mes' (sql)" in text and '"end": "2026-10-03"' in text and '"start": "2026-10-01"' in text
    assert f"answer of 'mes': {value:g}" in text
    assert f"progress = clamp((current - baseline) / (target - baseline)) = clamp(({value:g} - 0) / (100000 - 0)) = {value / 100000:.4f}" in text
    assert "last observations: 2026-10-01" in text and "last recorded run" in text
