"""History as a keyed time series: workspaces and periods never mix, 0.1 databases are migrated, runs are a ledger."""
from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from connectors.history import HistoryStore, Scope
from flows.pipeline import history_scope, run_sync
from mapping.loader import load_config

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """
period: {period}
{workspace}
history: {history}
timezone: Europe/Berlin
sources:
  mes: {{kind: sql, url: "sqlite:///mes.db"}}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: nps
        title: Units produced
        baseline: 0
        target: 100000
        metric:
          source: mes
          sql: "SELECT COALESCE(SUM(produced), 0) FROM production WHERE day BETWEEN :start AND :end"
          max_change: "50%"
"""


def mes(folder: Path, rows: list[tuple[str, int]]) -> None:
    db = sqlite3.connect(folder / "mes.db")
    db.execute("CREATE TABLE IF NOT EXISTS production (day TEXT, produced INTEGER)")
    db.execute("DELETE FROM production")
    db.executemany("INSERT INTO production VALUES (?, ?)", rows)
    db.commit()
    db.close()


def config_file(folder: Path, period: str = "2026-Q4", workspace: str = "", history: str = "sqlite:///history.db",
                name: str = "okrs.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(CONFIG.format(period=period, workspace=f"workspace: {workspace}" if workspace else "", history=history))
    return path


def at(day: str, hour: int = 8) -> datetime:
    return datetime.fromisoformat(f"{day}T{hour:02d}:00:00+00:00")


def test_a_new_quarter_with_the_same_kr_ids_starts_its_own_series(tmp_path):
    mes(tmp_path, [("2026-09-29", 1000), ("2026-09-30", 1000), ("2026-10-01", 100)])
    q3 = load_config(config_file(tmp_path, "2026-Q3"))
    assert run_sync(q3, at("2026-09-30")).results["nps"].value == 2000
    q4 = load_config(config_file(tmp_path, "2026-Q4"))
    first = run_sync(q4, at("2026-10-01"))
    mes(tmp_path, [("2026-09-29", 1000), ("2026-09-30", 1000), ("2026-10-01", 100), ("2026-10-02", 40)])
    # Q3's last value (2000) is neither the change base nor the quality gate's reference: 100 is not a -95% jump
    assert first.results["nps"].value == 100 and not first.results["nps"].stale
    assert first.results["nps"].previous_value is None and first.results["nps"].delta is None
    second = run_sync(q4, at("2026-10-02"))
    assert second.results["nps"].previous_value == 100 and second.results["nps"].value == 140  # +40%: within max_change
    history = second.tables[2]
    assert [c.name for c in history.columns if c.kind == "series" and c.name] == ["2026-10-01", "2026-10-02"]
    for period, expected in (("2026-Q3", [(date(2026, 9, 30), 2000.0)]), ("2026-Q4", [(date(2026, 10, 1), 100.0), (date(2026, 10, 2), 140.0)])):
        store = HistoryStore.open(f"sqlite:///{tmp_path / 'history.db'}", read_only=True, scope=Scope(q4.workspace_id, period))
        assert store is not None and store.series("nps") == expected
        store.close()


def test_a_stale_kr_in_the_new_quarter_does_not_show_last_quarters_value(tmp_path):
    mes(tmp_path, [("2026-09-30", 1000)])
    run_sync(load_config(config_file(tmp_path, "2026-Q3")), at("2026-09-30"))
    (tmp_path / "mes.db").unlink()
    outcome = run_sync(load_config(config_file(tmp_path, "2026-Q4")), at("2026-10-02"))
    result = outcome.results["nps"]
    assert result.stale and result.value is None and result.status == "no_data"


def test_two_configs_sharing_one_database_keep_their_own_series(tmp_path):
    shared = f"sqlite:///{tmp_path / 'shared.db'}"
    a, b = tmp_path / "team-a", tmp_path / "team-b"
    for folder, produced in ((a, 500), (b, 700)):
        folder.mkdir()
        mes(folder, [("2026-10-01", produced)])
    config_a = load_config(config_file(a, history=shared))
    config_b = load_config(config_file(b, history=shared))
    assert (config_a.workspace_id, config_b.workspace_id) == ("team-a-okrs", "team-b-okrs")
    run_sync(config_a, at("2026-10-01"))
    run_sync(config_b, at("2026-10-01"))
    mes(a, [("2026-10-01", 500), ("2026-10-02", 100)])
    second_a = run_sync(config_a, at("2026-10-02"))
    assert second_a.results["nps"].previous_value == 500  # not team b's 700
    engine = sa.create_engine(shared)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT workspace, day, value FROM okr_observations ORDER BY workspace, day")).fetchall()
    engine.dispose()
    assert [tuple(r) for r in rows] == [("team-a-okrs", "2026-10-01", 500.0), ("team-a-okrs", "2026-10-02", 600.0),
                                        ("team-b-okrs", "2026-10-01", 700.0)]


def test_the_workspace_key_overrides_the_default_and_renaming_it_starts_a_new_series(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    run_sync(load_config(config_file(tmp_path, workspace="plant-7")), at("2026-10-01"))
    renamed = run_sync(load_config(config_file(tmp_path, workspace="plant-7b")), at("2026-10-02"))
    assert renamed.results["nps"].previous_value is None
    kept = run_sync(load_config(config_file(tmp_path, workspace="plant-7")), at("2026-10-02"))
    assert kept.results["nps"].previous_value == 500


def test_a_history_written_by_okr_sync_0_1_is_upgraded_in_place_keeping_every_row(tmp_path):
    """tests/data/history-0.1.db was written by the 0.1 release: Q3 and Q4 days of two KRs and one open error."""
    shutil.copy(ROOT / "tests" / "data" / "history-0.1.db", tmp_path / "history.db")
    old = sqlite3.connect(tmp_path / "history.db")
    before = old.execute("SELECT kr_id, day, value FROM okr_observations ORDER BY kr_id, day").fetchall()
    runs_before = old.execute("SELECT COUNT(*) FROM okr_runs").fetchone()[0]
    old.close()
    config = load_config(config_file(tmp_path, workspace="factory"))
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", scope=history_scope(config))
    store.close()
    new = sqlite3.connect(tmp_path / "history.db")
    after = new.execute("SELECT kr_id, day, value, workspace, period FROM okr_observations ORDER BY kr_id, day").fetchall()
    errors = new.execute("SELECT workspace, period, kr_id FROM okr_errors").fetchall()
    runs = new.execute("SELECT COUNT(*), MIN(workspace), MAX(workspace) FROM okr_runs").fetchone()
    version = new.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    new.close()
    assert [(k, d, v) for k, d, v, _, _ in after] == before and len(before) == 9
    assert {(d, w, p) for _, d, _, w, p in after} == {
        ("2026-09-29", "factory", "2026-Q3"), ("2026-09-30", "factory", "2026-Q3"), ("2026-10-01", "factory", "2026-Q4"),
        ("2026-10-02", "factory", "2026-Q4"), ("2026-10-03", "factory", "2026-Q4")}
    assert errors == [("factory", "2026-Q4", "defects")]
    from connectors.history import HEAD

    assert runs == (runs_before, "factory", "factory") and version == HEAD
    mes(tmp_path, [("2026-10-01", 900), ("2026-10-02", 1200), ("2026-10-03", 300)])
    outcome = run_sync(config, at("2026-10-04"))  # the next sync reads the migrated Q4 series
    assert outcome.results["nps"].previous_value is None  # nps is a new KR; the old KR ids keep their rows
    reopened = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", scope=history_scope(config))
    assert reopened.series("produced") == [(date(2026, 10, 1), 3000.0), (date(2026, 10, 2), 4200.0), (date(2026, 10, 3), 4200.0)]
    reopened.close()


def test_preview_of_a_0_1_history_changes_nothing(tmp_path):
    shutil.copy(ROOT / "tests" / "data" / "history-0.1.db", tmp_path / "history.db")
    before = (tmp_path / "history.db").read_bytes()
    mes(tmp_path, [("2026-10-01", 900)])
    outcome = run_sync(load_config(config_file(tmp_path)), at("2026-10-04"), write=False)
    assert outcome.results["nps"].value == 900
    assert (tmp_path / "history.db").read_bytes() == before


def ledger(folder: Path) -> list[tuple]:
    db = sqlite3.connect(folder / "history.db")
    try:
        return db.execute("SELECT run_id, status, kind, as_of, started_at <= finished_at, error FROM okr_runs ORDER BY started_at").fetchall()
    finally:
        db.close()


def test_runs_are_logged_with_their_sources_and_krs(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    outcome = run_sync(load_config(config_file(tmp_path)), at("2026-10-01"))
    (run,) = ledger(tmp_path)
    assert run[0] == outcome.run_id and run[1:5] == ("completed", "sync", None, 1)
    db = sqlite3.connect(tmp_path / "history.db")
    sources = db.execute("SELECT source, queries, failed, seconds >= 0, error FROM okr_run_sources").fetchall()
    krs = db.execute("SELECT kr_id, value, raw_value, query, params FROM okr_run_krs").fetchall()
    db.close()
    assert sources == [("mes", 1, 0, 1, None)]
    assert krs[0][:3] == ("nps", 500.0, 500.0) and ":start AND :end" in krs[0][3]
    assert '"end": "2026-12-31"' in krs[0][4] and '"start": "2026-10-01"' in krs[0][4]


def test_the_ledger_records_the_gate_decision_and_the_raw_value_held_back(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    path = config_file(tmp_path)
    first = run_sync(load_config(path), at("2026-10-01"))
    mes(tmp_path, [("2026-10-01", 500), ("2026-10-02", 1000)])  # 500 -> 1500: +200%, more than max_change 50%
    second = run_sync(load_config(path), at("2026-10-02"))
    db = sqlite3.connect(tmp_path / "history.db")
    rows = dict(db.execute("SELECT run_id, gate FROM okr_run_krs").fetchall())
    raw = db.execute("SELECT value, raw_value FROM okr_run_krs WHERE run_id = ?", (second.run_id,)).fetchone()
    db.close()
    assert rows[first.run_id] == "passed (valid_range -, max_change 50%, previous value -)"
    assert rows[second.run_id].startswith("held back by the quality gate: value 1500 moved 1000 from the last recorded 500")
    assert raw == (None, 1500.0)


def test_a_run_whose_output_failed_is_logged_failed(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    path = config_file(tmp_path)
    path.write_text(path.read_text() + "outputs:\n  - {kind: xlsx, path: /sys/okr-summary.xlsx}\n")  # /sys takes no new files
    with pytest.raises(Exception):
        run_sync(load_config(path), at("2026-10-01"))
    (run,) = ledger(tmp_path)
    assert run[1] == "failed" and run[4] == 1 and "cannot write" in run[5]


def test_a_killed_run_is_marked_crashed_by_the_next_run(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    path = config_file(tmp_path)
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from datetime import datetime, timezone
        from flows.pipeline import open_history, context_of
        from mapping.loader import load_config
        config = load_config({str(path)!r})
        store = open_history(config, context_of(config))
        store.begin_run("killed-run", datetime.now(timezone.utc))
        print("started", flush=True)
        time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "started"
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert ledger(tmp_path)[0][:2] == ("killed-run", "running")
    run_sync(load_config(path), at("2026-10-01"))
    runs = {r[0]: r for r in ledger(tmp_path)}
    assert runs["killed-run"][1] == "crashed" and "killed or crashed" in runs["killed-run"][5]


def test_retention_deletes_days_and_runs_older_than_configured(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    path = config_file(tmp_path)
    run_sync(load_config(path), at("2026-10-01"))
    path.write_text(path.read_text().replace("timezone:", "history_retention_days: 10\ntimezone:"))
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'history.db'}")
    with engine.begin() as conn:  # make the first run look 20 days old
        conn.execute(sa.text("UPDATE okr_runs SET started_at = '2026-09-12 08:00:00'"))
    run_sync(load_config(path), at("2026-10-21"))
    with engine.connect() as conn:
        days = conn.execute(sa.text("SELECT day FROM okr_observations")).scalars().all()
        runs = conn.execute(sa.text("SELECT COUNT(*) FROM okr_runs")).scalar()
    engine.dispose()
    assert days == ["2026-10-21"] and runs == 1


def test_stale_since_is_shown_in_the_configs_time_zone(tmp_path):
    mes(tmp_path, [("2026-10-01", 500)])
    path = config_file(tmp_path)
    run_sync(load_config(path), at("2026-10-01"))
    (tmp_path / "mes.db").unlink()
    failed = run_sync(load_config(path), datetime(2026, 10, 2, 6, 30, tzinfo=timezone.utc))
    summary = failed.tables[0]
    row = dict(zip(summary.header, summary.rows[0]))
    assert row["Stale since"] == datetime(2026, 10, 2, 8, 30)  # 06:30 UTC is 08:30 in Berlin
    again = run_sync(load_config(path), datetime(2026, 10, 3, 6, 30, tzinfo=timezone.utc))
    row = dict(zip(again.tables[0].header, again.tables[0].rows[0]))
    assert row["Stale since"] == datetime(2026, 10, 2, 8, 30)  # read back from history (UTC) and converted again
    assert row["Last updated"] == datetime(2026, 10, 1, 10, 0)  # the last good value's time, 08:00 UTC


# ---- concurrent syncs on a real PostgreSQL history ---------------------------------------------------------

WORKER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from datetime import datetime, timezone
    from flows.pipeline import run_sync
    from mapping.loader import load_config
    config = load_config({path!r})
    for day in (1, 2, 3):
        outcome = run_sync(config, datetime(2026, 10, day, 8, tzinfo=timezone.utc))
        assert outcome.ok, outcome.failure_message()
""")


def test_concurrent_syncs_on_postgresql_never_lose_an_update(tmp_path):
    from servers import server_database
    for db in server_database("postgresql", "okr_history"):
        krs = "\n".join(f"      - {{id: kr{i}, title: KR {i}, baseline: 0, target: 100000, metric: {{source: mes, sql: \"SELECT {i} + COUNT(*) FROM production\"}}}}"
                        for i in range(60))
        paths = []
        for team in range(4):
            folder = tmp_path / f"team{team}"
            folder.mkdir()
            mes(folder, [("2026-10-01", 1)])
            path = folder / "okrs.yaml"
            workspace = f"team{team % 3}"  # teams 0 and 3 share a workspace: the same rows, written concurrently
            path.write_text(f"period: 2026-Q4\nworkspace: {workspace}\nhistory: {db.admin}\n"
                            f"sources:\n  mes: {{kind: sql, url: 'sqlite:///mes.db'}}\n"
                            f"objectives:\n  - id: o\n    title: O\n    key_results:\n{krs}\n")
            paths.append(path)
        workers = [subprocess.Popen([sys.executable, "-c", WORKER.format(root=str(ROOT), path=str(p))], stderr=subprocess.PIPE, text=True)
                   for p in paths]
        failures = [w.stderr.read() for w in workers if w.wait() != 0]
        assert not failures, failures[0][-2000:]
        engine = sa.create_engine(db.admin)
        with engine.connect() as conn:
            counts = dict(conn.execute(sa.text("SELECT workspace, COUNT(*) FROM okr_observations GROUP BY workspace")).fetchall())
            values = conn.execute(sa.text("SELECT DISTINCT value - CAST(substr(kr_id, 3) AS integer) FROM okr_observations")).scalars().all()
            runs = dict(conn.execute(sa.text("SELECT status, COUNT(*) FROM okr_runs GROUP BY status")).fetchall())
        engine.dispose()
        assert counts == {"team0": 180, "team1": 180, "team2": 180}  # 60 KRs x 3 days each, nothing lost or doubled
        assert values == [1.0]
        assert runs == {"completed": 12}


def _factory_like(tmp_path: Path) -> Path:
    mes(tmp_path, [("2026-10-01", 500)])
    path = config_file(tmp_path)
    path.write_text(path.read_text() + "outputs:\n  - {kind: xlsx, path: out/summary.xlsx}\n")
    return path


def test_a_garbage_history_file_is_a_one_line_error_with_exit_3_and_nothing_written(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    path = _factory_like(tmp_path)
    (tmp_path / "history.db").write_bytes(b"this is a spreadsheet, not a database\n" * 100)
    before = (tmp_path / "history.db").read_bytes()
    result = CliRunner().invoke(app, ["run", str(path)], env={"PREFECT_API_URL": ""})
    assert result.exit_code == 3
    assert "is damaged (file is not a database)" in result.stderr and "restore it from a backup, or move it aside" in result.stderr
    assert "Traceback" not in result.output and "[SQL:" not in result.output
    assert (tmp_path / "history.db").read_bytes() == before and not (tmp_path / "out").exists()


def test_a_malformed_sqlite_history_is_a_one_line_error_with_exit_3_and_nothing_written(tmp_path):
    from typer.testing import CliRunner

    from flows.cli import app
    path = _factory_like(tmp_path)
    run_sync(load_config(path), at("2026-10-01"))
    shutil.rmtree(tmp_path / "out")
    data = bytearray((tmp_path / "history.db").read_bytes())
    for offset in range(4096, len(data), 4096):  # wreck every page but the header page
        data[offset:offset + 64] = b"\xff" * 64
    (tmp_path / "history.db").write_bytes(bytes(data))
    result = CliRunner().invoke(app, ["run", str(path)], env={"PREFECT_API_URL": ""})
    assert result.exit_code == 3, result.output
    assert "is damaged (" in result.stderr and "malformed" in result.stderr and "Traceback" not in result.output
    assert (tmp_path / "history.db").read_bytes() == bytes(data) and not (tmp_path / "out").exists()


def _cli(*args: str):
    from typer.testing import CliRunner

    from flows.cli import app
    return CliRunner().invoke(app, list(args), env={"PREFECT_API_URL": ""})


@pytest.mark.parametrize("command", [["run"], ["preview"], ["history"], ["explain", None]])
def test_a_history_written_by_a_newer_okr_sync_is_refused_never_read_as_empty(tmp_path, command):
    path = _factory_like(tmp_path)
    run_sync(load_config(path), at("2026-10-01"))
    with sqlite3.connect(tmp_path / "history.db") as db:
        db.execute("UPDATE alembic_version SET version_num = '0099'")
    before = (tmp_path / "history.db").read_bytes()
    kr = load_config(path).key_results()[0][1].id
    result = _cli(command[0], str(path), *([kr] if len(command) > 1 else []))
    assert result.exit_code == 3, result.output
    assert "has schema revision '0099', which this okr-sync does not know" in result.stderr and "upgrade okr-sync" in result.stderr
    assert "no history recorded" not in result.output and "Traceback" not in result.output
    assert (tmp_path / "history.db").read_bytes() == before


def test_a_history_missing_a_table_is_said_to_be_damaged(tmp_path):
    path = _factory_like(tmp_path)
    run_sync(load_config(path), at("2026-10-01"))
    with sqlite3.connect(tmp_path / "history.db") as db:
        db.execute("DROP TABLE okr_observations")
    result = _cli("run", str(path))
    assert result.exit_code == 3
    assert "is damaged (" in result.stderr and "no such table: okr_observations" in result.stderr
    assert "restore it from a backup, or move it aside" in result.stderr


def test_a_history_that_breaks_while_the_run_is_closed_fails_the_run(tmp_path, monkeypatch):
    path = _factory_like(tmp_path)

    def broken(self, *args, **kwargs):
        raise self._error(sqlite3.DatabaseError("database disk image is malformed"), "cannot close the run")

    monkeypatch.setattr(HistoryStore, "finish_run", broken)
    result = _cli("run", str(path))
    assert result.exit_code == 3, result.output
    said = result.stderr
    assert "is damaged (database disk image is malformed)" in said and "its entry in the run ledger" in said
    assert "could not be closed: restore it from a backup, or move it aside" in said
