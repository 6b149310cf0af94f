"""Pure arithmetic over Jira data: field lookup by name or id, durations between dates, sums and percentiles.

No I/O here: the connector hands in the `/field` list and the issues it fetched.
"""
from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Sequence

from connectors.base import SourceError

NUMBER_TYPES = ("number",)
DATE_TYPES = ("date", "datetime")
STORY_POINTS_SCHEMA = "com.pyxis.greenhopper.jira:jsw-story-points"


class UnknownFieldError(SourceError):
    """A field name that is neither an id nor a name in this Jira's field list."""


class FieldTypeError(SourceError):
    """A field that exists but cannot be used by the measure (e.g. summing a text field)."""


@dataclass(frozen=True)
class JiraField:
    """One entry of GET /rest/api/2/field, reduced to what the measures need."""

    id: str
    name: str
    type: str
    clause_names: tuple[str, ...] = ()
    custom_type: str = ""

    @classmethod
    def of(cls, raw: dict[str, Any]) -> "JiraField":
        schema = raw.get("schema") or {}
        return cls(str(raw.get("id", "")), str(raw.get("name", "")), str(schema.get("type", "")),
                   tuple(str(c) for c in raw.get("clauseNames") or ()), str(schema.get("custom", "")))

    def label(self) -> str:
        return self.id if self.name == self.id else f"{self.name} ({self.id})"


class FieldCatalog:
    """The instance's fields, searchable by id, name (case-insensitive) or JQL clause name."""

    def __init__(self, raw_fields: Iterable[dict[str, Any]]):
        self.fields = [JiraField.of(raw) for raw in raw_fields]

    def resolve(self, wanted: str, types: Sequence[str], purpose: str) -> JiraField:
        """The field the user means by `wanted`; an error listing close matches if there is none."""
        key = wanted.strip()
        lowered = key.casefold()
        candidates = (
            [f for f in self.fields if f.id == key]
            or [f for f in self.fields if f.name.casefold() == lowered]
            or [f for f in self.fields if any(c.casefold() == lowered for c in f.clause_names)]
        )
        if not candidates:
            names = sorted({f.name for f in self.fields} | {f.id for f in self.fields})
            close = difflib.get_close_matches(key, names, n=4, cutoff=0.5)
            close += [n for n in names if lowered and lowered in n.casefold() and n not in close][: 4 - len(close)]
            hint = f"close matches: {', '.join(repr(c) for c in close)}" if close else "see the names in Jira's field list (GET /rest/api/2/field) or use the id, e.g. customfield_10016"
            raise UnknownFieldError(f"unknown Jira field {wanted!r} for {purpose}; {hint}")
        usable = [f for f in candidates if f.type in types]
        if not usable:
            found = candidates[0]
            raise FieldTypeError(f"Jira field {found.label()} has type {found.type or 'unknown'!r}; {purpose} needs a {' or '.join(types)} field")
        if len(usable) > 1:
            ids = ", ".join(f.id for f in usable)
            raise SourceError(f"Jira field name {wanted!r} is ambiguous ({ids}); use the id instead")
        return usable[0]


@dataclass(frozen=True)
class SumResult:
    value: float
    issues: int
    nulls: int


def sum_field(issues: Sequence[dict[str, Any]], field: JiraField) -> SumResult:
    """Add up a numeric field over issues; a missing or null value counts as 0 and is counted."""
    total, nulls = 0.0, 0
    for issue in issues:
        value = (issue.get("fields") or {}).get(field.id)
        if value is None:
            nulls += 1
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise FieldTypeError(f"issue {issue.get('key', issue.get('id', '?'))} has {field.label()} = {str(value)[:40]!r}, not a number")
        total += float(value)
    return SumResult(total, len(issues), nulls)


def parse_jira_time(value: str) -> datetime:
    """A Jira date ('2026-10-03') or datetime ('2026-10-03T09:15:00.000+0200') as an aware datetime (dates at 00:00 UTC)."""
    text = value.strip()
    if len(text) == 10:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    # Python 3.10's fromisoformat reads neither Jira's "+0200" offsets nor "Z": give it "+02:00"
    text = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", text.replace("Z", "+00:00"))
    text = re.sub(r"\.(\d{1,6})\d*(?=[+-]|$)", lambda m: "." + m.group(1).ljust(6, "0"), text)
    parsed = datetime.fromisoformat(text)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class Durations:
    values: list[float]
    issues: int
    skipped: int
    later: int = 0  # issues whose duration ended after `until` (not finished as of that moment)


def durations(issues: Sequence[dict[str, Any]], start: JiraField, end: JiraField, unit: str,
              until: datetime | None = None) -> Durations:
    """Time from `start` to `end` per issue in hours or days; issues missing either date are skipped and counted.

    With `until` (the end of a past day evaluated "as of"), a duration ending after it had not ended
    then: it is left out and counted in `later`.
    """
    divisor = 3600.0 if unit == "hours" else 86400.0
    if until is not None and until.tzinfo is None:
        until = until.replace(tzinfo=timezone.utc)
    values: list[float] = []
    skipped = later = 0
    for issue in issues:
        fields = issue.get("fields") or {}
        first, last = fields.get(start.id), fields.get(end.id)
        if not first or not last:
            skipped += 1
            continue
        try:
            finished, began = parse_jira_time(str(last)), parse_jira_time(str(first))
        except ValueError:
            raise FieldTypeError(f"issue {issue.get('key', '?')}: cannot read {start.label()}={first!r} / {end.label()}={last!r} as dates") from None
        if until is not None and finished > until:
            later += 1
            continue
        values.append((finished - began).total_seconds() / divisor)
    return Durations(values, len(issues), skipped, later)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0 < p <= 100) by linear interpolation between closest ranks (Excel PERCENTILE.INC, numpy's default)."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = (p / 100.0) * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def aggregate(measure: str, values: Sequence[float], p: float | None = None) -> float:
    """average, median (= 50th percentile) or percentile of durations."""
    if measure == "average":
        return sum(values) / len(values)
    if measure == "median":
        return percentile(values, 50)
    return percentile(values, p or 50)
