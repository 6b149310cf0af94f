"""OKR periods: quarters, months or explicit ranges, and how much of one has elapsed."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Optional


class PeriodError(ValueError):
    """A period spec that is not a quarter, a month or a start/end range."""


@dataclass(frozen=True)
class Period:
    """A named, inclusive date range (start and end are both part of the period).

    `as_of` is set only when a past day is evaluated (`until`): sources are then asked for the period
    as it stood at the end of that day, and `end` is already clipped to it. A normal sync leaves it None.
    """

    name: str
    start: date
    end: date
    as_of: Optional[date] = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise PeriodError(f"period {self.name!r} ends ({self.end}) before it starts ({self.start})")

    def until(self, day: date) -> "Period":
        """The period as it stood at the end of `day`: `end` clipped to that day, `as_of` set to it."""
        if day < self.start:
            raise PeriodError(f"period {self.name!r} had not started on {day} (it starts {self.start}); "
                              "pick a day in the period, or evaluate the earlier period with its own config")
        return replace(self, end=min(self.end, day), as_of=day)

    def elapsed(self, now: datetime) -> float:
        """Share of the period gone by at `now`, 0 before it starts and 1 once it is over."""
        tz = now.tzinfo or timezone.utc
        begin = datetime.combine(self.start, time.min, tzinfo=tz)
        finish = datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=tz)
        if now.tzinfo is None:
            now = now.replace(tzinfo=tz)
        share = (now - begin) / (finish - begin)
        return min(1.0, max(0.0, share))


_QUARTER = re.compile(r"^(\d{4})-?Q([1-4])$", re.IGNORECASE)
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_period(spec: str) -> Period:
    """Turn '2026-Q4' or '2026-11' into a Period."""
    text = str(spec).strip()
    if m := _QUARTER.match(text):
        year, quarter = int(m.group(1)), int(m.group(2))
        start = date(year, 3 * quarter - 2, 1)
        end = (date(year + 1, 1, 1) if quarter == 4 else date(year, 3 * quarter + 1, 1)) - timedelta(days=1)
        return Period(f"{year}-Q{quarter}", start, end)
    if m := _MONTH.match(text):
        year, month = int(m.group(1)), int(m.group(2))
        if not 1 <= month <= 12:
            raise PeriodError(f"month {month} in {text!r} is not 01..12")
        start = date(year, month, 1)
        end = (date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)) - timedelta(days=1)
        return Period(text, start, end)
    raise PeriodError(f"{text!r} is not a quarter like 2026-Q4 or a month like 2026-11")
