"""Meaning checks of the richer KR kinds (second validation pass): compliance windows, pace curves, three levels.

Works on the parsed YAML of one KR (so every problem is found, even when the shape pass failed elsewhere)
and reports through the loader's collector, `out.add(path, message, hint)`, which adds file and line.
"""
from __future__ import annotations

from datetime import date
from typing import Any, Optional, Protocol

from mapping.period import Period, PeriodError, parse_period

GRADED = ("increase", "decrease")


class Collector(Protocol):
    def add(self, path: tuple, message: str, hint: str = "") -> None: ...


def period_of(raw: Any) -> Optional[Period]:
    """The period of a parsed config (`2026-Q4` or {name, start, end}), or None when it is not readable (reported elsewhere)."""
    try:
        if isinstance(raw, str):
            return parse_period(raw)
        if isinstance(raw, dict) and isinstance(raw.get("start"), date) and isinstance(raw.get("end"), date):
            return Period(str(raw.get("name", "")), raw["start"], raw["end"])
    except PeriodError:
        return None
    return None


def _num(value: Any) -> Optional[float]:
    """The value as a finite float, else None (the loader's own number reading)."""
    from mapping.loader import _number

    return _number(value)


def _day(key: Any) -> Optional[date]:
    if isinstance(key, date):
        return key
    try:
        return date.fromisoformat(str(key))
    except ValueError:
        return None  # the shape pass reports a key that is not a date


def check_kr_kinds(kr: dict, path: tuple, out: Collector, period: Optional[Period]) -> None:
    """Every problem of a KR's compliance, pace/steps and levels keys, each at its own key."""
    kind = kr.get("type", "increase")
    if kind == "compliance":
        _check_compliance(kr, path, out, period)
    elif isinstance(kr.get("compliance"), dict):
        out.add(path + ("compliance",), f"compliance is read only by type: compliance (this KR is {kind})",
                "add type: compliance, or remove the compliance block")
    for key in ("pace", "steps"):
        if key in kr and kind not in GRADED:
            out.add(path + (key,), f"{key} applies to increase and decrease KRs, not {kind}",
                    "a threshold holds all period long; remove it" if kind != "compliance" else "remove it: compliance is paced by its windows")
    if "pace" in kr and "steps" in kr:
        out.add(path + ("steps",), "a KR takes pace or steps, not both", "keep one: pace as shares 0..1, steps as values")
    elif kind in GRADED:
        for key in ("pace", "steps"):
            if isinstance(kr.get(key), dict):
                _check_curve(kr, key, path, out, period)
            elif key in kr:
                out.add(path + (key,), f"{key} is a mapping of dates to {'shares' if key == 'pace' else 'values'}",
                        f"e.g. {key}: {{2026-10-31: {'0.2' if key == 'pace' else '<value>'}, 2026-12-31: {'1.0' if key == 'pace' else '<target>'}}}")
    if "levels" in kr:
        if kind not in GRADED:
            out.add(path + ("levels",), f"levels grade increase and decrease KRs, not {kind}", "remove levels, or use type increase/decrease")
        elif isinstance(kr.get("levels"), dict):
            _check_levels(kr, path, out)


def _check_compliance(kr: dict, path: tuple, out: Collector, period: Optional[Period]) -> None:
    rule = kr.get("compliance")
    if rule is None:
        out.add(path + ("type",), "a compliance KR needs a compliance block",
                "add compliance: {at_most: 2, window: week, required: 8, of: 10}")
        return
    for key in ("baseline", "target"):
        if key in kr:
            out.add(path + (key,), f"{key} is not used by a compliance KR",
                    "remove it; the threshold each window must hold is compliance.at_most or compliance.at_least")
    if not isinstance(rule, dict):
        return  # the shape pass says what a compliance block is
    here = path + ("compliance",)
    required, of = rule.get("required"), rule.get("of")
    required = required if isinstance(required, int) and not isinstance(required, bool) and required >= 1 else None
    of = of if isinstance(of, int) and not isinstance(of, bool) and of >= 1 else None
    if required is not None and of is not None and required > of:
        out.add(here + ("required",), f"required {required} is more than of {of}: the KR could never hold",
                f"required is how many of the {of} windows must hold; lower it to at most {of}")
    window = rule.get("window", "week")
    if period is None or window not in ("day", "week"):
        return
    from mapping.config import Compliance
    from mapping.kr_kinds import window_total

    total = window_total(period, Compliance.model_construct(at_most=0.0, window=window, required=1, of=None))
    plural = f"whole {window}s" + (" (Monday to Sunday)" if window == "week" else "")
    if of is not None and of > total:
        out.add(here + ("of",), f"of {of} is more than the {total} {plural} in period {period.name}",
                f"use of: {total} or fewer (the first `of` windows of the period are counted)")
    elif of is None and required is not None and required > total:
        out.add(here + ("required",), f"required {required} is more than the {total} {plural} in period {period.name}",
                f"lower required to at most {total}")


def _check_curve(kr: dict, key: str, path: tuple, out: Collector, period: Optional[Period]) -> None:
    """Dates inside the period, shares 0..1 (values between baseline and target), never going back, 1 on the last day."""
    curve = kr[key]
    here = path + (key,)
    if not curve:
        out.add(here, f"{key} has no dates", f"add at least one date: share, or remove {key}")
        return
    baseline, target = _num(kr.get("baseline")), _num(kr.get("target"))
    span = None if baseline is None or target is None or baseline == target else target - baseline
    points: list[tuple[date, float, tuple]] = []
    for raw_day, raw_value in curve.items():
        day, value, at = _day(raw_day), _num(raw_value), here + (str(raw_day),)
        if day is None or value is None:
            continue  # not a date or not a number: the shape pass reports it
        if period is not None and not period.start <= day <= period.end:
            out.add(at, f"{key} date {day} is outside period {period.name} ({period.start} to {period.end})",
                    "use a day inside the period")
            continue
        if key == "pace":
            share = value
            if not 0 <= share <= 1:
                out.add(at, f"pace share {value:g} is not between 0 and 1", "write the share of the way from baseline to target, e.g. 0.5")
                continue
        else:
            if span is None:
                continue  # baseline/target problems are reported on their own
            share = (value - baseline) / span  # type: ignore[operator]
            if not -1e-12 <= share <= 1 + 1e-12:
                out.add(at, f"step {value:g} is not between baseline {baseline:g} and target {target:g}",
                        "a step is the value expected by that day, on the way from baseline to target")
                continue
        points.append((day, share, at))
    points.sort()
    for (_, before, _), (day, share, at) in zip(points, points[1:]):
        if share < before - 1e-12:
            out.add(at, f"{key} goes back on {day}: the curve may only move towards the target",
                    "keep each date's share at least the one before it")
    if period is not None and points and points[-1][0] == period.end and abs(points[-1][1] - 1) > 1e-12:
        out.add(points[-1][2], f"the {key} on the period's last day ({period.end}) must be the whole way to the target",
                f"write {'1.0' if key == 'pace' else f'the target {target:g}'} there, or drop that date: the curve ends at the target anyway")


def _check_levels(kr: dict, path: tuple, out: Collector) -> None:
    """baseline → minimum → target → stretch, each strictly further in the KR's direction."""
    levels = kr["levels"]
    baseline, target = _num(kr.get("baseline")), _num(kr.get("target"))
    minimum, stretch = _num(levels.get("minimum")), _num(levels.get("stretch"))
    if baseline is None or target is None or baseline == target:
        return  # reported by the baseline/target checks
    sign = 1 if target > baseline else -1
    word = "above" if sign > 0 else "below"
    here = path + ("levels",)
    if minimum is not None and not (sign * baseline < sign * minimum < sign * target):
        out.add(here + ("minimum",), f"levels.minimum {minimum:g} must be {word} baseline {baseline:g} and short of target {target:g}",
                f"the minimum scores 0.3: pick a value between {baseline:g} and {target:g}")
    if stretch is not None and not sign * stretch > sign * target:
        out.add(here + ("stretch",), f"levels.stretch {stretch:g} must be {word} target {target:g} (this is a{'n increase' if sign > 0 else ' decrease'} KR)",
                "the stretch scores 1.0, the target 0.7: pick a value beyond the target")
