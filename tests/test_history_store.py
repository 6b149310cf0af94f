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
