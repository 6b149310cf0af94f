"""The data-quality gate: implausible values are held back, reported with the raw value, and never recorded as good."""
from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from connectors.history import HistoryStore
from flows.pipeline import history_scope, run_sync
from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.quality import HeldBack, gate
from mapping.results import Observation

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=timezone.utc)


def obs(value: float) -> Observation:
    return Observation(value, NOW, "mes", "SELECT ...")


@pytest.mark.parametrize("value,valid_range,max_change,previous,held", [
    (0.4, (0, 5), None, None, False),
    (0, (0, 5), None, None, False),          # bounds are inclusive
    (5, (0, 5), None, None, False),
    (5.01, (0, 5), None, None, True),
    (-0.1, (0, 5), None, None, True),
    (1.3, None, 0.5, 1.0, False),             # moved 0.3 <= 0.5
    (1.6, None, 0.5, 1.0, True),              # moved 0.6 > 0.5
    (0.4, None, 0.5, 1.0, True),              # downwards too
    (1.6, None, 0.5, None, False),            # nothing recorded yet: no change to judge
    (110, None, "20%", 100, False),           # 10% of 100
    (121, None, "20%", 100, True),            # 21% of 100
    (79, None, "20%", 100, True),
])
def test_gate_holds_back_values_outside_the_rules(value, valid_range, max_change, previous, held):
    result = gate(obs(value), valid_range, max_change, previous)
    assert isinstance(result, HeldBack) is held
    if held:
        assert result.raw_value == value
        assert f"value {value:g}" in str(result)
    else:
        assert result.value == value


CONFIG = """
period: 2026-Q4
history: sqlite:///history.db
sources:
  mes: {kind: sql, url: "sqlite:///mes.db"}
objectives:
  - id: quality
    title: Quality
    key_results:
      - id: defect-rate
        title: Defect rate at most 0.5%
        type: at_most
        baseline: 1.2
        target: 0.5
        metric:
          source: mes
          sql: "SELECT 100.0 * SUM(defects) / SUM(produced) FROM production"
          valid_range: [0, 5]
          max_change: 0.3
      - id: produced
        title: Produced units
        baseline: 0
        target: 10000
        metric: {source: mes, sql: "SELECT SUM(produced) FROM production"}
"""


def set_rows(path, rows):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS production (produced INTEGER, defects INTEGER)")
    db.execute("DELETE FROM production")
    db.executemany("INSERT INTO production VALUES (?, ?)", rows)
    db.commit()
    db.close()


def test_a_jump_is_held_back_keeps_last_good_value_and_is_not_recorded(tmp_path, write_config):
    set_rows(tmp_path / "mes.db", [(1000, 8)])                  # 0.8 %
    config = load_config(write_config(CONFIG))
    first = run_sync(config, NOW)
    assert first.results["defect-rate"].value == pytest.approx(0.8) and first.ok

    set_rows(tmp_path / "mes.db", [(1000, 8), (1000, 12)])      # 1.0 %: a move of 0.2, allowed
    second = run_sync(config, NOW + timedelta(days=1))
    assert second.results["defect-rate"].value == pytest.approx(1.0) and second.ok

    set_rows(tmp_path / "mes.db", [(1000, 8), (1000, 12), (100, 40)])  # 60/2100 = 2.857 %: a move of 1.857
    third = run_sync(config, NOW + timedelta(days=2))
    held = third.results["defect-rate"]
    raw = 100.0 * 60 / 2100
    assert held.stale
    assert held.value == pytest.approx(1.0)                     # the last good value is what is published
    assert held.extra["raw_value"] == pytest.approx(raw)
    assert f"value {raw:g} moved" in held.error and "max_change 0.3" in held.error
    assert third.results["produced"].value == 2100 and not third.results["produced"].stale

    store = HistoryStore(f"sqlite:///{tmp_path / 'history.db'}", scope=history_scope(load_config(write_config(CONFIG))))
    try:
        series = store.series("defect-rate")
        errors = store.current_errors(["defect-rate"])
    finally:
        store.close()
    assert [v for _, v in series] == pytest.approx([0.8, 1.0])   # nothing recorded for the held-back day
    assert "held back by the quality gate" in errors["defect-rate"][0]


def test_value_outside_valid_range_is_held_back_on_the_first_run(tmp_path, write_config):
    set_rows(tmp_path / "mes.db", [(100, 9)])                   # 9 % > 5
    outcome = run_sync(load_config(write_config(CONFIG)), NOW, write=False)
    result = outcome.results["defect-rate"]
    assert result.value is None and result.stale and result.status == "no_data"
    assert result.extra["raw_value"] == pytest.approx(9.0)
    assert "outside valid_range [0, 5]" in result.error


@pytest.mark.parametrize("keys,message", [
    ("valid_range: [5, 0]", "valid_range minimum 5 is above its maximum 0"),
    ("max_change: -1", "max_change must be greater than 0"),
    ("max_change: lots", "max_change 'lots' is not a number or a percentage"),
])
def test_bad_gate_settings_are_config_errors(write_config, keys, message):
    text = CONFIG.replace("valid_range: [0, 5]\n          max_change: 0.3", keys)
    with pytest.raises(ConfigError, match=message):
        load_config(write_config(text))
