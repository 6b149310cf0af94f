"""The formulas of README 'Formulas' and 'Status', on their edges; expected values worked out by hand."""
import pytest

from mapping.config import KeyResult, StatusBands
from mapping.scoring import progress_of, score_kr, status_of

BANDS = StatusBands()


def kr(**fields):
    return KeyResult(id="k", title="k", **fields)


@pytest.mark.parametrize("current,expected", [(20, 0.0), (30, 0.5), (40, 1.0), (55, 1.0), (10, 0.0), (25, 0.25)])
def test_increase_progress_is_linear_and_clamped(current, expected):
    assert progress_of(kr(type="increase", baseline=20, target=40), current) == pytest.approx(expected)


@pytest.mark.parametrize("current,expected", [(40, 0.0), (25, 0.5), (10, 1.0), (0, 1.0), (50, 0.0)])
def test_decrease_progress_takes_direction_from_the_numbers(current, expected):
    assert progress_of(kr(type="decrease", baseline=40, target=10), current) == pytest.approx(expected)


def test_negative_values_score_like_any_other_numbers():
    # cash flow from -200 to +100: at -50 half of the way is done
    assert progress_of(kr(type="increase", baseline=-200, target=100), -50) == pytest.approx(0.5)
    assert progress_of(kr(type="decrease", baseline=-10, target=-30), -25) == pytest.approx(0.75)


@pytest.mark.parametrize("current,expected", [(0.5, 1.0), (0.3, 1.0), (0.85, 0.5), (1.2, 0.0), (2.0, 0.0)])
def test_at_most_holds_at_or_below_threshold_and_breach_gets_partial_credit_from_baseline(current, expected):
    assert progress_of(kr(type="at_most", baseline=1.2, target=0.5), current) == pytest.approx(expected)


def test_threshold_breach_without_baseline_scores_zero():
    assert progress_of(kr(type="at_most", target=0.5), 0.51) == 0.0
    assert progress_of(kr(type="at_least", target=95), 94.9) == 0.0
    assert progress_of(kr(type="at_least", target=95), 95) == 1.0


def test_at_least_breach_with_baseline_below():
    assert progress_of(kr(type="at_least", baseline=85, target=95), 90) == pytest.approx(0.5)


@pytest.mark.parametrize("current,expected", [(0, 0.0), (0.99, 0.0), (1, 1.0), (3, 1.0)])
def test_milestone_is_all_or_nothing(current, expected):
    assert progress_of(kr(type="milestone"), current) == expected


def test_no_value_yet_gives_no_score_and_no_data():
    result = score_kr(kr(type="increase", baseline=0, target=10), None, 0.5, BANDS)
    assert (result.progress, result.score, result.status) == (None, None, "no_data")


def test_score_is_progress_rounded_to_two_decimals():
    result = score_kr(kr(type="increase", baseline=0, target=3), 1, 0.2, BANDS)
    assert result.progress == pytest.approx(1 / 3)
    assert result.score == 0.33


def test_readme_status_example_aspirational_on_track_committed_at_risk():
    expected = 45.5 / 92
    aspirational = kr(type="increase", baseline=20, target=40)
    committed = kr(type="increase", baseline=20, target=40, committed=True)
    assert status_of(aspirational, 0.4, expected, BANDS) == "on_track"   # pace 1.155
    assert status_of(committed, 0.4, expected, BANDS) == "at_risk"       # pace 0.809


@pytest.mark.parametrize("progress,status", [(0.45, "on_track"), (0.30, "at_risk"), (0.29, "off_track")])
def test_pace_bands_for_committed_kr_at_half_time(progress, status):
    # expected 0.5, bar 1.0: on_track from 0.45, at_risk from 0.30
    assert status_of(kr(type="increase", baseline=0, target=1, committed=True), progress, 0.5, BANDS) == status


def test_bands_are_configurable():
    strict = StatusBands(on_track=1.0, at_risk=0.9)
    assert status_of(kr(type="increase", baseline=0, target=1, committed=True), 0.46, 0.5, strict) == "at_risk"


def test_period_not_started_is_on_track_even_without_progress():
    assert status_of(kr(type="increase", baseline=0, target=1), 0.0, 0.0, BANDS) == "on_track"


def test_period_over_committed_needs_full_progress_aspirational_needs_bar():
    committed = kr(type="increase", baseline=0, target=1, committed=True)
    aspirational = kr(type="increase", baseline=0, target=1)
    assert status_of(committed, 0.99, 1.0, BANDS) == "off_track"
    assert status_of(committed, 1.0, 1.0, BANDS) == "done"
    assert status_of(aspirational, 0.7, 1.0, BANDS) == "done"
    assert status_of(aspirational, 0.69, 1.0, BANDS) == "off_track"


def test_reaching_the_target_early_is_done_but_a_holding_threshold_is_only_on_track():
    assert status_of(kr(type="increase", baseline=0, target=1), 1.0, 0.3, BANDS) == "done"
    assert status_of(kr(type="at_most", target=0.5), 1.0, 0.3, BANDS) == "on_track"
    assert status_of(kr(type="at_most", target=0.5), 1.0, 1.0, BANDS) == "done"


def test_breached_threshold_is_never_on_track():
    at_most = kr(type="at_most", baseline=3.5, target=2.0, committed=True)
    assert status_of(at_most, 0.92, 0.5, BANDS) == "at_risk"
    assert status_of(at_most, 0.5, 0.5, BANDS) == "off_track"


def test_unreached_milestone_turns_at_risk_late_in_the_period():
    milestone = kr(type="milestone")
    assert status_of(milestone, 0.0, 0.5, BANDS) == "on_track"
    assert status_of(milestone, 0.0, 0.8, BANDS) == "at_risk"
    assert status_of(milestone, 0.0, 1.0, BANDS) == "off_track"
    assert status_of(milestone, 1.0, 0.2, BANDS) == "done"


def test_progress_of_numbers_near_the_largest_float_does_not_overflow():
    from mapping.scoring import linear_progress

    assert linear_progress(0.0, -1.7e308, 1.7e308) == 0.5  # the difference of the ends is beyond the largest float
    assert linear_progress(1.7e308, -1.7e308, 1.7e308) == 1.0
    assert linear_progress(0.25, 0.0, 1.0) == 0.25


def test_objective_weights_near_the_largest_float_share_the_score_like_any_other_weights():
    from mapping.rollup import relative_weights

    assert relative_weights([1.7e308, 1.7e308]) == [0.5, 0.5]  # the sum would be infinite
    assert relative_weights([1.0, 3.0]) == [0.25, 0.75]
    assert relative_weights([1e-300, 1e-300, 2e-300]) == [0.25, 0.25, 0.5]
