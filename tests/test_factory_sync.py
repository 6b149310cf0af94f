"""The embedded default end to end: factory example data -> sync -> history + workbook, checked against Python arithmetic."""
import shutil
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from flows.example_data import make_factory
from flows.pipeline import run_sync
from mapping.loader import load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "factory" / "okrs.yaml"
UNTIL = date(2026, 11, 27)
# openpyxl drops the Dashboard's Excel sparklines (an x14 extension) with a warning when it reads the workbook
pytestmark = pytest.mark.filterwarnings("ignore:Sparkline Group extension")
NOW = datetime(2026, 11, 28, 9, 0, tzinfo=ZoneInfo("Europe/Berlin"))


@pytest.fixture
def factory(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / "okrs.yaml")
    make_factory(tmp_path / "data", UNTIL)
    return load_config(tmp_path / "okrs.yaml")


def python_answers(data_dir: Path) -> dict[str, float]:
    """The KR values worked out from the raw rows in plain Python (no SQL aggregation)."""
    db = sqlite3.connect(data_dir / "mes.db")
    rows = db.execute("SELECT day, line, produced, defects, energy_kwh, downtime_min FROM production").fetchall()
    deliveries = db.execute("SELECT due_day, shipped_day FROM deliveries").fetchall()
    db.close()
    last_day = max(date.fromisoformat(r[0]) for r in rows)
    week = [r for r in rows if date.fromisoformat(r[0]) > last_day - timedelta(days=7)]
    shipped = [d for d in deliveries if d[1] is not None]
    line_b = [r for r in week if r[1] == "B"]
    return {
        "defect-rate": 100 * sum(r[3] for r in week) / sum(r[2] for r in week),
        "energy-per-unit": sum(r[4] for r in week) / sum(r[2] for r in week),
        "line-b-defects": 100 * sum(r[3] for r in line_b) / sum(r[2] for r in line_b),
        "downtime": 100 * sum(r[5] for r in week) / (len(week) * 480),
        "on-time-delivery": 100 * sum(1 for d in shipped if d[1] <= d[0]) / len(shipped),
        "nps": round(100 * (66 - 24) / 152),   # November's survey row
        "complaint-closure": 74.0,              # November's "74%"
        "8d-rollout": 1.0,
    }


def test_factory_sync_values_match_the_raw_data(factory, tmp_path):
    outcome = run_sync(factory, NOW)
    expected = python_answers(tmp_path / "data")
    assert {k: r.value for k, r in outcome.results.items()} == pytest.approx(expected)
    assert outcome.ok and outcome.plan.query_count == 8
    assert sorted(outcome.plan.by_source) == ["mes", "quality"]
    defect = outcome.results["defect-rate"]
    if defect.value <= 0.5:
        assert defect.progress == 1.0
    else:
        assert defect.progress == pytest.approx(max(0.0, min(1.0, (defect.value - 1.2) / (0.5 - 1.2))))
    nps = outcome.results["nps"]
    assert nps.progress == pytest.approx((expected["nps"] - 20) / 20)
    assert nps.expected == pytest.approx((58 + 9 / 24) / 92, abs=1e-4)  # 2026-11-28 09:00 wall-clock time in Berlin


def test_workbook_has_summary_and_objectives_with_formats(factory, tmp_path):
    outcome = run_sync(factory, NOW)
    (path,) = outcome.written
    assert path == tmp_path / "out" / "okr-summary.xlsx"
    book = load_workbook(path)
    assert book.sheetnames == ["Dashboard", "Summary", "Objectives", "History"] and book.active.title == "Dashboard"
    assert book["Dashboard"]["A1"].value.startswith("OKR dashboard · ") and "2026-Q4" in book["Dashboard"]["A1"].value
    history = {row[0]: row for row in book["History"].iter_rows(min_row=2, values_only=True)}
    assert history["nps"][-1] == outcome.results["nps"].value       # today's value in the newest day column
    # a first sync has history for one day only: the axis starts there, no empty day columns
    assert [c.value for c in book["History"][1]] == ["KR id", "Key result", "Unit", "Trend", "Latest",
                                                     NOW.date().isoformat()]
    assert book["History"]["F2"].number_format == "#,##0.00"
    summary = book["Summary"]
    header = [c.value for c in summary[1]]
    assert header[:17] == ["Objective", "KR id", "Key result", "Owner", "Type", "Type label", "Committed", "Unit",
                           "Baseline", "Target", "Current", "Progress", "Score", "Expected", "Status", "Status label",
                           "Change"]
    rows = {row[1]: dict(zip(header, row)) for row in summary.iter_rows(min_row=2, values_only=True)}
    assert set(rows) == set(outcome.results)
    assert rows["nps"]["Type label"] == "Increase" and rows["defect-rate"]["Type label"] == "Stay at most"
    labels = {"done": "Done", "on_track": "On track", "at_risk": "At risk", "off_track": "Off track"}
    assert all(row["Status label"] == labels[row["Status"]] for row in rows.values())
    assert rows["nps"]["Current"] == outcome.results["nps"].value
    assert rows["nps"]["Owner"] == "Head of Sales" and rows["energy-per-unit"]["Owner"] == "Head of Production"
    assert summary.freeze_panes == "A2"
    progress_cell = summary.cell(row=2, column=header.index("Progress") + 1)
    assert progress_cell.number_format == "0.0%"
    status_cell = summary.cell(row=2, column=header.index("Status") + 1)
    assert status_cell.fill.fgColor.rgb.endswith({"done": "C6EFCE", "on_track": "DDEBF7", "at_risk": "FFEB9C",
                                                  "off_track": "FFC7CE"}[status_cell.value])
    objectives = [row for row in book["Objectives"].iter_rows(min_row=2, values_only=True)]
    assert [row[0] for row in objectives] == ["reliable-supplier", "lean-lines", "customer-voice"]
    assert objectives[1][1].startswith("    ") and objectives[1][4] == "defect-rate"
    lean = [outcome.results[k].score for k in ("energy-per-unit", "line-b-defects", "downtime")]
    assert objectives[1][7] == pytest.approx(sum(lean) / 3, abs=1e-4)


def test_running_twice_the_same_day_keeps_one_history_row_per_kr(factory, tmp_path):
    run_sync(factory, NOW)
    first = (tmp_path / "out" / "okr-summary.xlsx").read_bytes()
    run_sync(factory, NOW + timedelta(hours=3))
    engine = sa.create_engine(f"sqlite:///{tmp_path / '.okr-sync' / 'history.db'}")
    with engine.connect() as conn:
        per_day = conn.execute(sa.text("SELECT kr_id, day, COUNT(*) FROM okr_observations GROUP BY kr_id, day")).fetchall()
        runs = conn.execute(sa.text("SELECT COUNT(*) FROM okr_runs")).scalar()
    assert len(per_day) == 8 and all(count == 1 for _, _, count in per_day)
    assert runs == 2
    second = load_workbook(tmp_path / "out" / "okr-summary.xlsx")["Summary"]
    assert second.max_row == 9
    assert first  # a workbook existed before being replaced


def test_a_failing_source_marks_only_its_krs_stale_and_keeps_last_good_values(factory, tmp_path):
    good = run_sync(factory, NOW)
    (tmp_path / "data" / "quality.xlsx").unlink()
    later = NOW + timedelta(days=1)
    outcome = run_sync(factory, later)
    stale = {r.kr_id for r in outcome.stale_krs}
    assert stale == {"nps", "complaint-closure", "8d-rollout"}
    assert outcome.failed_sources == ["quality"]
    for kr_id in stale:
        result = outcome.results[kr_id]
        assert result.value == good.results[kr_id].value          # last good value kept
        assert result.as_of == good.results[kr_id].as_of.astimezone(result.as_of.tzinfo)
        assert result.stale_since == later and "quality.xlsx not found" in result.error
    fresh = outcome.results["defect-rate"]
    assert not fresh.stale and fresh.as_of == later
    summary = load_workbook(outcome.written[0])["Summary"]
    header = [c.value for c in summary[1]]
    rows = {row[1]: dict(zip(header, row)) for row in summary.iter_rows(min_row=2, values_only=True)}
    assert "not found" in rows["nps"]["Error"] and rows["defect-rate"]["Error"] is None
    assert rows["nps"]["Status label"] == "Stale" and rows["nps"]["Stale since"] == later.replace(tzinfo=None)
    # a third failing run keeps the first "stale since"
    third = run_sync(factory, later + timedelta(days=1))
    assert third.results["nps"].stale_since == later
    assert "2 KR(s)" not in third.failure_message() and "(KRs nps, complaint-closure, 8d-rollout)" in third.failure_message()


def test_preview_writes_and_records_nothing(factory, tmp_path):
    outcome = run_sync(factory, NOW, write=False)
    assert outcome.results["defect-rate"].value is not None
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / ".okr-sync").exists()
