"""The OKR formulas: progress, score, expected progress and status of one KR (see README, 'Formulas')."""
from __future__ import annotations

from typing import Optional

from mapping.config import KeyResult, StatusBands
from mapping.results import Score


def clamp(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(high, max(low, value))


def linear_progress(current: float, baseline: float, target: float) -> float:
    """clamp((current - baseline) / (target - baseline), 0, 1); direction comes from the numbers."""
    return clamp((current - baseline) / (target - baseline))


def progress_of(kr: KeyResult, current: float) -> float:
    """Progress 0..1 of a KR whose current value is known."""
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


def status_of(kr: KeyResult, progress: Optional[float], elapsed: float, bands: StatusBands) -> str:
    """done / on_track / at_risk / off_track / no_data, from progress against the pace expected by now."""
    if progress is None:
        return "no_data"
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
    wanted = elapsed * bar
    if wanted <= 0:
        return "on_track"
    pace = progress / wanted
    if pace >= bands.on_track:
        return "on_track"
    return "at_risk" if pace >= bands.at_risk else "off_track"


def score_kr(kr: KeyResult, current: Optional[float], elapsed: float, bands: StatusBands) -> Score:
    """Progress, score (= progress, two decimals), expected progress and status of one KR."""
    progress = None if current is None else progress_of(kr, current)
    score = None if progress is None else round(progress, 2)
    return Score(progress, score, round(elapsed, 4), status_of(kr, progress, elapsed, bands))
