"""The dashboard every writer renders: labels, rounding, targets as rules, counts, tree, trends and changes."""
from datetime import date, datetime, timezone

import pytest

from mapping.dashboard import build_dashboard
from mapping.labels import display_status, format_number, format_target, text_bar
from mapping.loader import load_config
from mapping.results import KRResult
from mapping.rollup import rollup

CONFIG = """\
period: 2026-Q4
timezone: Europe/Berlin
workspace: plant-a
objectives:
  - id: company
    title: Become the most reliable supplier
    level: company
    owner: COO
    key_results:
      - {id: defect-rate, title: Defect rate at most 0.5%, type: at_most, baseline: 1.2, target: 0.5, unit: "%"}
      - {id: otd, title: On-time delivery to 95%, type: increase, baseline: 88, target: 95, unit: "%", owner: Logistics}
  - id: line-1
    title: Line 1 runs steady
    level: department
    owner: Plant manager
    aligns_to: defect-rate
    key_results:
      - {id: energy, title: Energy per unit, type: decrease, baseline: 2.0, target: 1.6, unit: kWh/u}
      - {id: audit, title: Pass the ISO audit, type: milestone}
"""
NOW = datetime(2026, 11, 16, 8, 0, tzinfo=timezone.utc)  # 09:00 in Berlin; day 47 of 92


def result(kr_id, objective, value, progress, score, status, error="", as_of=NOW):
    return KRResult(objective, kr_id, value, progress, score, 0.5, status, as_of=as_of if value is not None else None,
                    source="mes", query="sql #1", error=error,
                    stale_since=NOW if error else None)


@pytest.fixture
def board(write_config):
    config = load_config(write_config(CONFIG))
    results = {
        "defect-rate": result("defect-rate", "company", 0.4, 1.0, 1.0, "done"),
        "otd": result("otd", "company", 90.0, 2 / 7, 0.29, "off_track", error="source 'mes': timed out"),
        "energy": result("energy", "line-1", 1.8, 0.5, 0.5, "on_track"),
        "audit": result("audit", "line-1", None, None, None, "no_data"),
    }
    series = {"defect-rate": [(date(2026, 11, 13), 0.7), (date(2026, 11, 14), 0.55)], "otd": [(date(2026, 11, 14), 90.0)],
              "energy": [], "audit": []}
    return build_dashboard(config, results, rollup(config, results), series, NOW, date(2026, 11, 16))


def test_title_names_workspace_and_period_and_the_time_is_local(board):
    assert board.title == "OKR dashboard · plant-a · 2026-Q4"
    assert board.as_of == datetime(2026, 11, 16, 9, 0)
    assert "2026-10-01 – 2026-12-31" in board.subtitle and "Europe/Berlin" in board.subtitle
    assert board.elapsed == pytest.approx((46 + 8 / 24) / 92)  # 46 whole days + 8 h (UTC clock) of 92


def test_overall_score_is_the_mean_of_the_root_objectives(board):
    # root objective "company": weights 1/1, scores 1.0 and 0.29 -> 0.645; line-1 is a child and does not count twice
    assert board.overall_score == pytest.approx(0.645)
    assert [(o.id, o.depth) for o in board.objectives] == [("company", 0), ("line-1", 1)]
    assert board.objectives[1].level_label == "Department"


def test_counts_cover_every_status_in_reading_order(board):
    assert [(c.label, c.count) for c in board.counts] == [
        ("Done", 1), ("On track", 1), ("At risk", 0), ("Off track", 0), ("Stale", 1), ("No data", 1)]


def test_a_failed_source_with_a_last_value_reads_stale_and_without_one_no_data(board):
    krs = {kr.kr_id: kr for kr in board.krs}
    assert krs["otd"].status_label == "Stale" and krs["otd"].stale_reason == "source 'mes': timed out"
    assert krs["audit"].status_label == "No data"
    assert krs["energy"].owner == "Plant manager" and krs["otd"].owner == "Logistics"


def test_trend_lays_todays_fresh_value_over_history_and_change_is_since_the_previous_day(board):
    krs = {kr.kr_id: kr for kr in board.krs}
    assert krs["defect-rate"].trend == ((date(2026, 11, 13), 0.7), (date(2026, 11, 14), 0.55), (date(2026, 11, 16), 0.4))
    assert krs["defect-rate"].change == pytest.approx(-0.15) and krs["defect-rate"].change_since == date(2026, 11, 14)
    assert krs["defect-rate"].change_text == "−0.15%"
    # a stale value is not today's: the trend keeps only what was recorded
    assert krs["otd"].trend == ((date(2026, 11, 14), 90.0),)
    assert krs["energy"].change is None and krs["energy"].trend == ((date(2026, 11, 16), 1.8),)
    assert board.days == (date(2026, 11, 13), date(2026, 11, 14), date(2026, 11, 16))


def test_targets_read_as_rules(board):
    krs = {kr.kr_id: kr for kr in board.krs}
    assert (krs["defect-rate"].current_text, krs["defect-rate"].target_text) == ("0.40%", "≤ 0.50%")
    assert (krs["energy"].current_text, krs["energy"].target_text) == ("1.80 kWh/u", "1.60 kWh/u")
    assert krs["audit"].target_text == "done" and krs["audit"].type_label == "Milestone"


@pytest.mark.parametrize("value,unit,text", [
    (14608, "", "14,608"), (0.8179918985454653, "", "0.82"), (123.456, "units", "123.5 units"), (0.004, "%", "0.004%"),
    (0, "%", "0%"), (-2.5, "", "-2.50"), (None, "%", ""),
])
def test_numbers_are_rounded_for_reading(value, unit, text):
    assert format_number(value, unit) == text


def test_at_least_target_and_bars():
    assert format_target("at_least", 95, "%") == "≥ 95%"
    assert text_bar(0.5) == "█████░░░░░" and text_bar(1.7) == "█" * 10 and text_bar(-1) == "░" * 10 and text_bar(None) == ""


def test_display_status_of_a_fresh_value_is_its_computed_status():
    assert display_status(result("k", "o", 3.0, 0.3, 0.3, "at_risk")) == "at_risk"


def test_a_compliance_kr_reads_its_rule_as_the_target(write_config):
    config = load_config(write_config("""\
period: 2026-Q4
objectives:
  - id: q
    title: Quality
    level: company
    key_results:
      - {id: weekly, title: Defect rate held weekly, type: compliance, unit: "%", compliance: {at_most: 2, required: 8, of: 10}}
"""))
    results = {"weekly": result("weekly", "q", 1.5, 0.5, 0.5, "on_track")}
    board = build_dashboard(config, results, rollup(config, results), {}, NOW, date(2026, 11, 16))
    assert board.krs[0].target_text == "≤ 2% in 8 of 10 weeks" and board.krs[0].type_label == "Compliance"


def test_change_is_measured_from_the_last_checkin_when_there_was_one(write_config):
    config = load_config(write_config(CONFIG))
    results = {"defect-rate": result("defect-rate", "company", 0.4, 1.0, 1.0, "done"),
               "otd": result("otd", "company", 90.0, 2 / 7, 0.29, "off_track"),
               "energy": result("energy", "line-1", 1.8, 0.5, 0.5, "on_track"),
               "audit": result("audit", "line-1", None, None, None, "no_data")}
    series = {"defect-rate": [(date(2026, 11, 14), 0.55)]}
    board = build_dashboard(config, results, rollup(config, results), series, NOW, date(2026, 11, 16),
                            checkins={"defect-rate": (date(2026, 11, 9), 0.9), "audit": (date(2026, 11, 9), 0.0)})
    krs = {kr.kr_id: kr for kr in board.krs}
    assert (krs["defect-rate"].change, krs["defect-rate"].change_since, krs["defect-rate"].change_basis) == (
        pytest.approx(-0.5), date(2026, 11, 9), "check-in")
    assert krs["audit"].change is None  # no value now: nothing to compare
    assert krs["otd"].change is None and krs["otd"].change_basis == ""  # no check-in and no earlier day
