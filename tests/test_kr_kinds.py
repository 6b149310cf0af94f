"""The richer KR kinds of README 'Formulas' on their edges: compliance windows, pace curves, three levels, confidence.

Every expected number is worked out by hand in the comment next to it.
"""
from __future__ import annotations

import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest

from flows.pipeline import run_sync
from mapping.config import KeyResult, StatusBands
from mapping.errors import ConfigError
from mapping.kr_kinds import count_windows, expected_on_curve, level_score, windows
from mapping.loader import apply_register, load_config
from mapping.period import parse_period
from mapping.register import RegisterRows, parse_register
from mapping.report import SUMMARY_COLUMNS
from mapping.scoring import score_kr, status_of

BANDS = StatusBands()
Q4 = parse_period("2026-Q4")  # 2026-10-01 (a Thursday) .. 2026-12-31: 92 days


def kr(**fields) -> KeyResult:
    return KeyResult(id="k", title="k", **fields)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def weekly(required: int, of: int | None = None, **rule) -> KeyResult:
    return kr(type="compliance", compliance={"at_most": 2, "window": "week", "required": required, "of": of, **rule})


def week_points(mondays: list[date], value: float) -> list[tuple[date, float]]:
    return [(monday + timedelta(d), value) for monday in mondays for d in range(7)]


WEEK = [date(2026, 10, 5) + timedelta(7 * i) for i in range(12)]  # the 12 whole Monday-Sunday weeks of Q4 2026


# ---- compliance windows ------------------------------------------------------------------------

def test_whole_weeks_and_days_of_the_period_are_the_windows():
    assert windows(Q4, weekly(8).compliance) == [(m, m + timedelta(6)) for m in WEEK]  # Oct 5 .. Dec 27
    assert len(windows(Q4, weekly(8, of=10).compliance)) == 10
    daily = kr(type="compliance", compliance={"at_least": 95, "window": "day", "required": 80})
    assert len(windows(Q4, daily.compliance)) == 92


def test_a_window_exactly_at_the_threshold_holds():
    at_most = weekly(1, of=1)
    count = count_windows(at_most, Q4, WEEK[1], week_points(WEEK[:1], 2.0))  # 2.0 <= 2
    assert (count.held, count.missed) == (1, 0)
    at_least = kr(type="compliance", compliance={"at_least": 95, "window": "day", "required": 1, "of": 2})
    count = count_windows(at_least, Q4, date(2026, 10, 3), [(date(2026, 10, 1), 95.0), (date(2026, 10, 2), 94.99)])
    assert (count.held, count.missed) == (1, 1)


def test_windows_not_over_yet_are_neither_held_nor_missed():
    rule = weekly(8, of=10)
    # on Sunday Oct 11 (the last day of week 1) the week is not over; on Monday Oct 12 it is
    sunday = count_windows(rule, Q4, date(2026, 10, 11), week_points(WEEK[:1], 1.0))
    monday = count_windows(rule, Q4, date(2026, 10, 12), week_points(WEEK[:1], 1.0))
    assert (sunday.held, sunday.missed, sunday.pending) == (0, 0, 10)
    assert (monday.held, monday.missed, monday.pending) == (1, 0, 9)


def test_a_window_over_without_any_value_counts_as_missed():
    count = count_windows(weekly(8, of=10), Q4, date(2026, 10, 19), week_points(WEEK[1:2], 1.0))
    assert (count.held, count.missed, count.unmeasured, count.pending) == (1, 1, 1, 8)
    assert count.describe() == "1 of 10 weeks held, 1 missed (1 without a value), 8 to come; 8 needed"


def test_window_value_mean_last_and_worst():
    points = [(WEEK[0], 5.0)] + [(WEEK[0] + timedelta(d), 1.0) for d in range(1, 7)]  # mean 11/7 = 1.57, newest 1, worst 5
    for how, held in (("mean", 1), ("last", 1), ("worst", 0)):
        count = count_windows(weekly(1, of=1, window_value=how), Q4, WEEK[1], points)
        assert count.held == held, how


def test_compliance_score_expected_and_status_on_pace():
    # 8 of 10 weeks, committed; on Monday Nov 16 six weeks are over: 5 held, 1 missed, 4 to come
    rule = kr(type="compliance", committed=True, compliance={"at_most": 2, "required": 8, "of": 10})
    points = week_points(WEEK[:2] + WEEK[3:6], 1.0) + week_points(WEEK[2:3], 3.0)
    now = at(date(2026, 11, 16))
    result = score_kr(rule, 1.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=points)
    # progress 5/8 = 0.625, expected 6/10 = 0.6, pace 0.625 / 0.6 = 1.04 -> on_track
    assert (result.progress, result.expected, result.status) == (0.625, 0.6, "on_track")
    # one more miss: 4 held of 8 needed, pace (4/8) / 0.6 = 0.83 -> at_risk (still reachable: 4 + 4 = 8)
    points = week_points(WEEK[:2] + WEEK[3:5], 1.0) + week_points(WEEK[2:3] + WEEK[5:6], 3.0)
    result = score_kr(rule, 1.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=points)
    assert (result.progress, result.score, result.status) == (0.5, 0.5, "at_risk")


def test_required_count_out_of_reach_is_off_track_even_early():
    rule = kr(type="compliance", committed=True, compliance={"at_most": 2, "required": 8, "of": 10})
    points = week_points(WEEK[:3], 3.0)  # three weeks missed: at most 7 of 10 can still hold
    now = at(date(2026, 10, 26))
    result = score_kr(rule, 3.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=points)
    assert (result.progress, result.expected, result.status) == (0.0, 0.3, "off_track")


def test_aspirational_compliance_is_off_track_only_below_the_bar():
    # 10 of 10 needed, bar 0.7: with 3 missed 7/10 = 0.7 is still reachable, with 4 missed it is not
    rule = kr(type="compliance", compliance={"at_most": 2, "required": 10, "of": 10})
    now = at(date(2026, 11, 9))
    three = score_kr(rule, 1.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=week_points(WEEK[:3], 3.0) + week_points(WEEK[3:5], 1.0))
    four = score_kr(rule, 1.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=week_points(WEEK[:4], 3.0) + week_points(WEEK[4:5], 1.0))
    assert three.status == "at_risk" and four.status == "off_track"


def test_required_count_reached_is_done_before_the_end_and_no_value_is_no_data():
    rule = weekly(2, of=10)
    now = at(date(2026, 10, 19))
    done = score_kr(rule, 1.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=week_points(WEEK[:2], 1.0))
    assert (done.progress, done.status) == (1.0, "done")
    empty = score_kr(rule, None, Q4.elapsed(now), BANDS, period=Q4, now=now, series=[])
    assert (empty.progress, empty.score, empty.status) == (None, None, "no_data")


def test_compliance_before_any_window_is_over_is_on_track_at_zero():
    now = at(date(2026, 10, 7))
    result = score_kr(weekly(8, of=10), 1.0, Q4.elapsed(now), BANDS, period=Q4, now=now, series=[(date(2026, 10, 6), 1.0)])
    assert (result.progress, result.expected, result.status) == (0.0, 0.0, "on_track")


# ---- pace curves -------------------------------------------------------------------------------

CURVE = {date(2026, 10, 31): 0.1, date(2026, 11, 30): 0.5}  # end of Oct 31 is 31/92 of Q4, end of Nov 30 is 61/92


@pytest.mark.parametrize("days,expected", [
    (0, 0.0),                       # period start
    (15.5, 0.05),                   # before the first point: 0.1 * 15.5 / 31
    (31, 0.1),                      # on the first point
    (50.5, 0.36),                   # 0.1 + 0.4 * 19.5 / 30
    (76.5, 0.75),                   # after the last point, on to 1 at period end: 0.5 + 0.5 * 15.5 / 31
    (76, 0.7419),                   # the README's Dec 16 00:00: 0.5 + 0.5 * 15 / 31
    (92, 1.0),
])
def test_pace_curve_is_piecewise_linear_from_start_through_each_point_to_the_end(days, expected):
    assert expected_on_curve(kr(baseline=0, target=100, pace=CURVE), Q4, days / 92) == pytest.approx(expected, abs=1e-4)


def test_a_curve_reaching_the_target_early_stays_there_and_the_period_end_still_decides():
    early = kr(baseline=0, target=100, pace={date(2026, 12, 15): 1.0}, committed=True)
    assert expected_on_curve(early, Q4, 80 / 92) == 1.0  # Dec 20
    result = score_kr(early, 95, 80 / 92, BANDS, period=Q4)
    assert (result.expected, result.status) == (1.0, "on_track")  # pace 0.95, not "done"/"off_track" before the end


def test_steps_are_values_on_the_way_from_baseline_to_target_also_decreasing():
    increase = kr(baseline=100, target=200, steps={date(2026, 10, 31): 110, date(2026, 11, 30): 150})
    assert expected_on_curve(increase, Q4, 50.5 / 92) == pytest.approx(0.36)  # shares 0.1 and 0.5, as CURVE
    decrease = kr(type="decrease", baseline=2.0, target=1.0, steps={date(2026, 10, 31): 1.9, date(2026, 11, 30): 1.5})
    assert expected_on_curve(decrease, Q4, 50.5 / 92) == pytest.approx(0.36)


def test_status_follows_the_curve_not_the_straight_line():
    ramp = kr(baseline=0, target=100, pace=CURVE, committed=True)
    now = at(date(2026, 11, 20))  # 50.5 days in: straight line 0.549, curve 0.36
    result = score_kr(ramp, 30, Q4.elapsed(now), BANDS, period=Q4, now=now)
    assert result.expected == 0.36 and result.status == "at_risk"  # 0.3 / 0.36 = 0.83
    assert status_of(ramp, 0.3, Q4.elapsed(now), BANDS) == "off_track"  # 0.3 / 0.549 = 0.55 on the straight line


# ---- three levels ------------------------------------------------------------------------------

@pytest.mark.parametrize("value,score", [
    (-5, 0.0), (0, 0.0), (5, 0.15), (10, 0.3), (15, 0.5), (20, 0.7), (30, 0.85), (40, 1.0), (55, 1.0)])
def test_levels_of_an_increase_kr(value, score):
    graded = kr(baseline=0, target=20, levels={"minimum": 10, "stretch": 40})
    assert level_score(graded, value) == pytest.approx(score)


@pytest.mark.parametrize("value,score", [
    (2.5, 0.0), (2.0, 0.0), (1.5, 0.3), (1.25, 0.5), (1.0, 0.7), (0.75, 0.85), (0.5, 1.0), (0.1, 1.0)])
def test_levels_of_a_decrease_kr(value, score):
    graded = kr(type="decrease", baseline=2.0, target=1.0, levels={"minimum": 1.5, "stretch": 0.5})
    assert level_score(graded, value) == pytest.approx(score)


def test_reaching_the_target_level_is_success_for_aspirational_and_a_miss_for_committed():
    aspirational = kr(baseline=0, target=20, levels={"minimum": 10, "stretch": 40})
    committed = kr(baseline=0, target=20, levels={"minimum": 10, "stretch": 40}, committed=True)
    assert score_kr(aspirational, 20, 1.0, BANDS).status == "done"      # 0.7 >= bar 0.7
    assert score_kr(committed, 20, 1.0, BANDS).status == "off_track"    # 0.7 < 1.0
    assert score_kr(committed, 40, 0.5, BANDS).status == "done"


# ---- confidence --------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 10, 7.5])
def test_confidence_on_the_0_to_10_scale_is_kept(value):
    assert kr(baseline=0, target=1, confidence=value).confidence == value


@pytest.mark.parametrize("value", [-1, 10.5])
def test_confidence_off_the_scale_is_refused(value):
    with pytest.raises(ValueError, match="not on the 0-10 scale"):
        kr(baseline=0, target=1, confidence=value)


def test_confidence_column_of_the_register_is_read_and_checked(write_config):
    header = ["Objective id", "Objective", "KR id", "Key result", "Type", "Baseline", "Target", "Confidence"]
    reg = parse_register(RegisterRows("OKRs", [header, ["o", "O", "k", "K", "increase", 0, 10, "7"], ["", "", "j", "J", "increase", 0, 5, ""]]))
    assert reg.objectives[0]["key_results"][0]["confidence"] == 7.0
    assert "confidence" not in reg.objectives[0]["key_results"][1]
    config = load_config(write_config("""
        period: 2026-Q4
        okrs: {from: sheets, spreadsheet: 1Register000000000000000000000000000000000RR, credentials_env: X}
        """), check_env=False)
    with pytest.raises(ConfigError) as info:
        apply_register(config, RegisterRows("OKRs", [header, ["o", "O", "k", "K", "increase", 0, 10, 11]]))
    assert "register 'OKRs' row 2, column 'Confidence': confidence 11 is not on the 0-10 scale" in str(info.value)


def test_confidence_is_the_last_summary_column():
    assert SUMMARY_COLUMNS[-1].name == "Confidence" and SUMMARY_COLUMNS[-2].name == "Error"


# ---- validation: every problem with its line and a fix ---------------------------------------------

def test_invalid_kinds_are_reported_with_file_line_and_fix(write_config):
    path = write_config("""
        period: 2026-Q4
        objectives:
          - id: q
            title: Quality
            key_results:
              - id: weeks
                title: Weeks
                type: compliance
                target: 2
                compliance: {at_most: 2, window: week, required: 11, of: 10}
              - id: many
                title: Many
                type: compliance
                compliance: {at_least: 95, required: 13}
              - id: ramp
                title: Ramp
                baseline: 0
                target: 100
                pace:
                  2026-09-30: 0.1
                  2026-10-31: 0.4
                  2026-11-30: 0.3
                  2026-12-31: 0.9
                levels: {minimum: 120, stretch: 90}
                confidence: 11
              - id: dec
                title: Dec
                type: decrease
                baseline: 2
                target: 1
                steps: {2026-11-30: 2.5}
                levels: {minimum: 1.5, stretch: 1.2}
              - id: hold
                title: Hold
                type: at_most
                target: 2
                pace: {2026-11-30: 0.5}
                compliance: {at_most: 2, at_least: 1, required: 2, windw: day}
              - id: none
                title: None
                type: compliance
        """)
    with pytest.raises(ConfigError) as info:
        load_config(path, check_env=False)
    text = str(info.value)
    lines = {line.split(": ", 1)[0].strip() + " " + line.split(": ", 2)[1] for line in text.splitlines()[1:]}
    f = str(path)
    expected = {
        f"{f}:9 objectives[0].key_results[0].target",                     # target on a compliance KR
        f"{f}:10 objectives[0].key_results[0].compliance.required",       # 11 > of 10
        f"{f}:14 objectives[0].key_results[1].compliance.required",       # 13 > 12 whole weeks in Q4
        f"{f}:20 objectives[0].key_results[2].pace.2026-09-30",           # before the period
        f"{f}:22 objectives[0].key_results[2].pace.2026-11-30",           # goes back
        f"{f}:23 objectives[0].key_results[2].pace.2026-12-31",           # not 1 on the last day
        f"{f}:24 objectives[0].key_results[2].levels.minimum",            # 120 is beyond the target
        f"{f}:24 objectives[0].key_results[2].levels.stretch",            # 90 is short of the target
        f"{f}:25 objectives[0].key_results[2].confidence",
        f"{f}:31 objectives[0].key_results[3].steps.2026-11-30",          # 2.5 is not between 2 and 1
        f"{f}:32 objectives[0].key_results[3].levels.stretch",            # 1.2 is short of target 1 for a decrease
        f"{f}:37 objectives[0].key_results[4].pace",                      # pace on a threshold
        f"{f}:38 objectives[0].key_results[4].compliance",                # compliance on at_most
        f"{f}:38 objectives[0].key_results[4].compliance.windw",          # did you mean window
        f"{f}:41 objectives[0].key_results[5].type",                      # compliance without its block
    }
    assert expected <= lines, sorted(expected - lines)
    assert "did you mean 'window'?" in text
    assert "required 11 is more than of 10" in text and "lower it to at most 10" in text
    assert "required 13 is more than the 12 whole weeks (Monday to Sunday) in period 2026-Q4" in text
    assert "levels.stretch 1.2 must be below target 1 (this is a decrease KR)" in text
    assert "write 0 (no chance) to 10 (certain)" in text
    assert "add compliance: {at_most: 2, window: week, required: 8, of: 10}" in text


def test_exactly_one_threshold_in_a_compliance_block(write_config):
    path = write_config("""
        period: 2026-Q4
        objectives:
          - id: q
            title: Quality
            key_results:
              - id: weeks
                title: Weeks
                type: compliance
                compliance: {window: day, required: 2}
        """)
    with pytest.raises(ConfigError, match=r"okrs.yaml:9: .*compliance: set exactly one of at_most or at_least"):
        load_config(path, check_env=False)


def test_readme_kind_examples_load_and_pass_the_json_schema_and_a_typo_does_not(tmp_path):
    import json
    import re
    from pathlib import Path

    import jsonschema
    import yaml

    from mapping.schema import config_schema

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    blocks = [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
              if b.startswith("period:") and re.search(r"^\s+(pace|levels|compliance):", b, flags=re.M)]
    assert len(blocks) == 3
    schema = config_schema()

    def as_json(data):  # what an editor sees: YAML dates (also as keys) are text
        if isinstance(data, dict):
            return {str(k): as_json(v) for k, v in data.items()}
        if isinstance(data, list):
            return [as_json(v) for v in data]
        return json.loads(json.dumps(data, default=str))

    for i, block in enumerate(blocks):
        (tmp_path / f"k{i}.yaml").write_text(block, encoding="utf-8")
        load_config(tmp_path / f"k{i}.yaml", check_env=False)
        jsonschema.validate(as_json(yaml.safe_load(block)), schema)
    broken = yaml.safe_load(blocks[2])
    broken["objectives"][0]["key_results"][0]["compliance"]["requird"] = 7
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(as_json(broken), schema)


# ---- end to end: a SQLite series compliance KR, a pace curve, levels and confidence ----------------

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)  # a Friday, 50.5 of Q4's 92 days


def _factory_db(path) -> None:
    """Daily defect rates (% ) and sales; the expected counts are in the test."""
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE daily (day TEXT, rate REAL)")
    rates: dict[date, float] = {}
    for offset in range((NOW.date() - date(2026, 10, 1)).days + 1):
        rates[date(2026, 10, 1) + timedelta(offset)] = 1.0
    for d in range(4):
        rates[date(2026, 10, 1) + timedelta(d)] = 9.0      # Oct 1-4: not a whole week, never counted
    rates[date(2026, 10, 12)] = 5.0                        # week 2 mean (5 + 6) / 7 = 1.57: held
    for d in range(7):
        rates[WEEK[2] + timedelta(d)] = 2.5                # week 3 (Oct 19-25): missed
        del rates[WEEK[3] + timedelta(d)]                  # week 4 (Oct 26 - Nov 1): no rows, missed
        rates[WEEK[4] + timedelta(d)] = 2.0                # week 5 (Nov 2-8): exactly at the threshold, held
        rates[WEEK[5] + timedelta(d)] = 2.0 if d else 3.0  # week 6 (Nov 9-15): mean 15/7 = 2.14, missed
    for d in range(5):
        rates[WEEK[6] + timedelta(d)] = 9.0                # week 7 (Nov 16-22): not over on Nov 20, pending
    db.executemany("INSERT INTO daily VALUES (?, ?)", [(d.isoformat(), v) for d, v in rates.items()])
    db.execute("CREATE TABLE sales (day TEXT, amount REAL)")
    db.executemany("INSERT INTO sales VALUES (?, ?)", [("2026-10-15", 10.0), ("2026-11-10", 20.0), ("2026-09-30", 99.0)])
    db.commit()
    db.close()


def test_sync_of_a_series_compliance_kr_a_pace_curve_and_levels(write_config, tmp_path):
    _factory_db(tmp_path / "mes.db")
    path = write_config("""
        period: 2026-Q4
        history: sqlite:///history.db
        sources:
          mes: {kind: sql, url: sqlite:///mes.db}
        objectives:
          - id: quality
            title: Quality
            key_results:
              - id: defect-weeks
                title: Defect rate at most 2% in 7 of 10 weeks
                type: compliance
                committed: true
                compliance: {at_most: 2, window: week, required: 7, of: 10}
                metric:
                  source: mes
                  series: true
                  sql: SELECT day, rate FROM daily WHERE day BETWEEN :start AND :end ORDER BY day
              - id: sales
                title: Sales ramp to 100
                committed: true
                baseline: 0
                target: 100
                pace: {2026-10-31: 0.1, 2026-11-30: 0.5}
                confidence: 6
                metric: {source: mes, sql: "SELECT SUM(amount) FROM sales WHERE day BETWEEN :start AND :end"}
              - id: defects
                title: Defect rate graded
                type: decrease
                baseline: 2.0
                target: 1.0
                levels: {minimum: 1.5, stretch: 0.5}
                confidence: 0
                metric: {source: mes, sql: "SELECT 1.25"}
        outputs:
          - {kind: xlsx, path: out.xlsx}
        """)
    outcome = run_sync(load_config(path, check_env=False), NOW)
    weeks, sales, graded = (outcome.results[k] for k in ("defect-weeks", "sales", "defects"))
    # weeks 1, 2, 5 held; 3, 4 (no rows), 6 missed; 7..10 to come: progress 3/7, expected 6/10,
    # pace (3/7) / 0.6 = 0.71 -> at_risk (3 + 4 = 7 can still hold)
    assert weeks.value == 9.0  # the newest day, Nov 20
    assert weeks.progress == pytest.approx(3 / 7) and weeks.score == 0.43 and weeks.expected == 0.6
    assert weeks.status == "at_risk"
    assert weeks.extra["compliance"] == "3 of 10 weeks held, 3 missed (1 without a value), 4 to come; 7 needed"
    # 30 of 100 at a curve point of 0.1 + 0.4 * 19.5 / 30 = 0.36: pace 0.83 -> at_risk (the straight line would say off_track)
    assert (sales.value, sales.progress, sales.expected, sales.status) == (30.0, 0.3, 0.36, "at_risk")
    assert sales.extra["confidence"] == 6.0
    # 1.25 is half way from minimum 1.5 (0.3) to target 1.0 (0.7): 0.5; pace 0.5 / (0.549 * 0.7) = 1.30 -> on_track
    assert (graded.progress, graded.score, graded.status) == (0.5, 0.5, "on_track")
    assert graded.extra["confidence"] == 0.0
    summary = next(t for t in outcome.tables if t.name == "Summary")
    confidence = {row[1]: row[-1] for row in summary.rows}
    assert confidence == {"defect-weeks": None, "sales": 6.0, "defects": 0.0}
    board = {kr.kr_id: kr for kr in outcome.dashboard.krs}
    assert board["defect-weeks"].target_text == "≤ 2 in 7 of 10 weeks"

    # `okr-sync explain` says each new kind's own arithmetic
    from flows.history_view import explain

    config = load_config(path, check_env=False)
    weekly = "\n".join(explain(config, "defect-weeks"))
    assert "a week holds when its mean value <= 2" in weekly and "progress = min(1, held / required 7)" in weekly
    graded_lines = "\n".join(explain(config, "defects"))
    assert "minimum 1.5 -> 0.3, target 1 -> 0.7, stretch 0.5 -> 1.0" in graded_lines and "1.25 -> 0.5000" in graded_lines
    assert "the pace curve at this day" in "\n".join(explain(config, "sales"))


def test_a_single_value_compliance_kr_counts_its_windows_from_recorded_history(write_config, tmp_path):
    db = sqlite3.connect(tmp_path / "mes.db")
    db.execute("CREATE TABLE daily (day TEXT, rate REAL)")
    db.executemany("INSERT INTO daily VALUES (?, ?)", [("2026-10-01", 1.0), ("2026-10-02", 3.0), ("2026-10-03", 2.0),
                                                        ("2026-10-06", 1.0)])
    db.commit()
    db.close()
    path = write_config("""
        period: 2026-Q4
        history: sqlite:///history.db
        sources:
          mes: {kind: sql, url: sqlite:///mes.db}
        objectives:
          - id: quality
            title: Quality
            key_results:
              - id: daily
                title: Defect rate at most 2% on 3 of the first 5 days
                type: compliance
                committed: true
                compliance: {at_most: 2, window: day, required: 3, of: 5}
                metric: {source: mes, sql: "SELECT rate FROM daily WHERE day = :as_of"}
        """)
    config = load_config(path, check_env=False)
    today = datetime(2026, 10, 6, 9, 0, tzinfo=timezone.utc)
    for day in (date(2026, 10, 1), date(2026, 10, 2), date(2026, 10, 3)):
        run_sync(config, today, as_of=day, publish_outputs=False)
    result = run_sync(config, today, publish_outputs=False).results["daily"]
    # Oct 1 held (1.0), Oct 2 missed (3.0), Oct 3 held (2.0, at the threshold), Oct 4 and 5 never synced: missed
    # 2 held of 3 needed, 0 to come: the required count is out of reach
    assert result.value == 1.0
    assert result.extra["compliance"] == "2 of 5 days held, 3 missed (2 without a value), 0 to come; 3 needed"
    assert (result.progress, result.expected, result.status) == (pytest.approx(2 / 3), 1.0, "off_track")
