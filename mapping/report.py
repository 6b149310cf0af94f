"""The report tables every sink writes (workbook, Google Sheets): built once, written by each writer."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, Mapping, Optional, Sequence
from zoneinfo import ZoneInfo

from mapping.config import Config
from mapping.labels import STATUS_LABELS, TYPE_LABELS, display_status
from mapping.results import KRResult
from mapping.rollup import ObjectiveResult

ColumnKind = Literal["text", "number", "percent", "score", "datetime", "status", "bool", "sparkline", "series"]
# "series": one day of a KR's history (a number); "sparkline": a trend drawn over the row's series columns
# (the value is a text sparkline like "▁▃▆█" for writers without charts; Google Sheets writes a SPARKLINE formula)


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind = "text"
    width: int = 14


@dataclass
class Table:
    """A named sheet of typed columns and rows of plain Python values (None = empty cell)."""

    name: str
    columns: list[Column]
    rows: list[list[Any]] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        return [column.name for column in self.columns]


SUMMARY_COLUMNS = [
    Column("Objective", "text", 34), Column("KR id", "text", 16), Column("Key result", "text", 40),
    Column("Owner", "text", 14), Column("Type", "text", 11), Column("Type label", "text", 13), Column("Committed", "bool", 10),
    Column("Unit", "text", 7), Column("Baseline", "number", 10), Column("Target", "number", 10),
    Column("Current", "number", 10), Column("Progress", "percent", 10), Column("Score", "score", 8),
    Column("Expected", "percent", 10), Column("Status", "status", 11), Column("Status label", "text", 11),
    Column("Change", "number", 10),
    Column("Last updated", "datetime", 18), Column("Source", "text", 12), Column("Stale since", "datetime", 18),
    Column("Error", "text", 50), Column("Confidence", "number", 11),
]

OBJECTIVE_COLUMNS = [
    Column("Objective id", "text", 16), Column("Objective", "text", 44), Column("Level", "text", 12),
    Column("Owner", "text", 14), Column("Supports KR", "text", 16), Column("Parent objective", "text", 18),
    Column("KRs measured", "text", 12), Column("Score", "score", 8), Column("Progress", "percent", 10),
    Column("Status", "status", 11), Column("Status label", "text", 11),
]


def _naive(moment: datetime | None, zone: str) -> datetime | None:
    """Spreadsheets have no time zones: show wall-clock time in the config's zone (a UTC time from history is converted)."""
    if moment is None:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(ZoneInfo(zone))
    return moment.replace(tzinfo=None, microsecond=0)


def summary_table(config: Config, results: dict[str, KRResult], objectives: list[ObjectiveResult]) -> Table:
    """One row per KR, objectives in alignment-tree order."""
    table = Table("Summary", SUMMARY_COLUMNS)
    for entry in objectives:
        objective = entry.objective
        for kr in objective.key_results:
            r = results[kr.id]
            table.rows.append([
                objective.title, kr.id, kr.title, kr.owner or objective.owner, kr.type, TYPE_LABELS.get(kr.type, kr.type),
                kr.committed, kr.unit, kr.baseline, kr.target, r.value, r.progress, r.score, r.expected, r.status,
                STATUS_LABELS[display_status(r)], r.delta,
                _naive(r.as_of, config.timezone), r.source, _naive(r.stale_since, config.timezone), r.error or None,
                r.extra.get("confidence"),
            ])
    return table


def objectives_table(objectives: list[ObjectiveResult]) -> Table:
    """The rollup: one row per objective, children indented under the objective whose KR they support."""
    table = Table("Objectives", OBJECTIVE_COLUMNS)
    for entry in objectives:
        objective = entry.objective
        table.rows.append([
            objective.id, "    " * entry.depth + objective.title, objective.level, objective.owner,
            entry.parent_kr, entry.parent_objective, f"{entry.measured}/{entry.total}",
            entry.score, entry.progress, entry.status, STATUS_LABELS[entry.status],
        ])
    return table


HISTORY_COLUMNS = [
    Column("KR id", "text", 16), Column("Key result", "text", 40), Column("Unit", "text", 7),
    Column("Trend", "sparkline", 24), Column("Latest", "number", 10),
]
_BARS = "▁▂▃▄▅▆▇█"


def text_sparkline(values: Sequence[Optional[float]]) -> str:
    """A trend as block characters (min = ▁, max = █); a flat series is a flat line; gaps are skipped."""
    points = [v for v in values if v is not None]
    if not points:
        return ""
    low, high = min(points), max(points)
    if high == low:
        return _BARS[3] * len(points)
    return "".join(_BARS[round((v - low) / (high - low) * (len(_BARS) - 1))] for v in points)


def history_table(objectives: list[ObjectiveResult], results: dict[str, KRResult],
                  series: Mapping[str, Sequence[tuple[date, float]]], today: Optional[date] = None,
                  points: int = 12) -> Table:
    """Recent values per KR on a shared axis of the last `points` days that have any value (newest last).

    The axis starts at the first recorded day: a first sync has one day column, and columns are added
    day by day until there are `points` of them.

    `series` is each KR's recorded (day, value) history; today's fresh (not stale) values from
    `results` are laid over it on `today`, so the table already shows this sync.
    """
    merged: dict[str, dict[date, float]] = {kr_id: dict(values) for kr_id, values in series.items()}
    if today is not None:
        for kr_id, result in results.items():
            if result.value is not None and not result.stale:
                merged.setdefault(kr_id, {})[today] = result.value
    known = sorted({day for values in merged.values() for day in values})[-points:]
    days: list[date] = list(known)
    columns = HISTORY_COLUMNS + [Column(day.isoformat(), "series", 11) for day in days]
    table = Table("History", columns)
    for entry in objectives:
        for kr in entry.objective.key_results:
            values = merged.get(kr.id, {})
            row_values = [values.get(day) for day in days]
            latest = next((v for v in reversed(row_values) if v is not None), None)
            table.rows.append([kr.id, kr.title, kr.unit, text_sparkline(row_values), latest, *row_values])
    return table


def build_report(config: Config, results: dict[str, KRResult], objectives: list[ObjectiveResult],
                 series: Optional[Mapping[str, Sequence[tuple[date, float]]]] = None, today: Optional[date] = None,
                 history_points: int = 12) -> list[Table]:
    """All tables of the summary, in sheet order; with `series` (recent values per KR) also the History table."""
    tables = [summary_table(config, results, objectives), objectives_table(objectives)]
    if series is not None:
        tables.append(history_table(objectives, results, series, today, history_points))
    return tables
