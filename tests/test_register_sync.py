"""A sync whose OKRs live in a register sheet: measured columns written back, human columns untouched,
a manual value overriding the source and recorded as manual in history."""
from __future__ import annotations

import logging
import sqlite3
from datetime import datetime, timezone

import pytest

from fakes.sheets_fake import SheetsFake
from flows.pipeline import run_sync
from mapping.errors import OkrSyncError
from mapping.loader import load_config

KEY_REG = "1Register000000000000000000000000000000000RR"
KEY_KPI = "1Survey00000000000000000000000000000000000BB"
KEY_OUT = "1Summary000000000000000000000000000000000CC"
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)
HEADER = ["Objective id", "Objective", "Level", "Aligns to", "KR id", "Key result", "Owner", "Type", "Baseline",
          "Target", "Unit", "Committed", "Manual value", "Notes", "Current", "Progress", "Score", "Status", "Last synced"]
HUMAN = range(0, 14)  # columns A..N are typed by people
REGISTER = [
    HEADER,
    ["sales", "Grow revenue", "company", "", "rev", "Revenue 1M", "Ann", "increase", 0, 1000000, "EUR", True, "", "=not a formula, a note"],
    ["", "", "", "", "nps", "NPS 40+", "Bob", "at_least", 30, 40, "pts", False, "", ""],
    [],
    ["ops", "Ship on time", "department", "rev", "otd", "On-time delivery", "Cy", "increase", 80, 95, "%", "", 91, "typed in the review"],
    ["ops", "", "", "", "churn", "Churn below 2%", "Di", "decrease", 5, 2, "%"],
]


@pytest.fixture
def env(sheets_env):
    return sheets_env


@pytest.fixture
def fake(sheets_fake):
    sheets_fake.add_spreadsheet(KEY_REG, "OKR register", {"OKRs": REGISTER})
    sheets_fake.add_spreadsheet(KEY_KPI, "KPIs", {"KPIs": [["revenue", 250000], ["nps", 38], ["otd", 85]]})
    sheets_fake.add_spreadsheet(KEY_OUT, "Summary")
    return sheets_fake


@pytest.fixture
def config_path(write_config):
    return write_config(f"""
        period: 2026-Q4
        history: sqlite:///history.db
        sources:
          kpis: {{kind: sheets, spreadsheet: {KEY_KPI}, credentials_env: SA_KEY}}
        okrs:
          from: sheets
          spreadsheet: https://docs.google.com/spreadsheets/d/{KEY_REG}/edit
          worksheet: OKRs
          credentials_env: SA_KEY
          metrics:
            rev: {{source: kpis, cell: "'KPIs'!B1"}}
            nps: {{source: kpis, cell: "'KPIs'!B2"}}
            otd: {{source: kpis, cell: "'KPIs'!B3"}}
        outputs:
          - {{kind: sheets, spreadsheet: {KEY_OUT}, credentials_env: SA_KEY}}
        """)


def sync(path, env):
    return run_sync(load_config(path, env=env), NOW, env=env)


def human_cells(fake: SheetsFake) -> dict:
    return {k: v for k, v in fake.tab(KEY_REG, "OKRs").cells.items() if k[1] in HUMAN}


def test_measured_columns_are_written_back_and_human_columns_are_untouched(fake, config_path, env):
    before = human_cells(fake)
    outcome = sync(config_path, env)
    assert human_cells(fake) == before
    rows = fake.values(KEY_REG, "OKRs")
    measured = {row[4]: row[14:19] for row in rows[1:] if len(row) > 4 and row[4]}
    # rev: 250000 of 0 -> 1,000,000 = 0.25; nps: at_least 40 breached at 38, baseline 30 -> (38-30)/(40-30) = 0.8
    assert measured["rev"][:3] == [250000, 0.25, 0.25]
    assert measured["nps"][:3] == [38, 0.8, 0.8]
    # otd: the manual 91 wins over the source's 85: (91-80)/(95-80) = 0.7333
    assert measured["otd"][:3] == [91, pytest.approx(0.7333, abs=1e-4), 0.73]
    assert measured["churn"] == ["", "", "", "no_data", "2026-11-15 12:00"]
    assert [measured[k][3] for k in ("rev", "nps", "otd")] == [outcome.results[k].status for k in ("rev", "nps", "otd")]
    assert {measured[k][4] for k in measured} == {"2026-11-15 12:00"}
    assert rows[3] == []  # the blank row stays blank


def test_manual_value_is_recorded_with_provenance_manual(fake, config_path, env, tmp_path):
    outcome = sync(config_path, env)
    assert outcome.results["otd"].provenance == "manual" and outcome.results["otd"].value == 91.0
    with sqlite3.connect(tmp_path / "history.db") as db:
        rows = dict(db.execute("select kr_id, provenance from okr_observations").fetchall())
        value = db.execute("select value from okr_observations where kr_id = 'otd'").fetchone()[0]
    assert rows == {"rev": "auto", "nps": "auto", "otd": "manual"} and value == 91.0


def test_unmapped_kr_is_reported_and_still_in_the_summary(fake, config_path, env, caplog):
    with caplog.at_level(logging.WARNING, logger="okr_sync"):
        outcome = sync(config_path, env)
    assert any("'churn' has no metric" in r.getMessage() and "row 6" in r.getMessage() for r in caplog.records)
    assert outcome.results["churn"].status == "no_data"
    assert "churn" in [row[1] for row in fake.values(KEY_OUT, "Summary")]


def test_register_sync_request_counts_and_a_second_sync_writes_nothing_to_the_register(fake, config_path, env):
    sync(config_path, env)
    # the register: one read (spreadsheets.get with grid data) and one write (its grid fits: a RAW values write)
    assert fake.count("metadata", KEY_REG) == 1 and fake.count("values.batchUpdate", KEY_REG) == 1 and fake.count(key=KEY_REG) == 2
    assert fake.count("batchGet", KEY_REG) == 0 and fake.count("batchUpdate", KEY_REG) == 0
    register_after_first = fake.snapshot(KEY_REG)
    summary_after_first = fake.snapshot(KEY_OUT)
    sync(config_path, env)
    assert fake.count("metadata", KEY_REG) == 2 and fake.count("values.batchUpdate", KEY_REG) == 1  # nothing changed: no write
    assert fake.count(key=KEY_REG) == 3
    assert fake.snapshot(KEY_REG) == register_after_first and fake.snapshot(KEY_OUT) == summary_after_first
    writes = [body for kind, body in fake.bodies if kind == "values.batchUpdate"]
    assert {w["valueInputOption"] for w in writes} == {"RAW"}


def test_a_bad_register_row_stops_the_sync_before_anything_is_written(fake, config_path, env):
    fake.tab(KEY_REG, "OKRs").cells[(2, 9)] = 30  # nps: target = baseline
    with pytest.raises(OkrSyncError) as info:
        sync(config_path, env)
    assert "register 'OKRs' row 3, column 'Target': baseline equals target" in str(info.value)
    assert fake.count("values.batchUpdate") == 0 and fake.count("batchUpdate") == 0


def test_register_not_shared_names_the_service_account(fake, config_path, env):
    fake.books[KEY_REG].access = "forbidden"
    with pytest.raises(OkrSyncError) as info:
        sync(config_path, env)
    assert "403" in str(info.value) and "okr-sync@acme-okrs.iam.gserviceaccount.com" in str(info.value)


def test_the_prefect_flow_syncs_a_register_with_one_task_per_source(prefect_harness, fake, config_path, env, monkeypatch):
    from flows.sync import sync_okrs
    monkeypatch.setenv("SA_KEY", env["SA_KEY"])
    state = sync_okrs(str(config_path), now=NOW, return_state=True)
    assert state.is_completed(), state.message
    assert state.message == "4 KRs synced"
    assert fake.count("batchGet", KEY_KPI) == 1 and fake.count("values.batchUpdate", KEY_REG) == 1
    rows = fake.values(KEY_REG, "OKRs")
    assert rows[1][14:17] == [250000, 0.25, 0.25]
