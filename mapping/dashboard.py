"""The management summary every writer renders (workbook Dashboard sheet, Google Sheets tab, HTML report).

Built once per sync from the scored results, like the report tables: the writers only lay it out.
What a manager reads is said in words, not code words: statuses are "On track" / "Stale", targets
read "≤ 0.50%", numbers are rounded for reading (the detail sheets keep full precision).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping, Optional, Sequence

from mapping.config import Config, KeyResult
from mapping.period import Period
from mapping.report import _naive
from mapping.labels import (LEVEL_LABELS, STATUS_FILLS, STATUS_INKS, STATUS_LABELS, STATUS_ORDER, TYPE_LABELS,
                            compliance_rule, display_status, format_number, format_target)
from mapping.results import KRResult
from mapping.rollup import ObjectiveResult, worst_status

@dataclass(frozen=True)
class StatusCount:
    key: str
    label: str
    count: int
    fill: str
    ink: str


@dataclass(frozen=True)
class ObjectiveLine:
    """One objective in alignment-tree order (`depth` 0 = a root, e.g. the company objective)."""

    id: str
    title: str
    level: str
    level_label: str
    owner: str
    depth: int
    score: float
    progress: float
    status: str  # display status key
    status_label: str
    measured: int
    total: int


@dataclass(frozen=True)
class KRLine:
    """One key result as a manager reads it, plus the "why" (source, query, last update, stale reason)."""

    objective_id: str
    objective_title: str
    kr_id: str
    title: str
    owner: str
    type: str
    type_label: str
    committed: bool
    unit: str
    baseline: Optional[float]
    target: Optional[float]
    current: Optional[float]
    progress: Optional[float]  # 0..1 (clipped for bars by the writers)
    score: Optional[float]
    expected: float
    status: str  # display status key (STATUS_ORDER)
    status_label: str
    change: Optional[float]  # since the previous recorded day (`change_since`)
    change_since: Optional[date]
    trend: tuple[tuple[date, float], ...]  # recorded values, oldest first, today's fresh value included
    source: str
    query: str
    last_update: Optional[datetime]  # naive, in the config's time zone
    stale_since: Optional[datetime]
    stale_reason: str
    rule: str = ""  # the target as a rule where a number does not say it (a compliance KR: "≤ 2% in 8 of 10 weeks")
    change_basis: str = ""  # what `change` is measured from: "check-in" (the last weekly check-in) or "recorded day"

    @property
    def current_text(self) -> str:
        return format_number(self.current, self.unit)

    @property
    def target_text(self) -> str:
        return self.rule or format_target(self.type, self.target, self.unit)

    @property
    def change_text(self) -> str:
        if self.change is None:
            return ""
        sign = "+" if self.change > 0 else ("−" if self.change < 0 else "±")
        return sign + format_number(abs(self.change), self.unit)


@dataclass(frozen=True)
class Dashboard:
    """The one-page summary: title, period, as-of time, overall score, status counts, tree, KRs."""

    title: str
    workspace: str
    period: Period
    as_of: datetime  # naive, in the config's time zone
    timezone: str
    elapsed: float  # share of the period gone, 0..1
    overall_score: Optional[float]  # mean score of the root objectives (depth 0); None without objectives
    overall_status: str
    counts: tuple[StatusCount, ...]  # every display status, zero counts included, in STATUS_ORDER
    objectives: tuple[ObjectiveLine, ...]
    krs: tuple[KRLine, ...]
    days: tuple[date, ...]  # the history axis shared by every KR's trend, oldest first

    @property
    def subtitle(self) -> str:
        return (f"Period {self.period.name} ({self.period.start} – {self.period.end}), "
                f"{round(self.elapsed * 100)}% elapsed · as of {self.as_of:%Y-%m-%d %H:%M} {self.timezone}")


def _rule(kr: KeyResult) -> str:
    rule = kr.compliance
    if kr.type != "compliance" or rule is None:
        return ""
    return compliance_rule(rule.at_most, rule.at_least, rule.required, rule.of, rule.window, kr.unit)


def _trend(kr_id: str, result: KRResult, series: Mapping[str, Sequence[tuple[date, float]]],
           today: Optional[date]) -> tuple[tuple[date, float], ...]:
    values = dict(series.get(kr_id, ()))
    if today is not None and result.value is not None and not result.stale:
        values[today] = result.value
    return tuple(sorted(values.items()))


def build_dashboard(config: Config, results: dict[str, KRResult], objectives: list[ObjectiveResult],
                    series: Optional[Mapping[str, Sequence[tuple[date, float]]]], now: datetime,
                    today: Optional[date] = None, title: Optional[str] = None,
                    checkins: Optional[Mapping[str, tuple[date, float]]] = None) -> Dashboard:
    """The dashboard of one sync. `series` is each KR's recorded history (before today); today's fresh values
    are laid over it on `today`, so trends and changes already show this sync.

    `checkins` holds each KR's (day, value) at the last weekly check-in: the change is measured from it (what
    the weekly meeting compares with); without a check-in, from the previous recorded day."""
    series = series or {}
    today = today or now.date()
    period = config.period_obj()
    krs: list[KRLine] = []
    for entry in objectives:
        objective = entry.objective
        for kr in objective.key_results:
            r = results[kr.id]
            trend = _trend(kr.id, r, series, today)
            earlier = [(day, value) for day, value in trend if day < today]
            change_since = earlier[-1][0] if earlier and r.value is not None else None
            change = r.value - earlier[-1][1] if change_since is not None and r.value is not None else None
            basis = "recorded day" if change_since is not None else ""
            if checkins and kr.id in checkins and r.value is not None:
                change_since, base = checkins[kr.id]
                change, basis = r.value - base, "check-in"
            status = display_status(r)
            krs.append(KRLine(
                objective.id, objective.title, kr.id, kr.title, kr.owner or objective.owner or "", kr.type,
                TYPE_LABELS.get(kr.type, kr.type), kr.committed, kr.unit, kr.baseline, kr.target, r.value, r.progress,
                r.score, r.expected, status, STATUS_LABELS[status], change, change_since, trend, r.source, r.query,
                _naive(r.as_of, config.timezone), _naive(r.stale_since, config.timezone), r.error or "",
                _rule(kr), basis,
            ))
    lines = []
    for entry in objectives:
        objective = entry.objective
        status = entry.status if entry.measured else "no_data"
        lines.append(ObjectiveLine(objective.id, objective.title, objective.level,
                                   LEVEL_LABELS.get(objective.level, objective.level), objective.owner or "",
                                   entry.depth, entry.score, entry.progress, status, STATUS_LABELS[status],
                                   entry.measured, entry.total))
    roots = [entry for entry in objectives if entry.depth == 0]
    overall = round(sum(entry.score for entry in roots) / len(roots), 4) if roots else None
    overall_status = worst_status([entry.status for entry in roots if entry.measured]) if roots else "no_data"
    counts = tuple(StatusCount(key, STATUS_LABELS[key], sum(1 for kr in krs if kr.status == key),
                               STATUS_FILLS[key], STATUS_INKS[key]) for key in STATUS_ORDER)
    days = tuple(sorted({day for kr in krs for day, _ in kr.trend}))
    local_now = _naive(now, config.timezone) or now
    name = title or f"OKR dashboard · {config.workspace or config.workspace_id} · {period.name}"
    return Dashboard(name, config.workspace_id, period, local_now, config.timezone,
                     period.elapsed(now), overall, overall_status,
                     counts, tuple(lines), tuple(krs), days)
