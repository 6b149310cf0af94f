"""The OKR formulas: progress, score, expected progress and status of one KR (see README, 'Formulas')."""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional, Sequence

from mapping.config import KeyResult, StatusBands
from mapping.kr_kinds import WindowCount, count_windows, expected_on_curve, level_score, series_until
from mapping.period import Period
from mapping.results import Score

EPSILON = 1e-9  # float noise when comparing a share with a bar (7/10 against 0.7)


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(high, max(low, value))


def linear_progress(current: float, baseline: float, target: float) -> float:
    """clamp((current - baseline) / (target - baseline), 0, 1); direction comes from the numbers."""
    # halved first, so that numbers near the largest float (1.7e308 to -1.7e308) do not overflow the differences
    return clamp((current / 2 - baseline / 2) / (target / 2 - baseline / 2))


def progress_of(kr: KeyResult, current: float) -> float:
    """Progress 0..1 of a KR whose current value is known (a compliance KR's comes from its windows: see score_kr)."""
    if kr.type in ("increase", "decrease") and kr.levels is not None:
        return level_score(kr, current)
    if kr.type in ("increase", "decrease"):
        assert kr.baseline is not None and kr.target is not None
        return linear_progress(current, kr.baseline, kr.target)
    if kr.type == "milestone":
        target = kr.target if kr.target is not None else 1.0
        return 1.0 if current >= target else 0.0
    holds = current <= kr.target if kr.type == "at_most" else current >= kr.target  # type: ignore[operator]
    if holds:
        return 1.0
    if kr.baseline is None:
        return 0.0
    return linear_progress(current, kr.baseline, kr.target)  # type: ignore[arg-type]


def status_of(kr: KeyResult, progress: Optional[float], elapsed: float, bands: StatusBands,
              expected: Optional[float] = None) -> str:
    """done / on_track / at_risk / off_track / no_data, from progress against the pace expected by now.

    `expected` is the progress expected by now (a pace curve's); by default the elapsed share of the period.
    """
    if progress is None:
        return "no_data"
    expected = elapsed if expected is None else expected
    bar = 1.0 if kr.committed else bands.aspirational_bar
    threshold = kr.type in ("at_most", "at_least")
    if elapsed >= 1.0:
        return "done" if progress >= bar else "off_track"
    if progress >= 1.0:
        return "on_track" if threshold else "done"
    if kr.type == "milestone":
        return "at_risk" if elapsed >= bands.milestone_at_risk_after else "on_track"
    if threshold:  # breached: never on track while the threshold is broken
        return "at_risk" if progress >= bands.at_risk else "off_track"
    wanted = expected * bar
    if wanted <= 0:
        return "on_track"
    pace = progress / wanted
    if pace >= bands.on_track:
        return "on_track"
    return "at_risk" if pace >= bands.at_risk else "off_track"


def compliance_status(kr: KeyResult, count: WindowCount, elapsed: float, bands: StatusBands) -> str:
    """Status of a compliance KR: done once enough windows held, off_track once that is out of reach,
    else on_track / at_risk by pace (held share against windows over); never off_track while reachable."""
    bar = 1.0 if kr.committed else bands.aspirational_bar
    progress = count.progress
    if count.held >= count.required:
        return "done"
    if count.best < bar - EPSILON:
        return "off_track"
    if elapsed >= 1.0 or count.pending == 0:
        return "done" if progress >= bar - EPSILON else "off_track"
    wanted = count.expected * bar
    if wanted <= 0 or progress / wanted >= bands.on_track:
        return "on_track"
    return "at_risk"


def score_kr(kr: KeyResult, current: Optional[float], elapsed: float, bands: StatusBands, *,
             period: Optional[Period] = None, now: Optional[datetime] = None,
             series: Sequence[tuple[date, float]] = ()) -> Score:
    """Progress, score (= progress, two decimals), expected progress and status of one KR.

    `period` and `now` are needed by pace curves and compliance KRs; `series` (day, value) feeds a
    compliance KR's windows (with `current` laid over today).
    """
    if kr.type == "compliance":
        assert period is not None and now is not None, "a compliance KR is scored with its period and now"
        count = compliance_count(kr, current, period, now, series)
        if count is None:
            return Score(None, None, 0.0, "no_data")
        return Score(count.progress, round(count.progress, 2), round(count.expected, 4),
                     compliance_status(kr, count, elapsed, bands))
    expected = elapsed
    if (kr.pace or kr.steps) and period is not None:
        expected = expected_on_curve(kr, period, elapsed)
    progress = None if current is None else progress_of(kr, current)
    score = None if progress is None else round(progress, 2)
    return Score(progress, score, round(expected, 4), status_of(kr, progress, elapsed, bands, expected))


def compliance_count(kr: KeyResult, current: Optional[float], period: Period, now: datetime,
                     series: Sequence[tuple[date, float]] = ()) -> Optional[WindowCount]:
    """The windows of a compliance KR on the day of `now`; None when it has no value at all (no_data)."""
    points = series_until(series, now.date(), current)
    if not points:
        return None
    return count_windows(kr, period, now.date(), points)
