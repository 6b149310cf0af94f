"""The data-quality gate: a value outside `valid_range`, or moving more than `max_change`, is held back.

A held-back value is not published as current and not recorded as good; the KR keeps its last good
value, is marked stale, and reports the raw value so someone can check the source.
"""
from __future__ import annotations

from typing import Optional, Union

from mapping.errors import OkrSyncError
from mapping.results import Observation


class HeldBack(OkrSyncError):
    """A source value the quality gate refused; carries the raw value for the report."""

    def __init__(self, message: str, raw_value: float, source: str = ""):
        super().__init__(message)
        self.raw_value = raw_value
        self.source = source


def parse_max_change(value: Union[float, int, str, None]) -> tuple[Optional[float], bool]:
    """`max_change` as (limit, relative): 5 -> (5, False) in the metric's unit; '20%' -> (20, True) of the previous value."""
    if value is None:
        return None, False
    if isinstance(value, str):
        text = value.strip()
        relative = text.endswith("%")
        try:
            number = float(text.rstrip("%").strip())
        except ValueError:
            raise ValueError(f"max_change {value!r} is not a number or a percentage like '20%'") from None
    elif isinstance(value, bool):
        raise ValueError("max_change must be a number or a percentage like '20%'")
    else:
        number, relative = float(value), False
    if number <= 0:
        raise ValueError("max_change must be greater than 0")
    return number, relative


def gate(observation: Observation, valid_range: Optional[tuple[float, float]], max_change: Union[float, str, None],
         previous: Optional[float]) -> Union[Observation, HeldBack]:
    """The observation if it passes the gate, else a HeldBack saying which rule it broke and the raw value."""
    value = observation.value
    if valid_range is not None:
        low, high = valid_range
        if not low <= value <= high:
            return HeldBack(f"held back by the quality gate: value {value:g} is outside valid_range [{low:g}, {high:g}]; "
                            "check the source data (or widen valid_range)", value, observation.source)
    limit, relative = parse_max_change(max_change)
    if limit is not None and previous is not None:
        change = abs(value - previous)
        allowed = abs(previous) * limit / 100 if relative else limit
        if change > allowed:
            rule = f"{limit:g}% of {previous:g}" if relative else f"{limit:g}"
            return HeldBack(f"held back by the quality gate: value {value:g} moved {change:g} from the last recorded {previous:g}, "
                            f"more than max_change {rule}; check the source data (or raise max_change)", value, observation.source)
    return observation
