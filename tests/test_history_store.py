"""The history store: one row per KR per day, errors tracked with their first failure, nothing lost on failure."""
from datetime import datetime, timedelta, timezone

from connectors.history import HistoryStore
from mapping.results import KRResult

T0 = datetime(2026, 11, 10, 8, tzinfo=timezone.utc)


def result(kr_id, value, error="", as_of=T0):
    return KRResult("o", kr_id, value, 0.5, 0.5, 0.4, "on_track", as_of=as_of, source="mes", query="q", provenance="auto",
                    error=error, stale_since=as_of if error else None)


def test_same_day_upserts_and_a_new_day_adds(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = HistoryStore("sqlite:///history.db")
    store.record("r1", T0.date(), [result("a", 1.0), result("b", 2.0)], T0)
    store.record("r2", T0.date(), [result("a", 1.5), result("b", 2.0)], T0 + timedelta(hours=2))
    store.record("r3", T0.date() + timedelta(days=1), [result("a", 3.0, as_of=T0 + timedelta(days=1))], T0 + timedelta(days=1))
    assert store.series("a") == [(T0.date(), 1.5), (T0.date() + timedelta(days=1), 3.0)]
    assert store.series("b") == [(T0.date(), 2.0)]
    assert store.previous_values(["a", "b"], T0.date() + timedelta(days=1)) == {"a": 1.5, "b": 2.0}
    assert store.recent(["a", "b", "c"], days=1) == {"a": [(T0.date() + timedelta(days=1), 3.0)], "b": [], "c": []}
    assert store.recent(["a", "b"], days=5) == {"a": store.series("a"), "b": store.series("b")}
    last = store.last_good(["a", "b", "zzz"])
    assert last["a"].value == 3.0 and last["b"].value == 2.0 and "zzz" not in last
    store.close()


def test_a_failed_kr_keeps_its_value_and_the_first_failure_time(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = HistoryStore("sqlite:///history.db")
    store.record("r1", T0.date(), [result("a", 1.0)], T0)
    t1, t2 = T0 + timedelta(days=1), T0 + timedelta(days=2)
    store.record("r2", t1.date(), [result("a", None, error="boom")], t1)
    store.record("r3", t2.date(), [result("a", None, error="boom again")], t2)
    assert store.current_errors(["a"]) == {"a": ("boom again", t1)}
    assert store.series("a") == [(T0.date(), 1.0)]
    store.record("r4", t2.date(), [result("a", 4.0, as_of=t2)], t2)
    assert store.current_errors(["a"]) == {}
    store.close()


def test_read_only_open_creates_nothing(tmp_path):
    from connectors.base import Context
    assert HistoryStore.open("sqlite:///nothing/here.db", Context(tmp_path), read_only=True) is None
    assert not (tmp_path / "nothing").exists()


def _upgrade_to(url: str, revision: str) -> None:
    """A database as an older release left it: the schema migrated only up to `revision`."""
    import sqlalchemy as sa
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from connectors.history import MIGRATIONS
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes.update(connection=conn, workspace="plant", period="2026-Q4", period_of=lambda day: "2026-Q4")
        command.upgrade(cfg, revision)
    engine.dispose()


def _tables_and_version(path) -> tuple[set[str], str]:
    import sqlite3
    db = sqlite3.connect(path)
    try:
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return tables, db.execute("SELECT version_num FROM alembic_version").fetchone()[0]
    finally:
        db.close()


def test_0003_adds_the_alert_state_to_a_0002_history_keeping_its_rows(tmp_path):
    from connectors.history import HEAD, Scope
    from mapping.alerts import Alert

    url = f"sqlite:///{tmp_path / 'history.db'}"
    _upgrade_to(url, "0002")
    assert _tables_and_version(tmp_path / "history.db") == ({"alembic_version", "okr_observations", "okr_errors", "okr_runs",
                                                            "okr_run_sources", "okr_run_krs"}, "0002")
    import sqlite3
    db = sqlite3.connect(tmp_path / "history.db")
    db.execute("INSERT INTO okr_observations (workspace, period, kr_id, day, value, provenance, run_id, observed_at) "
               "VALUES ('plant', '2026-Q4', 'a', '2026-11-09', 7.0, 'auto', 'r0', '2026-11-09 08:00:00')")
    db.commit()
    db.close()
    store = HistoryStore(url, scope=Scope("plant", "2026-Q4"))
    assert store.series("a") == [(T0.date() - timedelta(days=1), 7.0)]
    assert store.alert_states() == {}
    store.remember_alerts([Alert("status", "a", "", "off_track", "t", "x")], "r1", T0, notified=True)
    store.remember_alerts([Alert("status", "a", "off_track", "on_track")], "r2", T0 + timedelta(hours=1))
    assert {k: (s.state, s.since) for k, s in store.alert_states().items()} == {("status", "a"): ("on_track", T0 + timedelta(hours=1))}
    other = HistoryStore(url, scope=Scope("plant", "2027-Q1"))
    assert other.alert_states() == {}  # each period remembers its own alerts
    other.close()
    store.close()
    tables, version = _tables_and_version(tmp_path / "history.db")
    assert "okr_alert_state" in tables and version == HEAD


def test_a_0_1_history_is_upgraded_through_0003(tmp_path):
    import shutil
    import sqlite3
    from pathlib import Path

    from connectors.history import HEAD, Scope
    shutil.copy(Path(__file__).parent / "data" / "history-0.1.db", tmp_path / "history.db")
    db = sqlite3.connect(tmp_path / "history.db")
    before = db.execute("SELECT kr_id, day, value FROM okr_observations ORDER BY kr_id, day").fetchall()
    db.close()
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", scope=Scope("factory", "2026-Q4", lambda day: "2026-Q4"))
    assert store.alert_states() == {}
    store.close()
    db = sqlite3.connect(tmp_path / "history.db")
    after = db.execute("SELECT kr_id, day, value FROM okr_observations ORDER BY kr_id, day").fetchall()
    db.close()
    tables, version = _tables_and_version(tmp_path / "history.db")
    assert after == before and len(before) == 9 and "okr_alert_state" in tables and version == HEAD
