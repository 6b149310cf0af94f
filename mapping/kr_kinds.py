"""The formulas of the richer KR kinds (README 'Formulas'): pace curves, three-level grading and compliance windows.

Pure functions of a KR, its values and the moment evaluated; mapping.scoring picks the one a KR needs.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Optional, Sequence

from mapping.config import Compliance, KeyResult
from mapping.period import Period

LEVEL_SCORES = (0.0, 0.3, 0.7, 1.0)  # baseline, minimum, target, stretch


def interpolate(points: Sequence[tuple[float, float]], x: float) -> float:
    """Piecewise-linear y at x through points sorted by x; flat before the first and after the last."""
    if x <= points[0][0]:
        return points[0][1]
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x <= x1:
            return y1 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return points[-1][1]


# ---- pace curves -------------------------------------------------------------------------------

def day_position(period: Period, day: date) -> float:
    """Where the end of `day` falls in the period, 0..1 (the end of the last day is 1)."""
    days = (period.end - period.start).days + 1
    return min(1.0, max(0.0, ((day - period.start).days + 1) / days))


def curve_shares(kr: KeyResult) -> dict[date, float]:
    """The KR's pace curve as date -> share of the way from baseline to target (`steps` values converted)."""
    if kr.pace:
        return dict(kr.pace)
    if kr.steps and kr.baseline is not None and kr.target is not None and kr.target != kr.baseline:
        return {day: (value - kr.baseline) / (kr.target - kr.baseline) for day, value in kr.steps.items()}
    return {}


def expected_on_curve(kr: KeyResult, period: Period, elapsed: float) -> float:
    """Expected progress at `elapsed`: linear through (period start, 0), each curve point, (period end, 1)."""
    shares = curve_shares(kr)
    if not shares:
        return elapsed
    points = [(0.0, 0.0)] + sorted((day_position(period, day), share) for day, share in shares.items())
    if points[-1][0] < 1.0:
        points.append((1.0, 1.0))
    return min(1.0, max(0.0, interpolate(points, elapsed)))


# ---- three levels --------------------------------------------------------------------------------

def level_score(kr: KeyResult, current: float) -> float:
    """Score of a graded KR: linear between baseline 0, minimum 0.3, target 0.7, stretch 1.0; clamped to 0..1.

    Values are measured as the share of the way from baseline to target, so a decrease KR reads the same way.
    """
    assert kr.levels is not None and kr.baseline is not None and kr.target is not None
    span = kr.target - kr.baseline

    def way(value: float) -> float:
        return (value - kr.baseline) / span  # type: ignore[operator]

    points = list(zip((0.0, way(kr.levels.minimum), 1.0, way(kr.levels.stretch)), LEVEL_SCORES))
    return min(1.0, max(0.0, interpolate(points, way(current))))


# ---- compliance windows ------------------------------------------------------------------------

@dataclass(frozen=True)
class WindowCount:
    """How a compliance KR's windows stand: held, missed (of which `unmeasured` had no value), still to come."""

    held: int
    missed: int
    pending: int
    unmeasured: int
    required: int
    of: int
    window: str

    @property
    def over(self) -> int:
        return self.held + self.missed

    @property
    def progress(self) -> float:
        return min(1.0, self.held / self.required)

    @property
    def expected(self) -> float:
        return self.over / self.of

    @property
    def best(self) -> float:
        """Progress still reachable if every window to come holds."""
        return min(1.0, (self.held + self.pending) / self.required)

    def describe(self) -> str:
        unit = self.window + ("s" if self.of != 1 else "")
        text = f"{self.held} of {self.of} {unit} held, {self.missed} missed"
        if self.unmeasured:
            text += f" ({self.unmeasured} without a value)"
        return text + f", {self.pending} to come; {self.required} needed"


def windows(period: Period, rule: Compliance) -> list[tuple[date, date]]:
    """The counted windows: every day, or every Monday-Sunday week wholly inside the period; the first `of` of them."""
    if rule.window == "day":
        found = [(period.start + timedelta(d),) * 2 for d in range((period.end - period.start).days + 1)]
    else:
        monday = period.start + timedelta((7 - period.start.weekday()) % 7)
        found = []
        while monday + timedelta(6) <= period.end:
            found.append((monday, monday + timedelta(6)))
            monday += timedelta(7)
    return found[:rule.of] if rule.of else found


def window_value(rule: Compliance, values: list[float]) -> float:
    """A window's value from its points (oldest first): their mean, the newest, or the worst for the threshold."""
    if rule.window_value == "last":
        return values[-1]
    if rule.window_value == "worst":
        return max(values) if rule.at_most is not None else min(values)
    return sum(values) / len(values)


def count_windows(kr: KeyResult, period: Period, today: date, series: Sequence[tuple[date, float]]) -> WindowCount:
    """Held / missed / pending windows of a compliance KR on `today`, from its (day, value) points.

    A window is over once its last day is before `today`; a window not over is pending (neither held nor
    missed). A window that is over without any value counts as missed: nothing shows that it held.
    """
    rule = kr.compliance
    assert rule is not None
    spans = windows(period, rule)
    held = missed = pending = unmeasured = 0
    for start, end in spans:
        if end >= today:
            pending += 1
            continue
        values = [value for day, value in sorted(series) if start <= day <= end]
        if not values:
            missed += 1
            unmeasured += 1
        elif rule.holds(window_value(rule, values)):
            held += 1
        else:
            missed += 1
    return WindowCount(held, missed, pending, unmeasured, rule.required, len(spans) or 1, rule.window)


def window_total(period: Period, rule: Compliance) -> int:
    """How many whole windows of `rule.window` the period has (what `of` may not exceed)."""
    return len(windows(period, rule.model_copy(update={"of": None})))


def series_until(series: Sequence[tuple[date, float]], today: date, current: Optional[float]) -> list[tuple[date, float]]:
    """The points up to `today`, with `current` laid over today (the value this sync measured)."""
    points = {day: value for day, value in series if day <= today}
    if current is not None:
        points[today] = current
    return sorted(points.items())
